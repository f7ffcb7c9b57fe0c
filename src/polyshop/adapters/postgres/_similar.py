"""SIMILAR_TO ranked in SQL over the catalog (the system of record), for both graph adapters:
each product's best `SIMILAR_K` similar products for sale, by `domain.recommendations`' score
(same category 2, same brand 1, each shared attribute 0.5), ties by id.

One statement per call: the products in scope with their attributes as a bit string over the
scope's distinct "name=value" pairs (a pair's shared attributes are `bit_count(a & b)`), the
ones for sale as arrays per category and per brand, then each source product's top K as a
LATERAL top-N over its category's and its brand's arrays: work proportional to the candidates
of the products asked for, memory bounded by one page of results whatever the catalog's size
(the bulk build streams the statement through a server-side cursor). Never a list of every
pair. (No temporary table: the roles may not create one.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection
from typing import Any
from uuid import UUID

from psycopg import AsyncConnection

from polyshop.domain.recommendations import (
    SIMILAR_K,
    SIMILARITY_WEIGHTS,
    SimilarEdge,
    similarity_of,
)

# The products of a scope (a condition on `products p`) with their attributes as bits: one bit
# per distinct "name=value" of the scope (the same pairs as `ProductFact.features`), so a pair's
# shared attributes are `bit_count(a & b)`. Then the scope's products for sale as arrays per
# category and per brand: a product's candidates are two array reads, not a scan of the scope.
_ITEMS = (
    "WITH scope AS MATERIALIZED (SELECT p.id, p.category_id, p.brand_id,"
    "   p.status = 'active' AS for_sale FROM products p WHERE {scope}),"
    " feats AS MATERIALIZED (SELECT a.product_id, a.name || '=' || a.value AS f"
    "   FROM product_attributes a WHERE a.product_id IN (SELECT id FROM scope)),"
    " dict AS (SELECT f, (row_number() OVER (ORDER BY f))::int - 1 AS i"
    "   FROM (SELECT DISTINCT f FROM feats) d),"
    " n AS (SELECT greatest(count(*), 1)::int AS n FROM dict),"
    " bits AS (SELECT fe.product_id,"
    "   bit_or((repeat('0', d.i) || '1' || repeat('0', n.n - d.i - 1))::varbit) AS bits"
    "   FROM feats fe JOIN dict d ON d.f = fe.f CROSS JOIN n GROUP BY fe.product_id),"
    " items AS MATERIALIZED (SELECT s.id, s.category_id, s.brand_id, s.for_sale,"
    "   coalesce(b.bits, repeat('0', n.n)::varbit) AS bits"
    "   FROM scope s CROSS JOIN n LEFT JOIN bits b ON b.product_id = s.id),"
    " by_category AS MATERIALIZED (SELECT category_id, array_agg(id) AS ids,"
    "   array_agg(brand_id) AS brands, array_agg(bits) AS bits FROM items"
    "   WHERE for_sale GROUP BY category_id),"
    " by_brand AS MATERIALIZED (SELECT brand_id, array_agg(id) AS ids,"
    "   array_agg(category_id) AS categories, array_agg(bits) AS bits FROM items"
    "   WHERE for_sale AND brand_id IS NOT NULL GROUP BY brand_id)"
)
_IDS = "(SELECT unnest(%(ids)s::uuid[]))"  # hashed, not `= ANY` (a verify asks for every id)
_AROUND = (  # the products asked for and every product sharing a category or a brand with one
    f"p.id IN {_IDS} OR p.category_id IN (SELECT category_id FROM products WHERE id IN {_IDS})"
    f" OR p.brand_id IN (SELECT brand_id FROM products WHERE id IN {_IDS})"
)

_SAME_CATEGORY = "coalesce(q.category_id = p.category_id, false)"
_SAME_BRAND = "coalesce(q.brand_id = p.brand_id, false)"
_SHARED = "bit_count(q.bits & p.bits)::int"
_SCORE = (
    f"(%(wc)s::float8 * {_SAME_CATEGORY}::int + %(wb)s::float8 * {_SAME_BRAND}::int"
    f" + %(wa)s::float8 * {_SHARED})"
)

# Each source's best K among the products for sale that share its category (one array) or its
# brand in another category (another): a top-N per source, never every pair at once. The
# category's best K first: a brand-only candidate scores at most brand + attribute x (the
# source's attributes), so when the category's k-th already scores more, the brand's array is
# not read at all (with the seeded catalogs, most sources).
_CANDIDATES = (
    "SELECT q.id, q.category_id, q.brand_id, q.bits FROM ({rows}) q"
    " WHERE q.id <> p.id ORDER BY " + _SCORE + " DESC, q.id LIMIT %(k)s"
)
_TOP = (
    _ITEMS + " SELECT p.id, t.id, t.same_category, t.same_brand, t.shared FROM items p"
    " CROSS JOIN LATERAL (SELECT count(*) AS n, min(" + _SCORE + ") AS floor,"
    " array_agg(q.id) AS ids, array_agg(q.category_id) AS categories,"
    " array_agg(q.brand_id) AS brands, array_agg(q.bits) AS bits FROM ("
    + _CANDIDATES.format(
        rows="SELECT u.id, c.category_id, u.brand_id, u.bits FROM by_category c,"
        " unnest(c.ids, c.brands, c.bits) AS u(id, brand_id, bits)"
        " WHERE c.category_id = p.category_id"
    )
    + ") q) top"
    " CROSS JOIN LATERAL (SELECT q.id, "
    + _SAME_CATEGORY
    + " AS same_category, "
    + _SAME_BRAND
    + " AS same_brand, "
    + _SHARED
    + " AS shared FROM ("
    " SELECT u.id, u.category_id, u.brand_id, u.bits"
    "   FROM unnest(top.ids, top.categories, top.brands, top.bits)"
    "   AS u(id, category_id, brand_id, bits) WHERE top.n > 0"
    " UNION ALL SELECT u.id, u.category_id, b.brand_id, u.bits FROM by_brand b,"
    "   unnest(b.ids, b.categories, b.bits) AS u(id, category_id, bits)"
    "   WHERE b.brand_id = p.brand_id AND u.category_id IS DISTINCT FROM p.category_id"
    "   AND (top.n < %(k)s OR top.floor <= %(wb)s::float8 + %(wa)s::float8 * bit_count(p.bits))"
    " ) q WHERE q.id <> p.id ORDER BY " + _SCORE + " DESC, q.id LIMIT %(k)s) t"
    " WHERE {sources}"
)

# (P, X, score) for each changed X for sale and each product P outside the changed ones that
# shares X's category or brand.
_REACHING = (
    _ITEMS
    + " SELECT q.id, p.id, "
    + _SAME_CATEGORY
    + ", "
    + _SAME_BRAND
    + ", "
    + _SHARED
    + " FROM items p JOIN items q"
    " ON q.id <> p.id AND (q.category_id = p.category_id OR q.brand_id = p.brand_id)"
    f" WHERE p.id IN {_IDS} AND p.for_sale AND q.id NOT IN {_IDS}"
)


def _params(**more: Any) -> dict[str, Any]:
    return {"wc": SIMILARITY_WEIGHTS["category"], "wb": SIMILARITY_WEIGHTS["brand"],
            "wa": SIMILARITY_WEIGHTS["attribute"], "k": SIMILAR_K, **more}  # fmt: skip


def _edges(rows: list[Any]) -> list[SimilarEdge]:
    found: list[SimilarEdge] = []
    for source, other, same_category, same_brand, shared in rows:
        similar = similarity_of(same_category, same_brand, shared)
        if similar is not None:  # always: the candidates share a category or a brand
            found.append((source, other, similar))
    return found


class PostgresSimilarCatalog:
    """The `SimilarCatalog` port over one connection in a tenant's unit of work (row-level
    security: that tenant's catalog only). Read-only statements."""

    def __init__(self, connection: AsyncConnection[Any]) -> None:
        self._conn = connection

    async def top_similar(self, product_ids: Collection[UUID]) -> list[SimilarEdge]:
        ids = sorted(set(product_ids))
        if not ids:
            return []
        sql = _TOP.format(scope=_AROUND, sources=f"p.id IN {_IDS}")
        cursor = await self._conn.execute(sql, _params(ids=ids))
        return _edges(await cursor.fetchall())

    async def reaching(self, product_ids: Collection[UUID]) -> list[SimilarEdge]:
        ids = sorted(set(product_ids))
        if not ids:
            return []
        cursor = await self._conn.execute(_REACHING.format(scope=_AROUND), _params(ids=ids))
        return _edges(await cursor.fetchall())

    async def every_top_similar(
        self, page: int, *, ordered: bool = False
    ) -> AsyncIterator[list[SimilarEdge]]:
        """Every product's SIMILAR_TO, one statement streamed `page` rows at a time through a
        server-side cursor (the bulk build); `ordered`: by source, then other product (the
        streamed `sync verify graph`; the server sorts, spilling to disk if it must)."""
        sql = _TOP.format(scope="true", sources="true")
        if ordered:
            sql = f"SELECT * FROM ({sql}) edges ORDER BY 1, 2"
        async with self._conn.cursor(name="graph_similar") as cursor:
            await cursor.execute(sql, _params())
            while rows := await cursor.fetchmany(page):
                yield _edges(rows)
