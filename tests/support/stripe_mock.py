"""stripe-mock (Stripe's official API mock, from its OpenAPI spec) for the Stripe adapter's
contract tests: built once from the Go module proxy into the user's cache directory, like
FerretDB, then started on loopback per test session.

    uv run python -m tests.support.stripe_mock     # build it now (the test command does)
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

from polyshop.runtime import free_port
from tests.support.tools import CACHE, go_install

VERSION = "v0.203.0"
MODULE = "github.com/stripe/stripe-mock"
BINARY = CACHE / f"stripe-mock-{VERSION}" / "stripe-mock"


def ensure_binary() -> Path:
    return go_install(f"{MODULE}@{VERSION}", BINARY)


class StripeMock:
    def __init__(self) -> None:
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._process = subprocess.Popen(
            [str(ensure_binary()), "-http-port", str(self.port), "-https-port", str(free_port())],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError("stripe-mock exited")
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError("stripe-mock did not start")

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(10)


if __name__ == "__main__":
    print(f"stripe-mock {VERSION}: {ensure_binary()}", file=sys.stderr)
