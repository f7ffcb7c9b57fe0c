"""Keeping derived stores in step with PostgreSQL: the outbox relay, projectors, rebuild, drift."""

from polyshop.sync.analytics import AnalyticsProjector
from polyshop.sync.documents import DocumentProjector
from polyshop.sync.graph import GraphProjector
from polyshop.sync.relay import Relay, Relays

__all__ = ["AnalyticsProjector", "DocumentProjector", "GraphProjector", "Relay", "Relays"]
