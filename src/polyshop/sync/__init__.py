"""Keeping derived stores in step with PostgreSQL: the outbox relay, projectors, rebuild, drift."""

from polyshop.sync.relay import DocumentProjector, OutboxEvent, Relay

__all__ = ["DocumentProjector", "OutboxEvent", "Relay"]
