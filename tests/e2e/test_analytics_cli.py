"""`polyshop analytics ...` as a person runs it: tables out, one line and exit 1 on bad input."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from uuid import uuid4

import pytest

from polyshop import bootstrap
from polyshop.domain.analytics import AnalyticsEvent, EventType
from tests.conftest import test_settings as settings_for
from tests.support.cli import own_database, run


async def _record_a_view(database: str) -> tuple[str, str]:
    settings = settings_for(database=database)
    async with bootstrap.application(settings) as app:
        shop = await app.tenants.get("demo")
        product = uuid4()
        event = AnalyticsEvent(shop.id, uuid4(), EventType.VIEW, datetime.now(UTC),
                               cart_token="cli-visitor", product_id=product)  # fmt: skip
        await app.analytics.record_storefront(shop.id, [event])
        return str(product), str(event.event_id)


@pytest.mark.slow
def test_analytics_commands_print_tables_and_refuse_bad_input() -> None:
    with own_database("polyshop_analytics_cli") as database:
        env = database.env
        assert run("up", env=env).returncode == 0
        assert run("tenants", "create", "demo", "--name", "Demo Shop", env=env).returncode == 0
        product, _ = asyncio.run(_record_a_view(database.name))
        assert run("sync", "run", "--until-idle", env=env).returncode == 0

        top = run("analytics", "top", "--shop", "demo", env=env)
        assert top.returncode == 0, top.stderr
        assert "top products by views" in top.stdout and product in top.stdout
        timeline = run("analytics", "timeline", "--shop", "demo", "--cart", "cli-visitor", env=env)
        assert timeline.returncode == 0 and "1 events" in timeline.stdout
        hourly = run("analytics", "hourly", "--shop", "demo", product, env=env)
        assert hourly.returncode == 0 and "view" in hourly.stdout

        for args, message in (
            (("funnel", "--shop", "demo"), "error: a funnel is for one product or one category"),
            (("timeline", "--shop", "demo", "--customer", "nope"), "error: 'nope' is not an id"),
            (("top", "--shop", "demo", "--by", "likes"), "error: rank by views or revenue, not 'likes'"),
            (("top", "--shop", "demo", "--day", "yesterday"), "error: 'yesterday' is not a day (YYYY-MM-DD)"),
        ):  # fmt: skip
            refused = run("analytics", *args, env=env)
            assert refused.returncode == 1, (args, refused.stdout)
            assert refused.stderr.strip() == message
        unknown = run("analytics", "top", "--shop", "no-such-shop", env=env)
        assert unknown.returncode == 1
        assert len(unknown.stderr.strip().splitlines()) == 1
