"""`polyshop demo` as a new user runs it (the README's first command): a real subprocess on the
embedded profile, its summary read from its output, its URLs tried while `--serve` keeps the
API up, and the server gone once the demo is stopped."""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import threading
import time
from collections.abc import Iterator

import httpx
import psycopg
import pytest

from polyshop import bootstrap
from polyshop.adapters.postgres import drop_database
from tests.conftest import TEST_DATA_DIR
from tests.conftest import test_settings as settings_for
from tests.support.cli import POLYSHOP, run

DATABASE = "polyshop_demo_cli"
ENV = {"POLYSHOP_DATA_DIR": str(TEST_DATA_DIR), "POLYSHOP_DATABASE": DATABASE,
       "POLYSHOP_EMBEDDED_FSYNC": "false"}  # fmt: skip
LABELS = ("OpenAPI docs", "product page", "shop analytics", "recommendation")


def _number(pattern: str, text: str) -> int:
    found = re.search(pattern, text)
    assert found, f"{pattern!r} not in the output:\n{text}"
    return int(found.group(1))


def _check_summary(out: str) -> None:
    assert _number(r"requests: (\d+) in", out) > 0
    assert _number(r"server errors \(5xx\): (\d+)", out) == 0, out
    assert _number(r"no answer: (\d+)", out) == 0, out
    assert _number(r"orders placed: (\d+)", out) > 0, out
    projectors = next(line for line in out.splitlines() if line.startswith("projectors:"))
    for store in ("documents", "analytics", "graph"):
        assert f"{store} caught up" in projectors, projectors


def _request(command: str) -> httpx.Response:
    """A printed URL line (`curl -H ... URL` or a bare URL) sent as it says."""
    words = shlex.split(command)
    if words[0] != "curl":
        return httpx.get(words[0], timeout=30)
    headers: dict[str, str] = {}
    url = ""
    iterator = iter(words[1:])
    for word in iterator:
        if word == "-H":
            name, _, value = next(iterator).partition(":")
            headers[name.strip()] = value.strip()
        else:
            url = word
    return httpx.get(url, headers=headers, timeout=30)


@pytest.fixture
def fresh_database() -> Iterator[str]:
    urls = bootstrap.store_urls(settings_for(database=DATABASE))
    assert urls.postgres_admin is not None
    drop_database(urls.postgres_admin)
    yield urls.postgres_admin
    drop_database(urls.postgres_admin)


class _Reader:
    """The demo's stdout, read on a thread, so the test can wait for a line without blocking."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self._process = process
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, text: str, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if any(text in line for line in self.lines):
                return
            if self._process.poll() is not None:
                self._thread.join(5)
                break
            time.sleep(0.2)
        raise AssertionError(f"no {text!r} in the demo's output:\n" + "\n".join(self.lines))

    def join(self) -> None:
        self._thread.join(30)

    def text(self) -> str:
        return "\n".join(self.lines)


def _serve_and_try_the_urls(process: subprocess.Popen[str]) -> str:
    """Wait for the summary, try every URL printed, stop the demo: the API's address."""
    reader = _Reader(process)
    reader.wait_for("Ctrl-C stops it", 300)
    out = reader.text()
    assert "seeded 3 shops" in out
    _check_summary(out)
    commands = {}
    for line in out.splitlines():
        label = next((label for label in LABELS if line.strip().startswith(label)), None)
        if label:
            commands[label] = line.strip()[len(label) :].strip()
    assert set(commands) == set(LABELS), out
    for label, command in commands.items():
        answer = _request(command)
        assert answer.status_code == 200, (label, command, answer.text)
    assert "swagger" in _request(commands["OpenAPI docs"]).text.lower()
    top = _request(commands["shop analytics"]).json()
    assert top and all(rank["views"] >= 0 for rank in top), top
    api = re.search(r"the API was at (http://127\.0\.0\.1:\d+)", out)
    assert api, out

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0, process.stderr.read() if process.stderr else ""
    reader.wait_for("stopping the API", 5)
    reader.join()
    return api.group(1)


@pytest.mark.slow
def test_demo_seeds_serves_drives_shoppers_and_its_urls_answer(fresh_database: str) -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("POLYSHOP_")}
    environment.update(ENV)
    with subprocess.Popen(
        [POLYSHOP, "demo", "--duration", "5", "--serve"], env=environment, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    ) as process:  # fmt: skip
        try:
            api = _serve_and_try_the_urls(process)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    # The server went with the demo.
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{api}/health/live", timeout=2)

    # The orders the shoppers placed are in PostgreSQL, and the ledger still equals the stock.
    with psycopg.connect(fresh_database, autocommit=True) as admin:
        (orders,) = admin.execute(  # type: ignore[misc]
            "SELECT count(*) FROM orders WHERE created_at > now() - interval '10 minutes'"
        ).fetchone()
        assert orders > 0
        (drift,) = admin.execute(  # type: ignore[misc]
            "SELECT (SELECT count(*) FROM products p WHERE p.inventory_quantity <>"
            "  (SELECT coalesce(sum(quantity), 0) FROM inventory_transactions t"
            "   WHERE t.tenant_id = p.tenant_id AND t.product_id = p.id AND t.variant_id IS NULL))"
            " + (SELECT count(*) FROM product_variants v WHERE v.inventory_quantity <>"
            "  (SELECT coalesce(sum(quantity), 0) FROM inventory_transactions t"
            "   WHERE t.tenant_id = v.tenant_id AND t.variant_id = v.id))"
        ).fetchone()
        assert drift == 0

    # A second run reuses the platform, and without --serve it ends by itself.
    again = run("demo", "--duration", "2", "--shoppers", "2", env=ENV, timeout=240)
    assert again.returncode == 0, again.stderr
    assert "reusing the demo platform" in again.stdout
    _check_summary(again.stdout)
    assert "it stopped with the demo" in again.stdout
    verified = run("sync", "verify", "documents", env=ENV)
    assert verified.returncode == 0 and "no drift" in verified.stdout, verified.stdout


def test_full_profile_demo_names_what_is_missing_in_one_line() -> None:
    result = run("demo", "--profile", "full", env={
        "POLYSHOP_POSTGRES_URL": "postgresql://u:p@127.0.0.1:1/db",
        "POLYSHOP_REDIS_URL": "redis://127.0.0.1:1/0",
    }, timeout=60)  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "error: the demo on profile 'full' runs on all five servers: set POLYSHOP_MONGO_URL,"
        " POLYSHOP_CASSANDRA_HOSTS, POLYSHOP_NEO4J_URL, POLYSHOP_POSTGRES_RELAY_URL"
    ]


def test_full_profile_demo_with_a_server_down_is_one_line(urls: object) -> None:
    assert isinstance(urls, bootstrap.StoreUrls)
    assert urls.postgres_relay is not None
    redis_url = urls.redis
    result = run("demo", "--profile", "full", env={
        "POLYSHOP_POSTGRES_URL": urls.postgres, "POLYSHOP_POSTGRES_ADMIN_URL": urls.postgres_admin or "",
        "POLYSHOP_POSTGRES_RELAY_URL": urls.postgres_relay, "POLYSHOP_REDIS_URL": redis_url,
        "POLYSHOP_MONGO_URL": "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=1000",
        "POLYSHOP_CASSANDRA_HOSTS": "127.0.0.1:1", "POLYSHOP_NEO4J_URL": "bolt://127.0.0.1:1",
    }, timeout=120)  # fmt: skip
    assert result.returncode == 1, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(("error: mongodb:", "error: cassandra:")), lines[0]
    assert "Traceback" not in result.stderr
