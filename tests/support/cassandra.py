"""Apache Cassandra 5.0 for tests: the server jar and its dependencies from Maven Central (no
tarball, no Docker), cached in the user's cache directory, run on the installed Java 17.

    uv run python -m tests.support.cassandra          # fetch the jars now (the test command does)
    uv run python -m tests.support.cassandra --serve  # one node in the foreground (Ctrl-C stops)

One node per test session (`tests/conftest.py`), and a three-node cluster on 127.0.0.1/.2/.3
for the cluster test. The recipe this follows is ../shared/design/cassandra.md.
"""

from __future__ import annotations

import contextlib
import ctypes
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from polyshop.runtime import free_port
from tests.support.tools import CACHE

VERSION = "5.0.6"
HERE = Path(__file__).resolve().parent / "cassandra"
LIB = CACHE / f"cassandra-{VERSION}" / "lib"

# The Java 17 module flags of Cassandra's conf/jvm17-server.options.
_JPMS = [
    "-Djdk.attach.allowAttachSelf=true",
    *[f"--add-exports={m}=ALL-UNNAMED" for m in (
        "java.base/jdk.internal.misc", "java.base/jdk.internal.ref", "java.base/sun.nio.ch",
        "java.management.rmi/com.sun.jmx.remote.internal.rmi", "java.rmi/sun.rmi.registry",
        "java.rmi/sun.rmi.server", "java.sql/java.sql", "java.base/java.lang.ref",
        "jdk.unsupported/sun.misc", "jdk.attach/sun.tools.attach")],
    *[f"--add-opens={m}=ALL-UNNAMED" for m in (
        "java.base/java.lang.module", "java.base/jdk.internal.loader", "java.base/jdk.internal.ref",
        "java.base/jdk.internal.reflect", "java.base/jdk.internal.math",
        "java.base/jdk.internal.module", "java.base/jdk.internal.util.jar",
        "jdk.management/com.sun.management.internal", "java.base/sun.nio.ch", "java.base/java.io",
        "java.base/java.nio", "java.base/java.util.concurrent.atomic", "java.base/java.lang",
        "java.base/java.util", "java.base/java.lang.reflect")],
    "-Dio.netty.tryReflectionSetAccessible=true",
]  # fmt: skip


def ensure_jars() -> Path:
    """The server's jars (about 100, 66 MB), fetched once with Maven into the cache."""
    if LIB.is_dir() and any(LIB.glob("cassandra-all-*.jar")):
        return LIB
    mvn = shutil.which("mvn")
    if mvn is None:
        raise RuntimeError("Maven (mvn) is needed once to fetch Cassandra's jars")
    partial = LIB.with_name("lib.partial")
    shutil.rmtree(partial, ignore_errors=True)
    subprocess.run(
        [mvn, "-q", "-B", "-f", str(HERE / "pom.xml"), "dependency:copy-dependencies",
         f"-DoutputDirectory={partial}"],
        check=True,
    )  # fmt: skip
    partial.rename(LIB)  # only a complete download counts as the cache
    return LIB


def _die_with_parent() -> None:
    """Linux: the server gets SIGTERM if the test process dies without stopping it. (Strictly,
    when the thread that started it ends: start nodes from the main thread or a pool thread,
    which lives as long as its pool.)"""
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _port_open(address: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((address, port)) == 0


class CassandraNode:
    """One server process. `address` is its listen and CQL address; nodes of one cluster share
    the ports and differ by loopback address."""

    def __init__(
        self, directory: Path, *, address: str = "127.0.0.1", native_port: int | None = None,
        storage_port: int | None = None, seeds: str | None = None, heap: str = "768m",
        name: str = "node1",
    ) -> None:  # fmt: skip
        self.directory = directory / name
        self.address = address
        self.native_port = native_port or free_port()
        self.storage_port = storage_port or free_port()
        self.jmx_port = free_port()
        self.seeds = seeds or f"{address}:{self.storage_port}"
        self.heap = heap
        self.name = name
        self.process: subprocess.Popen[bytes] | None = None

    def _config(self) -> Path:
        conf = self.directory / "conf"
        for sub in ("data", "commitlog", "saved_caches", "hints", "cdc_raw", "logs", "conf"):
            (self.directory / sub).mkdir(parents=True, exist_ok=True)
        text = (HERE / "cassandra.yaml.template").read_text()
        for key, value in {"@NODE_DIR@": str(self.directory), "@ADDR@": self.address,
                           "@SEEDS@": self.seeds, "@NATIVE_PORT@": str(self.native_port),
                           "@STORAGE_PORT@": str(self.storage_port)}.items():  # fmt: skip
            text = text.replace(key, value)
        (conf / "cassandra.yaml").write_text(text)
        shutil.copy(HERE / "logback.xml", conf / "logback.xml")
        return conf

    def start(self, *, bootstrap: bool = True) -> None:
        lib = ensure_jars()
        conf = self._config()
        command = [
            "java", "-Xms256m", f"-Xmx{self.heap}", "-Xss256k",
            "-XX:+UseG1GC", "-XX:+ParallelRefProcEnabled", "-XX:MaxTenuringThreshold=1",
            "-XX:+ExitOnOutOfMemoryError", "-XX:+PerfDisableSharedMem",
            "-XX:ActiveProcessorCount=2", "-Djava.net.preferIPv4Stack=true", *_JPMS,
            f"-Dcassandra.config=file://{conf / 'cassandra.yaml'}",
            f"-Dcassandra.storagedir={self.directory}",
            f"-Dcassandra.logdir={self.directory / 'logs'}",
            f"-Dlogback.configurationFile=file://{conf / 'logback.xml'}",
            "-Dcassandra-foreground=yes",
            f"-Dcassandra.jmx.local.port={self.jmx_port}",
            # Test-speed knobs: no waiting for gossip to settle on loopback.
            "-Dcassandra.skip_wait_for_gossip_to_settle=0", "-Dcassandra.ring_delay_ms=1000",
            "-Dcassandra.superuser_setup_delay_ms=0",
            f"-Dcassandra.auto_bootstrap={'true' if bootstrap else 'false'}",
            "-cp", f"{lib}/*", "org.apache.cassandra.service.CassandraDaemon",
        ]  # fmt: skip
        log = (self.directory / "logs" / "stdout.log").open("ab")
        self.process = subprocess.Popen(
            command, cwd=self.directory, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, preexec_fn=_die_with_parent,
        )  # fmt: skip
        log.close()

    def wait_ready(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"cassandra {self.name} exited:\n{self.log_tail()}")
            if _port_open(self.address, self.native_port):
                return
            time.sleep(0.25)
        raise RuntimeError(f"cassandra {self.name} did not open its CQL port:\n{self.log_tail()}")

    def nodetool(self, *args: str) -> subprocess.Popen[str]:
        """`nodetool ARGS` against this node's own JMX port (the node's own view of the ring),
        started and not waited for (the caller may run one per node at once)."""
        command = [
            "java", "-Xmx128m", "-XX:TieredStopAtLevel=1", *_JPMS,
            f"-Dlogback.configurationFile=file://{HERE / 'logback-tools.xml'}",
            "-cp", f"{ensure_jars()}/*", "org.apache.cassandra.tools.NodeTool",
            "-h", "127.0.0.1", "-p", str(self.jmx_port), *args,
        ]  # fmt: skip
        return subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            preexec_fn=_die_with_parent,
        )  # fmt: skip

    def log_tail(self) -> str:
        path = self.directory / "logs" / "system.log"
        if not path.exists():
            path = self.directory / "logs" / "stdout.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, *, kill: bool = False, timeout: float = 60) -> None:
        """SIGTERM (a clean stop) or SIGKILL (a crash)."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)


class SingleNode:
    """The session's Cassandra: one node on 127.0.0.1, free ports, a temporary directory."""

    def __init__(self, heap: str = "768m") -> None:
        self.root = Path(tempfile.mkdtemp(prefix="polyshop-cassandra-"))
        self.node = CassandraNode(self.root, heap=heap)

    @property
    def hosts(self) -> str:
        return f"{self.node.address}:{self.node.native_port}"

    def start(self) -> None:
        self.node.start()
        self.node.wait_ready()

    def stop(self) -> None:
        self.node.stop()
        shutil.rmtree(self.root, ignore_errors=True)


