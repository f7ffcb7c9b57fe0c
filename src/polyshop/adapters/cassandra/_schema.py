"""CQL schema migrations, kept with the code (`migrations/NNNN_name.cql`) and applied in order by
`polyshop db upgrade` in `full`. Applied versions are recorded in the keyspace, so an upgrade
applies only what is new; every statement is `IF NOT EXISTS`, so a half-applied file is safe to
run again."""

from __future__ import annotations

import re
from importlib import resources
from typing import Any

from cassandra import ConsistencyLevel
from cassandra.cluster import ExecutionProfile
from cassandra.policies import WhiteListRoundRobinPolicy

from polyshop.adapters.cassandra._store import connect
from polyshop.domain.errors import StoreUnavailableError

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


class SchemaAgreementError(StoreUnavailableError):
    """The nodes did not all reach the same schema version in time after a DDL statement (or
    no node was up to run it on)."""

    def __init__(self, reason: str) -> None:
        super().__init__("cassandra", reason)


# How long each DDL statement may take to reach every live node: a busy cluster can take longer
# than the driver's default 10 s to agree.
_AGREEMENT_SECONDS = 120.0


class _Ddl:
    """Every statement of an upgrade through one coordinator, each DDL followed by a wait for
    schema agreement.

    A DDL statement is applied by the node that coordinates it and reaches the others by schema
    pull a moment later. Sent round-robin, `CREATE KEYSPACE` then `ALTER KEYSPACE` can land on
    two nodes, and the second may not know the keyspace yet ("Keyspace ... doesn't exist"); a
    `CREATE TABLE IF NOT EXISTS` that is a no-op on a node that already has the table returns no
    schema change, so the driver does not wait for the others either. Pinning the coordinator
    makes each statement see the one before; waiting for agreement after each makes the next
    statement (and whoever uses the keyspace after the upgrade) see it on every node.

    The coordinator is the driver's control-connection host, because that is the node the
    agreement check asks: it compares its own schema version with the versions its peers
    gossip. Asked on another node, the check could pass before the coordinator's new version
    had even been gossiped to it (every node still on the old one "agrees")."""

    def __init__(self, cluster: Any, session: Any, consistency: str, wait: float) -> None:
        self.cluster = cluster
        self.session = session
        self.host = cluster.get_control_connection_host()
        if self.host is None:
            raise SchemaAgreementError("no live node to run the schema upgrade on")
        self.wait = wait
        # A profile whose only host is the coordinator: adding it waits until the session has a
        # connection pool to it (the session's pools to the other hosts may still be opening).
        cluster.add_execution_profile(
            "ddl",
            ExecutionProfile(
                load_balancing_policy=WhiteListRoundRobinPolicy([self.host.address]),
                consistency_level=ConsistencyLevel.name_to_value[consistency],
                request_timeout=60,
            ),
            pool_wait_timeout=30,
        )

    def query(self, statement: str, params: Any = None) -> Any:
        return self.session.execute(statement, params, execution_profile="ddl")

    def change(self, statement: str) -> None:
        self.query(statement)
        if self.cluster.get_control_connection_host() != self.host:
            raise SchemaAgreementError(
                f"lost the connection to {self.host.endpoint} during the schema upgrade;"
                " run it again (every statement is IF NOT EXISTS)"
            )
        if not self.cluster.control_connection.wait_for_schema_agreement(wait_time=self.wait):
            raise SchemaAgreementError(
                f"the nodes did not agree on the schema within {self.wait:.0f} s after"
                f" {statement.split('(')[0].strip()[:120]!r}; check `nodetool describecluster`"
                " and run the upgrade again (every statement is IF NOT EXISTS)"
            )


def upgrade_schema(
    hosts: str, keyspace: str, replication: str, *, local_dc: str = "datacenter1",
    consistency: str = "LOCAL_QUORUM", agreement_seconds: float = _AGREEMENT_SECONDS,
) -> list[str]:  # fmt: skip
    """Create or re-replicate the keyspace and apply new migrations; returns what it applied.
    Every statement goes through one coordinator, and each DDL statement waits until every live
    node has the schema (`SchemaAgreementError` if that takes longer than `agreement_seconds`).
    (Changing replication of a keyspace with data needs `nodetool repair` afterwards.)"""
    if not _KEYSPACE.match(keyspace):
        raise ValueError(f"keyspace name {keyspace!r} is not a plain lower-case identifier")
    options = _cql_map(parse_replication(replication))
    cluster = connect(
        hosts, local_dc=local_dc, consistency=consistency, request_timeout=60,
        schema_wait=agreement_seconds,
    )  # fmt: skip
    try:
        ddl = _Ddl(cluster, cluster.connect(), consistency, agreement_seconds)
        ddl.change(
            f"CREATE KEYSPACE IF NOT EXISTS {keyspace} WITH replication = {options}"
            " AND durable_writes = true"
        )
        ddl.change(f"ALTER KEYSPACE {keyspace} WITH replication = {options}")
        ddl.session.set_keyspace(keyspace)
        ddl.change(
            "CREATE TABLE IF NOT EXISTS schema_migrations"
            " (version text PRIMARY KEY, applied_at timestamp)"
        )
        done = {row.version for row in ddl.query("SELECT version FROM schema_migrations")}
        applied = []
        for version, statements in _migrations():
            if version in done:
                continue
            for statement in statements:
                ddl.change(statement)
            ddl.query(
                "INSERT INTO schema_migrations (version, applied_at)"
                " VALUES (%s, toTimestamp(now()))",
                (version,),
            )
            applied.append(version)
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
