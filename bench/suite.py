"""Every benchmark as one suite: one table, `bench-results.json` and PNG charts.

    uv run polyshop bench [--scale smoke|short|full] [--only checkout,cache,...]
                          [--orders 10000,100000] [--out bench/results/suite]

Each benchmark runs as its own process (`python -m bench.<name>`, so one cannot skew the next
through a warm pool or a leftover task) with the arguments of the chosen scale, on the chosen
profile's stores, and writes its JSON; the suite turns those into one row per scenario beside
the baseline the benchmark measured in the same run: rate, p50, p99, baseline, ratio, target,
whether the target is met. Charts: the latency distribution of every scenario (one PNG per
benchmark) and, when the scale benchmark ran at several sizes, how p99 grows with the number of
orders.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from bench._common import RESULTS, ROOT

# A wide table even when the output is a file or a pipe (80 columns would wrap every row).
console = Console(width=None if sys.stdout.isatty() else 150)

# Arguments per benchmark and scale; `full` is what docs/benchmarks.md reports.
SCALES: dict[str, dict[str, list[str]]] = {
    "smoke": {
        "checkout": ["--seconds", "1", "--rounds", "1", "--products", "20", "--clients", "4"],
        "cache": ["--seconds", "0.5", "--rounds", "1", "--products", "10"],
        "reads": ["--seconds", "0.3", "--rate", "20", "--products", "10"],
        "api": ["--seconds", "1", "--rounds", "1", "--products", "20", "--generators", "2",
                "--connections", "4"],
        "scale": ["--orders", "600", "--seconds", "0.3", "--clients", "2"],
        "recommend": ["--orders", "500", "--products", "100", "--customers", "200",
                      "--seconds", "0.5", "--clients", "2"],
        "analytics": ["--ingest", "500", "--events", "2000", "--queries", "10"],
    },
    "short": {
        "checkout": ["--seconds", "3", "--rounds", "1"],
        "cache": ["--seconds", "2", "--rounds", "1"],
        "reads": ["--seconds", "2", "--rate", "50"],
        "api": ["--seconds", "3", "--rounds", "1"],
        "scale": ["--orders", "10000", "--seconds", "2"],
        "recommend": ["--orders", "5000", "--seconds", "2"],
        "analytics": ["--ingest", "5000", "--events", "20000", "--queries", "50"],
    },
    "full": {
        "checkout": ["--clients", "8", "--seconds", "10", "--rounds", "3"],
        "cache": ["--clients", "8", "--seconds", "5", "--rounds", "3"],
        "reads": ["--clients", "8", "--seconds", "5", "--rate", "100"],
        "api": ["--seconds", "10", "--rounds", "3"],
        "scale": ["--orders", "10000,100000", "--seconds", "5", "--rounds", "3"],
        "recommend": [],
        "analytics": [],
    },
}  # fmt: skip
DEFAULT_ORDER = ("checkout", "cache", "reads", "api", "analytics", "scale", "recommend")


@dataclass
class Scenario:
    benchmark: str
    name: str
    rate: float | None  # operations per second
    p50_ms: float | None
    p99_ms: float | None
    baseline: str | None = None
    baseline_value: str | None = None
    ratio: float | None = None
    target: str | None = None
    met: bool | None = None
    latencies_ms: list[float] = field(default_factory=list, repr=False)


def available() -> list[str]:
    return [name for name in DEFAULT_ORDER if (ROOT / "bench" / f"{name}.py").exists()]


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _pooled(rounds: list[dict[str, Any]], key: str) -> list[float]:
    return sorted(v for r in rounds for v in r.get(key, []))


def _pct(values: list[float], q: float) -> float | None:
    return values[min(len(values) - 1, int(q * len(values)))] if values else None


# ---- turning each benchmark's JSON into scenarios ---------------------------------------------


def from_checkout(report: dict[str, Any]) -> list[Scenario]:
    rounds = report["rounds"]
    latencies = _pooled(rounds, "latencies_ms")
    ratio = report["median_ratio"]
    found = [Scenario(
        "checkout", "checkout (place_order)", _median([r["orders_per_s"] for r in rounds]),
        _pct(latencies, 0.5) or _median([r["p50_ms"] for r in rounds]),
        _pct(latencies, 0.99) or _median([r["p99_ms"] for r in rounds]),
        "pgbench TPC-B", f"{_median([r['pgbench_tps'] for r in rounds]):,.0f} TPS", ratio,
        "≥ 0.333 of TPS", ratio >= 1 / 3, latencies,
    )]  # fmt: skip
    rows = report.get("median_order_rows_ratio")
    if rows is not None:  # the second baseline: exactly an order's rows, as plain SQL
        found.append(Scenario(
            "checkout", "checkout vs its own rows in SQL", found[0].rate, found[0].p50_ms,
            found[0].p99_ms, "pgbench order-rows script",
            f"{_median([r['order_rows_tps'] for r in rounds]):,.0f} TPS", rows, "≥ 0.5 of TPS",
            rows >= 0.5,
        ))  # fmt: skip
    return found


def from_cache(report: dict[str, Any]) -> list[Scenario]:
    rounds = report["rounds"]
    service = _pooled(rounds, "service_latencies_ms")
    raw = _pooled(rounds, "raw_latencies_ms")
    raw_rate = _median([r["raw_get_per_s"] for r in rounds])
    return [
        Scenario("cache", "cached product page", _median([r["service_per_s"] for r in rounds]),
                 _pct(service, 0.5), _pct(service, 0.99), "raw Redis GET",
                 f"{raw_rate:,.0f}/s", report["median_ratio"], None, None, service),
        Scenario("cache", "raw Redis GET (baseline)", raw_rate, _pct(raw, 0.5), _pct(raw, 0.99),
                 latencies_ms=raw),
    ]  # fmt: skip


def from_reads(report: dict[str, Any]) -> list[Scenario]:
    reads = report["reads"]
    joins = reads.get("PostgreSQL joins", {}).get("per_s")
    found = []
    for name, r in reads.items():
        baseline = name != "PostgreSQL joins" and joins
        found.append(Scenario(
            "reads", f"product page: {name}", r["per_s"], r["p50_ms"], r["p99_ms"],
            "PostgreSQL joins" if baseline else None, f"{joins:,.0f}/s" if baseline else None,
            r["per_s"] / joins if baseline else None, latencies_ms=r.get("latencies_ms", []),
        ))  # fmt: skip
    relay = report.get("relay")
    if relay:
        found.append(Scenario("reads", "relay lag (commit → document)", None,
                              relay["lag_p50_ms"], relay["lag_p99_ms"]))  # fmt: skip
    return found


def from_api(report: dict[str, Any]) -> list[Scenario]:
    rounds = report["rounds"]
    hello = _median([r["hello world"]["per_s"] for r in rounds])
    found = []
    for route in rounds[0]:
        latencies = sorted(v for r in rounds for v in r[route].get("latencies_ms", []))
        rate = _median([r[route]["per_s"] for r in rounds])
        is_page = route == "product page"
        ratio = rate / hello if route != "hello world" else None
        found.append(Scenario(
            "api", f"HTTP {route}", rate,
            _pct(latencies, 0.5) or _median([r[route]["p50_ms"] for r in rounds]),
            _pct(latencies, 0.99) or _median([r[route]["p99_ms"] for r in rounds]),
            "HTTP hello world" if ratio is not None else None,
            f"{hello:,.0f}/s" if ratio is not None else None, ratio,
            "≥ 0.70 of hello" if is_page else None,
            (ratio >= 0.70) if is_page and ratio is not None else None, latencies,
        ))  # fmt: skip
    return found


def from_scale(report: dict[str, Any]) -> list[Scenario]:
    """One scenario per operation and size, against the same operation at the smallest size
    (an operation not run there, such as recommendations on a platform whose graph is not
    built, has no baseline; one not run at a size has no row there)."""
    scales = sorted(report["scales"], key=int)
    smallest = report["scales"][scales[0]]["reads"]
    target = report.get("target_p99_ratio", 2.0)
    found = []
    for orders in scales:
        for name, r in report["scales"][orders]["reads"].items():
            base = smallest.get(name, {}).get("p99_ms")
            ratio = r["p99_ms"] / base if base else None
            found.append(Scenario(
                "scale", f"{name} @ {int(orders):,} orders", r["per_s"], r["p50_ms"],
                r["p99_ms"], f"same read @ {int(scales[0]):,}" if base else None,
                f"p99 {base:.2f} ms" if base else None, ratio,
                f"p99 ≤ {target:g} x" if base else None,
                ratio <= target if ratio is not None else None, r.get("latencies_ms", []),
            ))  # fmt: skip
    return found


def from_analytics(report: dict[str, Any]) -> list[Scenario]:
    ingest = report["ingest"]
    found = [
        Scenario("analytics", "analytics ingest (Cassandra)", ingest["ingest_events_per_s"], None,
                 None, "raw single-row inserts", f"{ingest['raw_events_per_s']:,.0f}/s",
                 ingest["ratio"], "≥ 0.8 of raw", ingest["ratio"] >= 0.8),
        Scenario("analytics", "analytics outbox → projector", report["outbox_path_events_per_s"],
                 None, None),
    ]  # fmt: skip
    for label, by_store in report["queries"].items():
        for store, r in by_store.items():
            found.append(Scenario("analytics", f"analytics {label} ({store})", None, r["p50_ms"],
                                  r["p99_ms"]))  # fmt: skip
    return found


def generic(benchmark: str, report: Any, path: str = "") -> list[Scenario]:
    """Any dict with p50_ms and p99_ms, named by where it sits (for benchmarks without a
    dedicated reader, such as a newly added one)."""
    found: list[Scenario] = []
    if isinstance(report, dict):
        if "p50_ms" in report and "p99_ms" in report:
            rate = report.get("per_s") or report.get("rate")
            return [Scenario(benchmark, path.strip(" /") or benchmark, rate, report["p50_ms"],
                             report["p99_ms"], latencies_ms=report.get("latencies_ms", []))]  # fmt: skip
        for key, value in report.items():
            found += generic(benchmark, value, f"{path} / {key}")
    elif isinstance(report, list):
        for n, value in enumerate(report, 1):
            found += generic(benchmark, value, f"{path} / {n}")
    return found


READERS = {"checkout": from_checkout, "cache": from_cache, "reads": from_reads, "api": from_api,
           "analytics": from_analytics, "scale": from_scale}  # fmt: skip


# ---- running, the table, the charts ----------------------------------------------------------


def run_benchmark(name: str, args: list[str], data_dir: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", f"bench.{name}", *args, "--data-dir", str(data_dir)],
                   cwd=ROOT, env=env, check=True)  # fmt: skip
    return time.perf_counter() - started


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def table(scenarios: list[Scenario], title: str) -> Table:
    result = Table(title=title, title_justify="left")
    for column in ("scenario", "rate /s", "p50 ms", "p99 ms", "baseline", "ratio", "target",
                   "met?"):  # fmt: skip
        result.add_column(column, justify="left" if column in ("scenario", "baseline") else "right")
    for s in scenarios:
        met = "-" if s.met is None else ("[green]yes[/]" if s.met else "[red]no[/]")
        baseline = f"{s.baseline} ({s.baseline_value})" if s.baseline else "-"
        result.add_row(s.name, _fmt(s.rate, ",.0f"), _fmt(s.p50_ms, ".2f"), _fmt(s.p99_ms, ".2f"),
                       baseline, _fmt(s.ratio, ".3f"), s.target or "-", met)  # fmt: skip
    return result


def charts(
    scenarios: list[Scenario], scale: dict[str, Any] | None, out: Path,
    earlier: dict[str, Any] | None = None,
) -> list[Path]:  # fmt: skip
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    plain = FuncFormatter(lambda value, _: f"{value:g}")

    written: list[Path] = []
    out.mkdir(parents=True, exist_ok=True)
    by_benchmark: dict[str, list[Scenario]] = {}
    for s in scenarios:
        if len(s.latencies_ms) >= 2:
            by_benchmark.setdefault(s.benchmark, []).append(s)
    for benchmark, group in by_benchmark.items():
        figure, axes = plt.subplots(figsize=(9, 5.5), dpi=80)
        if len(group) > 10:  # the default cycle repeats after ten colours
            axes.set_prop_cycle(color=plt.get_cmap("tab20").colors)
        for s in group:
            values = sorted(v for v in s.latencies_ms if v > 0)
            if not values:
                continue
            shares = [(n + 1) / len(values) for n in range(len(values))]
            axes.step(values, shares, where="post",
                      label=f"{s.name} (p50 {s.p50_ms or 0:.2f}, p99 {s.p99_ms or 0:.2f} ms)")  # fmt: skip
        axes.set_xscale("log")
        axes.xaxis.set_major_formatter(plain)
        axes.xaxis.set_minor_formatter(plain)
        axes.tick_params(axis="x", which="minor", labelsize=6)
        axes.set_xlabel("latency per operation (ms, log scale)")
        axes.set_ylabel("share of operations at or below")
        axes.set_ylim(0, 1.01)
        axes.axhline(0.99, color="grey", linewidth=0.6, linestyle=":")
        axes.grid(True, which="both", linewidth=0.3)
        axes.set_title(f"{benchmark}: latency distribution (cumulative)")
        axes.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
        figure.tight_layout()
        path = out / f"latency-{benchmark}.png"
        figure.savefig(path, bbox_inches="tight")
        plt.close(figure)
        written.append(path)
    if scale and len(scale["scales"]) >= 2:
        written.append(growth_chart(scale, out / "p99-growth.png", earlier))
    return written


def growth_chart(scale: dict[str, Any], path: Path, earlier: dict[str, Any] | None = None) -> Path:
    """p99 of each operation against the orders in the database, and as a ratio to the same
    operation at the run's smallest size with the target drawn in. An earlier run's scale
    report (`earlier`, e.g. one made at other sizes) is drawn dashed beside it, each run
    against its own smallest size: runs on a shared machine are not comparable figure for
    figure, their growth is."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter

    def label(run: dict[str, Any], default: str) -> str:
        sizes = " → ".join(f"{int(n):,}" for n in sorted(run["scales"], key=int))
        return str(run.get("label") or f"{default}: {sizes} orders")

    runs = [(scale, "-", label(scale, "this run"))]
    if earlier:
        runs.append((earlier, "--", label(earlier, "earlier run")))

    def points(run: dict[str, Any], name: str) -> list[tuple[int, float]]:
        sizes = sorted(run["scales"], key=int)
        found = [(int(size), run["scales"][size]["reads"][name]["p99_ms"]) for size in sizes
                 if name in run["scales"][size]["reads"]]  # fmt: skip
        # Growth needs the run's smallest size and one more.
        return found if len(found) >= 2 and found[0][0] == int(sizes[0]) else []

    names = [n for n in dict.fromkeys(n for run, _, _ in runs for size in run["scales"].values()
                                      for n in size["reads"])
             if any(points(run, n) for run, _, _ in runs)]  # fmt: skip
    colours = plt.get_cmap("tab10" if len(names) <= 10 else "tab20").colors
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 6), dpi=80)
    shown: set[str] = set()
    for run, style, _ in runs:
        for n, name in enumerate(names):
            found = points(run, name)
            if not found:
                continue
            xs, p99 = [x for x, _ in found], [v for _, v in found]
            colour = colours[n % len(colours)]
            first = name not in shown
            shown.add(name)
            left.plot(xs, p99, style, marker="o", color=colour, label=name if first else None)
            right.plot(xs, [v / p99[0] for v in p99], style, marker="o", color=colour)
    for axes in (left, right):
        axes.set_xscale("log")
        axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))
        axes.set_xlabel("orders in the database (log scale)")
        axes.grid(True, which="both", linewidth=0.3)
    left.set_yscale("log")
    left.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    left.set_ylabel("p99 latency (ms, log scale)")
    left.set_title("p99 by database size")
    right.set_ylabel("p99 ÷ p99 of the same run's smallest size")
    target = scale.get("target_p99_ratio", 2.0)
    right.axhline(target, color="grey", linestyle="-.", linewidth=1.5)
    right.set_title(f"p99 growth against the target (at most {target:g} x)")
    handles, labels = left.get_legend_handles_labels()
    handles += [Line2D([], [], color="black", linestyle=style) for _, style, _ in runs]
    labels += [label for _, _, label in runs]
    handles.append(Line2D([], [], color="grey", linestyle="-.", linewidth=1.5))
    labels.append(f"target: {target:g} x")
    figure.legend(handles, labels, fontsize=8, loc="lower center", ncol=3,
                  bbox_to_anchor=(0.5, -0.02))  # fmt: skip
    figure.tight_layout(rect=(0, 0.2, 1, 1))
    figure.savefig(path, bbox_inches="tight")
    plt.close(figure)
    return path


