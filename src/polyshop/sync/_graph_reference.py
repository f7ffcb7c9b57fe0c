"""A graph held in memory, written through the same GraphWriter calls as the real stores: what
`sync verify graph` rebuilds from PostgreSQL's facts and compares a store with."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from polyshop.domain.recommendations import (
    Bought,
    CategoryFact,
    Interaction,
    OrderFact,
    PairDeltas,
    ProductFact,
    RecommendationKind,
    ReviewFact,
    SimilarEdge,
    Similarity,
    enters_top,
    similarity,
    tally,
    top_similar,
)
from polyshop.ports import GraphSnapshot


def _new_product() -> dict[str, Any]:
    return {"name": "", "for_sale": False, "category": None, "brand": None, "features": (),
            "trend": 0.0, "orders": 0}  # fmt: skip


def _new_link() -> dict[str, Any]:
    return {"purchased": 0, "last_purchased": None, "carted": 0, "last_carted": None,
            "viewed": 0, "last_viewed": None, "rating": None, "reviewed_at": None}  # fmt: skip


@dataclass
class ReferenceGraph:
    categories: dict[UUID, CategoryFact] = field(default_factory=dict)
    products: dict[UUID, dict[str, Any]] = field(default_factory=dict)
    orders_: dict[UUID, OrderFact] = field(default_factory=dict)
    links: dict[tuple[UUID, UUID], dict[str, Any]] = field(default_factory=dict)
    pairs: dict[tuple[UUID, UUID], dict[str, Any]] = field(default_factory=dict)
    batches: set[int] = field(default_factory=set)

    def _product(self, product_id: UUID) -> dict[str, Any]:
        return self.products.setdefault(product_id, _new_product())

    def _link(self, user_id: UUID, product_id: UUID) -> dict[str, Any]:
        return self.links.setdefault((user_id, product_id), _new_link())

    def _pair(self, a: UUID, b: UUID) -> dict[str, Any]:
        return self.pairs.setdefault((a, b), {"bought_together": 0, "also_bought": 0,
                                              "similar": 0.0, "reason": None})  # fmt: skip

    def _tidy(self) -> None:
        self.links = {k: v for k, v in self.links.items()
                      if v["purchased"] or v["carted"] or v["viewed"] or v["rating"] is not None}  # fmt: skip
        self.pairs = {k: v for k, v in self.pairs.items()
                      if v["bought_together"] or v["also_bought"] or v["similar"]}  # fmt: skip

    # GraphWriter

    async def put_categories(self, facts: Sequence[CategoryFact]) -> None:
        self.categories.update({f.id: f for f in facts})

    async def put_products(self, facts: Sequence[ProductFact]) -> None:
        for f in facts:
            self._product(f.id).update(name=f.name, for_sale=f.for_sale, category=f.category_id,
                                       brand=f.brand_id, features=f.features)  # fmt: skip

    async def similar_sources(self, product_ids: Collection[UUID]) -> set[UUID]:
        return {a for (a, b), pair in self.pairs.items() if b in product_ids and pair["similar"]}

    async def similar_admits(self, candidates: Sequence[SimilarEdge]) -> set[UUID]:
        stored: dict[UUID, list[tuple[float, UUID]]] = {}
        for (a, b), pair in self.pairs.items():
            if pair["similar"]:
                stored.setdefault(a, []).append((pair["similar"], b))
        return {p for p, x, s in candidates if enters_top(stored.get(p, []), s.score, x)}

    async def similar_lists(self, product_ids: Collection[UUID]) -> dict[UUID, list[SimilarEdge]]:
        found: dict[UUID, list[SimilarEdge]] = {p: [] for p in product_ids}
        for (a, b), pair in sorted(self.pairs.items()):
            if a in found and pair["similar"]:
                found[a].append((a, b, Similarity(pair["similar"], pair["reason"])))
        return found

    async def replace_similar(
        self, product_ids: Collection[UUID], edges: Sequence[SimilarEdge]
    ) -> None:
        for (a, _), pair in self.pairs.items():
            if a in product_ids:
                pair["similar"], pair["reason"] = 0.0, None
        for a, b, s in edges:
            self._pair(a, b).update(similar=s.score, reason=s.reason)
        self._tidy()

    async def orders(self, ids: Collection[UUID]) -> dict[UUID, OrderFact]:
        return {i: self.orders_[i] for i in ids if i in self.orders_}

    async def put_orders(self, facts: Sequence[OrderFact]) -> None:
        for f in facts:
            self.orders_[f.id] = f
            for product in f.products:
                self._product(product)

    async def purchased(self, user_ids: Collection[UUID]) -> Bought:
        found: Bought = {}
        for (user, product), link in self.links.items():
            if user in user_ids and link["purchased"]:
                found.setdefault(user, {})[product] = (link["purchased"], link["last_purchased"])
        return found

    async def bought(
        self, user_ids: Collection[UUID]
    ) -> dict[UUID, dict[UUID, tuple[int, datetime]]]:
        found: dict[UUID, dict[UUID, tuple[int, datetime]]] = {}
        for order in self.orders_.values():
            if order.user_id in user_ids and order.counted:
                mine = found.setdefault(order.user_id, {})
                for product in order.products:
                    count, last = mine.get(product, (0, order.placed_at))
                    mine[product] = (count + 1, max(last, order.placed_at))
        return found

    async def put_purchased(
        self, links: Mapping[tuple[UUID, UUID], tuple[int, datetime | None]]
    ) -> None:
        for (user, product), (count, last) in links.items():
            self._product(product)
            self._link(user, product).update(
                purchased=count, last_purchased=last if count else None
            )
        self._tidy()

    async def add_pairs(self, kind: RecommendationKind, deltas: PairDeltas) -> None:
        for a, b, d in deltas.rows():
            self._pair(a, b)[str(kind)] += d
        self._tidy()

    async def add_trend(self, deltas: dict[UUID, tuple[float, int]]) -> None:
        for product, (t, n) in sorted(deltas.items()):
            p = self._product(product)
            p["trend"] += t
            p["orders"] += n

    async def replace_reviews(
        self, product_ids: Collection[UUID], facts: Sequence[ReviewFact]
    ) -> None:
        for (_, product), link in self.links.items():
            if product in product_ids:
                link["rating"], link["reviewed_at"] = None, None
        for f in facts:
            self._product(f.product_id)
            self._link(f.user_id, f.product_id).update(rating=f.rating, reviewed_at=f.at)
        self._tidy()

    async def unapplied(self, batch_ids: Collection[int]) -> set[int]:
        return set(batch_ids) - self.batches

    async def add_interactions(
        self, batch_ids: Collection[int], rows: Sequence[Interaction]
    ) -> None:
        self.batches |= set(batch_ids)
        names = {"viewed": ("viewed", "last_viewed"), "added_to_cart": ("carted", "last_carted")}
        for (kind, user, product), (n, at) in tally(rows).items():
            self._product(product)
            link = self._link(user, product)
            count, last = names[kind]
            link[count] += n
            link[last] = at if link[last] is None else max(link[last], at)

    def snapshot(self) -> GraphSnapshot:
        s = str
        snap: GraphSnapshot = {
            "Category": {s(i): (c.name, s(c.parent_id) if c.parent_id else None)
                         for i, c in self.categories.items()},
            "Product": {s(i): (p["name"], p["for_sale"], s(p["category"]) if p["category"] else None,
                               s(p["brand"]) if p["brand"] else None, tuple(p["features"]),
                               float(p["trend"]), p["orders"]) for i, p in self.products.items()},
            "Order": {s(i): (s(o.user_id), o.placed_at, o.counted, tuple(s(p) for p in o.products),
                             o.payment_method) for i, o in self.orders_.items()},
        }  # fmt: skip
        for (user, product), link in self.links.items():
            key = f"{user}>{product}"
            for rel, count, last in (("PURCHASED", "purchased", "last_purchased"),
                                     ("ADDED_TO_CART", "carted", "last_carted"),
                                     ("VIEWED", "viewed", "last_viewed")):  # fmt: skip
                if link[count]:
                    snap.setdefault(rel, {})[key] = (link[count], link[last])
            if link["rating"] is not None:
                snap.setdefault("REVIEWED", {})[key] = (link["rating"], link["reviewed_at"])
        for (a, b), pair in self.pairs.items():
            key = f"{a}>{b}"
            if pair["bought_together"]:
                snap.setdefault("FREQUENTLY_BOUGHT_WITH", {})[key] = (pair["bought_together"],)
            if pair["also_bought"]:
                snap.setdefault("ALSO_BOUGHT", {})[key] = (pair["also_bought"],)
            if pair["similar"]:
                snap.setdefault("SIMILAR_TO", {})[key] = (pair["similar"], pair["reason"])
        return {label: nodes for label, nodes in snap.items() if nodes}


class FactsCatalog:
    """The `SimilarCatalog` port over product facts in memory, ranked by the pure rule
    (`domain.recommendations.top_similar`): the contract tests' catalog, and the reference the
    SQL ranking is tested against."""

    def __init__(self, products: Iterable[ProductFact] = ()) -> None:
        self.products: dict[UUID, ProductFact] = {}
        self.put(products)

    def put(self, products: Iterable[ProductFact]) -> None:
        self.products.update({p.id: p for p in products})

    def remove(self, product_ids: Iterable[UUID]) -> None:
        for product_id in product_ids:
            self.products.pop(product_id, None)

    async def top_similar(self, product_ids: Collection[UUID]) -> list[SimilarEdge]:
        return [edge for pid in sorted(set(product_ids)) if pid in self.products
                for edge in top_similar(self.products[pid], self.products.values())]  # fmt: skip

    async def reaching(self, product_ids: Collection[UUID]) -> list[SimilarEdge]:
        found: list[SimilarEdge] = []
        for x in sorted(set(product_ids)):
            fact = self.products.get(x)
            if fact is None or not fact.for_sale:
                continue
            for p in self.products.values():
                if p.id not in product_ids and (s := similarity(p, fact)) is not None:
                    found.append((p.id, x, s))
        return found
