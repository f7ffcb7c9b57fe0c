"""The demo dashboard's model: percentiles, the sliding window, cache ratios from the server's
real Prometheus text, status classes and the summary's facts."""

from __future__ import annotations

import io
import math

from prometheus_client import CollectorRegistry, Counter, generate_latest
from rich.console import Console

from polyshop.cli.demo import (
    DemoStats,
    LatencyWindow,
    ProjectorLag,
    cache_counts,
    cache_ratios,
    dashboard,
    percentile,
    progress_line,
    status_class,
    summary,
)


def test_percentile_is_the_nearest_rank() -> None:
    values = [float(n) for n in range(1, 101)]  # 1..100
    assert percentile(values, 0.5) == 50
    assert percentile(values, 0.95) == 95
    assert percentile(values, 0.99) == 99
    assert percentile(values, 1.0) == 100
    assert percentile([7.0], 0.99) == 7
    assert percentile(reversed(values), 0.01) == 1  # order of arrival does not matter
    assert math.isnan(percentile([], 0.5))


def test_window_forgets_what_is_older_than_its_span() -> None:
    window = LatencyWindow(seconds=10)
    for t in range(20):  # one request a second, slow at first, fast later
        window.add(float(t), 500.0 if t < 10 else 10.0)
    assert window.count(19.0) == 10
    assert window.percentiles(19.0) == [10.0, 10.0, 10.0]
    assert window.rate(19.0, elapsed=19.0) == 1.0
    # Early in a run the rate is over the time elapsed, not the whole span.
    early = LatencyWindow(seconds=10)
    for t in (0.1, 0.2, 0.3, 0.4):
        early.add(t, 1.0)
    assert early.rate(0.5, elapsed=0.5) == 8.0
    assert early.count(100.0) == 0 and math.isnan(early.percentiles(100.0)[0])


def test_status_classes() -> None:
    assert [status_class(s) for s in (200, 201, 304, 402, 404, 500, 503, 0)] == [
        "2xx", "2xx", "3xx", "4xx", "4xx", "5xx", "5xx", "failed",
    ]  # fmt: skip


def _metrics(values: dict[tuple[str, str], int]) -> str:
    registry = CollectorRegistry()
    counter = Counter("polyshop_cache_requests", "Cache lookups", ["cache", "outcome"],
                      registry=registry)  # fmt: skip
    for (cache, outcome), n in values.items():
        counter.labels(cache, outcome).inc(n)
    return generate_latest(registry).decode()


def test_cache_ratios_count_the_run_only_and_both_product_tiers() -> None:
    before = cache_counts(_metrics({("product", "hit"): 100, ("product", "miss"): 100}))
    now = cache_counts(_metrics({
        ("product", "hit"): 130, ("product", "miss"): 110, ("product-local", "hit"): 60,
        ("search", "hit"): 3, ("search", "wait_hit"): 1, ("search", "miss"): 4,
        ("search", "bypass"): 2,
    }))  # fmt: skip
    ratios = cache_ratios(now, before)
    # The run: 30 Redis hits + 60 local hits out of 100 lookups (10 misses).
    assert (ratios["product page"].hits, ratios["product page"].lookups) == (90, 100)
    assert ratios["product page"].ratio == 0.9
    assert (ratios["search"].hits, ratios["search"].lookups) == (4, 10)
    assert ratios["recommendations"].lookups == 0 and ratios["recommendations"].ratio is None


def test_stats_count_by_group_and_class_and_the_summary_says_so() -> None:
    stats = DemoStats(started=0.0)
    for n in range(10):
        stats.record("product page", 1.0 + n / 10, 5.0 + n, 200)
    stats.record("checkout", 2.0, 80.0, 201)
    stats.record("checkout", 2.1, 90.0, 402)
    stats.record("search", 2.2, 30.0, 500)
    stats.record("browse", 2.3, 1.0, 0)
    stats.orders_placed, stats.payments_declined = 1, 1
    assert stats.requests == 14
    assert (stats.count("2xx"), stats.count("4xx"), stats.count("5xx"), stats.count("failed")) == (
        11, 1, 1, 1,
    )  # fmt: skip
    assert stats.groups["product page"].requests == 10
    assert not stats.caught_up()  # nothing known yet is not "caught up"
    stats.lag = {"documents": ProjectorLag(0, None), "graph": ProjectorLag(3, 1.5)}
    assert not stats.caught_up()
    stats.lag["graph"] = ProjectorLag(0, None)
    assert stats.caught_up()

    table, lines = summary(stats, seconds=2.0)
    assert table.row_count == 5  # four groups and the total
    out = io.StringIO()
    Console(file=out, width=80, color_system=None).print(table)
    assert max(len(line) for line in out.getvalue().splitlines()) <= 80
    assert "product page" in out.getvalue() and "requests" in out.getvalue()
    assert lines[0] == "requests: 14 in 2.0 s (7.0/s)"
    assert lines[1] == "server errors (5xx): 1; client errors (4xx): 1; no answer: 1"
    assert lines[2] == "orders placed: 1; payments declined: 1"
    assert lines[-1] == "projectors: documents caught up, graph caught up"
    line = progress_line(stats, 3.0)
    assert "14 requests" in line and "5xx 1" in line and "orders 1" in line


def test_the_dashboard_draws_every_panel_in_80_columns() -> None:
    stats = DemoStats(started=0.0)
    stats.record("product page", 1.0, 12.0, 200)
    stats.record("checkout", 1.5, 80.0, 503)
    stats.lag = {"documents": ProjectorLag(2, 0.4)}
    stats.caches = cache_ratios(
        cache_counts(_metrics({("product", "hit"): 3, ("product", "miss"): 1}))
    )
    out = io.StringIO()
    Console(file=out, width=80, color_system=None).print(dashboard(stats, 2.0, "polyshop demo"))
    text = out.getvalue()
    assert max(len(line) for line in text.splitlines()) <= 80
    for shown in ("product page", "checkout", "75%", "documents", "orders placed", "0.4 s"):
        assert shown in text, text
