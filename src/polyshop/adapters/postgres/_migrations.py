"""Schema migrations (Alembic, raw SQL files) applied as the owner role."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import psycopg
from alembic import command, op
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, pool

from polyshop.adapters.postgres._provision import OWNER_ROLE

_MIGRATIONS = Path(__file__).with_name("migrations")


def run_sql_file(connection: Connection, path: Path) -> None:
    """Run a whole SQL file as one simple-protocol batch, so `%` and `:` are left alone."""
    driver = connection.connection.driver_connection
    assert driver is not None
    driver.execute(path.read_text())


def sql_file_migration(
    module_file: str,
) -> tuple[Callable[[], None], Callable[[], None]]:
    """`upgrade` and `downgrade` for a revision whose SQL sits beside it as NAME.up/down.sql."""
    stem = Path(module_file).with_suffix("")

    def upgrade() -> None:
        run_sql_file(op.get_bind(), stem.with_name(stem.name + ".up.sql"))

    def downgrade() -> None:
        run_sql_file(op.get_bind(), stem.with_name(stem.name + ".down.sql"))

    return upgrade, downgrade


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    return config


def _engine(admin_url: str) -> Engine:
    # psycopg parses the URL (or key=value conninfo); SQLAlchemy only drives the connection.
    return create_engine(
        "postgresql+psycopg://",
        creator=lambda: psycopg.connect(admin_url, connect_timeout=10),
        poolclass=pool.NullPool,
    )


def _run(admin_url: str, action: str, revision: str) -> None:
    config = _config()
    engine = _engine(admin_url)
    try:
        with engine.connect() as connection:
            # Objects belong to the owner role whoever runs the migration.
            connection.exec_driver_sql(f'SET ROLE "{OWNER_ROLE}"')
            connection.commit()
            config.attributes["connection"] = connection
            getattr(command, action)(config, revision)
            connection.commit()
    finally:
        engine.dispose()


def upgrade(admin_url: str, revision: str = "head") -> None:
    _run(admin_url, "upgrade", revision)


def downgrade(admin_url: str, revision: str) -> None:
    _run(admin_url, "downgrade", revision)


def current_revision(admin_url: str) -> str | None:
    engine = _engine(admin_url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(_config()).get_current_head()
