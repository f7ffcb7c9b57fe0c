"""Payments that survive kill -9: a real `polyshop serve` dies at each durable step of checkout
(after the reservation, after the charge, after the confirmation), over and over, while
customers order with a gateway that sometimes answers slowly, declines or fails. After
`polyshop payments reconcile`, the database and the gateway's own record agree."""

from __future__ import annotations

import asyncio
import os
import random
import re
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import psycopg
import pytest

from polyshop import bootstrap
from polyshop.adapters.payments import (
    DECLINING_METHOD,
    FAILING_METHOD,
    SLOW_METHOD,
    TestPaymentGateway,
)
from polyshop.settings import Settings
from tests.e2e.test_api_server import SERVER_ENV
from tests.support.api_server import POLYSHOP, ApiServer
from tests.support.shops import ADDRESS, make_shop, stock_and_ledger

STEPS = ("checkout.after_reserve", "checkout.after_charge", "checkout.after_confirm")
METHODS = ["card", "card", "card", SLOW_METHOD, DECLINING_METHOD, FAILING_METHOD]
RESERVATION_SECONDS = 4
PASSWORD = "correct horse battery staple"


def _environment(gateway: Path, crash: str = "") -> dict[str, str]:
    return {
        **SERVER_ENV,
        "POLYSHOP_CRASH_POINTS": crash,
        "POLYSHOP_TEST_GATEWAY_PATH": str(gateway),
        "POLYSHOP_TEST_GATEWAY_SLOW_SECONDS": "0.4",
        "POLYSHOP_PAYMENT_RESERVATION_SECONDS": str(RESERVATION_SECONDS),
        "POLYSHOP_PAYMENT_GATEWAY_TIMEOUT_SECONDS": "2",
        # The reconciler under test is the CLI's, run once everything has been killed.
        "POLYSHOP_API_RUN_RECONCILER": "false",
    }


async def _arrange(settings: Settings, urls: bootstrap.StoreUrls) -> tuple[UUID, dict[str, str]]:
    async with bootstrap.application(settings, urls) as app:
        shop = await make_shop(app, stock=1000)
    return shop.tenant_id, {name: str(product) for name, product in shop.products.items()}


async def _stock(settings: Settings, urls: bootstrap.StoreUrls, tenant: UUID) -> list[Any]:
    async with bootstrap.application(settings, urls) as app:
        return await stock_and_ledger(app, tenant)


