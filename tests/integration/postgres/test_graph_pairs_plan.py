"""A hot product's bought-together and also-bought partners are read from the partial indexes of
migration 0015 in rank order, for the application role under row-level security: the plan is a
Limit over a nested loop of index entries (no Sort of the product's thousands of rows), and the
answer is the contract's ranking (weight, then id; only products for sale)."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import psycopg

from polyshop import bootstrap
from polyshop.adapters.postgres import PostgresGraphStore
from polyshop.domain.recommendations import (
    PairDeltas,
    ProductFact,
    RecommendationKind,
    Signal,
)

PARTNERS = 3000
INDEX = {RecommendationKind.BOUGHT_TOGETHER: "graph_pairs_together_idx",
         RecommendationKind.ALSO_BOUGHT: "graph_pairs_also_bought_idx"}  # fmt: skip


class Explained(PostgresGraphStore):
    """The adapter, its statements explained (EXPLAIN ANALYZE, same parameters, same role and
    tenant) before they run."""

    plans: list[dict[str, Any]]

    async def _rows(self, tenant_id: UUID, sql: str, params: Any) -> list[Any]:
        async with self._database.unit_of_work(tenant_id) as uow:
            cursor = await uow.connection.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params)
            self.plans.append((await cursor.fetchone())[0][0]["Plan"])  # type: ignore[index]
        return await super()._rows(tenant_id, sql, params)


def nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [plan, *(n for child in plan.get("Plans", []) for n in nodes(child))]


async def test_a_hot_products_partners_come_from_the_index_in_rank_order(
    app: bootstrap.Container, admin_url: str
) -> None:
    tenant = (await app.tenants.create(f"pairs-{uuid4().hex[:8]}", "Pairs")).id
    rng = random.Random(12)
    hot, category = uuid4(), uuid4()
    partners = [uuid4() for _ in range(PARTNERS)]
    # A tenth not for sale, among them the heaviest partners: the scan must skip them.
    heaviest = set(partners[:20])
    for_sale = {p: p not in heaviest and rng.random() > 0.1 for p in partners}
    weights = {
        kind: {p: (1000 if p in heaviest else rng.randint(1, 40)) for p in partners}
        for kind in INDEX
    }
    user = uuid4()
    async with PostgresGraphStore(app.relay_database).writer(tenant) as writer:
        products = [ProductFact(p, f"P{n}", for_sale[p], category, None, ())
                    for n, p in enumerate(partners)]  # fmt: skip
        await writer.put_products([ProductFact(hot, "Hot", True, category, None, ()), *products])
        for kind, by_partner in weights.items():
            await writer.add_pairs(kind, PairDeltas.of(
                {(hot, p): w for p, w in by_partner.items()}
                | {(p, hot): w for p, w in by_partner.items()}))  # fmt: skip
        await writer.put_purchased({(user, hot): (1, datetime.now(UTC))})
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute("ANALYZE graph_pairs")
        admin.execute("ANALYZE graph_products")
        admin.execute("ANALYZE graph_user_products")

    store = Explained(app.database)  # the application's role: what a page reads with
    for kind, index in INDEX.items():
        store.plans = []
        found = await store.related(tenant, hot, kind, 10)
        expected = sorted((p for p in partners if for_sale[p]),
                          key=lambda p: (-weights[kind][p], p))[:10]  # fmt: skip
        assert [r.product_id for r in found] == expected
        assert [r.weight for r in found] == [weights[kind][p] for p in expected]
        (plan,) = store.plans
        assert plan["Node Type"] == "Limit", json.dumps(plan)
        assert not [n for n in nodes(plan) if n["Node Type"] in ("Sort", "Incremental Sort")]
        (scan,) = [n for n in nodes(plan) if n.get("Index Name") == index]
        assert "tenant_id" in scan["Index Cond"] and "product_id" in scan["Index Cond"]
        # The 20 heaviest (not for sale), then about ten for sale, of 3,000 partners.
        assert scan["Actual Rows"] < 60, json.dumps(plan)

    # for_you: each seed's strongest partners bought together, from the same index (the 20
    # of the one seed, all sent for a limit of 20).
    store.plans = []
    signals, neighbours = await store.personal(tenant, user, datetime.now(UTC), 20, 10, 20)
    assert [s.product_id for s in signals] == [hot] and isinstance(signals[0], Signal)
    together = {n.product_id: n.bought_together for n in neighbours if n.bought_together}
    strongest = sorted(
        (p for p in partners if for_sale[p]),
        key=lambda p: (-weights[RecommendationKind.BOUGHT_TOGETHER][p], p),
    )[:20]
    assert together == {p: weights[RecommendationKind.BOUGHT_TOGETHER][p] for p in strongest}
    (plan,) = store.plans
    (scan,) = [n for n in nodes(plan) if n.get("Index Name") == "graph_pairs_together_idx"]
    assert scan["Actual Rows"] < 80, json.dumps(plan)
    # Each entry's for_sale is a primary-key lookup as the walk goes, never a hash of the
    # catalog against all of a seed's entries (which read every entry before the Limit).
    assert not [n for n in nodes(plan) if "Hash" in n["Node Type"]], json.dumps(plan)
    assert not [
        n for n in nodes(plan)
        if n.get("Relation Name") == "graph_products" and n["Node Type"] == "Seq Scan"
    ], json.dumps(plan)  # fmt: skip
