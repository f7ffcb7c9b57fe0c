"""Entry point: every failure a person can cause ends as one readable line and a non-zero exit."""

from __future__ import annotations

import sys

import psycopg
import redis.exceptions
import typer
from neo4j.exceptions import Neo4jError, ServiceUnavailable
from pymongo.errors import PyMongoError
from rich.console import Console

from polyshop.cli import (
    _analytics,
    _bench,
    _db,
    _payments,
    _recommend,
    _seed,
    _stores,
    _sync,
    _tenants,
)
from polyshop.cli.demo import demo
from polyshop.domain.errors import PolyshopError
from polyshop.runtime.health import first_line

app = typer.Typer(
    name="polyshop",
    help="Multi-tenant e-commerce backend: stores, schema, tenants.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
_stores.register(app)
app.command()(demo)
_seed.register(app)
_bench.register(app)
app.add_typer(_db.app, name="db")
app.add_typer(_tenants.app, name="tenants")
app.add_typer(_sync.app, name="sync")
app.add_typer(_analytics.app, name="analytics")
app.add_typer(_payments.app, name="payments")
app.add_typer(_recommend.app, name="recommend")

_errors = Console(stderr=True, highlight=False, soft_wrap=True)


def _fail(message: str, code: int = 1) -> None:
    _errors.print(f"[bold red]error:[/] {message}", markup=True)
    sys.exit(code)


def main() -> None:
    # Typer reports usage errors itself (exit 2); everything else we raise on purpose ends here.
    try:
        app()
    except PolyshopError as exc:
        _fail(str(exc))
    except psycopg.Error as exc:
        _fail(f"postgres: {first_line(exc)}")
    except redis.exceptions.RedisError as exc:
        _fail(f"redis: {first_line(exc)}")
    except (Neo4jError, ServiceUnavailable) as exc:
        _fail(f"neo4j: {first_line(exc)}")
    except PyMongoError as exc:
        _fail(f"mongodb: {first_line(exc)}")
    except OSError as exc:
        # An unwritable data directory, a missing binary: name the file and the reason.
        where = f": {exc.filename}" if exc.filename else ""
        _fail(f"{exc.strerror or exc}{where}")
    except KeyboardInterrupt:
        _fail("interrupted", 130)
