"""The GraphStore port on PostgreSQL (the embedded profile): the graph's nodes and maintained
relationships as tables (migration 0009) under row-level security, so every read is a keyed
lookup of one product's or one customer's rows."""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any
from uuid import UUID

from polyshop.adapters.postgres._database import Database
from polyshop.adapters.postgres._shared_sql import WALK_ONLY, fetch_all
from polyshop.adapters.postgres._uow import UnitOfWork
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
from polyshop.ports import GraphPage, GraphSnapshot

_PAIR_COLUMN = {
    RecommendationKind.BOUGHT_TOGETHER: "bought_together",
    RecommendationKind.ALSO_BOUGHT: "also_bought",
}


def _fade(column: str, weight: str) -> str:
    """`seed_weights`'s faded signal in SQL (0 when never: `greatest` ignores a NULL, so the
    NULL must be caught before it; it once gave a never-seen kind its full weight)."""
    return (f"CASE WHEN x.{column} IS NULL THEN 0 ELSE %({weight})s * power(0.5::float8,"
            f" greatest(0, extract(epoch FROM %(now)s - x.{column}))::float8 / %(half)s) END")  # fmt: skip


def _walk(kind: str, column: str) -> str:
    """One seed's first `n` partners for sale by `column`, walking its entries in rank order
    (the partial indexes of migrations 0014 and 0015) and stopping there. `OFFSET 0` keeps the
    for_sale lookup a subquery run per entry (by primary key): flattened into a join, the
    planner hashed all of graph_products against all of the seed's entries, 1-2 ms a seed."""
    return (f"(SELECT '{kind}' AS kind, x.other_id AS id, p.name, x.{column}::float8 AS weight"
            " FROM graph_pairs x CROSS JOIN LATERAL (SELECT q.name FROM graph_products q"
            " WHERE q.tenant_id = x.tenant_id AND q.id = x.other_id AND q.for_sale OFFSET 0) p"
            f" WHERE x.product_id = s.product_id AND x.{column} > 0"
            f" ORDER BY x.{column} DESC, x.other_id LIMIT %(n)s)")  # fmt: skip


def _related_sql(column: str) -> str:
    """A product's first `n` partners by `column` in rank order, each with its name and
    for_sale (NULL when the graph has no such product), the filter left to the caller.

    The inner `ORDER BY … LIMIT` reads one product's entries and joins nothing, so the planner
    chooses only between walking the partial index in order and stopping after `n` entries, and
    reading entries some other way to sort them (the latter ruled out by `WALK_ONLY`). `OFFSET
    0` keeps each partner's lookup a subquery run per entry (a primary-key probe) after that
    Limit, never flattened into a join the planner could reorder. The single-join
    statement this replaces left the planner free to start from the catalog: on a bench
    database of 109 tenants after a bulk load it read every product for sale, hashed them
    against the product's entries and sorted (docs/recommendations.md)."""
    reason = ", x.similarity_reason" if column == "similarity" else ", NULL::text"
    return (f"SELECT x.other_id, p.name, x.{column}, x.reason, p.for_sale FROM"
            f" (SELECT x.tenant_id, x.other_id, x.{column}{reason} AS reason FROM graph_pairs x"
            f" WHERE x.product_id = %s AND x.{column} > 0"
            f" ORDER BY x.{column} DESC, x.other_id LIMIT %s) x"
            " LEFT JOIN LATERAL (SELECT q.name, q.for_sale FROM graph_products q"
            " WHERE q.tenant_id = x.tenant_id AND q.id = x.other_id OFFSET 0) p ON true"
            f" ORDER BY x.{column} DESC, x.other_id")  # fmt: skip


# The walk's only alternative is reading the product's entries (or, with a tenant's statistics
# missing, all of the tenant's entries through graph_pairs_other_idx) and sorting them; with an
# estimate of about one row both cost the same to the planner, and a test's stale statistics
# got the second (300 entries read and sorted for a product of 300): hence `WALK_ONLY`.


def _first_fetch(limit: int) -> int:
    """How many entries the first walk reads for `limit` partners for sale: the limit, and as
    many again plus 30 for partners not for sale (a catalog's tenth, or a hot product's
    heaviest partners taken off sale) before a second, deeper walk. 50 entries for a page of
    10: a few hundred microseconds of index and primary-key reads, sent as 50 short rows."""
    return 2 * limit + 30


