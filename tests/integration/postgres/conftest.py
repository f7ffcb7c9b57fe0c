from __future__ import annotations

from typing import Any

import psycopg
import pytest

from tests.integration.postgres.graph import Graph, build_graph


@pytest.fixture(scope="session")
def graphs(admin_url: str) -> tuple[Graph, Graph]:
    """Two tenants, each with one row of everything."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        return build_graph(conn, "alpha"), build_graph(conn, "beta")


@pytest.fixture(scope="session")
def catalog(admin_url: str) -> dict[str, list[Any]]:
    """What the schema declares, read from PostgreSQL's own catalog."""
    with psycopg.connect(admin_url) as conn:
        foreign_keys = conn.execute(
            """
            SELECT con.conname, cl.relname, pcl.relname,
                   array_agg(a.attname ORDER BY k.ord), array_agg(pa.attname ORDER BY k.ord)
              FROM pg_constraint con
              JOIN pg_class cl ON cl.oid = con.conrelid
              JOIN pg_class pcl ON pcl.oid = con.confrelid
             CROSS JOIN LATERAL unnest(con.conkey, con.confkey) WITH ORDINALITY AS k(attnum, fattnum, ord)
              JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum
              JOIN pg_attribute pa ON pa.attrelid = con.confrelid AND pa.attnum = k.fattnum
             WHERE con.contype = 'f' AND con.connamespace = 'public'::regnamespace
               AND con.conparentid = 0
             GROUP BY con.conname, cl.relname, pcl.relname
             ORDER BY con.conname
            """
        ).fetchall()
        tenant_tables = [
            row[0]
            for row in conn.execute(
                """
                SELECT c.relname FROM pg_class c
                  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id'
                 WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
                   AND NOT c.relispartition
                 ORDER BY 1
                """
            )
        ]
    return {"foreign_keys": foreign_keys, "tenant_tables": tenant_tables}
