"""The GraphStore port on Neo4j 5 (the `full` profile), through the official async driver.

Every node carries `tenant_id` and is unique on (tenant_id, id) per label (composite uniqueness
constraints: the community edition has no NODE KEY, so the adapter always sets both); every
write MERGEs on that key, so an event never makes a second node. Writes go in UNWIND batches,
one transaction per tenant and projector batch. Reads follow maintained relationships from one
node (FREQUENTLY_BOUGHT_WITH, ALSO_BOUGHT, SIMILAR_TO, the customer's own edges): no query walks
two hops through hot products.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, LiteralString
from uuid import UUID

from neo4j import READ_ACCESS, AsyncDriver, AsyncGraphDatabase, AsyncTransaction
from neo4j.exceptions import DriverError

from polyshop.domain.errors import StoreUnavailableError
from polyshop.domain.recommendations import (
    PERSONAL_MARGIN,
    PERSONAL_MARGIN_RELATIVE,
    SIGNAL_HALF_LIFE_DAYS,
    SIGNAL_WEIGHTS,
    SIMILAR_K,
    Bought,
    CategoryFact,
    Interaction,
    Neighbour,
    OrderFact,
    PairDeltas,
    ProductFact,
    RecommendationKind,
    Related,
    ReviewFact,
    Signal,
    SimilarEdge,
    Similarity,
    tally,
)
from polyshop.ports import GraphPage, GraphSnapshot, list_label

LABELS = ("Product", "Category", "Order", "User", "PaymentMethod", "AppliedBatch")

_SCHEMA: list[LiteralString] = [
    *(
        f"CREATE CONSTRAINT {label.lower()}_key IF NOT EXISTS FOR (n:{label})"
        " REQUIRE (n.tenant_id, n.id) IS UNIQUE"
        for label in LABELS
    ),
    "CREATE INDEX product_category IF NOT EXISTS FOR (n:Product) ON (n.tenant_id, n.category_id)",
    "CREATE INDEX product_brand IF NOT EXISTS FOR (n:Product) ON (n.tenant_id, n.brand_id)",
    "CREATE INDEX order_user IF NOT EXISTS FOR (n:Order) ON (n.tenant_id, n.user_id)",
]

_RELATIONSHIP = {
    RecommendationKind.BOUGHT_TOGETHER: "FREQUENTLY_BOUGHT_WITH",
    RecommendationKind.ALSO_BOUGHT: "ALSO_BOUGHT",
    RecommendationKind.SIMILAR: "SIMILAR_TO",
}

# A product's strongest partners FOR SALE of a maintained relationship, kept on its node in
# rank order (weight, then id: the contract's order) as two parallel lists: `<list>` the
# partners' ids, `<list>_w` their weights. A hot product has up to the catalog's size of
# relationships; a read of its top 10 then takes the first entries of a list instead of
# expanding and sorting every relationship, and (the lists holding only partners for sale) looks
# nothing up but the names it returns. Invariant: a product's list is the first TOP_PARTNERS of
# its relationships to products whose `for_sale` is true, by weight then id (SIMILAR_TO: all of
# them, at most SIMILAR_K). Kept by the transactions that change either side: the weights
# (`add_pairs` -> `_rank`, `replace_similar` -> `_list_similar`) and a partner's `for_sale`
# (`put_products` -> `_relist`, through the partner's incoming relationships). A list shorter
# than TOP_PARTNERS holds every partner for sale; a full one answers up to TOP_PARTNERS. The
# property names are not the earlier lists' (`top_together`, which held partners whatever their
# for_sale): a graph built before reads its relationships until `sync rebuild graph`.
TOP_PARTNERS = 50  # the recommenders' largest limit (services.recommendations.MAX_LIMIT)


class _List:
    __slots__ = ("ids", "rel", "weight", "weights")

    def __init__(self, ids: LiteralString, rel: LiteralString, weight: LiteralString) -> None:
        self.ids = ids  # the property holding the partners' ids
        self.weights: LiteralString = ids + "_w"  # ... and their weights, in the same order
        self.rel = rel
        self.weight = weight  # the relationship's ranking property


_LISTS = {
    RecommendationKind.BOUGHT_TOGETHER: _List("sale_together", "FREQUENTLY_BOUGHT_WITH", "weight"),
    RecommendationKind.ALSO_BOUGHT: _List("sale_also_bought", "ALSO_BOUGHT", "weight"),
    RecommendationKind.SIMILAR: _List("sale_similar", "SIMILAR_TO", "score"),
}
_TOP: dict[RecommendationKind, _List] = {
    k: v for k, v in _LISTS.items() if k is not RecommendationKind.SIMILAR
}
_SIMILAR = _LISTS[RecommendationKind.SIMILAR]


def _ranked(rel: LiteralString, weight: LiteralString, ids: LiteralString,
            limit: LiteralString) -> LiteralString:  # fmt: skip
    """`SET` of node `a`'s list: its relationships to products for sale, ranked."""
    return (
        f"CALL (a) {{ OPTIONAL MATCH (a)-[x:{rel}]->(b:Product) WHERE b.for_sale"
        f" WITH x.{weight} AS w, b.id AS b ORDER BY w DESC, b {limit}"
        " RETURN collect(b) AS ranked, collect(w) AS ranks }"
        f" SET a.{ids} = ranked, a.{ids}_w = ranks"
    )


# A product first seen through an order or a trend update gets the PostgreSQL twin's defaults.
_NEW_PRODUCT = (
    "ON CREATE SET p.name = '', p.for_sale = false, p.features = [], p.trend = 0.0, p.orders = 0"
)


def _id(value: UUID | None) -> str | None:
    return None if value is None else str(value)