# For you in one statement (`GraphStore.personal`): the customer's rows, their likeliest seeds
# (`seed_weights`'s formula), each seed's strongest neighbours for sale, the candidates scored
# and ranked here (never one the customer bought), and only the first `limit` (and those within
# the margin behind them) sent, one row per seed and candidate, with the seeds' signals.
# Keyed reads of maintained rows only; no join is hashed (the plan test checks it).
_PERSONAL = (
    "WITH mine AS (SELECT x.product_id, coalesce(p.name, '') AS name, x.purchased,"
    " x.last_purchased, x.carted, x.last_carted, x.viewed, x.last_viewed, x.rating, ("
    + _fade("last_purchased", "wp")
    + " + "
    + _fade("last_carted", "wc")
    + " + "
    + _fade("last_viewed", "wv")
    + ") * CASE WHEN x.rating IS NULL THEN 1"
    " WHEN x.rating <= 2 THEN 0 ELSE 1 + (x.rating - 3) * 0.25 END AS weight"
    " FROM graph_user_products x LEFT JOIN graph_products p"
    " ON p.tenant_id = x.tenant_id AND p.id = x.product_id WHERE x.user_id = %(user)s),"
    " seeds AS (SELECT * FROM mine WHERE weight > 0"
    " ORDER BY round(weight::numeric, 9) DESC, product_id LIMIT %(seeds)s),"
    " links AS (SELECT s.product_id AS seed, s.weight AS w, n.id, n.name,"
    " coalesce(sum(n.weight) FILTER (WHERE n.kind = 'together'), 0) AS bt,"
    " coalesce(sum(n.weight) FILTER (WHERE n.kind = 'similar'), 0) AS sim"
    " FROM seeds s CROSS JOIN LATERAL ("
    + _walk("together", "bought_together")
    + " UNION ALL "
    + _walk("similar", "similarity")
    + ") n WHERE n.id <> ALL (ARRAY(SELECT product_id FROM mine WHERE purchased > 0))"
    " GROUP BY s.product_id, s.weight, n.id, n.name),"
    " scored AS (SELECT *, sum(w * (bt + sim)) OVER (PARTITION BY id) AS score"
    " FROM links),"
    " cut AS (SELECT c.score - (%(margin)s + %(relative)s * abs(c.score)) AS score FROM"
    " (SELECT DISTINCT id, score FROM scored ORDER BY score DESC, id OFFSET %(limit)s - 1"
    " LIMIT 1) c)"
    " SELECT 'signal', product_id, name, purchased, last_purchased, carted, last_carted, viewed,"
    " last_viewed, rating, NULL::uuid, NULL::float8, NULL::float8 FROM seeds"
    " UNION ALL SELECT 'link', seed, name, NULL, NULL, NULL, NULL, NULL, NULL, NULL, id,"
    " bt, sim FROM scored"
    " WHERE score >= coalesce((SELECT score FROM cut), '-Infinity'::float8)"
)


