"""Keeping derived stores in step with PostgreSQL: the outbox relay, projectors, rebuild, drift."""

from polyshop.sync.documents import DocumentProjector
from polyshop.sync.relay import Relay, Relays

__all__ = ["DocumentProjector", "Relay", "Relays"]
