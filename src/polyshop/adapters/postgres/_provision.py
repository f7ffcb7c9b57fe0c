"""Cluster-level setup that migrations cannot own: the roles and the database.

`polyshop_owner` owns every object and runs migrations; it may bypass row-level security so
that migrations and platform maintenance can see every tenant. `polyshop_app` is what the
application logs in as: no superuser, no BYPASSRLS, only the privileges migrations grant it.
"""

from __future__ import annotations

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

OWNER_ROLE = "polyshop_owner"
APP_ROLE = "polyshop_app"


def provision(admin_url: str, *, app_password: str) -> None:
    """Create the roles and the database when missing; safe to run again."""
    params = conninfo_to_dict(admin_url)
    database = str(params.get("dbname") or "polyshop")
    maintenance = make_conninfo(admin_url, dbname="postgres")
    with psycopg.connect(maintenance, autocommit=True, connect_timeout=10) as conn:
        roles = {row[0] for row in conn.execute("SELECT rolname FROM pg_roles")}
        if OWNER_ROLE not in roles:
            conn.execute(
                sql.SQL("CREATE ROLE {} NOLOGIN BYPASSRLS").format(sql.Identifier(OWNER_ROLE))
            )
        if APP_ROLE not in roles:
            conn.execute(
                sql.SQL(
                    "CREATE ROLE {} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE "
                    "PASSWORD {}"
                ).format(sql.Identifier(APP_ROLE), sql.Literal(app_password))
            )
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (database,)
        ).fetchone()
        if exists is None:
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(database), sql.Identifier(OWNER_ROLE)
                )
            )
        conn.execute(
            sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(database))
        )
        conn.execute(
            sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
                sql.Identifier(database), sql.Identifier(APP_ROLE)
            )
        )


def drop_database(admin_url: str) -> None:
    """Drop the database named in `admin_url` (tests and `db reset`)."""
    database = str(conninfo_to_dict(admin_url).get("dbname"))
    maintenance = make_conninfo(admin_url, dbname="postgres")
    with psycopg.connect(maintenance, autocommit=True, connect_timeout=10) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database))
        )