def _scenarios(raw: dict[str, Any]) -> list[Scenario]:
    found: list[Scenario] = []
    for name, report in raw.items():
        reader = READERS.get(name)
        found += reader(report) if reader else generic(name, report)
    return found


def replot(results: Path, out: Path, earlier: Path | None = None) -> None:
    """The table and charts of an earlier run, from its bench-results.json (or a bare
    bench.scale report, scale.json); `earlier`: another bench.scale report to draw beside it in
    the p99-growth chart."""
    saved = json.loads(results.read_text())
    raw = saved.get("raw", {"scale": saved})
    scenarios = _scenarios(raw)
    console.print(table(scenarios, f"polyshop bench (from {results})"))
    before = json.loads(earlier.read_text()) if earlier else None
    for path in charts(scenarios, raw.get("scale"), out, before):
        console.print(f"chart {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=sorted(SCALES), default="short")
    parser.add_argument("--only", default=None, help="comma-separated benchmarks")
    parser.add_argument("--orders", default=None, help="scales of the scale benchmark")
    parser.add_argument("--existing", action="append", default=[],
                        help="ORDERS=DATA_DIR[:DATABASE]: a seeded platform for the scale"
                             " benchmark to use at that size (bench.scale)")  # fmt: skip
    parser.add_argument("--profile", choices=("embedded", "full"), default=None)
    parser.add_argument("--out", type=Path, default=RESULTS / "suite")
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".bench-data")
    parser.add_argument("--replot", type=Path, default=None,
                        help="draw the table and charts again from a bench-results.json")  # fmt: skip
    parser.add_argument("--earlier-scale", type=Path, default=None,
                        help="with --replot: an earlier bench.scale report (JSON) to draw dashed"
                             " in the p99-growth chart")  # fmt: skip
    options = parser.parse_args()
    if options.replot:
        replot(options.replot, options.out, options.earlier_scale)
        return
    known = available()
    chosen = options.only.split(",") if options.only else known
    unknown = [name for name in chosen if name not in known]
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)} (known: {', '.join(known)})")
    env = dict(os.environ)
    if options.profile:
        env["POLYSHOP_PROFILE"] = options.profile
    profile = env.get("POLYSHOP_PROFILE", "embedded")
    raw: dict[str, Any] = {}
    durations: dict[str, float] = {}
    for name in chosen:
        args = list(SCALES[options.scale].get(name, []))
        if name == "scale" and options.orders:
            at = args.index("--orders")
            args[at + 1] = options.orders
        if name == "scale":
            args += [arg for entry in options.existing for arg in ("--existing", entry)]
        console.rule(f"bench.{name} {' '.join(args)}")
        durations[name] = run_benchmark(name, args, options.data_dir, env)
        raw[name] = json.loads((RESULTS / f"{name}.json").read_text())
    scenarios = _scenarios(raw)
    title = (f"polyshop bench: profile {profile}, scale {options.scale}, "
             f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")  # fmt: skip
    console.print(table(scenarios, title))
    out: Path = options.out
    out.mkdir(parents=True, exist_ok=True)
    written = charts(scenarios, raw.get("scale"), out)
    results = {
        "profile": profile, "scale": options.scale, "benchmarks": chosen,
        "finished_at": datetime.now(UTC).isoformat(), "seconds": durations,
        "machine": {"cpus": os.cpu_count(), "load_average": os.getloadavg(),
                    "python": platform.python_version()},
        "scenarios": [{k: v for k, v in asdict(s).items() if k != "latencies_ms"}
                      for s in scenarios],
        "charts": [str(p.relative_to(out)) for p in written],
        "raw": raw,
    }  # fmt: skip
    (out / "bench-results.json").write_text(json.dumps(results, indent=2))
    console.print(f"wrote {out / 'bench-results.json'}")
    for path in written:
        console.print(f"chart {path}")


if __name__ == "__main__":
    main()
