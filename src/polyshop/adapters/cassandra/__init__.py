"""Apache Cassandra adapter: the analytics store and its CQL schema migrations."""

from polyshop.adapters.cassandra._schema import (
    SchemaAgreementError,
    applied_migrations,
    parse_replication,
    upgrade_schema,
)
from polyshop.adapters.cassandra._store import CassandraAnalyticsStore, connect, parse_hosts
from polyshop.adapters.cassandra._timeuuid import event_time, time_of

__all__ = [
    "CassandraAnalyticsStore",
    "SchemaAgreementError",
    "applied_migrations",
    "connect",
    "event_time",
    "parse_hosts",
    "parse_replication",
    "time_of",
    "upgrade_schema",
]
