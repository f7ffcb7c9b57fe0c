"""`polyshop demo`: the platform running live (seeded shops, the API server and its projectors,
simulated shoppers over HTTP, a dashboard). The dashboard's model is public for its tests."""

from polyshop.cli.demo._command import demo
from polyshop.cli.demo._stats import (
    GROUPS,
    CacheRatio,
    DemoStats,
    LatencyWindow,
    ProjectorLag,
    Stock,
    cache_counts,
    cache_ratios,
    percentile,
    status_class,
)
from polyshop.cli.demo._view import dashboard, progress_line, summary

__all__ = [
    "GROUPS", "CacheRatio", "DemoStats", "LatencyWindow", "ProjectorLag", "Stock", "cache_counts",
    "cache_ratios", "dashboard", "demo", "percentile", "progress_line", "status_class", "summary",
]  # fmt: skip
