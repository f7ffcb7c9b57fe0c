"""Cluster-level setup that migrations cannot own: the roles and the database.

One role per job (docs/schema.md, "Database roles", has the table of rights):

- `polyshop_owner` owns every object and runs migrations; it may bypass row-level security so
  that migrations and platform maintenance can see every tenant. Nobody logs in as it.
- `polyshop_app` serves requests: no superuser, no BYPASSRLS, only what migrations grant it.
- `polyshop_relay` runs the outbox relay: it reads the outbox, its checkpoints and the tables it
  builds documents from, and writes documents.
- `polyshop_platform` is the platform operator: it creates and configures shops through a few
  SECURITY DEFINER functions and can do nothing else.

Provisioning works on the database the application URL names and on no other: the admin URL may
name that database or the server's maintenance database (`postgres`, the usual way to connect as
a superuser), and only the application's database has its privileges changed.
"""

from __future__ import annotations

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from polyshop.domain.errors import ConfigurationError

OWNER_ROLE = "polyshop_owner"
APP_ROLE = "polyshop_app"
RELAY_ROLE = "polyshop_relay"
PLATFORM_ROLE = "polyshop_platform"
LOGIN_ROLES = (APP_ROLE, RELAY_ROLE, PLATFORM_ROLE)
# Databases every cluster has; an admin URL may name them to reach the server.
MAINTENANCE_DATABASES = frozenset({"postgres", "template1"})


def database_name(url: str) -> str:
    """The database a URL (or conninfo) connects to; libpq defaults it to the user name."""
    params = conninfo_to_dict(url)
    return str(params.get("dbname") or params.get("user") or "")


def admin_url_for(admin_url: str, app_url: str) -> str:
    """The admin URL pointed at the database the application URL names.

    The admin URL may name that database or a maintenance database; another database is a
    mistake that would make migrations and provisioning act on the wrong one, so it is refused.
    """
    app_database = database_name(app_url)
    admin_database = database_name(admin_url)
    if admin_database != app_database and admin_database not in MAINTENANCE_DATABASES:
        raise ConfigurationError(
            f"POLYSHOP_POSTGRES_ADMIN_URL names database {admin_database!r} but "
            f"POLYSHOP_POSTGRES_URL names {app_database!r}: name the same database "
            "(or the maintenance database 'postgres')"
        )
    return make_conninfo(admin_url, dbname=app_database)


def _login(url: str | None, role: str, setting: str) -> str | None:
    """The password a login role's URL carries, after checking the URL logs in as that role."""
    if url is None:
        return None
    params = conninfo_to_dict(url)
    user = params.get("user")
    if user != role:
        raise ConfigurationError(
            f"{setting} logs in as {user!r}; provisioning creates the role {role!r} for it"
        )
    password = params.get("password")
    return str(password) if password else None


def provision(
    admin_url: str, app_url: str, *, relay_url: str | None = None,
    platform_url: str | None = None, app_password: str | None = None,
) -> str:  # fmt: skip
    """Create the roles and the application's database when missing; safe to run again.

    Passwords come from each role's URL (or `app_password`) and are set when a role is created;
    the relay and platform roles are created without login when their URL is not given, and get
    it once it is. Returns the name of the database.
    """
    database = database_name(app_url)
    if database in MAINTENANCE_DATABASES:
        raise ConfigurationError(
            f"POLYSHOP_POSTGRES_URL names the maintenance database {database!r}: "
            "name the shop's own database"
        )
    admin_url_for(admin_url, app_url)  # refuses an admin URL naming another database
    passwords = {
        APP_ROLE: app_password or _login(app_url, APP_ROLE, "POLYSHOP_POSTGRES_URL"),
        RELAY_ROLE: _login(relay_url, RELAY_ROLE, "POLYSHOP_POSTGRES_RELAY_URL"),
        PLATFORM_ROLE: _login(platform_url, PLATFORM_ROLE, "POLYSHOP_POSTGRES_PLATFORM_URL"),
    }
    maintenance = make_conninfo(admin_url, dbname="postgres")
    with psycopg.connect(maintenance, autocommit=True, connect_timeout=10) as conn:
        roles: dict[str, bool] = dict(
            conn.execute("SELECT rolname, rolcanlogin FROM pg_roles").fetchall()
        )
        if OWNER_ROLE not in roles:
            conn.execute(
                sql.SQL("CREATE ROLE {} NOLOGIN BYPASSRLS").format(sql.Identifier(OWNER_ROLE))
            )
        for role in LOGIN_ROLES:
            password = passwords[role]
            if role not in roles:
                if role == APP_ROLE and password is None:
                    raise ConfigurationError(
                        "POLYSHOP_POSTGRES_URL: no password for the application role "
                        "(put it in the URL or POLYSHOP_APP_PASSWORD)"
                    )
                # Without a URL (yet) the role exists, so migrations can grant to it, but
                # nobody can log in as it until provisioning runs again with its URL.
                login = sql.SQL("LOGIN PASSWORD {}").format(sql.Literal(password))
                conn.execute(
                    sql.SQL(
                        "CREATE ROLE {} {} NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE "
                        "NOREPLICATION"
                    ).format(sql.Identifier(role), login if password else sql.SQL("NOLOGIN"))
                )
            elif password is not None and not roles[role]:
                # An existing role's password is left alone (it may serve other databases),
                # unless it could not log in at all.
                conn.execute(
                    sql.SQL("ALTER ROLE {} LOGIN PASSWORD {}").format(
                        sql.Identifier(role), sql.Literal(password)
                    )
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
        # The application's database, and only it.
        conn.execute(
            sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(sql.Identifier(database))
        )
        conn.execute(
            sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(
                sql.Identifier(database), sql.SQL(", ").join(map(sql.Identifier, LOGIN_ROLES))
            )
        )
    return database


def drop_database(admin_url: str) -> None:
    """Drop the database named in `admin_url` (tests and `db reset`)."""
    database = database_name(admin_url)
    if database in MAINTENANCE_DATABASES:
        raise ConfigurationError(f"refusing to drop the maintenance database {database!r}")
    maintenance = make_conninfo(admin_url, dbname="postgres")
    with psycopg.connect(maintenance, autocommit=True, connect_timeout=10) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database))
        )
