"""`polyshop serve` as a real process on loopback, for tests and benchmarks that need HTTP."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

import httpx

from polyshop.runtime import free_port

POLYSHOP = str(Path(sys.executable).with_name("polyshop"))


class ApiServer:
    def __init__(self, env: dict[str, str], *, workers: int = 1) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        environment = {k: v for k, v in os.environ.items() if not k.startswith("POLYSHOP_")}
        environment.update(env)
        self._env = environment
        self._workers = workers
        self._process: subprocess.Popen[bytes] | None = None
        self._log = Path(tempfile.gettempdir()) / f"polyshop-serve-{self.port}.log"

    def __enter__(self) -> ApiServer:
        with self._log.open("wb") as log:
            self._process = subprocess.Popen(
                [POLYSHOP, "serve", "--port", str(self.port), "--workers", str(self._workers)],
                env=self._env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"polyshop serve exited: {self.log()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/health/live", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.__exit__(None, None, None)
        raise RuntimeError(f"polyshop serve did not answer: {self.log()[-2000:]}")

    def log(self) -> str:
        return self._log.read_text(errors="replace") if self._log.exists() else ""

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:  # fmt: skip
        if self._process is None or self._process.poll() is not None:
            return
        self._process.send_signal(signal.SIGTERM)
        try:
            self._process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