class PostgresGraphWriter:
    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow
        self._conn = uow.connection

    @property
    def _tenant(self) -> UUID:
        return self._uow.tenant_id

    async def put_categories(self, facts: Sequence[CategoryFact]) -> None:
        await self._conn.execute(
            "INSERT INTO graph_categories (tenant_id, id, name, parent_id)"
            " SELECT %s, r.id, r.name, r.parent_id"
            " FROM unnest(%b::uuid[], %b::text[], %b::uuid[]) AS r(id, name, parent_id)"
            " ON CONFLICT (tenant_id, id) DO UPDATE SET name = EXCLUDED.name,"
            " parent_id = EXCLUDED.parent_id",
            (self._tenant, [f.id for f in facts], [f.name for f in facts],
             [f.parent_id for f in facts]),
        )  # fmt: skip

    async def put_products(self, facts: Sequence[ProductFact]) -> None:
        async with self._conn.cursor() as cursor:
            await cursor.executemany(
                "INSERT INTO graph_products (tenant_id, id, name, for_sale, category_id, brand_id,"
                " features) VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (tenant_id, id)"
                " DO UPDATE SET name = EXCLUDED.name, for_sale = EXCLUDED.for_sale,"
                " category_id = EXCLUDED.category_id, brand_id = EXCLUDED.brand_id,"
                " features = EXCLUDED.features",
                [(self._tenant, f.id, f.name, f.for_sale, f.category_id, f.brand_id,
                  list(f.features)) for f in facts],
            )  # fmt: skip

    async def similar_sources(self, product_ids: Collection[UUID]) -> set[UUID]:
        cursor = await self._conn.execute(
            "SELECT DISTINCT product_id FROM graph_pairs WHERE other_id = ANY(%b::uuid[])"
            " AND similarity > 0",
            (list(product_ids),),
        )
        return {row[0] for row in await cursor.fetchall()}

    async def similar_admits(self, candidates: Sequence[SimilarEdge]) -> set[UUID]:
        """`enters_top` in SQL: each product's stored k-th (index graph_pairs_similar_idx),
        compared with the candidate's (score desc, id asc)."""
        if not candidates:
            return set()
        cursor = await self._conn.execute(
            "SELECT DISTINCT r.p FROM unnest(%b::uuid[], %b::uuid[], %b::float8[]) AS r(p, x, s)"
            " LEFT JOIN LATERAL (SELECT x.similarity, x.other_id FROM graph_pairs x"
            " WHERE x.product_id = r.p AND x.similarity > 0"
            " ORDER BY x.similarity DESC, x.other_id OFFSET %s LIMIT 1) kth ON true"
            " WHERE kth.other_id IS NULL OR r.s > kth.similarity"
            " OR (r.s = kth.similarity AND r.x < kth.other_id)",
            ([c[0] for c in candidates], [c[1] for c in candidates],
             [c[2].score for c in candidates], SIMILAR_K - 1),
        )  # fmt: skip
        return {row[0] for row in await cursor.fetchall()}

    async def similar_lists(self, product_ids: Collection[UUID]) -> dict[UUID, list[SimilarEdge]]:
        cursor = await self._conn.execute(
            "SELECT product_id, other_id, similarity, similarity_reason FROM graph_pairs"
            " WHERE product_id = ANY(%b::uuid[]) AND similarity > 0",
            (list(product_ids),),
        )
        found: dict[UUID, list[SimilarEdge]] = {p: [] for p in product_ids}
        for a, b, score, reason in await cursor.fetchall():
            found[a].append((a, b, Similarity(float(score), reason)))
        return found

    async def replace_similar(
        self, product_ids: Collection[UUID], edges: Sequence[SimilarEdge]
    ) -> None:
        ids = list(product_ids)
        if ids:
            await self._conn.execute(
                "UPDATE graph_pairs SET similarity = 0, similarity_reason = NULL"
                " WHERE product_id = ANY(%b::uuid[]) AND similarity <> 0",
                (ids,),
            )
        if edges:
            rows = sorted(edges, key=lambda e: (e[0], e[1]))  # one lock order
            await self._conn.execute(
                "INSERT INTO graph_pairs (tenant_id, product_id, other_id, similarity,"
                " similarity_reason) SELECT %s, r.a, r.b, r.score, r.reason"
                " FROM unnest(%b::uuid[], %b::uuid[], %b::float8[], %b::text[])"
                " AS r(a, b, score, reason)"
                " ON CONFLICT (tenant_id, product_id, other_id) DO UPDATE"
                " SET similarity = EXCLUDED.similarity,"
                " similarity_reason = EXCLUDED.similarity_reason",
                (self._tenant, [a for a, _, _ in rows], [b for _, b, _ in rows],
                 [e.score for _, _, e in rows], [e.reason for _, _, e in rows]),
            )  # fmt: skip
        if ids:
            await self._conn.execute(
                "DELETE FROM graph_pairs WHERE product_id = ANY(%b::uuid[])"
                " AND bought_together = 0 AND also_bought = 0 AND similarity = 0",
                (ids,),
            )

    async def orders(self, ids: Collection[UUID]) -> dict[UUID, OrderFact]:
        cursor = await self._conn.execute(
            "SELECT id, user_id, placed_at, counted, products, payment_method FROM graph_orders"
            " WHERE id = ANY(%b::uuid[])",
            (list(ids),),
        )
        return {
            r[0]: OrderFact(r[0], r[1], r[2], r[3], tuple(r[4]), r[5])
            for r in await cursor.fetchall()
        }

    async def put_orders(self, facts: Sequence[OrderFact]) -> None:
        # One statement for the batch; the ragged product lists travel as array literals.
        await self._conn.execute(
            "INSERT INTO graph_orders (tenant_id, id, user_id, placed_at, counted, products,"
            " payment_method) SELECT %s, r.id, r.user_id, r.placed_at, r.counted,"
            " r.products::uuid[], r.method FROM unnest(%b::uuid[], %b::uuid[],"
            " %b::timestamptz[], %b::bool[], %b::text[], %b::text[])"
            " AS r(id, user_id, placed_at, counted, products, method)"
            " ON CONFLICT (tenant_id, id) DO UPDATE SET user_id = EXCLUDED.user_id,"
            " placed_at = EXCLUDED.placed_at, counted = EXCLUDED.counted,"
            " products = EXCLUDED.products, payment_method = EXCLUDED.payment_method",
            (self._tenant, [f.id for f in facts], [f.user_id for f in facts],
             [f.placed_at for f in facts], [f.counted for f in facts],
             ["{" + ",".join(map(str, f.products)) + "}" for f in facts],
             [f.payment_method for f in facts]),
        )  # fmt: skip

    async def orders_and_purchased(
        self, ids: Collection[UUID], user_ids: Collection[UUID]
    ) -> tuple[dict[UUID, OrderFact], Bought]:
        # Two statements: a round trip to PostgreSQL on loopback costs little next to them.
        return await self.orders(ids), await self.purchased(user_ids)

    async def purchased(self, user_ids: Collection[UUID]) -> Bought:
        cursor = await self._conn.execute(
            "SELECT user_id, product_id, purchased, last_purchased FROM graph_user_products"
            " WHERE user_id = ANY(%b::uuid[]) AND purchased > 0",
            (list(user_ids),),
        )
        found: Bought = {}
        for user, product, count, last in await cursor.fetchall():
            found.setdefault(user, {})[product] = (count, last)
        return found

    async def bought(
        self, user_ids: Collection[UUID]
    ) -> dict[UUID, dict[UUID, tuple[int, datetime]]]:
        cursor = await self._conn.execute(
            "SELECT o.user_id, p.product_id, count(*), max(o.placed_at) FROM graph_orders o"
            " CROSS JOIN LATERAL unnest(o.products) AS p(product_id)"
            " WHERE o.user_id = ANY(%b::uuid[]) AND o.counted GROUP BY o.user_id, p.product_id",
            (list(user_ids),),
        )
        found: dict[UUID, dict[UUID, tuple[int, datetime]]] = {}
        for user, product, count, last in await cursor.fetchall():
            found.setdefault(user, {})[product] = (count, last)
        return found

    async def put_purchased(
        self, links: Mapping[tuple[UUID, UUID], tuple[int, datetime | None]]
    ) -> None:
        if not links:
            return
        await self._conn.execute(
            "INSERT INTO graph_user_products (tenant_id, user_id, product_id, purchased,"
            " last_purchased) SELECT %s, r.u, r.p, r.c, r.l"
            " FROM unnest(%b::uuid[], %b::uuid[], %b::int[], %b::timestamptz[]) AS r(u, p, c, l)"
            " ON CONFLICT (tenant_id, user_id, product_id) DO UPDATE"
            " SET purchased = EXCLUDED.purchased, last_purchased = EXCLUDED.last_purchased",
            (self._tenant, [u for u, _ in links], [p for _, p in links],
             [c for c, _ in links.values()], [last for _, last in links.values()]),
        )  # fmt: skip
        gone = [key for key, (count, _) in links.items() if count == 0]
        if gone:
            await self._drop_empty_links(gone)

    async def _drop_empty_links(self, keys: Sequence[tuple[UUID, UUID]]) -> None:
        await self._conn.execute(
            "DELETE FROM graph_user_products x USING unnest(%b::uuid[], %b::uuid[]) AS r(u, p)"
            " WHERE x.user_id = r.u AND x.product_id = r.p AND x.purchased = 0"
            " AND x.carted = 0 AND x.viewed = 0 AND x.rating IS NULL",
            ([u for u, _ in keys], [p for _, p in keys]),
        )

    async def add_pairs(self, kind: RecommendationKind, deltas: PairDeltas) -> None:
        if not deltas:
            return
        column = _PAIR_COLUMN[kind]
        # The columns as they come: in (product, other) order, one lock order for every writer.
        await self._conn.execute(
            f"INSERT INTO graph_pairs (tenant_id, product_id, other_id, {column})"
            " SELECT %s, r.a, r.b, r.d FROM unnest(%b::uuid[], %b::uuid[], %b::int[]) AS r(a, b, d)"
            " ON CONFLICT (tenant_id, product_id, other_id)"
            f" DO UPDATE SET {column} = graph_pairs.{column} + EXCLUDED.{column}",
            (self._tenant, deltas.products, deltas.others, deltas.deltas),
        )  # fmt: skip
        taken = [(a, b) for a, b, d in deltas.rows() if d < 0]  # only a take-back empties a pair
        if taken:
            await self._conn.execute(
                "DELETE FROM graph_pairs x USING unnest(%b::uuid[], %b::uuid[]) AS r(a, b)"
                " WHERE x.product_id = r.a AND x.other_id = r.b AND x.bought_together = 0"
                " AND x.also_bought = 0 AND x.similarity = 0",
                ([a for a, _ in taken], [b for _, b in taken]),
            )

    async def add_trend(self, deltas: dict[UUID, tuple[float, int]]) -> None:
        rows = sorted(deltas.items(), key=lambda kv: kv[0].int)  # uuid order, compared in C
        await self._conn.execute(
            "INSERT INTO graph_products (tenant_id, id, trend, orders)"
            " SELECT %s, r.id, r.trend, r.orders"
            " FROM unnest(%b::uuid[], %b::float8[], %b::int[]) AS r(id, trend, orders)"
            " ON CONFLICT (tenant_id, id) DO UPDATE SET trend = graph_products.trend"
            " + EXCLUDED.trend, orders = graph_products.orders + EXCLUDED.orders",
            (self._tenant, [p for p, _ in rows], [t for _, (t, _) in rows],
             [n for _, (_, n) in rows]),
        )  # fmt: skip

    async def replace_reviews(
        self, product_ids: Collection[UUID], facts: Sequence[ReviewFact]
    ) -> None:
        ids = list(product_ids)
        if ids:
            await self._conn.execute(
                "UPDATE graph_user_products SET rating = NULL, reviewed_at = NULL"
                " WHERE product_id = ANY(%b::uuid[]) AND rating IS NOT NULL",
                (ids,),
            )
        if facts:
            await self._conn.execute(
                "INSERT INTO graph_user_products (tenant_id, user_id, product_id, rating,"
                " reviewed_at) SELECT %s, r.u, r.p, r.rating, r.at"
                " FROM unnest(%b::uuid[], %b::uuid[], %b::int[], %b::timestamptz[])"
                " AS r(u, p, rating, at)"
                " ON CONFLICT (tenant_id, user_id, product_id) DO UPDATE"
                " SET rating = EXCLUDED.rating, reviewed_at = EXCLUDED.reviewed_at",
                (self._tenant, [f.user_id for f in facts], [f.product_id for f in facts],
                 [f.rating for f in facts], [f.at for f in facts]),
            )  # fmt: skip
        if ids:
            await self._conn.execute(
                "DELETE FROM graph_user_products WHERE product_id = ANY(%b::uuid[]) AND purchased = 0"
                " AND carted = 0 AND viewed = 0 AND rating IS NULL",
                (ids,),
            )

    async def unapplied(self, batch_ids: Collection[int]) -> set[int]:
        cursor = await self._conn.execute(
            "SELECT event_id FROM graph_applied_batches WHERE event_id = ANY(%b::bigint[])",
            (list(batch_ids),),
        )
        return set(batch_ids) - {row[0] for row in await cursor.fetchall()}

    async def add_interactions(
        self, batch_ids: Collection[int], rows: Sequence[Interaction]
    ) -> None:
        await self._conn.execute(
            "INSERT INTO graph_applied_batches (tenant_id, event_id)"
            " SELECT %s, unnest(%b::bigint[])",
            (self._tenant, sorted(batch_ids)),
        )
        counts = tally(rows)
        for kind, count, last in (("viewed", "viewed", "last_viewed"),
                                  ("added_to_cart", "carted", "last_carted")):  # fmt: skip
            mine = [(user, product, n, at)
                    for (k, user, product), (n, at) in counts.items() if k == kind]  # fmt: skip
            if not mine:
                continue
            await self._conn.execute(
                f"INSERT INTO graph_user_products (tenant_id, user_id, product_id, {count},"
                f" {last}) SELECT %s, r.u, r.p, r.n, r.at FROM unnest(%b::uuid[], %b::uuid[],"
                " %b::int[], %b::timestamptz[]) AS r(u, p, n, at)"
                " ON CONFLICT (tenant_id, user_id, product_id) DO UPDATE"
                f" SET {count} = graph_user_products.{count} + EXCLUDED.{count},"
                f" {last} = greatest(graph_user_products.{last}, EXCLUDED.{last})",
                (self._tenant, [m[0] for m in mine], [m[1] for m in mine],
                 [m[2] for m in mine], [m[3] for m in mine]),
            )  # fmt: skip


