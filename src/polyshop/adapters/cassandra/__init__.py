"""Apache Cassandra adapter: the analytics store and its CQL schema migrations."""

from polyshop.adapters.cassandra._schema import (
    applied_migrations,
    parse_replication,
    upgrade_schema,
)
from polyshop.adapters.cassandra._store import CassandraAnalyticsStore, connect, parse_hosts

__all__ = [
    "CassandraAnalyticsStore",
    "applied_migrations",
    "connect",
    "parse_hosts",
    "parse_replication",
    "upgrade_schema",
]
