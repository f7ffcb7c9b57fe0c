from __future__ import annotations

from pathlib import Path

import pytest

from polyshop.domain.errors import ConfigurationError
from polyshop.settings import load_settings


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("POLYSHOP_"):
            monkeypatch.delenv(name)


def test_embedded_is_the_default_and_needs_no_urls() -> None:
    settings = load_settings()
    assert settings.profile == "embedded"
    assert settings.data_dir.is_absolute()
    assert settings.data_dir.name == "polyshop"


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("POLYSHOP_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("POLYSHOP_POOL_MAX_SIZE", "7")
    settings = load_settings()
    assert settings.data_dir == tmp_path
    assert settings.pool_max_size == 7


def test_full_profile_takes_its_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLYSHOP_PROFILE", "full")
    monkeypatch.setenv("POLYSHOP_POSTGRES_URL", "postgresql://app@db.internal/shop")
    monkeypatch.setenv("POLYSHOP_REDIS_URL", "redis://cache.internal:6379/0")
    settings = load_settings()
    assert settings.admin_url == "postgresql://app@db.internal/shop"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"profile": "full"},
            "settings: profile 'full' needs POLYSHOP_POSTGRES_URL, POLYSHOP_REDIS_URL",
        ),
        (
            {"postgres_url": "postgresql:///nohost"},
            "POLYSHOP_POSTGRES_URL: postgres: URL has no host",
        ),
        ({"redis_url": "http://cache"}, "POLYSHOP_REDIS_URL: redis: URL must start with redis://"),
        ({"pool_min_size": 5, "pool_max_size": 2}, "settings: POLYSHOP_POOL_MIN_SIZE is larger"),
        ({"database": "Drop Table"}, "POLYSHOP_DATABASE: String should match pattern"),
        (
            {"postgres_relay_url": "mysql://relay@db/shop"},
            "POLYSHOP_POSTGRES_RELAY_URL: postgres (relay): URL must start with postgresql://",
        ),
        (
            {"postgres_platform_url": "postgresql:///nohost"},
            "POLYSHOP_POSTGRES_PLATFORM_URL: postgres (platform): URL has no host",
        ),
    ],
)
def test_a_bad_setting_names_itself(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_settings(**overrides)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)
