"""CQL schema migrations, kept with the code (`migrations/NNNN_name.cql`) and applied in order by
`polyshop db upgrade` in `full`. Applied versions are recorded in the keyspace, so an upgrade
applies only what is new; every statement is `IF NOT EXISTS`, so a half-applied file is safe to
run again."""

from __future__ import annotations

import re
from importlib import resources
from typing import Any

from polyshop.adapters.cassandra._store import connect

_KEYSPACE = re.compile(r"^[a-z][a-z0-9_]{0,47}$")


def parse_replication(value: str) -> dict[str, str]:
    """`SimpleStrategy:1` (one node, tests) or `NetworkTopologyStrategy:dc1=3,dc2=3`."""
    strategy, _, rest = value.partition(":")
    if strategy == "SimpleStrategy" and rest.isdigit() and int(rest) >= 1:
        return {"class": "SimpleStrategy", "replication_factor": rest}
    if strategy == "NetworkTopologyStrategy" and rest:
        options = {"class": "NetworkTopologyStrategy"}
        for part in rest.split(","):
            dc, _, factor = part.partition("=")
            if not re.fullmatch(r"[A-Za-z0-9_.-]+", dc) or not factor.isdigit():
                raise ValueError(f"replication: bad data centre entry {part!r}")
            options[dc] = factor
        return options
    raise ValueError(
        "replication: SimpleStrategy:<factor> or NetworkTopologyStrategy:<dc>=<factor>,..."
    )


def _migrations() -> list[tuple[str, list[str]]]:
    folder = resources.files("polyshop.adapters.cassandra") / "migrations"
    found = []
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".cql"):
            continue
        text = "\n".join(
            line for line in entry.read_text().splitlines() if not line.lstrip().startswith("--")
        )
        statements = [s.strip() for s in text.split(";") if s.strip()]
        found.append((entry.name.removesuffix(".cql"), statements))
    return found


def _cql_map(options: dict[str, str]) -> str:
    return "{" + ", ".join(f"'{k}': '{v}'" for k, v in options.items()) + "}"


def upgrade_schema(
    hosts: str, keyspace: str, replication: str, *, local_dc: str = "datacenter1",
    consistency: str = "LOCAL_QUORUM",
) -> list[str]:  # fmt: skip
    """Create or re-replicate the keyspace and apply new migrations; returns what it applied.
    (Changing replication of a keyspace with data needs `nodetool repair` afterwards.)"""
    if not _KEYSPACE.match(keyspace):
        raise ValueError(f"keyspace name {keyspace!r} is not a plain lower-case identifier")
    options = _cql_map(parse_replication(replication))
    # Every node must know a keyspace or table before the next statement uses it: a busy
    # cluster can take longer than the driver's default 10 s to agree.
    cluster = connect(
        hosts, local_dc=local_dc, consistency=consistency, request_timeout=60, schema_wait=120
    )
    try:
        session: Any = cluster.connect()
        session.execute(
            f"CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = {options}"
            " AND durable_writes = true"
        )
        session.execute(f"ALTER KEYSPACE {keyspace} WITH replication = {options}")
        if not cluster.control_connection.wait_for_schema_agreement(wait_time=120):
            raise RuntimeError(f"the nodes did not agree on keyspace {keyspace} in 120 s")
        session.set_keyspace(keyspace)
        session.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations"
            " (version text PRIMARY KEY, applied_at timestamp)"
        )
        done = {row.version for row in session.execute("SELECT version FROM schema_migrations")}
        applied = []
        for version, statements in _migrations():
            if version in done:
                continue
            for statement in statements:
                session.execute(statement)
            session.execute(
                "INSERT INTO schema_migrations (version, applied_at)"
                " VALUES (%s, toTimestamp(now()))",
                (version,),
            )
            applied.append(version)
        cluster.control_connection.wait_for_schema_agreement()
        return applied
    finally:
        cluster.shutdown()


def applied_migrations(hosts: str, keyspace: str, *, local_dc: str = "datacenter1") -> list[str]:
    cluster = connect(hosts, local_dc=local_dc, consistency="LOCAL_QUORUM")
    try:
        session: Any = cluster.connect(keyspace)
        return sorted(
            row.version for row in session.execute("SELECT version FROM schema_migrations")
        )
    finally:
        cluster.shutdown()
