"""The suite's reading of benchmark reports and its charts, on made-up reports (no servers)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.suite import (
    Scenario,
    charts,
    from_analytics,
    from_checkout,
    from_scale,
    generic,
    growth_chart,
    table,
)


def _scale_report() -> dict[str, Any]:
    def read(p50: float, p99: float) -> dict[str, Any]:
        return {"per_s": 100.0, "p50_ms": p50, "p99_ms": p99,
                "latencies_ms": [p50 * 0.5, p50, p50, p99]}  # fmt: skip

    return {"target_p99_ratio": 2.0, "scales": {
        "10000": {"reads": {"product page": read(2, 4), "funnel": read(3, 6)}},
        "100000": {"reads": {"product page": read(2.5, 7), "funnel": read(5, 13)}},
    }}  # fmt: skip


def test_scale_reads_are_measured_against_the_same_read_at_the_smallest_scale() -> None:
    found = {s.name: s for s in from_scale(_scale_report())}
    assert found["product page @ 10,000 orders"].ratio == 1.0
    page = found["product page @ 100,000 orders"]
    assert page.ratio == 7 / 4 and page.met is True
    funnel = found["funnel @ 100,000 orders"]
    assert funnel.ratio == 13 / 6 and funnel.met is False


def test_an_operation_missing_at_a_size_has_no_row_there_and_no_baseline_without_the_smallest() -> (
    None
):
    report = _scale_report()
    # Recommendations measured at 10k only (the graph not built at the larger size), checkout
    # at the larger size only.
    report["scales"]["10000"]["reads"]["for_you"] = {"per_s": 1.0, "p50_ms": 1.0, "p99_ms": 2.0}
    report["scales"]["100000"]["reads"]["checkout"] = {"per_s": 1.0, "p50_ms": 9.0, "p99_ms": 30.0}
    found = {s.name: s for s in from_scale(report)}
    assert "for_you @ 100,000 orders" not in found
    assert found["for_you @ 10,000 orders"].met is True
    checkout = found["checkout @ 100,000 orders"]
    assert checkout.ratio is None and checkout.met is None and checkout.baseline is None
    assert found["funnel @ 100,000 orders"].met is False


def test_the_growth_chart_draws_an_earlier_run_beside_this_one(tmp_path: Path) -> None:
    earlier = _scale_report()
    earlier["label"] = "earlier run"
    now = {"target_p99_ratio": 2.0, "scales": {
        "10000": _scale_report()["scales"]["10000"],
        "1000000": _scale_report()["scales"]["100000"],
    }}  # fmt: skip
    alone = growth_chart(now, tmp_path / "alone.png")
    both = growth_chart(now, tmp_path / "both.png", earlier)
    assert both.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert both.read_bytes() != alone.read_bytes()


def test_checkout_meets_its_target_only_at_a_third_of_pgbench() -> None:
    def report(orders: float) -> dict[str, Any]:
        return {"median_ratio": orders / 900, "rounds": [
            {"orders_per_s": orders, "pgbench_tps": 900.0, "p50_ms": 5.0, "p99_ms": 9.0,
             "latencies_ms": [4.0, 5.0, 9.0]}]}  # fmt: skip

    (low,) = from_checkout(report(200))
    (high,) = from_checkout(report(400))
    assert low.met is False and high.met is True
    assert high.rate == 400 and high.baseline == "pgbench TPC-B"


def test_an_unknown_benchmark_is_read_by_its_percentiles() -> None:
    found = generic("recommend", {"neo4j": {"recommenders": {
        "also bought": {"p50_ms": 1.0, "p99_ms": 2.0}, "config": {"clients": 4}}}})  # fmt: skip
    assert [(s.name, s.p99_ms) for s in found] == [("neo4j / recommenders / also bought", 2.0)]


def test_charts_are_written_for_distributions_and_growth(tmp_path: Path) -> None:
    scenarios = from_scale(_scale_report())
    written = charts(scenarios, _scale_report(), tmp_path)
    assert sorted(p.name for p in written) == ["latency-scale.png", "p99-growth.png"]
    assert all(p.stat().st_size > 5000 for p in written)
    rendered = table([*scenarios, Scenario("x", "no baseline", None, 1.0, 2.0)], "t")
    assert rendered.row_count == 5


def test_analytics_ingest_is_held_to_its_target_and_queries_listed() -> None:
    found = from_analytics({
        "ingest": {"ingest_events_per_s": 900.0, "raw_events_per_s": 1000.0, "ratio": 0.9},
        "outbox_path_events_per_s": 300.0,
        "queries": {"funnel": {"Cassandra": {"p50_ms": 1.0, "p99_ms": 3.0},
                               "PostgreSQL": {"p50_ms": 2.0, "p99_ms": 4.0}}},
    })  # fmt: skip
    assert found[0].met is True and found[0].ratio == 0.9
    assert [s.name for s in found[2:]] == ["analytics funnel (Cassandra)",
                                           "analytics funnel (PostgreSQL)"]  # fmt: skip
