"""Typed settings, read from the environment with the ``POLYSHOP_`` prefix.

Two profiles share one code path: ``embedded`` starts PostgreSQL and Redis from pip wheels under
one data directory; ``full`` connects to servers at URLs.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import platformdirs
from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from polyshop.domain.errors import ConfigurationError

Profile = Literal["embedded", "full"]

_SCHEMES: dict[str, tuple[str, ...]] = {
    "postgres_url": ("postgresql", "postgres"),
    "postgres_admin_url": ("postgresql", "postgres"),
    "postgres_relay_url": ("postgresql", "postgres"),
    "postgres_platform_url": ("postgresql", "postgres"),
    "redis_url": ("redis", "rediss", "unix"),
    "mongo_url": ("mongodb", "mongodb+srv"),
    "neo4j_url": ("bolt", "bolt+s", "bolt+ssc", "neo4j", "neo4j+s", "neo4j+ssc"),
}
_STORE_NAMES = {
    "postgres_url": "postgres",
    "postgres_admin_url": "postgres (admin)",
    "postgres_relay_url": "postgres (relay)",
    "postgres_platform_url": "postgres (platform)",
    "redis_url": "redis",
    "mongo_url": "mongodb",
    "neo4j_url": "neo4j",
}


def _default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("polyshop", appauthor=False))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="POLYSHOP_", extra="ignore", frozen=True)

    profile: Profile = "embedded"
    data_dir: Path = Field(default_factory=_default_data_dir)
    database: str = Field(default="polyshop", pattern=r"^[a-z_][a-z0-9_]{0,62}$")

    # Profile `full`: the application connects with `postgres_url` (a role without BYPASSRLS);
    # migrations and platform maintenance use `postgres_admin_url` (the owner role or a superuser).
    postgres_url: str | None = None
    postgres_admin_url: str | None = None
    # The outbox relay logs in as its own role (`polyshop_relay`), and the platform operator's
    # writes (creating and configuring shops) as `polyshop_platform`; docs/schema.md has what
    # each may do. Without a platform URL, platform writes use the admin URL.
    postgres_relay_url: str | None = None
    postgres_platform_url: str | None = None
    redis_url: str | None = None
    # Documents go to MongoDB when this is set; otherwise to PostgreSQL JSONB.
    mongo_url: str | None = None
    mongo_database: str = Field(default="polyshop", pattern=r"^[A-Za-z0-9_-]{1,63}$")
    # The recommendation graph goes to Neo4j 5 when this is set; otherwise to PostgreSQL tables.
    neo4j_url: str | None = None
    neo4j_user: str = "neo4j"
    neo4j_password: SecretStr | None = None

    # Analytics go to Cassandra when hosts are set (`host[:port],...`, one port for all);
    # otherwise to the PostgreSQL twin (`analytics_events` and its rollups).
    cassandra_hosts: str | None = None
    cassandra_keyspace: str = Field(default="polyshop", pattern=r"^[a-z][a-z0-9_]{0,47}$")
    # SimpleStrategy:<factor> for one data centre in tests; NetworkTopologyStrategy:<dc>=<n>,...
    cassandra_replication: str = "SimpleStrategy:1"
    cassandra_local_dc: str = "datacenter1"
    cassandra_consistency: Literal["ONE", "LOCAL_ONE", "QUORUM", "LOCAL_QUORUM", "ALL"] = (
        "LOCAL_QUORUM"
    )
    cassandra_concurrency: int = Field(default=32, ge=1, le=1024)
    cassandra_timeout_seconds: float = Field(default=10.0, gt=0, le=120)
    # Analytics events are kept this long (Cassandra TTL; read-side in PostgreSQL).
    analytics_retention_days: int = Field(default=395, ge=1, le=3650)
    # POST /events: events per request.
    analytics_max_batch: int = Field(default=100, ge=1, le=1000)

    # Redis Cluster instead of a single server (profile full).
    redis_cluster: bool = False
    redis_timeout_seconds: float = Field(default=1.0, gt=0, le=30)

    # Sessions slide: each use extends them by the idle timeout, up to the absolute lifetime.
    session_idle_seconds: int = Field(default=2 * 3600, ge=60)
    session_max_seconds: int = Field(default=7 * 24 * 3600, ge=60)
    cart_ttl_seconds: int = Field(default=7 * 24 * 3600, ge=60)
    cart_max_lines: int = Field(default=50, ge=1, le=500)
    cart_max_quantity: int = Field(default=99, ge=1, le=10_000)
    product_cache_seconds: int = Field(default=3600, ge=1)
    # Product pages also stay this long in each process (0: off); see CatalogReads.
    product_page_local_seconds: float = Field(default=2.0, ge=0, le=60)
    search_cache_seconds: int = Field(default=900, ge=1)
    api_cache_seconds: int = Field(default=1800, ge=1)
    rate_limit_requests: int = Field(default=120, ge=1)
    rate_limit_window_seconds: int = Field(default=60, ge=1)
    login_max_failures: int = Field(default=5, ge=1)
    login_lock_seconds: int = Field(default=900, ge=1)

    # HTTP API (`polyshop serve`). The tenant comes from the Host header (a shop's domain), the
    # X-Tenant header (its slug), or either; a platform admin authenticates with this token.
    api_host: str = "127.0.0.1"
    api_port: int = Field(default=8000, ge=0, le=65535)
    api_workers: int = Field(default=1, ge=1, le=64)
    api_tenant_from: Literal["host", "header", "both"] = "both"
    api_cookie_secure: bool = True
    api_run_relay: bool = True
    api_tenant_cache_seconds: float = Field(default=30.0, ge=0)
    api_max_body_bytes: int = Field(default=1_048_576, ge=1024)
    # Strict-Transport-Security max-age, sent on answers over HTTPS only; 0 sends none.
    api_hsts_seconds: int = Field(default=0, ge=0, le=63_072_000)
    platform_admin_token: SecretStr | None = None

    # Payments (docs/architecture.md "Checkout"). A reservation (stock held, payment pending)
    # outlives the gateway timeout; past it the reconciler confirms or releases it.
    payment_reservation_seconds: float = Field(default=900, ge=1)
    payment_gateway_timeout_seconds: float = Field(default=30, gt=0)
    payment_reconcile_interval_seconds: float = Field(default=5, gt=0)
    api_run_reconciler: bool = True
    # Which gateway a shop uses unless its settings say `{"payments": {"gateway": ...}}`.
    payment_default_gateway: Literal["test", "stripe"] = "test"
    # The built-in test gateway's own record (a SQLite file; default: data_dir/test-gateway.db).
    test_gateway_path: Path | None = None
    test_gateway_slow_seconds: float = Field(default=2.0, ge=0, le=60)
    # Stripe: enabled when the API key is set; `stripe_api_base` points at stripe-mock in tests.
    stripe_api_key: SecretStr | None = None
    stripe_webhook_secret: SecretStr | None = None
    stripe_api_base: str | None = None

    pool_min_size: int = Field(default=1, ge=0, le=100)
    pool_max_size: int = Field(default=10, ge=1, le=500)
    # Embedded servers: trade durability for speed (tests and benchmarks only).
    embedded_fsync: bool = True

    @field_validator("data_dir")
    @classmethod
    def _absolute_data_dir(cls, value: Path) -> Path:
        return value.expanduser().absolute()

    @field_validator("cassandra_hosts")
    @classmethod
    def _well_formed_hosts(cls, value: str | None) -> str | None:
        if value is None:
            return None
        ports = set()
        for entry in (part.strip() for part in value.split(",")):
            host, _, port = entry.rpartition(":") if ":" in entry else (entry, "", "9042")
            if not host or not port.isdigit():
                raise ValueError(f"cassandra: {entry!r} is not host[:port]")
            ports.add(port)
        if len(ports) != 1:
            raise ValueError("cassandra: every host must use the same port")
        return value

    @field_validator("cassandra_replication")
    @classmethod
    def _known_replication(cls, value: str) -> str:
        strategy, _, rest = value.partition(":")
        if strategy == "SimpleStrategy" and rest.isdigit() and int(rest) >= 1:
            return value
        entries = [part.partition("=") for part in rest.split(",")] if rest else []
        if (strategy == "NetworkTopologyStrategy" and entries
                and all(dc and factor.isdigit() for dc, _, factor in entries)):  # fmt: skip
            return value
        raise ValueError(
            "cassandra: SimpleStrategy:<factor> or NetworkTopologyStrategy:<dc>=<factor>,..."
        )

    @field_validator(
        "postgres_url", "postgres_admin_url", "postgres_relay_url", "postgres_platform_url",
        "redis_url", "mongo_url", "neo4j_url",
    )  # fmt: skip
    @classmethod
    def _well_formed_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        name = str(info.field_name)
        schemes = _SCHEMES[name]
        parts = urlsplit(value)
        if parts.scheme not in schemes:
            allowed = " or ".join(f"{scheme}://" for scheme in schemes)
            raise ValueError(f"{_STORE_NAMES[name]}: URL must start with {allowed}")
        if parts.scheme != "unix" and not parts.hostname:
            raise ValueError(f"{_STORE_NAMES[name]}: URL has no host")
        return value

    @model_validator(mode="after")
    def _full_profile_has_urls(self) -> Settings:
        if self.profile == "full":
            missing = [
                f"POLYSHOP_{name.upper()}"
                for name in ("postgres_url", "redis_url")
                if getattr(self, name) is None
            ]
            if missing:
                raise ValueError(f"profile 'full' needs {', '.join(missing)}")
        if self.payment_gateway_timeout_seconds >= self.payment_reservation_seconds:
            raise ValueError(
                "POLYSHOP_PAYMENT_GATEWAY_TIMEOUT_SECONDS must be shorter than"
                " POLYSHOP_PAYMENT_RESERVATION_SECONDS (a live charge must end before the"
                " reconciler may release its reservation)"
            )
        if self.pool_min_size > self.pool_max_size:
            raise ValueError("POLYSHOP_POOL_MIN_SIZE is larger than POLYSHOP_POOL_MAX_SIZE")
        return self

    @cached_property
    def admin_url(self) -> str | None:
        """The URL migrations use in `full`; the app URL when no separate admin URL is given."""
        return self.postgres_admin_url or self.postgres_url


def load_settings(**overrides: object) -> Settings:
    """Read settings, turning a validation failure into one line that names the setting."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        location = ".".join(str(part) for part in first["loc"])
        name = f"POLYSHOP_{location.upper()}" if location else "settings"
        message = first["msg"].removeprefix("Value error, ")
        raise ConfigurationError(f"{name}: {message}") from None
