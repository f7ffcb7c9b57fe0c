"""Neo4j adapter: the recommendation graph (GraphStore) through the official async driver."""

from polyshop.adapters.neo4j._graph import Neo4jGraphStore

__all__ = ["Neo4jGraphStore"]
