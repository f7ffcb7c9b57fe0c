"""Drawing `DemoStats`: the live dashboard (rich), one plain line for logs and pipes, and the
closing summary."""

from __future__ import annotations

import math

from rich.columns import Columns
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from polyshop.cli.demo._stats import GROUPS, DemoStats, percentile


def _ms(value: float) -> str:
    if math.isnan(value):
        return "-"
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}"


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _lag_text(stats: DemoStats) -> str:
    return ", ".join(
        f"{name} {lag.waiting} waiting" if lag.waiting else f"{name} caught up"
        for name, lag in stats.lag.items()
    )


def dashboard(stats: DemoStats, now: float, title: str) -> RenderableType:
    elapsed = now - stats.started
    routes = Table(title=f"{title} · {elapsed:.0f} s", title_justify="left", expand=False)
    # Short headings: the table fits in 80 columns.
    for column in ("route", "reqs", "req/s", "p50", "p95", "p99", "ok", "4xx", "5xx", "lost"):
        routes.add_column(column, justify="left" if column == "route" else "right",
                          no_wrap=column == "route")  # fmt: skip
    for name in GROUPS:
        group = stats.groups[name]
        if not group.requests:
            continue
        p50, p95, p99 = group.window.percentiles(now)
        ok = group.errors("2xx") + group.errors("3xx")
        five = group.errors("5xx")
        routes.add_row(
            name, str(group.requests), f"{group.window.rate(now, elapsed):.1f}", _ms(p50),
            _ms(p95), _ms(p99), str(ok), str(group.errors("4xx")),
            f"[bold red]{five}[/]" if five else "0", str(group.errors("failed")),
        )  # fmt: skip
    p50, p95, p99 = stats.window.percentiles(now)
    routes.add_section()
    routes.add_row(
        "[bold]all[/]", str(stats.requests), f"[bold]{stats.rate(now):.1f}[/]", _ms(p50), _ms(p95),
        _ms(p99), str(stats.count("2xx") + stats.count("3xx")), str(stats.count("4xx")),
        str(stats.count("5xx")), str(stats.count("failed")),
    )  # fmt: skip
    routes.caption = (
        "latency percentiles in ms over the last 10 s, as the shoppers measured them;"
        " ok = 2xx and 3xx; lost = no answer"
    )

    caches = Table(title="cache hits (server)", title_justify="left")
    caches.add_column("cache")
    caches.add_column("hit ratio", justify="right")
    caches.add_column("lookups", justify="right")
    for name, cache in stats.caches.items():
        caches.add_row(name, _ratio(cache.ratio), str(cache.lookups))

    projectors = Table(title="projector lag", title_justify="left")
    projectors.add_column("store")
    projectors.add_column("waiting", justify="right")
    projectors.add_column("oldest", justify="right")
    for name, lag in stats.lag.items():
        oldest = "-" if lag.oldest_seconds is None else f"{lag.oldest_seconds:.1f} s"
        projectors.add_row(name, str(lag.waiting), oldest)

    commerce = Table(title="orders and stock", title_justify="left")
    commerce.add_column("")
    commerce.add_column("", justify="right")
    commerce.add_row("orders placed", str(stats.orders_placed))
    commerce.add_row("payments declined", str(stats.payments_declined))
    if stats.stock is not None:
        commerce.add_row("confirmed (PostgreSQL)", str(stats.stock.orders_confirmed))
        commerce.add_row("units in stock", f"{stats.stock.units_left:,}")
        commerce.add_row("units reserved", str(stats.stock.units_reserved))
    # Side by side where the terminal is wide enough, one under another where it is not.
    return Group(routes, Columns([caches, projectors, commerce], padding=(0, 3)))


def progress_line(stats: DemoStats, now: float) -> str:
    """The dashboard in one line, for output that is not a terminal."""
    p50, _, p99 = stats.window.percentiles(now)
    product = stats.caches.get("product page")
    cache = f"product cache {_ratio(product.ratio)}" if product else "product cache -"
    return (
        f"[{now - stats.started:5.1f} s] {stats.requests} requests ({stats.rate(now):.1f}/s),"
        f" p50 {_ms(p50)} ms, p99 {_ms(p99)} ms; 4xx {stats.count('4xx')},"
        f" 5xx {stats.count('5xx')}, failed {stats.count('failed')}; orders"
        f" {stats.orders_placed}; {cache}; {_lag_text(stats) or 'projectors -'}"
    )


def summary(stats: DemoStats, seconds: float) -> tuple[Table, list[str]]:
    """The closing table (all-time percentiles per route group) and the totals, one fact a
    line, so a person and a test read the same words."""
    table = Table(title=f"the demo's {stats.requests} requests", title_justify="left",
                  caption="ms, as the shoppers measured; ok = 2xx/3xx; lost = no answer")  # fmt: skip
    # Short headings: the table fits in 80 columns (rich's width when output is not a terminal).
    for column in ("route", "reqs", "p50", "p95", "p99", "ok", "4xx", "5xx", "lost"):
        table.add_column(column, justify="left" if column == "route" else "right",
                         no_wrap=column == "route")  # fmt: skip
    everything: list[float] = []
    for name in GROUPS:
        group = stats.groups[name]
        if not group.requests:
            continue
        everything += group.latencies
        table.add_row(
            name, str(group.requests), *(_ms(percentile(group.latencies, q)) for q in
                                         (0.5, 0.95, 0.99)),
            str(group.errors("2xx") + group.errors("3xx")), str(group.errors("4xx")),
            str(group.errors("5xx")), str(group.errors("failed")),
        )  # fmt: skip
    table.add_section()
    table.add_row(
        "all", str(stats.requests), *(_ms(percentile(everything, q)) for q in (0.5, 0.95, 0.99)),
        str(stats.count("2xx") + stats.count("3xx")), str(stats.count("4xx")),
        str(stats.count("5xx")), str(stats.count("failed")),
    )  # fmt: skip
    rate = stats.requests / seconds if seconds > 0 else 0.0
    caches = ", ".join(f"{name} {_ratio(c.ratio)}" for name, c in stats.caches.items())
    lines = [
        f"requests: {stats.requests} in {seconds:.1f} s ({rate:.1f}/s)",
        f"server errors (5xx): {stats.count('5xx')}; client errors (4xx): {stats.count('4xx')};"
        f" no answer: {stats.count('failed')}",
        f"orders placed: {stats.orders_placed}; payments declined: {stats.payments_declined}",
    ]
    if stats.stock is not None:
        lines.append(
            f"stock: {stats.stock.units_left:,} units left, {stats.stock.units_reserved} reserved;"
            f" {stats.stock.orders_confirmed} orders confirmed in PostgreSQL during the demo"
        )
    lines.append(f"cache hit ratio: {caches or '-'}")
    lines.append(f"projectors: {_lag_text(stats) or '-'}")
    return table, lines


def heading(text: str) -> Text:
    return Text(text, style="bold")