if __name__ == "__main__":
    print(f"cassandra {VERSION}: {ensure_jars()}", file=sys.stderr)
    if "--serve" in sys.argv:
        server = SingleNode()
        server.start()
        print(f"POLYSHOP_CASSANDRA_HOSTS={server.hosts}", flush=True)
        try:
            signal.sigwait({signal.SIGINT, signal.SIGTERM})
        finally:
            server.stop()


class LoopbackCluster:
    """Nodes on 127.0.0.1, 127.0.0.2, ... sharing the CQL and storage ports (as on real hosts);
    the first is the seed. The others join without bootstrapping (an empty cluster has nothing
    to stream), which takes them from minutes to seconds."""

    def __init__(self, size: int = 3, heap: str = "512m") -> None:
        self.root = Path(tempfile.mkdtemp(prefix="polyshop-cassandra-cluster-"))
        native, storage = free_port(), free_port()
        seed = f"127.0.0.1:{storage}"
        self.nodes = [
            CassandraNode(self.root, address=f"127.0.0.{n}", native_port=native,
                          storage_port=storage, seeds=seed, heap=heap, name=f"node{n}")
            for n in range(1, size + 1)
        ]  # fmt: skip

    @property
    def hosts(self) -> str:
        return ",".join(f"{node.address}:{node.native_port}" for node in self.nodes)

    def start(self) -> None:
        first, *others = self.nodes
        first.start()
        first.wait_ready()
        for node in others:
            node.start(bootstrap=False)
        for node in others:
            node.wait_ready()
        self.wait_all_up()

    def wait_all_up(self, timeout: float = 180) -> None:
        """Until every node, asked through its own `nodetool status`, sees every node of the
        cluster as Up and Normal (UN) and no other.

        Peers with tokens in `system.peers_v2` are not enough: gossip fills that table before
        a joining node is Normal in every node's token metadata, and a keyspace created then is
        placed on fewer replicas than asked for ("replication factor 3 ... higher than the number
        of nodes 2") while the node that missed the schema may coordinate the next statement.
        `nodetool status` reports each node's own ring: liveness from its failure detector,
        state from its token metadata."""
        wanted = {node.address: "UN" for node in self.nodes}
        deadline = time.monotonic() + timeout
        while True:
            asked = [(node, node.nodetool("status")) for node in self.nodes]
            views = {}
            for node, process in asked:
                try:
                    out, err = process.communicate(timeout=max(1.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    process.kill()
                    out, err = process.communicate()
                views[node.name] = ring_view(out) if process.returncode == 0 else err.strip()
            if all(view == wanted for view in views.values()):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"the cluster did not come up: {views}")
            time.sleep(1)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop(timeout=30)
        shutil.rmtree(self.root, ignore_errors=True)


_STATUS_LINE = re.compile(r"^([UD][NLJM])\s+([0-9.]+)\s", re.MULTILINE)


def ring_view(status: str) -> dict[str, str]:
    """`nodetool status` output as {address: "UN" | "DN" | "UJ" | ...}."""
    return {address: state for state, address in _STATUS_LINE.findall(status)}
