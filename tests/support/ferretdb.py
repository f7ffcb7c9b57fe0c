"""FerretDB v1.24.2 (the MongoDB wire protocol over SQLite) for tests: built once from the Go
module proxy into the user's cache directory, then started on loopback per test session.

    uv run python -m tests.support.ferretdb     # build it now (the test command does)
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from polyshop.runtime import free_port
from tests.support.tools import CACHE, go, go_env

VERSION = "v1.24.2"
MODULE = "github.com/FerretDB/FerretDB"
BINARY = CACHE / f"ferretdb-{VERSION}" / "ferretdb"


def ensure_binary() -> Path:
    if BINARY.exists():
        return BINARY
    env = go_env()
    subprocess.run([go(), "mod", "download", f"{MODULE}@{VERSION}"], env=env, check=True)
    source = (
        CACHE / "gopath" / "pkg" / "mod" / "github.com" / "!ferret!d!b" / f"!ferret!d!b@{VERSION}"
    )
    with tempfile.TemporaryDirectory() as scratch:
        tree = Path(scratch) / "ferretdb"
        shutil.copytree(source, tree)
        for path in tree.rglob("*"):
            path.chmod(path.stat().st_mode | 0o200)
        # A plain build panics without this file, which the release process writes.
        (tree / "build" / "version" / "version.txt").write_text(VERSION + "\n")
        BINARY.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [go(), "build", "-o", str(BINARY), "./cmd/ferretdb"], cwd=tree, env=env, check=True
        )
    return BINARY


class FerretDB:
    def __init__(self) -> None:
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="polyshop-ferretdb-"))
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/"

    def start(self) -> None:
        (self.directory / "data").mkdir()
        log = (self.directory / "ferretdb.log").open("wb")
        self._process = subprocess.Popen(
            [str(ensure_binary()), f"--listen-addr=127.0.0.1:{self.port}", "--handler=sqlite",
             f"--sqlite-url=file:{self.directory / 'data'}/", f"--state-dir={self.directory}",
             f"--debug-addr=127.0.0.1:{free_port()}", "--telemetry=disable", "--log-level=warn"],
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError((self.directory / "ferretdb.log").read_text()[-2000:])
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError("ferretdb did not start")

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(10)
        shutil.rmtree(self.directory, ignore_errors=True)


if __name__ == "__main__":
    print(f"ferretdb {VERSION}: {ensure_binary()}", file=sys.stderr)
