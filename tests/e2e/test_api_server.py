"""`polyshop serve` as operators run it, and schemathesis against the schema it serves."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from polyshop import bootstrap
from tests.conftest import PLATFORM_TOKEN, ROOT, TEST_DATA_DIR, TEST_DATABASE
from tests.support.api_server import ApiServer

PASSWORD = "correct horse battery staple"
ADDRESS = {"street": "1 Main St", "city": "Springfield", "postalCode": "12345", "country": "US"}
SCHEMATHESIS = shutil.which("schemathesis", path=str(Path(sys.executable).parent)) or "schemathesis"
SERVER_ENV = {
    "POLYSHOP_DATA_DIR": str(TEST_DATA_DIR),
    "POLYSHOP_DATABASE": TEST_DATABASE,
    "POLYSHOP_EMBEDDED_FSYNC": "false",
    "POLYSHOP_PLATFORM_ADMIN_TOKEN": PLATFORM_TOKEN,
    "POLYSHOP_RATE_LIMIT_REQUESTS": "1000000",
    "POLYSHOP_API_COOKIE_SECURE": "false",
    # The relay is tested on its own; here it would first work through every earlier test's
    # outbox, competing with the requests under test.
    "POLYSHOP_API_RUN_RELAY": "false",
}


def _ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def _seed(client: httpx.Client) -> dict[str, str]:
    """A shop with a catalog, an admin, a customer with an address and an order."""
    platform = {"Authorization": f"Bearer {PLATFORM_TOKEN}"}
    slug = f"fuzz-{uuid.uuid4().hex[:8]}"
    _ok(
        client.post("/platform/tenants", headers=platform, json={"slug": slug, "name": "Fuzz"}), 201
    )
    admin_email, customer_email = f"admin@{slug}.test", f"customer@{slug}.test"
    person = {"password": PASSWORD, "first_name": "A", "last_name": "B"}
    _ok(
        client.post(
            f"/platform/tenants/{slug}/admins",
            headers=platform,
            json={"email": admin_email, **person},
        ),
        201,
    )
    client.headers["X-Tenant"] = slug
    _ok(client.post("/auth/register", json={"email": customer_email, **person}), 202)

    def login(email: str) -> str:
        token: str = _ok(client.post("/auth/login", json={"email": email, "password": PASSWORD}))[
            "token"
        ]
        return token

    admin = {"Authorization": f"Bearer {login(admin_email)}"}
    customer_token = login(customer_email)
    customer = {"Authorization": f"Bearer {customer_token}"}
    category = _ok(client.post("/categories", headers=admin, json={"name": "All"}), 201)["id"]
    vendor = _ok(client.post("/vendors", headers=admin, json={"name": "V"}), 201)["id"]
    product = _ok(client.post("/products", headers=admin, json={
        "name": "Lamp", "sku": "LAMP", "price": "20.00", "category_id": category, "vendor_id": vendor,
        "status": "active", "initial_stock": 1000, "attributes": [{"name": "color", "value": "red"}],
        "images": [{"url": "https://cdn.example.com/lamp.jpg"}]}), 201)["id"]  # fmt: skip
    page = _ok(client.get(f"/products/{product}"))
    order = _ok(client.post("/orders", headers=customer, json={
        "lines": [{"product_id": product, "quantity": 1}], "shipping_address": ADDRESS}), 201)["id"]  # fmt: skip
    review = _ok(
        client.post(f"/products/{product}/reviews", headers=customer, json={"rating": 4}), 201
    )["id"]
    address = _ok(client.post("/me/addresses", headers=customer, json={
        "street_address": "1 Main St", "city": "X", "postal_code": "1", "country": "US"}), 201)["id"]  # fmt: skip
    content = _ok(
        client.post("/content/pages", headers=admin, json={"title": "About", "content": "Us"}), 201
    )["id"]
    return {
        "slug": slug, "admin": admin["Authorization"], "customer": customer["Authorization"],
        "product_id": product, "image_id": page["images"][0]["id"], "category_id": category,
        "order_id": order, "review_id": review, "address_id": address, "page_id": content,
        "user_id": _ok(client.get("/me", headers=customer))["user"]["id"],
    }  # fmt: skip


@pytest.mark.slow
def test_serve_answers_and_stops_cleanly(urls: bootstrap.StoreUrls) -> None:
    with ApiServer(SERVER_ENV) as server:
        assert httpx.get(f"{server.url}/health/live").json() == {"status": "ok"}
        ready = httpx.get(f"{server.url}/health/ready").json()
        assert ready["status"] == "ok" and {s["store"] for s in ready["stores"]} == {
            "postgres",
            "redis",
        }
        schema = httpx.get(f"{server.url}/openapi.json").json()
        assert schema["info"]["title"] == "polyshop"
    assert "Traceback" not in server.log()


@pytest.mark.slow
def test_schemathesis_finds_no_server_error_or_schema_violation(
    urls: bootstrap.StoreUrls, tmp_path: Path
) -> None:
    """Generated requests (examples, boundary values, random data, then chains of calls that
    follow the schema's links from what one call created to the next), as a shop admin and as
    a customer, against the real server, with crafted listing cursors among the generated
    queries (`tests/support/schemathesis_hooks.py`): no 5xx, every response as the schema says."""
    with ApiServer(SERVER_ENV) as server:
        with httpx.Client(base_url=server.url) as client:
            world = _seed(client)
        config = tmp_path / "schemathesis.toml"
        parameters = "\n".join(
            f'"path.{name}" = "{value}"' for name, value in world.items() if name.endswith("_id")
        )
        # Longer chains than the default reach the operations two links away (create a
        # product, add a variant, change it).
        config.write_text(
            f'[phases.stateful]\nmax-steps = 40\n\n[parameters]\n"path.slug" = "{world["slug"]}"\n'
            f"{parameters}\n"
        )
        for role in ("admin", "customer"):
            result = subprocess.run(
                [SCHEMATHESIS, "--config-file", str(config), "run", f"{server.url}/openapi.json",
                 "--header", f"X-Tenant: {world['slug']}", "--header", f"Authorization: {world[role]}",
                 "--checks", "not_a_server_error,response_schema_conformance,"
                 "content_type_conformance,status_code_conformance",
                 "--phases", "examples,coverage,fuzzing,stateful", "--max-examples", "15",
                 "--seed", "20261125",
                 # These end the session the run authenticates with.
                 "--exclude-path", "/auth/logout", "--exclude-path", "/auth/sessions",
                 "--exclude-path", "/auth/password", "--exclude-path", "/auth/login",
                 "--generation-with-security-parameters", "false", "--no-color",
                 "--request-timeout", "20"],
                capture_output=True, text=True, timeout=600, check=False, cwd=tmp_path,
                env={**os.environ, "SCHEMATHESIS_HOOKS": "tests.support.schemathesis_hooks",
                     "PYTHONPATH": str(ROOT)},
            )  # fmt: skip
            (tmp_path / f"{role}.log").write_text(result.stdout)
            assert result.returncode == 0, f"{role}: {result.stdout[-6000:]}"
            assert "passed" in result.stdout
            # The stateful phase ran and followed links (it has nothing to do without them).
            followed = re.search(r"API Links:\s+(\d+) covered", result.stdout)
            assert followed and int(followed[1]) > 0, result.stdout[-3000:]
        assert "Traceback" not in server.log(), server.log()[-4000:]
