"""MongoDB adapter of the DocumentStore port (MongoDB 6+; FerretDB in tests)."""

from polyshop.adapters.mongo._store import MongoDocumentStore

__all__ = ["MongoDocumentStore"]