@pytest.mark.slow
def test_kill_9_at_every_step_then_reconcile_keeps_every_invariant(
    settings: Settings, urls: bootstrap.StoreUrls, admin_url: str, tmp_path: Path
) -> None:
    tenant, products = asyncio.run(_arrange(settings, urls))
    with psycopg.connect(admin_url, autocommit=True) as db:
        (slug,) = db.execute("SELECT slug FROM tenants WHERE id = %s", (tenant,)).fetchone()  # type: ignore[misc]
    gateway_path = tmp_path / "gateway.db"
    rng = random.Random(20261125)
    kills: Counter[str] = Counter()
    answers: dict[str, list[str]] = {"201": [], "402": [], "502": []}
    attempts, lost = 0, 0
    token: str | None = None
    rounds = 0
    while (attempts < 40 or min(kills[s] for s in STEPS) < 2) and rounds < 40:
        step = STEPS[rounds % len(STEPS)]
        rounds += 1
        with ApiServer(_environment(gateway_path, f"{step}=0.35")) as server:
            with httpx.Client(base_url=server.url, headers={"X-Tenant": slug}) as client:
                if token is None:
                    login = {"email": "ann@example.com", "password": PASSWORD}
                    token = client.post("/auth/login", json=login).json()["token"]
                client.headers["Authorization"] = f"Bearer {token}"
                for _ in range(12):
                    attempts += 1
                    lines = [{"product_id": products[name], "quantity": rng.randint(1, 3)}
                             for name in rng.sample(["headphones", "speaker", "cable"], 2)]  # fmt: skip
                    body = {"lines": lines, "shipping_address": ADDRESS,
                            "payment_method": rng.choice(METHODS)}  # fmt: skip
                    try:
                        response = client.post("/orders", json=body, timeout=30)
                    except httpx.TransportError:
                        kills[step] += 1  # the process died at this step
                        lost += 1
                        break
                    assert response.status_code in (201, 402, 502), response.text
                    key = str(response.status_code)
                    answers[key].append(response.json().get("id", ""))
            assert "Traceback" not in server.log()
    assert min(kills[s] for s in STEPS) >= 2, kills

    # Whatever the kills left pending is past its deadline now; one reconcile resolves it.
    time.sleep(RESERVATION_SECONDS + 0.5)
    with psycopg.connect(admin_url, autocommit=True) as db:
        pending_before = db.execute(
            "SELECT count(*) FROM payments WHERE tenant_id = %s AND status = 'pending'", (tenant,)
        ).fetchone()[0]  # type: ignore[index]
    assert pending_before >= kills["checkout.after_reserve"] + kills["checkout.after_charge"] - 1
    server_env = _environment(gateway_path)
    env = {k: v for k, v in os.environ.items() if not k.startswith("POLYSHOP_")}
    result = subprocess.run(
        [POLYSHOP, "payments", "reconcile"], env={**env, **server_env}, capture_output=True,
        text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    resolved = re.search(r"confirmed (\d+), released (\d+)", result.stdout)
    assert resolved is not None, result.stdout
    confirmed_late, released_late = int(resolved[1]), int(resolved[2])
    assert confirmed_late + released_late == pending_before
    # A kill after an approved charge left money the reconciler had to turn into the order.
    assert confirmed_late >= 1 and released_late >= 1

    book = {r.reference: r for r in TestPaymentGateway(gateway_path).records()}
    with psycopg.connect(admin_url, autocommit=True) as db:
        payments = db.execute(
            "SELECT p.id::text, p.status, p.gateway_transaction_id, p.amount, o.id::text, o.status,"
            " o.total_amount FROM payments p JOIN orders o"
            " ON o.tenant_id = p.tenant_id AND o.id = p.order_id WHERE p.tenant_id = %s",
            (tenant,),
        ).fetchall()
        stale = db.execute(
            "SELECT count(*) FROM payments WHERE tenant_id = %s AND status = 'pending'"
            " AND created_at < now() - make_interval(secs => %s)",
            (tenant, RESERVATION_SECONDS),
        ).fetchone()[0]  # type: ignore[index]
    assert stale == 0
    assert len(payments) >= attempts - lost  # one payment per attempt that reached the gateway
    by_order = Counter(order_id for *_, order_id, _, _ in payments)
    assert set(by_order.values()) == {1}  # one payment per order
    for payment_id, status, transaction, amount, order_id, order_status, total in payments:
        record = book.get(payment_id)
        charged = record is not None and record.status == "approved"
        # Every confirmed order has exactly its one charge, of its amount ...
        assert (order_status == "confirmed") == charged, (order_id, order_status, record)
        if charged:
            assert record is not None
            assert (status, transaction, amount, record.amount) == (
                "completed", record.transaction_id, total, total,
            )  # fmt: skip
        else:
            assert (order_status, status) in {("cancelled", "declined"), ("cancelled", "failed")}
    # ... and every charge the gateway holds belongs to one confirmed order.
    ours = {payment_id for payment_id, *_ in payments}
    charges = {ref for ref, record in book.items() if record.status == "approved"}
    assert charges <= ours
    confirmed = {
        order_id for *_, order_id, order_status, _ in payments if order_status == "confirmed"
    }
    assert len(charges) == len(confirmed)
    # What the customers were told holds: a 201 is a confirmed order; nothing else is.
    assert set(answers["201"]) <= confirmed
    assert not set(answers["402"]) & confirmed
    rows = asyncio.run(_stock(settings, urls, tenant))
    assert [row for row in rows if row[1] != row[2]] == []
