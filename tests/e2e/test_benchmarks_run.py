"""The benchmarks are not tests of speed, but they must keep working: run each briefly."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg
import pytest

from polyshop import bootstrap
from tests.conftest import ROOT, TEST_DATA_DIR


def run_benchmark(module: str, *args: str) -> tuple[dict[str, Any], str]:
    """Run `python -m bench.<module>` briefly on the test servers: its JSON report and output."""
    result = subprocess.run(
        [sys.executable, "-m", f"bench.{module}", *args, "--data-dir", str(TEST_DATA_DIR)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads((Path(ROOT) / "bench" / "results" / f"{module}.json").read_text())
    return report, result.stdout


@pytest.mark.slow
def test_checkout_benchmark_runs_and_reports_its_ratio() -> None:
    report, output = run_benchmark(
        "checkout", "--seconds", "1", "--rounds", "1", "--products", "20"
    )
    assert "median ratio" in output
    (only,) = report["rounds"]
    assert only["orders_per_s"] > 0
    assert only["pgbench_tps"] > 0
    assert only["order_rows_tps"] > 0  # the script of one order's rows ran, as the app role
    assert "order-rows script" in output
    assert 0 < only["p50_ms"] <= only["p99_ms"]


@pytest.mark.slow
def test_cache_benchmark_runs_and_reports_its_ratio() -> None:
    report, _ = run_benchmark("cache", "--seconds", "0.5", "--rounds", "1", "--products", "10")
    (only,) = report["rounds"]
    assert only["raw_get_per_s"] > 0
    assert only["ratio"] > 0


@pytest.mark.slow
def test_reads_benchmark_runs_every_source_and_the_relay() -> None:
    report, _ = run_benchmark(
        "reads", "--seconds", "0.3", "--rate", "20", "--products", "10", "--backlog", "20"
    )
    assert set(report["reads"]) == {
        "PostgreSQL joins", "PostgreSQL JSONB document", "MongoDB document (FerretDB)", "Redis cache",
    }  # fmt: skip
    assert all(r["per_s"] > 0 for r in report["reads"].values())
    assert report["relay"]["events"] > 0
    assert report["relay"]["lag_p50_ms"] <= report["relay"]["lag_p99_ms"]
    # An order writes one event; the relay applies them all from the backlog.
    assert report["backlog"]["events"] >= 20
    assert report["backlog"]["relay_events_per_s"] > 0


@pytest.mark.slow
def test_api_benchmark_loads_every_route_and_reports_its_ratio() -> None:
    report, output = run_benchmark(
        "api", "--seconds", "1", "--rounds", "1", "--products", "20", "--generators", "2",
        "--connections", "4",
    )  # fmt: skip
    assert "median ratio product page" in output
    (only,) = report["rounds"]
    assert set(only) == {"hello world", "product page", "order creation"}
    for route in only.values():
        assert route["per_s"] > 0 and route["errors"] == 0
        assert 0 < route["p50_ms"] <= route["p99_ms"]


@pytest.mark.slow
def test_recommend_benchmark_loads_both_graphs_and_times_every_recommender() -> None:
    report, output = run_benchmark(
        "recommend", "--orders", "150", "--products", "40", "--customers", "30",
        "--events", "200", "--projected", "100", "--neo4j-heap-mb", "512",
        "--neo4j-pagecache-mb", "64", "--seconds", "0.2", "--clients", "2",
    )  # fmt: skip
    for store in ("neo4j", "postgres"):
        r = report[store]
        assert r["projector_orders_per_s"] > 0 and r["raw_loop_orders_per_s"] > 0
        assert set(r["recommenders"]) >= {"bought_together", "also_bought", "similar",
                                          "trending", "for_you"}  # fmt: skip
        assert all(m["count"] > 0 for m in r["recommenders"].values())
        # The latency's split: the server's own time and one client alone, besides concurrent.
        assert all(m["alone"]["count"] > 0 and 0 <= m["server_p50_ms"] <= m["server_p99_ms"]
                   for m in r["recommenders"].values())  # fmt: skip
        assert r["write_statements"] > 0  # the bare driver loop replayed what was sent
    # Both stores were bulk-loaded with the same rows; the graph they hold was counted.
    assert report["neo4j"]["bulk_rows"] == report["postgres"]["bulk_rows"] > 0
    assert report["graph"]["FREQUENTLY_BOUGHT_WITH"] > 0 and report["graph"]["Order"] == 150
    assert "ratio" in output


@pytest.mark.slow
def test_analytics_benchmark_runs_both_stores_and_reports_its_ratio(cassandra: str) -> None:
    report, output = run_benchmark(
        "analytics", "--ingest", "500", "--events", "2000", "--queries", "3",
        "--cassandra-hosts", cassandra,
    )  # fmt: skip
    assert "ingest ratio" in output
    ingest = report["ingest"]
    assert ingest["raw_events_per_s"] > 0 and ingest["ingest_events_per_s"] > 0
    # On average an event goes to 2-3 query tables (the timeline, the product's, most often
    # the category's); since CQL 0002 no day-wide table, and the rollups wait for the flush.
    assert 2 <= ingest["ingest_rows_per_event"] <= 3
    assert report["outbox_path_events_per_s"] > 0
    for by_store in report["queries"].values():
        assert set(by_store) == {"Cassandra", "PostgreSQL"}
        assert all(0 < s["p50_ms"] <= s["p99_ms"] for s in by_store.values())


@pytest.mark.slow
def test_the_suite_prints_one_table_and_writes_results_and_charts(tmp_path: Path) -> None:
    from tests.e2e.test_cli import run

    out = tmp_path / "suite"
    result = run("bench", "--scale", "smoke", "--only", "cache,scale", "--orders", "300",
                 "--data-dir", str(TEST_DATA_DIR), "--out", str(out), timeout=600)  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    for column in ("scenario", "rate /s", "p50 ms", "p99 ms", "baseline", "ratio", "target"):
        assert column in result.stdout
    report = json.loads((out / "bench-results.json").read_text())
    names = [s["name"] for s in report["scenarios"]]
    assert "cached product page" in names
    assert "order history (documents) @ 300 orders" in names
    for scenario in report["scenarios"]:
        assert scenario["p50_ms"] <= scenario["p99_ms"]
    assert sorted(report["charts"]) == ["latency-cache.png", "latency-scale.png"]
    assert (out / "latency-scale.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_scale_benchmark_times_checkout_and_recommendations_and_skips_an_unbuilt_graph() -> None:
    from tests.conftest import test_settings  # not at the top: pytest would collect it

    report, _ = run_benchmark(
        "scale", "--orders", "240", "--seconds", "0.3", "--clients", "2", "--reseed"
    )
    (only,) = report["scales"].values()
    assert set(only["reads"]) == {
        "product page (PostgreSQL)", "listing with filters", "order history (documents)",
        "customer's orders (admin, SQL)", "analytics top products", "analytics funnel",
        "recommendations bought_together", "recommendations also_bought",
        "recommendations similar", "recommendations trending", "recommendations for_you",
        "checkout (place_order)",
    }  # fmt: skip
    assert only["skipped"] == {}
    placed = only["reads"]["checkout (place_order)"]["count"]
    assert placed > 0 and only["bench_orders"] >= placed
    admin = bootstrap.store_urls(test_settings(database="polyshop_scale_240")).postgres_admin
    assert admin is not None
    with psycopg.connect(admin, autocommit=True) as conn:
        orders, marked, documents, graphed = conn.execute(
            "SELECT (SELECT count(*) FROM orders),"
            " (SELECT count(*) FROM orders WHERE notes = 'bench.scale checkout'),"
            " (SELECT count(*) FROM documents WHERE collection = 'orders'),"
            " (SELECT count(*) FROM graph_orders)"
        ).fetchone() or (0, 0, 0, 0)
        # The checkouts are real orders, marked, and every derived store followed them.
        assert orders == 240 + marked and marked == only["bench_orders"]
        assert documents == orders and graphed == orders
        # A rebuild that did not finish: the first shop's graph lost its orders.
        conn.execute(
            "DELETE FROM graph_orders WHERE tenant_id ="
            " (SELECT id FROM tenants ORDER BY created_at, slug LIMIT 1)"
        )
    # The platform still counts as 240 orders (the benchmark's own are not the seed's), and
    # the recommendations are skipped with the reason rather than measured on a partial graph.
    again, output = run_benchmark(
        "scale", "--orders", "240", "--seconds", "0.3", "--clients", "2", "--only",
        "recommendations", "--existing", f"240={TEST_DATA_DIR}:polyshop_scale_240",
    )  # fmt: skip
    (only,) = again["scales"].values()
    assert only["reads"] == {}
    assert "the graph is incomplete" in only["skipped"]["recommendations"]
    assert "recommendations skipped: the graph is incomplete" in output
