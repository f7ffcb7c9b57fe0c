"""The interactive docs in a real browser (Debian's chromium, headless, offline): the page
renders every operation from assets the server itself serves, under its content security
policy. Before, it loaded Swagger UI from a CDN and stayed blank on a machine without one."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from polyshop import bootstrap
from tests.e2e.test_api_server import SERVER_ENV
from tests.support.api_server import ApiServer

# A fresh profile and nothing that phones home: the page must render from this server alone.
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                  "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]  # fmt: skip


@pytest.mark.slow
def test_the_docs_page_renders_the_operations_in_headless_chromium(
    urls: bootstrap.StoreUrls, tmp_path: Path
) -> None:
    chromium = shutil.which("chromium")
    assert chromium, "chromium is missing: ./scripts/check installs Debian's package"
    with ApiServer(SERVER_ENV) as server:
        schema = httpx.get(f"{server.url}/openapi.json").json()
        result = subprocess.run(
            [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
             "--enable-logging=stderr", "--v=0", "--virtual-time-budget=20000", "--dump-dom",
             f"{server.url}/docs"],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    dom = result.stdout
    rendered = set(re.findall(r'class="opblock-summary-path" data-path="([^"]+)"', dom))
    assert rendered == set(schema["paths"]), set(schema["paths"]) ^ rendered
    assert 'class="title">polyshop' in dom
    # The policy allowed everything the page needed (a refusal is logged to the console).
    assert "Content Security Policy" not in result.stderr, result.stderr[-3000:]