class PostgresGraphStore:
    name = "postgres"

    def __init__(self, database: Database) -> None:
        self._database = database

    async def setup(self) -> None:
        """The tables come with migration 0009."""

    async def close(self) -> None:
        """The pool belongs to the application."""

    @property
    def lists(self) -> Mapping[str, int | None]:
        """None kept: a read walks the product's rank-ordered index of its relationships and
        filters for sale as it goes (`related`, `_walk`), so what `sync verify graph` checks
        of the relationships and products is all there is to check."""
        return {}

    @asynccontextmanager
    async def writer(
        self, tenant_id: UUID, *, fresh: bool = False
    ) -> AsyncIterator[PostgresGraphWriter]:
        # `fresh` changes nothing here: one row holds a pair's three relationships (upserts).
        async with self._database.unit_of_work(tenant_id) as uow:
            yield PostgresGraphWriter(uow)
            await uow.commit()

    async def _rows(
        self,
        tenant_id: UUID,
        sql: str,
        params: Sequence[Any] | dict[str, Any],
        planner: Mapping[str, str] | None = None,
    ) -> list[Any]:
        """`sql`'s rows in the tenant's unit of work; `planner` settings (SET LOCAL, this
        transaction only) are sent in the same pipeline, without a round trip of their own."""
        async with self._database.unit_of_work(tenant_id) as uow:
            return await fetch_all(uow.connection, sql, params, planner)

    async def related(
        self, tenant_id: UUID, product_id: UUID, kind: RecommendationKind, limit: int
    ) -> list[Related]:
        if limit <= 0:
            return []
        column = "similarity" if kind is RecommendationKind.SIMILAR else _PAIR_COLUMN[kind]
        # The product's first `fetch` entries of its rank-ordered partial index (0014, 0015),
        # each partner's for_sale looked up by primary key as the walk goes; the filter is
        # applied here, so the statement has no join the planner could reorder and no filter it
        # could push below the Limit. A walk that found fewer than `limit` for sale among a full
        # `fetch` walks again, four times deeper, until it finds them or runs out of entries.
        fetch = _first_fetch(limit)
        sql = _related_sql(column)
        while True:
            rows = await self._rows(tenant_id, sql, (product_id, fetch), WALK_ONLY)
            found = [Related(r[0], r[1], float(r[2]), r[3]) for r in rows if r[4]]
            if len(found) >= limit or len(rows) < fetch:
                return found[:limit]
            fetch *= 4

    async def category_of(self, tenant_id: UUID, product_id: UUID) -> tuple[UUID, str] | None:
        rows = await self._rows(
            tenant_id,
            "SELECT c.id, c.name FROM graph_products p JOIN graph_categories c"
            " ON c.tenant_id = p.tenant_id AND c.id = p.category_id WHERE p.id = %s",
            (product_id,),
        )
        return (rows[0][0], rows[0][1]) if rows else None

    async def trending(self, tenant_id: UUID, category_id: UUID, limit: int) -> list[Related]:
        rows = await self._rows(
            tenant_id,
            "WITH RECURSIVE tree AS (SELECT id FROM graph_categories WHERE id = %s"
            " UNION SELECT c.id FROM graph_categories c JOIN tree ON c.parent_id = tree.id)"
            # Per category of the subtree, its first entries of graph_products_category_idx
            # (tenant, category, trend desc), then the best of those: an `IN (tree)` semi-join
            # read every product of the shop (31,709 rows for 11 at 1M orders, 19 ms;
            # docs/benchmarks.md).
            " SELECT p.id, p.name, p.trend FROM tree CROSS JOIN LATERAL ("
            "  SELECT g.id, g.name, g.trend FROM graph_products g"
            "  WHERE g.category_id = tree.id AND g.for_sale"
            "  ORDER BY g.trend DESC, g.id LIMIT %s) p"
            " ORDER BY p.trend DESC, p.id LIMIT %s",
            (category_id, limit, limit),
        )
        return [Related(r[0], r[1], float(r[2])) for r in rows]

    async def signals(self, tenant_id: UUID, user_id: UUID) -> list[Signal]:
        rows = await self._rows(
            tenant_id,
            "SELECT x.product_id, coalesce(p.name, ''), x.purchased, x.last_purchased, x.carted,"
            " x.last_carted, x.viewed, x.last_viewed, x.rating FROM graph_user_products x"
            " LEFT JOIN graph_products p ON p.tenant_id = x.tenant_id AND p.id = x.product_id"
            " WHERE x.user_id = %s ORDER BY x.product_id",
            (user_id,),
        )
        return [Signal(*r) for r in rows]

    async def neighbours(
        self, tenant_id: UUID, seed_ids: Collection[UUID], per_seed: int
    ) -> list[Neighbour]:
        found: list[Neighbour] = []
        for column in ("bought_together", "similarity"):
            rows = await self._rows(
                tenant_id,
                "SELECT s.id, n.id, n.name, n.weight FROM unnest(%s::uuid[]) AS s(id)"
                f" CROSS JOIN LATERAL (SELECT p.id, p.name, x.{column} AS weight FROM graph_pairs x"
                " JOIN graph_products p ON p.tenant_id = x.tenant_id AND p.id = x.other_id"
                f" WHERE x.product_id = s.id AND x.{column} > 0 AND p.for_sale"
                f" ORDER BY x.{column} DESC, p.id LIMIT %s) n",
                (list(seed_ids), per_seed),
            )
            for seed, pid, name, weight in rows:
                together = int(weight) if column == "bought_together" else 0
                similar = float(weight) if column == "similarity" else 0.0
                found.append(Neighbour(seed, pid, name, together, similar))
        return found

    async def personal(
        self, tenant_id: UUID, user_id: UUID, now: datetime, limit: int, seeds: int,
        per_seed: int,
    ) -> tuple[list[Signal], list[Neighbour]]:  # fmt: skip
        rows = await self._rows(tenant_id, _PERSONAL, {
            "user": user_id, "now": now, "limit": limit, "seeds": seeds, "n": per_seed,
            "half": SIGNAL_HALF_LIFE_DAYS * 86400.0, "wp": SIGNAL_WEIGHTS["purchased"],
            "wc": SIGNAL_WEIGHTS["added_to_cart"], "wv": SIGNAL_WEIGHTS["viewed"],
            "margin": PERSONAL_MARGIN, "relative": PERSONAL_MARGIN_RELATIVE,
        })  # fmt: skip
        signals = [Signal(*r[1:10]) for r in rows if r[0] == "signal"]
        neighbours = [Neighbour(r[1], r[10], r[2], int(r[11]), float(r[12]))
                      for r in rows if r[0] != "signal"]  # fmt: skip
        return sorted(signals, key=lambda s: str(s.product_id)), neighbours

    async def snapshot(self, tenant_id: UUID) -> GraphSnapshot:
        snap: GraphSnapshot = {}
        queries = {
            "Category": "SELECT id, name, parent_id FROM graph_categories",
            "Product": "SELECT id, name, for_sale, category_id, brand_id, features, trend, orders"
            " FROM graph_products",
            "Order": "SELECT id, user_id, placed_at, counted, products, payment_method"
            " FROM graph_orders",
        }
        for label, sql in queries.items():
            snap[label] = {
                str(r[0]): _node(label, r[1:]) for r in await self._rows(tenant_id, sql, ())
            }
        for row in await self._rows(
            tenant_id,
            "SELECT user_id, product_id, purchased, last_purchased, carted, last_carted, viewed,"
            " last_viewed, rating, reviewed_at FROM graph_user_products",
            (),
        ):
            key = f"{row[0]}>{row[1]}"
            for rel, values in (("PURCHASED", row[2:4]), ("ADDED_TO_CART", row[4:6]),
                                ("VIEWED", row[6:8])):  # fmt: skip
                if values[0]:
                    snap.setdefault(rel, {})[key] = (values[0], values[1])
            if row[8] is not None:
                snap.setdefault("REVIEWED", {})[key] = (row[8], row[9])
        for row in await self._rows(
            tenant_id,
            "SELECT product_id, other_id, bought_together, also_bought, similarity, similarity_reason"
            " FROM graph_pairs",
            (),
        ):
            key = f"{row[0]}>{row[1]}"
            if row[2]:
                snap.setdefault("FREQUENTLY_BOUGHT_WITH", {})[key] = (row[2],)
            if row[3]:
                snap.setdefault("ALSO_BOUGHT", {})[key] = (row[3],)
            if row[4]:
                snap.setdefault("SIMILAR_TO", {})[key] = (row[4], row[5])
        return snap

    async def snapshot_page(
        self, tenant_id: UUID, label: str, after: str | None, size: int
    ) -> GraphPage:
        """A keyset page of `size` rows in primary-key order (uuid order is the ids' text
        order), the position being the last key."""
        table, keys, values, present = _PAGES[label]
        position = "true"
        params: list[Any] = []
        if after is not None:
            ids = after.split(">")
            position = f"({', '.join(keys)}) > ({', '.join(['%s::uuid'] * len(ids))})"
            params += ids
        rows = await self._rows(
            tenant_id,
            f"SELECT {', '.join(keys + values)} FROM {table} WHERE {present} AND {position}"
            f" ORDER BY {', '.join(keys)} LIMIT %s",
            [*params, size],
        )
        n = len(keys)
        items = [(">".join(str(k) for k in r[:n]),
                  _node(label, r[n:]) if n == 1 else tuple(r[n:])) for r in rows]  # fmt: skip
        return items, (items[-1][0] if len(rows) == size else None)

    async def clear(self, tenant_id: UUID) -> None:
        async with self._database.unit_of_work(tenant_id) as uow:
            for table in ("graph_pairs", "graph_user_products", "graph_orders", "graph_products",
                          "graph_categories", "graph_applied_batches"):  # fmt: skip
                await uow.connection.execute(f"DELETE FROM {table}")
            await uow.commit()


