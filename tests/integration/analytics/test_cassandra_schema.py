"""The CQL migrations: applied once by `db upgrade` in `full`, replication from settings, and the
tables the queries need (tenant in every partition key, TTL, no secondary indexes)."""

from __future__ import annotations

import os

import pytest
from cassandra.cluster import Cluster

from polyshop import bootstrap
from polyshop.adapters.cassandra import applied_migrations, connect, parse_replication
from tests.conftest import test_settings as settings_for


def test_db_upgrade_creates_the_keyspace_and_applies_each_migration_once(cassandra: str) -> None:
    keyspace = f"polyshop_schema_{os.getpid()}"
    settings = settings_for(cassandra_hosts=cassandra, cassandra_keyspace=keyspace,
                            cassandra_replication="SimpleStrategy:1")  # fmt: skip
    assert bootstrap.prepare_analytics(settings) == ["0001_analytics", "0002_rollups"]
    assert bootstrap.prepare_analytics(settings) == []
    assert applied_migrations(cassandra, keyspace) == ["0001_analytics", "0002_rollups"]
    cluster: Cluster = connect(cassandra, local_dc="datacenter1", consistency="ONE")
    try:
        session = cluster.connect()
        (replication,) = session.execute(
            "SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = %s", (keyspace,)
        ).one()
        assert replication["class"].endswith("SimpleStrategy")
        tables = {
            row.table_name: row
            for row in session.execute(
                "SELECT table_name, default_time_to_live FROM system_schema.tables"
                " WHERE keyspace_name = %s", (keyspace,)
            )
        }  # fmt: skip
        analytics = {name for name in tables if name != "schema_migrations"}
        assert analytics == {"user_analytics", "product_analytics", "category_analytics",
                             "order_analytics", "product_hourly_rollup",
                             "top_products_daily"}  # fmt: skip
        for name in analytics:
            assert tables[name].default_time_to_live > 0, name
            partition = [
                row.column_name
                for row in session.execute(
                    "SELECT column_name, kind, position FROM system_schema.columns"
                    " WHERE keyspace_name = %s AND table_name = %s", (keyspace, name))
                if row.kind == "partition_key"
            ]  # fmt: skip
            assert "tenant_id" in partition, name
        indexes = session.execute(
            "SELECT index_name FROM system_schema.indexes WHERE keyspace_name = %s", (keyspace,)
        ).all()
        assert indexes == []
        session.execute(f"DROP KEYSPACE {keyspace}")
    finally:
        cluster.shutdown()


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        ("SimpleStrategy:3", {"class": "SimpleStrategy", "replication_factor": "3"}),
        ("NetworkTopologyStrategy:dc1=3,dc2=2",
         {"class": "NetworkTopologyStrategy", "dc1": "3", "dc2": "2"}),
    ],
)  # fmt: skip
def test_replication_comes_from_the_setting(setting: str, expected: dict[str, str]) -> None:
    assert parse_replication(setting) == expected


@pytest.mark.parametrize("bad", ["SimpleStrategy", "SimpleStrategy:0", "Everywhere:3",
                                 "NetworkTopologyStrategy:", "NetworkTopologyStrategy:dc1=x",
                                 "NetworkTopologyStrategy:d'c=3"])  # fmt: skip
def test_a_bad_replication_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="replication"):
        parse_replication(bad)
