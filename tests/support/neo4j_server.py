"""Neo4j 5.26 community for tests: the embedded DBMS's jars from Maven Central (cached in the
user's cache directory), a small Java main (`neo4j/Server.java`) that opens Bolt on loopback,
started once per test session. No tarball, no Docker.

    uv run python -m tests.support.neo4j_server     # fetch the jars and compile now
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from polyshop.runtime import free_port
from tests.support.tools import CACHE

VERSION = "5.26.16"
SOURCES = Path(__file__).resolve().parent / "neo4j"
HOME = CACHE / f"neo4j-{VERSION}"
PASSWORD = "polyshop-test-graph"


def ensure_built() -> Path:
    """The jars (mvn copy-dependencies, ~75 s cold) and the compiled main, once."""
    lib = HOME / "lib"
    if not (lib / f"neo4j-{VERSION}.jar").exists():
        mvn = shutil.which("mvn")
        if mvn is None:
            raise RuntimeError("Maven (mvn) is needed once to fetch Neo4j's jars")
        partial = lib.with_name("lib.partial")
        shutil.rmtree(partial, ignore_errors=True)
        subprocess.run(
            [mvn, "-q", "-B", "-f", str(SOURCES / "pom.xml"), "dependency:copy-dependencies",
             f"-DoutputDirectory={partial}", f"-Dmaven.repo.local={CACHE / 'm2'}"],
            check=True,
        )  # fmt: skip
        shutil.rmtree(lib, ignore_errors=True)
        partial.rename(lib)  # only a complete download counts as the cache
    source = SOURCES / "Server.java"
    compiled = HOME / "Server.class"
    if not compiled.exists() or compiled.stat().st_mtime < source.stat().st_mtime:
        subprocess.run(["javac", "-cp", f"{lib}/*", "-d", str(HOME), str(source)], check=True)
    return HOME


def _die_with_parent() -> None:
    """Linux: the server gets SIGTERM if the test process dies without stopping it."""
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Neo4jServer:
    def __init__(
        self, *, heap_mb: int = 768, pagecache_mb: int = 96, directory: Path | None = None,
        fixed_heap: bool = False,
    ) -> None:  # fmt: skip
        # A modest heap and page cache by default: the machine is shared with the other test
        # servers (bench.recommend asks for more, and a heap fixed at its size from the start,
        # as Neo4j's own configuration advice has it: growing it costs full collections).
        self.heap_mb = heap_mb
        self.initial_heap_mb = heap_mb if fixed_heap else 128
        self.pagecache_mb = pagecache_mb
        self.port = free_port()
        # `directory`: a store kept between runs (bench.recommend --reuse-graph); by default a
        # fresh temporary one.
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory or Path(tempfile.mkdtemp(prefix="polyshop-neo4j-"))
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"bolt://127.0.0.1:{self.port}"

    user = "neo4j"
    password = PASSWORD

    @property
    def log(self) -> Path:
        return self.directory / "server.log"

    def start(self, timeout: float = 180) -> None:
        home = ensure_built()
        log = self.log.open("ab")
        started = log.tell()  # a kept directory's log has the previous runs' lines
        self._process = subprocess.Popen(
            ["java", f"-Xms{self.initial_heap_mb}m", f"-Xmx{self.heap_mb}m", "-XX:+UseSerialGC", "-cp", f"{home}/lib/*:{home}",
             "Server", str(self.directory / "home"), str(self.port)],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "NEO4J_PASSWORD": PASSWORD,
                                      "NEO4J_PAGECACHE_MB": str(self.pagecache_mb)},
            start_new_session=True, preexec_fn=_die_with_parent,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(self.log.read_text()[-3000:])
            # Bolt listens before the password is set: wait for the main's `ready` line.
            lines = self.log.read_bytes()[started:].decode(errors="replace").splitlines()
            if any(line.startswith("ready") for line in lines):
                return
            time.sleep(0.2)
        raise RuntimeError("neo4j did not start: " + self.log.read_text()[-3000:])

    def stop(self) -> None:
        """A clean shutdown (SIGTERM: the main's hook checkpoints the store)."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(60)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(10)
        self._process = None

    def kill(self) -> None:
        """A crash: SIGKILL, no shutdown hook."""
        if self._process is not None:
            self._process.kill()
            self._process.wait(10)
        self._process = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


if __name__ == "__main__":
    print(f"neo4j {VERSION}: {ensure_built()}", file=sys.stderr)