# Per label or relationship type of the snapshot: its table, key columns, property columns and
# the condition for a row to hold it (a user's row holds up to four relationships, a pair's
# three; `snapshot` keeps the non-zero ones).
_USER, _PAIR = ["user_id", "product_id"], ["product_id", "other_id"]
_PAGES: dict[str, tuple[str, list[str], list[str], str]] = {
    "Category": ("graph_categories", ["id"], ["name", "parent_id"], "true"),
    "Product": ("graph_products", ["id"], ["name", "for_sale", "category_id", "brand_id",
                                           "features", "trend", "orders"], "true"),
    "Order": ("graph_orders", ["id"], ["user_id", "placed_at", "counted", "products",
                                       "payment_method"], "true"),
    "PURCHASED": ("graph_user_products", _USER, ["purchased", "last_purchased"],
                  "purchased <> 0"),
    "ADDED_TO_CART": ("graph_user_products", _USER, ["carted", "last_carted"], "carted <> 0"),
    "VIEWED": ("graph_user_products", _USER, ["viewed", "last_viewed"], "viewed <> 0"),
    "REVIEWED": ("graph_user_products", _USER, ["rating", "reviewed_at"], "rating IS NOT NULL"),
    "FREQUENTLY_BOUGHT_WITH": ("graph_pairs", _PAIR, ["bought_together"],
                               "bought_together <> 0"),
    "ALSO_BOUGHT": ("graph_pairs", _PAIR, ["also_bought"], "also_bought <> 0"),
    "SIMILAR_TO": ("graph_pairs", _PAIR, ["similarity", "similarity_reason"],
                   "similarity <> 0"),
}  # fmt: skip


def _node(label: str, values: Sequence[Any]) -> tuple[Any, ...]:
    """Node properties in the snapshot's canonical form (ids as text, scores rounded)."""
    if label == "Category":
        name, parent = values
        return (name, str(parent) if parent else None)
    if label == "Product":
        name, for_sale, category, brand, features, trend, orders = values
        return (name, for_sale, str(category) if category else None,
                str(brand) if brand else None, tuple(features), trend, orders)  # fmt: skip
    user, placed_at, counted, products, method = values
    return (str(user), placed_at, counted, tuple(str(p) for p in products), method)