def _native(value: Any) -> Any:
    return value.to_native() if hasattr(value, "to_native") else value


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _instant(seconds: int, nanos: int) -> datetime:
    """A stored DateTime read as `.epochSeconds` and `.nanosecond` (integers decode in the
    driver's Rust PackStream; a DateTime is hydrated in Python): the same instant as
    `DateTime.to_native()`, in UTC, microseconds truncated as it truncates them."""
    return _EPOCH + timedelta(seconds=seconds, microseconds=nanos // 1000)


# For you in one statement (`GraphStore.personal`): the customer's edges, their likeliest
# seeds (`seed_weights`'s formula), each seed's strongest neighbours for sale (the first entries
# of its for-sale lists: bought-together and SIMILAR_TO, read from the seed's own node; its
# relationships only where a list cannot answer), the candidates scored and ranked here by id,
# and only the first `limit` (and those within the margin behind them) sent, with the seeds'
# signals and the sent candidates' names (the only products looked up). No temporal values,
# only integers: an edge is [kind (0 purchased, 1 cart, 2 viewed), count, epoch seconds, nanos].
_PERSONAL: LiteralString = (
    "MATCH (:User {tenant_id: $t, id: $id})-[r:PURCHASED|ADDED_TO_CART|VIEWED|REVIEWED]->"
    "(p:Product)"
    " WITH p, r, CASE WHEN r.last_at IS NULL THEN 0.0 WHEN r.last_at > $now"
    " THEN $weights[type(r)] ELSE $weights[type(r)] * 0.5 ^ ((duration.inSeconds(r.last_at, $now)"
    ".seconds + duration.inSeconds(r.last_at, $now).nanosecondsOfSecond / 1e9) / $half) END"
    " AS part"
    " WITH p, collect(CASE type(r) WHEN 'REVIEWED' THEN null"
    " ELSE [CASE type(r) WHEN 'PURCHASED' THEN 0 WHEN 'ADDED_TO_CART' THEN 1 ELSE 2 END,"
    " r.count, r.last_at.epochSeconds, r.last_at.nanosecond] END) AS edges,"
    " sum(part) AS weight, max(r.rating) AS rating,"
    " sum(CASE WHEN type(r) = 'PURCHASED' AND r.count > 0 THEN 1 ELSE 0 END) > 0 AS bought"
    " WITH p, edges, rating, bought, CASE WHEN rating IS NULL THEN weight WHEN rating <= 2"
    " THEN 0.0 ELSE weight * (1 + (rating - 3) * 0.25) END AS weight"
    " ORDER BY round(weight, 9) DESC, p.id"
    " WITH collect({p: p, edges: edges, rating: rating, weight: weight, bought: bought})"
    " AS touched"
    " WITH [s IN touched WHERE s.bought | s.p.id] AS bought,"
    " [s IN touched WHERE s.weight > 0][0..$seeds] AS seeds"
    " CALL (seeds, bought) {"
    "  UNWIND range(0, size(seeds) - 1) AS k WITH bought, k, seeds[k].p AS seed,"
    "  seeds[k].weight AS w"
    # Bought-together: the first $n entries of the seed's list when it has them or holds every
    # partner for sale (shorter than $top); past a full list that has fewer (lists shorter
    # than $n: tests), or with no list (a graph built before them), its relationships.
    "  CALL (seed) {"
    "   WITH seed, seed.sale_together AS ids WHERE ids IS NOT NULL"
    "    AND (size(ids) >= $n OR size(ids) < $top)"
    "   WITH ids, seed.sale_together_w AS ws"  # each property read once, not per entry
    "   RETURN [i IN range(0, size(ids[0..$n]) - 1) | {q: ids[i], w: ws[i]}] AS together"
    "   UNION ALL"
    "   WITH seed, seed.sale_together AS ids WHERE ids IS NULL"
    "    OR (size(ids) < $n AND size(ids) >= $top)"
    "   RETURN COLLECT { MATCH (seed)-[x:FREQUENTLY_BOUGHT_WITH]->(q:Product) WHERE q.for_sale"
    "    RETURN {q: q.id, w: x.weight} ORDER BY x.weight DESC, q.id LIMIT $n } AS together }"
    # SIMILAR_TO: the list holds every relationship to a product for sale (at most SIMILAR_K).
    "  CALL (seed) {"
    "   WITH seed, seed.sale_similar AS ids WHERE ids IS NOT NULL"
    "   WITH ids, seed.sale_similar_w AS ws"
    "   RETURN [i IN range(0, size(ids[0..$n]) - 1) | {q: ids[i], w: ws[i]}] AS similar"
    "   UNION ALL"
    "   WITH seed WHERE seed.sale_similar IS NULL"
    "   RETURN COLLECT { MATCH (seed)-[x:SIMILAR_TO]->(q:Product) WHERE q.for_sale"
    "    RETURN {q: q.id, w: x.score} ORDER BY x.score DESC, q.id LIMIT $n } AS similar }"
    "  UNWIND [e IN together | {q: e.q, bt: e.w, sim: 0.0}]"
    "   + [e IN similar | {q: e.q, bt: 0, sim: e.w}] AS e"
    "  WITH bought, k, w, e.q AS q, sum(e.bt) AS bt, sum(e.sim) AS sim"
    "  WHERE NOT q IN bought"
    "  WITH q, collect([k, bt, sim]) AS parts, sum(w * (bt + sim)) AS score"
    "  ORDER BY score DESC, q"
    "  RETURN collect({id: q, parts: parts, score: score}) AS ranked }"
    " WITH seeds, ranked, CASE WHEN size(ranked) >= $limit THEN ranked[$limit - 1].score"
    " END AS last"
    " WITH seeds, [c IN ranked WHERE last IS NULL OR c.score >= last - ($margin + $relative"
    " * abs(last))] AS kept"
    " RETURN [s IN seeds | [s.p.id, s.p.name, s.rating, s.edges]] AS seeds,"
    " COLLECT { UNWIND kept AS c MATCH (q:Product {tenant_id: $t, id: c.id})"
    " RETURN [c.id, q.name, c.parts] } AS ranked"
)


# `snapshot_page`: a label's nodes in id order (the uniqueness constraints' range indexes on
# (tenant_id, id) give that order), or a relationship type from the next source nodes.
_NODE_PAGES: dict[str, LiteralString] = {
    "Category": "MATCH (n:Category {tenant_id: $t}) WHERE n.id > $after"
    " RETURN n.id AS id, n.name AS name, n.parent_id AS parent ORDER BY n.id LIMIT $size",
    "Product": "MATCH (n:Product {tenant_id: $t}) WHERE n.id > $after"
    " RETURN n.id AS id, n.name AS name, n.for_sale AS for_sale, n.category_id AS category,"
    " n.brand_id AS brand, n.features AS features, n.trend AS trend, n.orders AS orders"
    " ORDER BY n.id LIMIT $size",
    "Order": "MATCH (n:Order {tenant_id: $t}) WHERE n.id > $after"
    " RETURN n.id AS id, n.user_id AS user, n.placed_at AS at, n.counted AS counted,"
    " n.products AS products, n.payment_method AS method ORDER BY n.id LIMIT $size",
}
_NODE_VALUES: dict[str, Any] = {  # the same shapes as `snapshot`
    "Category": lambda r: (r["name"], r["parent"]),
    "Product": lambda r: (r["name"], r["for_sale"], r["category"], r["brand"],
                          tuple(r["features"]), float(r["trend"]), r["orders"]),
    "Order": lambda r: (r["user"], _native(r["at"]), r["counted"], tuple(r["products"]),
                        r["method"]),
}  # fmt: skip


def _relationship_page(source: LiteralString, rel: LiteralString, props: LiteralString) -> tuple[
    LiteralString, LiteralString
]:  # fmt: skip
    """The next source nodes with their number of relationships of the type (the degree, kept
    on the node), then the relationships of those chosen."""
    return (
        "MATCH (a:" + source + " {tenant_id: $t}) WHERE a.id > $after"
        " WITH a ORDER BY a.id LIMIT $size"
        " RETURN a.id AS id, COUNT { (a)-[:" + rel + "]->() } AS degree",
        "UNWIND $ids AS id MATCH (a:" + source + " {tenant_id: $t, id: id})"
        "-[r:" + rel + "]->(b) RETURN a.id + '>' + b.id AS key, [" + props + "] AS props",
    )


_RELATIONSHIP_PAGES: dict[str, tuple[LiteralString, LiteralString]] = {
    "PURCHASED": _relationship_page("User", "PURCHASED", "r.count, r.last_at"),
    "ADDED_TO_CART": _relationship_page("User", "ADDED_TO_CART", "r.count, r.last_at"),
    "VIEWED": _relationship_page("User", "VIEWED", "r.count, r.last_at"),
    "REVIEWED": _relationship_page("User", "REVIEWED", "r.rating, r.at"),
    "FREQUENTLY_BOUGHT_WITH": _relationship_page("Product", "FREQUENTLY_BOUGHT_WITH", "r.weight"),
    "ALSO_BOUGHT": _relationship_page("Product", "ALSO_BOUGHT", "r.weight"),
    "SIMILAR_TO": _relationship_page("Product", "SIMILAR_TO", "r.score, r.reason"),
}


def _seed_signal(product_id: str, name: str | None, rating: int | None,
                 edges: list[list[int]]) -> Signal:  # fmt: skip
    """One seed's Signal from `_PERSONAL`'s integers (the exact instant: seconds and nanos)."""
    counts = [0, 0, 0]
    lasts: list[datetime | None] = [None, None, None]
    for kind, count, seconds, nanos in edges:
        counts[kind] = count
        if seconds is not None:
            lasts[kind] = _instant(seconds, nanos)
    return Signal(UUID(product_id), name or "", counts[0], lasts[0], counts[1], lasts[1],
                  counts[2], lasts[2], rating)  # fmt: skip


# The projector's reads: each one row, its rows as lists (the driver decodes records in Python;
# a batch's customers have thousands of PURCHASED between them), instants as integers
# (`_instant`: the driver's DateTime hydration is pure Python, and was two thirds of the
# PURCHASED read's time, 0.7 of 1.0 s per 5,000 orders in `bench.recommend`).
_ORDERS_READ: LiteralString = (
    "MATCH (o:Order) WHERE o.tenant_id = $t AND o.id IN $ids"
    " RETURN collect([o.id, o.user_id, o.placed_at.epochSeconds, o.placed_at.nanosecond,"
    " o.counted, o.products, o.payment_method]) AS orders"
)
_PURCHASED_READ: LiteralString = (
    "UNWIND $users AS uid MATCH (:User {tenant_id: $t, id: uid})-[r:PURCHASED]->(p:Product)"
    " WITH uid, collect([p.id, r.count, r.last_at.epochSeconds, r.last_at.nanosecond]) AS bought"
    " RETURN collect([uid, bought]) AS purchased"
)


def _order_facts(rows: list[list[Any]]) -> dict[UUID, OrderFact]:
    return {
        UUID(i): OrderFact(UUID(i), UUID(user), _instant(seconds, nanos), counted,
                           tuple(map(UUID, products)), method)
        for i, user, seconds, nanos, counted, products, method in rows
    }  # fmt: skip


def _bought(rows: list[list[Any]]) -> Bought:
    return {
        UUID(user): {UUID(p): (c, _instant(seconds, nanos)) for p, c, seconds, nanos in bought}
        for user, bought in rows
    }


def _order_rows(facts: Sequence[OrderFact]) -> list[dict[str, Any]]:
    return [{"id": str(f.id), "user_id": str(f.user_id), "placed_at": f.placed_at,
             "counted": f.counted, "products": [str(p) for p in f.products],
             "method": f.payment_method} for f in facts]  # fmt: skip


class Neo4jGraphWriter:
    """One tenant's transaction. Writes are pipelined: a write statement is sent and left to
    run (`_send`) while the projector computes the next one, at most one in flight; the next
    statement, a read, or the end of the block waits for it first (`settle`), and its error
    is raised there. The server runs a write before it answers RUN, so without this the
    client's Python and the server's work would take turns on a 2-core machine."""

    def __init__(
        self, tx: AsyncTransaction, tenant_id: UUID, *, fresh: bool = False,
        top: int = TOP_PARTNERS,
    ) -> None:  # fmt: skip
        self._tx = tx
        self._tenant = str(tenant_id)
        self._top = top
        # An emptied graph (the bulk build): relationships are created, not merged (a MERGE
        # between two hot products looks through one of their relationship chains).
        self._fresh = fresh
        self._in_flight: asyncio.Task[Any] | None = None

    async def settle(self) -> None:
        """Wait for the write in flight; its error, if it failed, is raised here."""
        if self._in_flight is not None:
            in_flight, self._in_flight = self._in_flight, None
            await in_flight

    async def abandon(self) -> None:
        """The block ends with an error: let the write in flight finish (the transaction's
        connection serves one statement at a time, and the rollback comes next) and drop its
        outcome, which no longer matters."""
        if self._in_flight is None:
            return
        in_flight, self._in_flight = self._in_flight, None
        try:
            await asyncio.wait({in_flight})
        except asyncio.CancelledError:
            in_flight.cancel()
            raise
        if not in_flight.cancelled():
            in_flight.exception()  # retrieved: not logged as never retrieved

    async def _run(self, query: LiteralString, **params: Any) -> list[Any]:
        await self.settle()
        result = await self._tx.run(query, t=self._tenant, **params)
        return [record async for record in result]

    async def _send(self, query: LiteralString, **params: Any) -> None:
        await self.settle()
        self._in_flight = asyncio.create_task(self._tx.run(query, t=self._tenant, **params))
        # One turn of the loop: the task sends its RUN and PULL, and waits for the answer on
        # the socket while the caller goes on. Bolt keeps a transaction's statements in order.
        await asyncio.sleep(0)

    async def put_categories(self, facts: Sequence[CategoryFact]) -> None:
        await self._send(
            "UNWIND $rows AS r MERGE (c:Category {tenant_id: $t, id: r.id})"
            " SET c.name = r.name, c.parent_id = r.parent_id"
            " WITH c, r CALL (c) { MATCH (c)-[old:CHILD_OF]->() DELETE old }"
            " WITH c, r WHERE r.parent_id IS NOT NULL"
            " MERGE (parent:Category {tenant_id: $t, id: r.parent_id}) ON CREATE SET parent.name = ''"
            " MERGE (c)-[:CHILD_OF]->(parent)",
            rows=[{"id": str(f.id), "name": f.name, "parent_id": _id(f.parent_id)} for f in facts],
        )

    async def put_products(self, facts: Sequence[ProductFact]) -> None:
        records = await self._run(
            "UNWIND $rows AS r MERGE (p:Product {tenant_id: $t, id: r.id}) " + _NEW_PRODUCT +
            " WITH p, r, p.for_sale AS was"
            " SET p.name = r.name, p.for_sale = r.for_sale, p.category_id = r.category_id,"
            " p.brand_id = r.brand_id, p.features = r.features"
            " WITH p, r, was CALL (p) { MATCH (p)-[old:BELONGS_TO]->() DELETE old }"
            " MERGE (c:Category {tenant_id: $t, id: r.category_id}) ON CREATE SET c.name = ''"
            " MERGE (p)-[:BELONGS_TO]->(c)"
            " RETURN collect(CASE WHEN was <> r.for_sale THEN r.id END) AS changed",
            rows=[{"id": str(f.id), "name": f.name, "for_sale": f.for_sale,
                   "category_id": str(f.category_id), "brand_id": _id(f.brand_id),
                   "features": list(f.features)} for f in facts],
        )  # fmt: skip
        if records and records[0]["changed"] and not self._fresh:
            # An emptied graph (the bulk build) puts its products before any relationship.
            await self._relist(records[0]["changed"])

    async def _relist(self, changed: list[str]) -> None:
        """The lists (`_LISTS`) that products whose `for_sale` just changed are in, or may now
        enter, rewritten in the same transaction: those of the products with a relationship to
        one of them (its incoming relationships). A bought-together or also-bought list is
        ranked again if it holds the product (off sale: it leaves, and a full list takes its
        next partner for sale), is not full, or the product (now for sale) ranks before its
        last entry; every other list is what it was. A SIMILAR_TO list (at most SIMILAR_K
        relationships, all in it when for sale) is made again from them."""
        for lst in _TOP.values():
            await self._send(
                "UNWIND $ids AS xid MATCH (x:Product {tenant_id: $t, id: xid})"
                f" MATCH (a:Product)-[r:{lst.rel}]->(x)"
                f" WITH a, x, r, a.{lst.ids} AS top, a.{lst.weights} AS ws"
                " WHERE top IS NULL OR x.id IN top OR (x.for_sale AND (size(top) < $k"
                f" OR r.{lst.weight} > ws[-1] OR (r.{lst.weight} = ws[-1] AND x.id < top[-1])))"
                " WITH DISTINCT a "
                + _ranked(lst.rel, lst.weight, lst.ids, "LIMIT $k"),
                ids=changed, k=self._top,
            )  # fmt: skip
        await self._send(
            "UNWIND $ids AS xid MATCH (x:Product {tenant_id: $t, id: xid})"
            f" MATCH (a:Product)-[:{_SIMILAR.rel}]->(x) WITH DISTINCT a "
            + _ranked(_SIMILAR.rel, _SIMILAR.weight, _SIMILAR.ids, ""),
            ids=changed,
        )  # fmt: skip

    async def similar_sources(self, product_ids: Collection[UUID]) -> set[UUID]:
        records = await self._run(
            "MATCH (b:Product) WHERE b.tenant_id = $t AND b.id IN $ids"
            " MATCH (a:Product)-[:SIMILAR_TO]->(b) RETURN DISTINCT a.id AS id",
            ids=[str(i) for i in product_ids],
        )
        return {UUID(r["id"]) for r in records}

    async def similar_admits(self, candidates: Sequence[SimilarEdge]) -> set[UUID]:
        """`enters_top` in Cypher: each product's stored list (at most K relationships), its
        k-th compared with the candidate's (score desc, id asc)."""
        if not candidates:
            return set()
        grouped: dict[str, list[dict[str, Any]]] = {}
        for p, x, s in candidates:
            grouped.setdefault(str(p), []).append({"x": str(x), "score": s.score})
        records = await self._run(
            "UNWIND $rows AS r OPTIONAL MATCH (p:Product {tenant_id: $t, id: r.p})"
            " WITH r, CASE WHEN p IS NULL THEN [] ELSE COLLECT {"
            " MATCH (p)-[s:SIMILAR_TO]->(q:Product) RETURN [s.score, q.id]"
            " ORDER BY s.score DESC, q.id } END AS top"
            " WITH r, CASE WHEN size(top) < $k THEN null ELSE top[$k - 1] END AS kth"
            " WHERE kth IS NULL OR any(c IN r.to WHERE c.score > kth[0]"
            " OR (c.score = kth[0] AND c.x < kth[1])) RETURN r.p AS id",
            rows=[{"p": p, "to": to} for p, to in sorted(grouped.items())], k=SIMILAR_K,
        )  # fmt: skip
        return {UUID(r["id"]) for r in records}

    async def similar_lists(self, product_ids: Collection[UUID]) -> dict[UUID, list[SimilarEdge]]:
        records = await self._run(
            "MATCH (a:Product) WHERE a.tenant_id = $t AND a.id IN $ids"
            " MATCH (a)-[s:SIMILAR_TO]->(b:Product)"
            " RETURN a.id AS a, b.id AS b, s.score AS score, s.reason AS reason",
            ids=[str(i) for i in product_ids],
        )
        found: dict[UUID, list[SimilarEdge]] = {p: [] for p in product_ids}
        for r in records:
            a = UUID(r["a"])
            found[a].append((a, UUID(r["b"]), Similarity(float(r["score"]), r["reason"])))
        return found

    async def replace_similar(
        self, product_ids: Collection[UUID], edges: Sequence[SimilarEdge]
    ) -> None:
        if product_ids:
            await self._send(
                "MATCH (p:Product) WHERE p.tenant_id = $t AND p.id IN $ids"
                " MATCH (p)-[s:SIMILAR_TO]->() DELETE s",
                ids=[str(i) for i in product_ids],
            )
        sources = {str(i) for i in product_ids} | {str(a) for a, _, _ in edges}
        if edges:
            await self._create_similar(edges)
        # Each source's list (`_LISTS`) from its relationships now, in the same transaction; in
        # the bulk build a source's edges may span two chunks: the second rewrite sees them all.
        await self._send(
            "UNWIND $ids AS id MATCH (a:Product {tenant_id: $t, id: id}) "
            + _ranked(_SIMILAR.rel, _SIMILAR.weight, _SIMILAR.ids, ""),
            ids=sorted(sources),
        )  # fmt: skip

    async def _create_similar(self, edges: Sequence[SimilarEdge]) -> None:
        # One row per source product (its node is found once); the old ones were deleted by
        # `replace_similar` (or the graph was just emptied), so the relationships are created.
        grouped: dict[str, list[dict[str, Any]]] = {}
        for a, b, s in sorted(edges, key=lambda e: (e[0], e[1])):
            grouped.setdefault(str(a), []).append(
                {"b": str(b), "score": s.score, "reason": s.reason}
            )
        await self._send(
            "UNWIND $rows AS r MATCH (a:Product {tenant_id: $t, id: r.a})"
            " UNWIND r.to AS x MATCH (b:Product {tenant_id: $t, id: x.b})"
            " CREATE (a)-[:SIMILAR_TO {score: x.score, reason: x.reason}]->(b)",
            rows=[{"a": a, "to": to} for a, to in grouped.items()],
        )

    async def orders(self, ids: Collection[UUID]) -> dict[UUID, OrderFact]:
        records = await self._run(_ORDERS_READ, ids=[str(i) for i in ids])
        return _order_facts(records[0]["orders"])

    async def put_orders(self, facts: Sequence[OrderFact]) -> None:
        if self._fresh:
            await self._send(
                "UNWIND $rows AS r CREATE (o:Order {tenant_id: $t, id: r.id, user_id: r.user_id,"
                " placed_at: r.placed_at, counted: r.counted, products: r.products,"
                " payment_method: r.method})"
                " MERGE (u:User {tenant_id: $t, id: r.user_id}) CREATE (u)-[:PLACED]->(o)"
                " MERGE (m:PaymentMethod {tenant_id: $t, id: r.method}) CREATE (o)-[:PAID_WITH]->(m)"
                " WITH o, r UNWIND r.products AS pid"
                " MERGE (p:Product {tenant_id: $t, id: pid}) " + _NEW_PRODUCT +
                " CREATE (o)-[:CONTAINS]->(p)",
                rows=_order_rows(facts),
            )  # fmt: skip
            return
        await self._send(
            "UNWIND $rows AS r MERGE (o:Order {tenant_id: $t, id: r.id})"
            " SET o.user_id = r.user_id, o.placed_at = r.placed_at, o.counted = r.counted,"
            " o.products = r.products, o.payment_method = r.method"
            " MERGE (u:User {tenant_id: $t, id: r.user_id}) MERGE (u)-[:PLACED]->(o)"
            " MERGE (m:PaymentMethod {tenant_id: $t, id: r.method}) MERGE (o)-[:PAID_WITH]->(m)"
            " WITH o, r UNWIND r.products AS pid"
            " MERGE (p:Product {tenant_id: $t, id: pid}) " + _NEW_PRODUCT +
            " MERGE (o)-[:CONTAINS]->(p)",
            rows=_order_rows(facts),
        )  # fmt: skip

    async def purchased(self, user_ids: Collection[UUID]) -> Bought:
        records = await self._run(_PURCHASED_READ, users=[str(u) for u in user_ids])
        return _bought(records[0]["purchased"])

    async def orders_and_purchased(
        self, ids: Collection[UUID], user_ids: Collection[UUID]
    ) -> tuple[dict[UUID, OrderFact], Bought]:
        # One statement, one round trip (each part one row: its aggregation yields a row even
        # over nothing), before the batch's first write: 25-40 ms less per batch here.
        records = await self._run(
            "CALL () { " + _ORDERS_READ + " } CALL () { " + _PURCHASED_READ + " }"
            " RETURN orders, purchased",
            ids=[str(i) for i in ids], users=[str(u) for u in user_ids],
        )  # fmt: skip
        return _order_facts(records[0]["orders"]), _bought(records[0]["purchased"])

    async def bought(
        self, user_ids: Collection[UUID]
    ) -> dict[UUID, dict[UUID, tuple[int, datetime]]]:
        records = await self._run(
            "MATCH (o:Order) WHERE o.tenant_id = $t AND o.user_id IN $ids AND o.counted"
            " UNWIND o.products AS pid"
            " WITH o.user_id AS user_id, pid, count(*) AS count, max(o.placed_at) AS last"
            " RETURN user_id, pid, count, last.epochSeconds AS seconds, last.nanosecond AS nanos",
            ids=[str(u) for u in user_ids],
        )
        found: dict[UUID, dict[UUID, tuple[int, datetime]]] = {}
        for r in records:
            found.setdefault(UUID(r["user_id"]), {})[UUID(r["pid"])] = (
                r["count"], _instant(r["seconds"], r["nanos"]))  # fmt: skip
        return found

    async def put_purchased(
        self, links: Mapping[tuple[UUID, UUID], tuple[int, datetime | None]]
    ) -> None:
        if not links:
            return
        rows = [{"user_id": str(u), "product_id": str(p), "count": c, "last": last}
                for (u, p), (c, last) in links.items()]  # fmt: skip
        # The customers and products exist: their orders were put first.
        if self._fresh:
            await self._send(
                "UNWIND $rows AS r MATCH (u:User {tenant_id: $t, id: r.user_id})"
                " MATCH (p:Product {tenant_id: $t, id: r.product_id})"
                " CREATE (u)-[:PURCHASED {count: r.count, last_at: r.last}]->(p)",
                rows=rows,
            )
            return
        await self._send(
            "UNWIND $rows AS r MATCH (u:User {tenant_id: $t, id: r.user_id})"
            " MATCH (p:Product {tenant_id: $t, id: r.product_id})"
            " MERGE (u)-[x:PURCHASED]->(p) SET x.count = r.count, x.last_at = r.last"
            " WITH x WHERE x.count = 0 DELETE x",
            rows=rows,
        )

    async def add_pairs(self, kind: RecommendationKind, deltas: PairDeltas) -> None:
        if not deltas:
            return
        rel = _RELATIONSHIP[kind]
        # One row per source product (its node is found once), its partners and increments as
        # two lists, in the order given (`PairDeltas`: the uuids' order, their order as text
        # too), so concurrent writers take the relationships in one order.
        grouped: dict[str, tuple[list[str], list[int]]] = {}
        for a, b, d in zip(map(str, deltas.products), map(str, deltas.others), deltas.deltas,
                           strict=True):  # fmt: skip
            partners, increments = grouped.setdefault(a, ([], []))
            partners.append(b)
            increments.append(d)
        rows = [{"a": a, "b": b, "d": d} for a, (b, d) in grouped.items()]
        if self._fresh:
            await self._send(
                "UNWIND $rows AS r MATCH (a:Product {tenant_id: $t, id: r.a})"
                " UNWIND range(0, size(r.b) - 1) AS i MATCH (b:Product {tenant_id: $t, id: r.b[i]})"
                f" CREATE (a)-[:{rel} {{weight: r.d[i]}}]->(b)",
                rows=rows,
            )
        else:
            await self._send(
                "UNWIND $rows AS r MATCH (a:Product {tenant_id: $t, id: r.a})"
                " UNWIND range(0, size(r.b) - 1) AS i MATCH (b:Product {tenant_id: $t, id: r.b[i]})"
                f" MERGE (a)-[x:{rel}]->(b) ON CREATE SET x.weight = 0"
                " SET x.weight = x.weight + r.d[i]"
                " WITH x WHERE x.weight <= 0 DELETE x",
                rows=rows,
            )
        # In the bulk build a source's relationships may span two chunks (they come grouped by
        # source): the second chunk's rewrite sees them all.
        await self._rank(kind, rows)

    async def _rank(self, kind: RecommendationKind, rows: list[dict[str, Any]]) -> None:
        """Rewrite the for-sale lists (`_LISTS`) of the products whose partners `b` changed,
        where the change can reach the list: no list yet, a list that holds every partner for
        sale (not full), a changed partner in it, or one for sale that now ranks above its last
        entry. Otherwise the list is what it was (the partners in it kept their weights, the
        changed ones are still below it or not for sale) and a hot product's thousands of
        relationships are not read again."""
        lst = _TOP[kind]
        await self._send(
            "UNWIND $rows AS r MATCH (a:Product {tenant_id: $t, id: r.a})"
            f" WITH a, r, a.{lst.ids} AS top, a.{lst.weights} AS ws"
            " WHERE top IS NULL OR size(top) < $k OR any(b IN r.b WHERE b IN top)"
            " OR EXISTS { UNWIND r.b AS bid MATCH (q:Product {tenant_id: $t, id: bid})"
            f" WHERE q.for_sale MATCH (a)-[x:{lst.rel}]->(q)"
            " WHERE x.weight > ws[-1] OR (x.weight = ws[-1] AND q.id < top[-1]) }"
            " WITH a " + _ranked(lst.rel, lst.weight, lst.ids, "LIMIT $k"),
            rows=rows, k=self._top,
        )  # fmt: skip

    async def add_trend(self, deltas: dict[UUID, tuple[float, int]]) -> None:
        await self._send(
            "UNWIND $rows AS r MERGE (p:Product {tenant_id: $t, id: r.id}) " + _NEW_PRODUCT +
            " SET p.trend = p.trend + r.trend, p.orders = p.orders + r.orders",
            rows=[{"id": str(p), "trend": t, "orders": n} for p, (t, n) in sorted(deltas.items())],
        )  # fmt: skip

    async def replace_reviews(
        self, product_ids: Collection[UUID], facts: Sequence[ReviewFact]
    ) -> None:
        await self._send(
            "MATCH (p:Product) WHERE p.tenant_id = $t AND p.id IN $ids"
            " MATCH ()-[r:REVIEWED]->(p) DELETE r",
            ids=[str(i) for i in product_ids],
        )
        await self._send(
            "UNWIND $rows AS r MERGE (u:User {tenant_id: $t, id: r.user_id})"
            " MERGE (p:Product {tenant_id: $t, id: r.product_id}) " + _NEW_PRODUCT +
            " MERGE (u)-[x:REVIEWED]->(p) SET x.rating = r.rating, x.at = r.at",
            rows=[{"user_id": str(f.user_id), "product_id": str(f.product_id),
                   "rating": f.rating, "at": f.at} for f in facts],
        )  # fmt: skip

    async def unapplied(self, batch_ids: Collection[int]) -> set[int]:
        records = await self._run(
            "MATCH (b:AppliedBatch) WHERE b.tenant_id = $t AND b.id IN $ids RETURN b.id AS id",
            ids=list(batch_ids),
        )
        return set(batch_ids) - {r["id"] for r in records}

    async def add_interactions(
        self, batch_ids: Collection[int], rows: Sequence[Interaction]
    ) -> None:
        await self._send(
            "UNWIND $ids AS id CREATE (:AppliedBatch {tenant_id: $t, id: id, applied_at: datetime()})",
            ids=sorted(batch_ids),
        )
        counts = tally(rows)
        for kind, rel in (("viewed", "VIEWED"), ("added_to_cart", "ADDED_TO_CART")):
            await self._send(
                "UNWIND $rows AS r MERGE (u:User {tenant_id: $t, id: r.user_id})"
                " MERGE (p:Product {tenant_id: $t, id: r.product_id}) " + _NEW_PRODUCT +
                f" MERGE (u)-[x:{rel}]->(p) ON CREATE SET x.count = 0"
                " SET x.count = x.count + r.count,"
                " x.last_at = CASE WHEN x.last_at IS NULL OR r.last > x.last_at"
                " THEN r.last ELSE x.last_at END",
                rows=[{"user_id": str(u), "product_id": str(p), "count": n, "last": at}
                      for (k, u, p), (n, at) in counts.items() if k == kind],
            )  # fmt: skip


class Neo4jGraphStore:
    name = "neo4j"

    def __init__(
        self, url: str, user: str, password: str, *, database: str = "neo4j",
        top: int = TOP_PARTNERS,
    ) -> None:  # fmt: skip
        auth = (user, password) if password else None
        self._top = top  # the length of the top-partner lists (tests make it small)
        # Naming the database spares every session a round trip to resolve the home database.
        self._database = database
        # Notifications off: "unknown label" hints on an empty graph are not worth a log line.
        self._driver: AsyncDriver = AsyncGraphDatabase.driver(
            url, auth=auth, notifications_min_severity="OFF"
        )
        self._ready = False

    @property
    def top(self) -> int:
        """The length of the bought-together and also-bought lists."""
        return self._top

    async def close(self) -> None:
        await self._driver.close()

    async def setup(self) -> None:
        async with self._driver.session(database=self._database) as session:
            for statement in _SCHEMA:
                await session.run(statement)
        self._ready = True

    @asynccontextmanager
    async def writer(
        self, tenant_id: UUID, *, fresh: bool = False
    ) -> AsyncIterator[Neo4jGraphWriter]:
        if not self._ready:  # constraints before the first write (IF NOT EXISTS: cheap)
            await self.setup()
        async with self._driver.session(database=self._database) as session:
            tx = await session.begin_transaction()
            writer = Neo4jGraphWriter(tx, tenant_id, fresh=fresh, top=self._top)
            try:
                yield writer
                await writer.settle()
                await tx.commit()
            finally:
                await writer.abandon()
                if not tx.closed():
                    await tx.rollback()

    async def _read(self, query: LiteralString, **params: Any) -> list[Any]:
        """One read statement, auto-committed: no managed retries, so an unreachable server is
        an error at once (a page or a command does not wait 30 s of retries)."""
        try:
            async with self._driver.session(
                database=self._database, default_access_mode=READ_ACCESS
            ) as session:
                result = await session.run(query, **params)
                return [record async for record in result]
        except (DriverError, OSError) as exc:
            # An unreachable graph is the store's state, not a bug: a 503 at the API.
            raise StoreUnavailableError("neo4j", str(exc).splitlines()[0]) from exc

    async def related(
        self, tenant_id: UUID, product_id: UUID, kind: RecommendationKind, limit: int
    ) -> list[Related]:
        if kind in _TOP:
            lst = _TOP[kind]
            # The list holds partners for sale only: its first `limit` entries are the answer
            # (their names the only lookups), if it has them or holds every partner for sale.
            records = await self._read(
                f"MATCH (a:Product {{tenant_id: $t, id: $id}})"
                f" WITH coalesce(a.{lst.ids}, []) AS ids, a.{lst.weights} AS ws,"
                f" a.{lst.ids} IS NOT NULL AS ranked"
                " RETURN ranked, size(ids) AS listed, COLLECT {"
                " UNWIND range(0, size(ids[0..$limit]) - 1) AS i"
                " MATCH (p:Product {tenant_id: $t, id: ids[i]})"
                " RETURN [p.id, p.name, ws[i]] ORDER BY i } AS found",
                t=str(tenant_id), id=str(product_id), limit=limit,
            )  # fmt: skip
            if not records:
                return []
            found, listed = records[0]["found"], records[0]["listed"]
            # Fewer than asked from a full list (shorter than `limit`: tests' lists of 2): more
            # partners for sale are beyond it. No list: a graph built before the for-sale lists
            # (`sync rebuild graph` adds them).
            if records[0]["ranked"] and (len(found) == limit or listed < self._top):
                return [Related(UUID(i), name, float(w)) for i, name, w in found]
        rel = _RELATIONSHIP[kind]
        weight: LiteralString = "x.score" if kind is RecommendationKind.SIMILAR else "x.weight"
        records = await self._read(
            f"MATCH (:Product {{tenant_id: $t, id: $id}})-[x:{rel}]->(p:Product) WHERE p.for_sale"
            f" RETURN p.id AS id, p.name AS name, {weight} AS weight, x.reason AS reason"
            " ORDER BY weight DESC, id LIMIT $limit",
            t=str(tenant_id), id=str(product_id), limit=limit,
        )  # fmt: skip
        return [Related(UUID(r["id"]), r["name"], float(r["weight"]), r["reason"]) for r in records]

    async def for_sale_lists(
        self, tenant_id: UUID
    ) -> dict[str, dict[str, list[tuple[str, float]]]]:
        """Every product's for-sale lists (`_LISTS`) that exist, by relationship type and
        product id, as (partner, weight) in list order: what the reads take instead of the
        relationships, for checking them against the relationships (the contract suite)."""
        found: dict[str, dict[str, list[tuple[str, float]]]] = {}
        for lst in _LISTS.values():
            records = await self._read(
                f"MATCH (a:Product {{tenant_id: $t}}) WHERE a.{lst.ids} IS NOT NULL"
                f" RETURN a.id AS id, a.{lst.ids} AS ids, a.{lst.weights} AS ws",
                t=str(tenant_id),
            )  # fmt: skip
            found[lst.rel] = {
                r["id"]: [(b, float(w)) for b, w in zip(r["ids"], r["ws"], strict=True)]
                for r in records
            }
        return found

    async def category_of(self, tenant_id: UUID, product_id: UUID) -> tuple[UUID, str] | None:
        records = await self._read(
            "MATCH (:Product {tenant_id: $t, id: $id})-[:BELONGS_TO]->(c:Category)"
            " RETURN c.id AS id, c.name AS name",
            t=str(tenant_id), id=str(product_id),
        )  # fmt: skip
        return (UUID(records[0]["id"]), records[0]["name"]) if records else None

    async def trending(self, tenant_id: UUID, category_id: UUID, limit: int) -> list[Related]:
        records = await self._read(
            "MATCH (:Category {tenant_id: $t, id: $id})<-[:CHILD_OF*0..]-(:Category)"
            "<-[:BELONGS_TO]-(p:Product) WHERE p.for_sale"
            " RETURN DISTINCT p.id AS id, p.name AS name, p.trend AS trend"
            " ORDER BY trend DESC, id LIMIT $limit",
            t=str(tenant_id), id=str(category_id), limit=limit,
        )  # fmt: skip
        return [Related(UUID(r["id"]), r["name"], float(r["trend"])) for r in records]

    async def signals(self, tenant_id: UUID, user_id: UUID) -> list[Signal]:
        records = await self._read(
            "MATCH (:User {tenant_id: $t, id: $id})-[r:PURCHASED|ADDED_TO_CART|VIEWED|REVIEWED]->"
            "(p:Product) RETURN p.id AS id, p.name AS name, type(r) AS type, r.count AS count,"
            " coalesce(r.last_at, r.at) AS at, r.rating AS rating",
            t=str(tenant_id), id=str(user_id),
        )  # fmt: skip
        found: dict[str, dict[str, Any]] = {}
        for r in records:
            s = found.setdefault(r["id"], {"name": r["name"] or "", "purchased": 0,
                                           "last_purchased": None, "carted": 0,
                                           "last_carted": None, "viewed": 0,
                                           "last_viewed": None, "rating": None})  # fmt: skip
            at = _native(r["at"])
            if r["type"] == "PURCHASED":
                s["purchased"], s["last_purchased"] = r["count"], at
            elif r["type"] == "ADDED_TO_CART":
                s["carted"], s["last_carted"] = r["count"], at
            elif r["type"] == "VIEWED":
                s["viewed"], s["last_viewed"] = r["count"], at
            else:
                s["rating"] = r["rating"]
        return [Signal(UUID(pid), **values) for pid, values in sorted(found.items())]

    async def neighbours(
        self, tenant_id: UUID, seed_ids: Collection[UUID], per_seed: int
    ) -> list[Neighbour]:
        found: list[Neighbour] = []
        for rel, weight in (("FREQUENTLY_BOUGHT_WITH", "weight"), ("SIMILAR_TO", "score")):
            records = await self._read(
                "UNWIND $seeds AS sid MATCH (s:Product {tenant_id: $t, id: sid})"
                " CALL (s) { MATCH (s)-[x:" + rel + "]->(p:Product)"
                " WHERE p.for_sale RETURN p, x." + weight + " AS weight"
                " ORDER BY weight DESC, p.id LIMIT $n }"
                " RETURN s.id AS seed, p.id AS id, p.name AS name, weight",
                t=str(tenant_id), seeds=[str(s) for s in seed_ids], n=per_seed,
            )  # fmt: skip
            for r in records:
                together = int(r["weight"]) if rel == "FREQUENTLY_BOUGHT_WITH" else 0
                similar = float(r["weight"]) if rel == "SIMILAR_TO" else 0.0
                found.append(
                    Neighbour(UUID(r["seed"]), UUID(r["id"]), r["name"], together, similar)
                )
        return found

    async def personal(
        self, tenant_id: UUID, user_id: UUID, now: datetime, limit: int, seeds: int,
        per_seed: int,
    ) -> tuple[list[Signal], list[Neighbour]]:  # fmt: skip
        records = await self._read(
            _PERSONAL, t=str(tenant_id), id=str(user_id), now=now, limit=limit, seeds=seeds,
            n=per_seed, top=self._top, half=SIGNAL_HALF_LIFE_DAYS * 86400.0,
            margin=PERSONAL_MARGIN, relative=PERSONAL_MARGIN_RELATIVE,
            weights={"PURCHASED": SIGNAL_WEIGHTS["purchased"],
                     "ADDED_TO_CART": SIGNAL_WEIGHTS["added_to_cart"],
                     "VIEWED": SIGNAL_WEIGHTS["viewed"]},
        )  # fmt: skip
        if not records:
            return [], []
        signals = [_seed_signal(*seed) for seed in records[0]["seeds"]]
        neighbours = [
            Neighbour(signals[k].product_id, product, name, int(bt), float(sim))
            for pid, name, parts in records[0]["ranked"]
            for product in (UUID(pid),)
            for k, bt, sim in parts
        ]  # fmt: skip
        return sorted(signals, key=lambda s: str(s.product_id)), neighbours

    async def snapshot(self, tenant_id: UUID) -> GraphSnapshot:
        t = str(tenant_id)
        snap: GraphSnapshot = {}
        for r in await self._read(
            "MATCH (c:Category {tenant_id: $t}) RETURN c.id AS id, c.name AS name,"
            " c.parent_id AS parent",
            t=t,
        ):
            snap.setdefault("Category", {})[r["id"]] = (r["name"], r["parent"])
        for r in await self._read(
            "MATCH (p:Product {tenant_id: $t}) RETURN p.id AS id, p.name AS name,"
            " p.for_sale AS for_sale, p.category_id AS category, p.brand_id AS brand,"
            " p.features AS features, p.trend AS trend, p.orders AS orders",
            t=t,
        ):
            snap.setdefault("Product", {})[r["id"]] = (
                r["name"], r["for_sale"], r["category"], r["brand"], tuple(r["features"]),
                float(r["trend"]), r["orders"],
            )  # fmt: skip
        for r in await self._read(
            "MATCH (o:Order {tenant_id: $t}) RETURN o.id AS id, o.user_id AS user,"
            " o.placed_at AS at, o.counted AS counted, o.products AS products,"
            " o.payment_method AS method",
            t=t,
        ):
            snap.setdefault("Order", {})[r["id"]] = (
                r["user"], _native(r["at"]), r["counted"], tuple(r["products"]), r["method"])  # fmt: skip
        relationships: dict[str, LiteralString] = {
            "PURCHASED": "r.count, r.last_at", "ADDED_TO_CART": "r.count, r.last_at",
            "VIEWED": "r.count, r.last_at", "REVIEWED": "r.rating, r.at",
            "FREQUENTLY_BOUGHT_WITH": "r.weight", "ALSO_BOUGHT": "r.weight",
            "SIMILAR_TO": "r.score, r.reason",
        }  # fmt: skip
        for rel, props in relationships.items():
            records = await self._read(
                "MATCH (a {tenant_id: $t})-[r:" + rel + "]->(b)"
                " RETURN a.id + '>' + b.id AS key, [" + props + "] AS props",
                t=t,
            )  # fmt: skip
            for r in records:
                snap.setdefault(rel, {})[r["key"]] = tuple(_native(v) for v in r["props"])
        return snap

    async def snapshot_page(
        self, tenant_id: UUID, label: str, after: str | None, size: int
    ) -> GraphPage:
        """`size` nodes in id order; for a relationship type, every relationship of the next
        source nodes (User or Product) in id order, as many as hold about `size` of them,
        sorted here by key; the position is the last (source) node read."""
        if label in _LIST_PAGES:
            return await self._list_page(tenant_id, label, after, size)
        t, start = str(tenant_id), after.split(">")[0] if after else ""
        if label in _NODE_PAGES:
            records = await self._read(_NODE_PAGES[label], t=t, after=start, size=size)
            items = [(r["id"], _NODE_VALUES[label](r)) for r in records]
            return items, (items[-1][0] if len(items) == size else None)
        sources, relationships = _RELATIONSHIP_PAGES[label]
        found = await self._read(sources, t=t, after=start, size=size)
        # As many sources as hold about `size` relationships (at least one, whatever its
        # degree): a page of hot products is not thousands of relationships each.
        ids: list[str] = []
        total = 0
        for r in found:
            if ids and total + r["degree"] > size:
                break
            ids.append(r["id"])
            total += r["degree"]
        records = await self._read(relationships, t=t, ids=ids) if total else []
        items = sorted(((r["key"], tuple(_native(v) for v in r["props"])) for r in records),
                       key=lambda item: item[0])  # fmt: skip
        more = len(ids) < len(found) or len(found) == size
        return items, (ids[-1] if more else None)

    async def clear(self, tenant_id: UUID) -> None:
        async with self._driver.session(database=self._database) as session:
            for label in LABELS:
                await session.run(
                    "MATCH (n:" + label + " {tenant_id: $t})"
                    " CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 1000 ROWS",
                    t=str(tenant_id),
                )  # fmt: skip

    # ---- the for-sale lists as `sync verify graph` reads them (reads only; the lists are
    # written by Neo4jGraphWriter: `_rank`, `_relist`, `replace_similar`)

    @property
    def lists(self) -> Mapping[str, int | None]:
        """The for-sale lists (`_LISTS`) and their lengths: `top` bought-together and
        also-bought partners, every SIMILAR_TO (at most SIMILAR_K)."""
        return {lst.rel: None if lst is _SIMILAR else self._top for lst in _LISTS.values()}

    async def _list_page(
        self, tenant_id: UUID, label: str, after: str | None, size: int
    ) -> GraphPage:
        """The next products (id order) whose list is not empty, with their lists as
        `for_sale_list` shapes them: about `size` entries a page, at least one product."""
        relationship, query = _LIST_PAGES[label]
        length = self.lists[relationship]
        products = max(1, size // (length or SIMILAR_K))
        records = await self._read(query, t=str(tenant_id), after=after or "", size=products)
        items = [(r["id"], (tuple(r["ids"]), *(float(w) for w in r["ws"]))) for r in records]
        return items, (items[-1][0] if len(items) == products else None)


# `snapshot_page`'s list labels (`ports.list_label`): the products, in id order (the range
# index of the (tenant_id, id) constraint), whose list is not empty (`size(null)` is null: a
# product without the property is not one), with the list's ids and weights.
_LIST_PAGES: dict[str, tuple[str, LiteralString]] = {
    list_label(lst.rel): (
        lst.rel,
        "MATCH (a:Product {tenant_id: $t}) WHERE a.id > $after AND size(a." + lst.ids + ") > 0"
        " RETURN a.id AS id, a." + lst.ids + " AS ids, a." + lst.weights + " AS ws"
        " ORDER BY a.id LIMIT $size",
    )
    for lst in _LISTS.values()
}
