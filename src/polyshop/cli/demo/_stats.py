"""What the demo's dashboard shows, as plain data: latencies in a sliding window, status counts
per route group, cache ratios from the server's Prometheus text, projector lag, orders and stock.
No I/O here: the shoppers and the probes feed it, the view draws it (and unit tests check it)."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from prometheus_client.parser import text_string_to_metric_families

# Route groups, in the order the dashboard lists them.
GROUPS = (
    "browse", "search", "product page", "reviews", "recommendations", "cart", "checkout",
    "events", "account", "sign-in", "analytics",
)  # fmt: skip


def percentile(values: Iterable[float], q: float) -> float:
    """The q-quantile by nearest rank (the smallest value with at least q of them at or below
    it); NaN for no values."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


class LatencyWindow:
    """Latencies of the last `seconds` (by the caller's clock): what "p95 now" means on a live
    view, where all-time figures would hide a slowdown behind the first minutes."""

    def __init__(self, seconds: float = 10.0) -> None:
        self.seconds = seconds
        self._samples: deque[tuple[float, float]] = deque()

    def add(self, now: float, latency_ms: float) -> None:
        self._samples.append((now, latency_ms))
        self._expire(now)

    def _expire(self, now: float) -> None:
        while self._samples and self._samples[0][0] <= now - self.seconds:
            self._samples.popleft()

    def count(self, now: float) -> int:
        self._expire(now)
        return len(self._samples)

    def rate(self, now: float, elapsed: float) -> float:
        """Requests per second over the window (or over `elapsed`, while shorter)."""
        span = min(self.seconds, elapsed)
        return self.count(now) / span if span > 0 else 0.0

    def percentiles(self, now: float, qs: Iterable[float] = (0.5, 0.95, 0.99)) -> list[float]:
        self._expire(now)
        values = [latency for _, latency in self._samples]
        ordered = sorted(values)
        return [percentile(ordered, q) for q in qs]


def status_class(status: int) -> str:
    """The status's class ("2xx" ... "5xx"), or "failed" for a request that got no answer."""
    return f"{status // 100}xx" if 100 <= status < 600 else "failed"


@dataclass(slots=True)
class GroupStats:
    window: LatencyWindow = field(default_factory=LatencyWindow)
    # Every latency of the run, for the summary (a demo makes thousands, not millions).
    latencies: list[float] = field(default_factory=list)
    statuses: dict[str, int] = field(default_factory=dict)

    @property
    def requests(self) -> int:
        return len(self.latencies)

    def errors(self, kind: str) -> int:
        return self.statuses.get(kind, 0)


@dataclass(frozen=True, slots=True)
class CacheRatio:
    hits: int
    lookups: int

    @property
    def ratio(self) -> float | None:
        return self.hits / self.lookups if self.lookups else None


# Which cache namespaces (as the server counts them) make up each ratio shown.
_CACHES = {"product page": ("product", "product-local"), "search": ("search",),
           "recommendations": ("recommend",)}  # fmt: skip
_HITS = {"hit", "wait_hit"}


def cache_counts(metrics_text: str) -> dict[tuple[str, str], float]:
    """polyshop_cache_requests by (cache, outcome), from a /metrics answer."""
    counts: dict[tuple[str, str], float] = {}
    for family in text_string_to_metric_families(metrics_text):
        if family.name != "polyshop_cache_requests":
            continue
        for sample in family.samples:
            if sample.name.endswith("_total"):
                key = (sample.labels["cache"], sample.labels["outcome"])
                counts[key] = counts.get(key, 0.0) + sample.value
    return counts


def cache_ratios(
    now: dict[tuple[str, str], float], before: dict[tuple[str, str], float] | None = None
) -> dict[str, CacheRatio]:
    """Hit ratio per shown cache, over the lookups since `before` (the counters are the
    server's whole life; the demo shows its own run)."""
    before = before or {}
    out: dict[str, CacheRatio] = {}
    for shown, namespaces in _CACHES.items():
        hits = lookups = 0
        for (cache, outcome), value in now.items():
            if cache not in namespaces:
                continue
            delta = int(value - before.get((cache, outcome), 0.0))
            lookups += delta
            if outcome in _HITS:
                hits += delta
        out[shown] = CacheRatio(hits, lookups)
    return out


@dataclass(frozen=True, slots=True)
class ProjectorLag:
    waiting: int
    oldest_seconds: float | None


@dataclass(frozen=True, slots=True)
class Stock:
    units_left: int
    units_reserved: int
    orders_confirmed: int  # since the demo started, as PostgreSQL has them


@dataclass(slots=True)
class DemoStats:
    """The dashboard's model: fed by the shoppers (`record`) and the probes (the rest)."""

    started: float
    groups: dict[str, GroupStats] = field(
        default_factory=lambda: {name: GroupStats() for name in GROUPS}
    )
    orders_placed: int = 0
    payments_declined: int = 0
    caches: dict[str, CacheRatio] = field(default_factory=dict)
    lag: dict[str, ProjectorLag] = field(default_factory=dict)
    stock: Stock | None = None
    window: LatencyWindow = field(default_factory=LatencyWindow)

    def record(self, group: str, now: float, latency_ms: float, status: int) -> None:
        stats = self.groups.setdefault(group, GroupStats())
        stats.window.add(now, latency_ms)
        stats.latencies.append(latency_ms)
        kind = status_class(status)
        stats.statuses[kind] = stats.statuses.get(kind, 0) + 1
        self.window.add(now, latency_ms)

    @property
    def requests(self) -> int:
        return sum(g.requests for g in self.groups.values())

    def count(self, kind: str) -> int:
        return sum(g.errors(kind) for g in self.groups.values())

    def rate(self, now: float) -> float:
        return self.window.rate(now, now - self.started)

    def caught_up(self) -> bool:
        return bool(self.lag) and all(lag.waiting == 0 for lag in self.lag.values())
