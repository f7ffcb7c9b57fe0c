"""Recommendations: the facts the graph is built from, how they change its weights, and how the
five recommenders rank and explain. Pure code; both graph adapters store what this computes,
so they give the same ranked answers on the same data.
"""

from __future__ import annotations

import heapq
import math
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Generic, TypeVar
from uuid import UUID


class RecommendationKind(StrEnum):
    BOUGHT_TOGETHER = "bought_together"  # FREQUENTLY_BOUGHT_WITH: orders containing both
    ALSO_BOUGHT = "also_bought"  # ALSO_BOUGHT: customers who bought both
    SIMILAR = "similar"  # SIMILAR_TO: shared category, brand and attributes
    TRENDING = "trending"  # products of a category by recent orders and interest
    FOR_YOU = "for_you"  # personalised from a customer's recent behaviour


PRODUCT_KINDS = (
    RecommendationKind.BOUGHT_TOGETHER,
    RecommendationKind.ALSO_BOUGHT,
    RecommendationKind.SIMILAR,
    RecommendationKind.TRENDING,
)

# Trending uses forward decay: every contribution is stored as w * 2^((t - EPOCH) / HALF_LIFE),
# so a product's stored sum ranks exactly like the decayed sum at any later time (the common
# factor 2^(-(now - EPOCH) / HALF_LIFE) does not change an order) and is maintained by additions
# and exact subtractions (a cancelled order takes back what it added).
TREND_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)
TREND_HALF_LIFE_DAYS = 7.0
TREND_WEIGHTS = {"order": 1.0, "add_to_cart": 0.3, "view": 0.1}

# Personalised: how much each kind of signal says about a customer's taste, and how fast it fades.
SIGNAL_WEIGHTS = {"purchased": 3.0, "added_to_cart": 2.0, "viewed": 1.0}
SIGNAL_HALF_LIFE_DAYS = 14.0
PERSONAL_SEEDS = 10


def trend_contribution(weight: float, at: datetime) -> float:
    days = (at - TREND_EPOCH).total_seconds() / 86400.0
    return weight * math.pow(2.0, days / TREND_HALF_LIFE_DAYS)


# ---------------------------------------------------------------- facts (what PostgreSQL says)


@dataclass(frozen=True, slots=True)
class CategoryFact:
    id: UUID
    name: str
    parent_id: UUID | None


@dataclass(frozen=True, slots=True)
class ProductFact:
    id: UUID
    name: str
    for_sale: bool
    category_id: UUID
    brand_id: UUID | None
    features: tuple[str, ...]  # sorted "name=value" attribute pairs


@dataclass(frozen=True, slots=True)
class OrderFact:
    """An order's contribution: `counted` is false once cancelled or refunded, and then it
    contributes nothing (the graph keeps the fact, so a repeat changes nothing)."""

    id: UUID
    user_id: UUID
    placed_at: datetime
    counted: bool
    products: tuple[UUID, ...]  # distinct, sorted
    payment_method: str


@dataclass(frozen=True, slots=True)
class ReviewFact:
    user_id: UUID
    product_id: UUID
    rating: int
    at: datetime


@dataclass(frozen=True, slots=True)
class Interaction:
    """One storefront event that concerns a product (view or add to cart)."""

    kind: str  # "viewed" | "added_to_cart"
    product_id: UUID
    user_id: UUID | None
    at: datetime


COUNTED_STATUSES_EXCLUDED = frozenset({"cancelled", "refunded"})
UNPAID = frozenset({"pending", "failed"})


def order_counts(status: str, payment_status: str) -> bool:
    """An order counts once it is paid (a reservation waiting for its payment does not) and
    until it is cancelled or refunded in full."""
    return status not in COUNTED_STATUSES_EXCLUDED and payment_status not in UNPAID


# ---------------------------------------------------------------- weights (how facts change)

Id = TypeVar("Id", UUID, int)
"""The increments below are computed on ids as UUIDs or as their 128-bit integers (`UUID.int`,
which order as the UUIDs do). The projector uses the integers: a batch of 500 orders hashes and
compares its ids hundreds of thousands of times, in C for an int, in Python (`UUID.__hash__`,
`__eq__`, `__lt__`) for a UUID, which was most of the projector's own time."""

Pair = tuple[Id, Id]
Purchases = dict[Id, dict[Id, tuple[int, datetime]]]  # customer -> product -> (count, last)
Bought = Purchases[UUID]


@dataclass(frozen=True, slots=True)
class CountedMove(Generic[Id]):
    """An order that starts counting (`sign` +1: its new fact) or stops (-1: its stored fact)."""

    user_id: Id
    products: tuple[Id, ...]
    placed_at: datetime
    sign: int


def counted_moves(
    changes: Iterable[tuple[OrderFact | None, OrderFact]], key: Callable[[UUID], Id]
) -> list[CountedMove[Id]]:
    """Each changed order as what stops counting (its stored fact) and what starts (its new
    fact), ids through `key`; an order that does not count on a side contributes nothing there.
    `order_delta` and `purchases_after` both walk this list."""
    moves: list[CountedMove[Id]] = []
    for old, new in changes:
        if old == new:
            continue
        for fact, sign in ((old, -1), (new, 1)):
            if fact is not None and fact.counted:
                moves.append(CountedMove(
                    key(fact.user_id), tuple(map(key, fact.products)), fact.placed_at, sign
                ))  # fmt: skip
    return moves


@dataclass
class OrderDelta(Generic[Id]):
    """What a batch of order changes does to the maintained weights."""

    bought_together: dict[Pair[Id], int]
    trend: dict[Id, tuple[float, int]]  # product -> (trend delta, orders delta)
    touched_users: set[Id]


def order_delta(moves: Iterable[CountedMove[Id]]) -> OrderDelta[Id]:
    """From the batch's counted moves: FREQUENTLY_BOUGHT_WITH in both directions counts the
    orders that contain both products; trending adds each counted order once."""
    together: dict[Pair[Id], int] = defaultdict(int)
    trend: dict[Id, list[float]] = defaultdict(lambda: [0.0, 0])
    users: set[Id] = set()
    order_weight = TREND_WEIGHTS["order"]
    for move in moves:
        sign = move.sign
        users.add(move.user_id)
        items = set(move.products)
        for a in items:
            for b in items:
                if a != b:
                    together[(a, b)] += sign
        contribution = sign * trend_contribution(order_weight, move.placed_at)
        for product in move.products:
            entry = trend[product]
            entry[0] += contribution
            entry[1] += sign
    return OrderDelta(
        {k: v for k, v in together.items() if v},
        {k: (float(v[0]), int(v[1])) for k, v in trend.items() if v[1] or v[0]},
        users,
    )


def purchases_after(
    before: Purchases[Id], moves: Iterable[CountedMove[Id]]
) -> tuple[Purchases[Id], set[Id]]:
    """PURCHASED after the batch's counted moves, from the stored PURCHASED alone: counts move
    by the orders that start or stop counting, `last_at` only grows. A customer whose count of
    some product went down (a cancellation, a refund) cannot know their new `last_at` from this:
    they are returned in the second part, and their PURCHASED must be recounted from their
    orders."""
    after = {user: dict(products) for user, products in before.items()}
    shrunk: set[Id] = set()
    for move in moves:
        sign, at = move.sign, move.placed_at
        if sign < 0:
            shrunk.add(move.user_id)
        mine = after.setdefault(move.user_id, {})
        for product in move.products:
            count, last = mine.get(product, (0, at))
            mine[product] = (count + sign, last if last >= at else at)
    for user in list(after):
        after[user] = {p: v for p, v in after[user].items() if v[0] > 0}
    return after, shrunk


def purchase_writes(
    before: Purchases[Id], after: Purchases[Id]
) -> dict[Pair[Id], tuple[int, datetime | None]]:
    """The PURCHASED links that differ, in (customer, product) order (one lock order for
    concurrent writers): (customer, product) -> (count, last); count 0 removes."""
    writes: dict[Pair[Id], tuple[int, datetime | None]] = {}
    empty: dict[Id, tuple[int, datetime]] = {}
    for user in before.keys() | after.keys():
        old, new = before.get(user, empty), after.get(user, empty)
        for product in old.keys() | new.keys():
            now = new.get(product)
            if old.get(product) != now:
                writes[(user, product)] = now if now is not None else (0, None)
    return dict(sorted(writes.items(), key=_first))


def _first(item: tuple[Pair[Id], object]) -> Pair[Id]:
    return item[0]


def also_bought_delta(before: dict[Id, set[Id]], after: dict[Id, set[Id]]) -> dict[Pair[Id], int]:
    """ALSO_BOUGHT counts customers who bought both products (in any orders). A customer's set
    of bought products changes only at its edges, so only pairs with a changed end move."""
    delta: dict[Pair[Id], int] = defaultdict(int)
    empty: set[Id] = set()
    for user in before.keys() | after.keys():
        old, new = before.get(user, empty), after.get(user, empty)
        if old == new:
            continue
        changed = old ^ new
        # A product bought now pairs with everything bought now (+1); one no longer bought
        # with everything bought before (-1); other pairs of changed products net to 0.
        for products, mine, d in ((new - old, new, 1), (old - new, old, -1)):
            for product in products:
                for other in mine:
                    if other == product:
                        continue
                    delta[(product, other)] += d
                    if other not in changed:  # a changed `other` counts this pair in its turn
                        delta[(other, product)] += d
    return {k: v for k, v in delta.items() if v}


@dataclass(frozen=True, slots=True)
class PairDeltas:
    """Increments of one product-to-product relationship (FREQUENTLY_BOUGHT_WITH or
    ALSO_BOUGHT) as three columns, in (product, other) order: every writer takes the pairs in
    one order (UUID order, which is their order as text too), so concurrent writers do not
    deadlock, and a store binds the columns as they are."""

    products: list[UUID]
    others: list[UUID]
    deltas: list[int]

    @classmethod
    def of(cls, deltas: Mapping[Pair[UUID], int]) -> PairDeltas:
        keys = sorted(deltas, key=_uuid_pair)
        return cls([a for a, _ in keys], [b for _, b in keys], [deltas[k] for k in keys])

    @classmethod
    def numbered(cls, deltas: Mapping[Pair[int], int], uuid: Mapping[int, UUID]) -> PairDeltas:
        """From increments on integer ids (`Id`): sorted as integers (in C; the UUIDs' order)
        and each id mapped back to its UUID by `uuid`."""
        keys = sorted(deltas)
        to_uuid = uuid.__getitem__
        return cls([to_uuid(a) for a, _ in keys], [to_uuid(b) for _, b in keys],
                   [deltas[k] for k in keys])  # fmt: skip

    def __len__(self) -> int:
        return len(self.deltas)

    def rows(self) -> Iterator[tuple[UUID, UUID, int]]:
        return zip(self.products, self.others, self.deltas, strict=True)


def _uuid_pair(pair: Pair[UUID]) -> tuple[int, int]:
    return (pair[0].int, pair[1].int)


@dataclass(frozen=True, slots=True)
class Similarity:
    score: float
    reason: str


# SIMILAR_TO: how much each shared trait weighs, and how many similar products a product keeps.
SIMILARITY_WEIGHTS = {"category": 2.0, "brand": 1.0, "attribute": 0.5}
SIMILAR_K = 20

SimilarEdge = tuple[UUID, UUID, Similarity]  # (product, similar product, score and reason)


def similarity_of(same_category: bool, same_brand: bool, shared: int) -> Similarity | None:
    """The score and reason of two products from what they share (the SQL ranking returns the
    three parts, so the reason is worded here only)."""
    if not (same_category or same_brand):
        return None
    parts = [p for p, on in (("category", same_category), ("brand", same_brand)) if on]
    reason = "similar: same " + " and ".join(parts)
    if shared:
        reason += f", {shared} shared attribute{'s' if shared > 1 else ''}"
    w = SIMILARITY_WEIGHTS
    return Similarity(
        w["category"] * same_category + w["brand"] * same_brand + w["attribute"] * shared, reason
    )


def similarity(a: ProductFact, b: ProductFact) -> Similarity | None:
    """SIMILAR_TO: same category counts 2, same brand 1, each shared attribute 0.5; products that
    share neither category nor brand are not similar."""
    if a.id == b.id:
        return None
    return similarity_of(
        a.category_id == b.category_id,
        a.brand_id is not None and a.brand_id == b.brand_id,
        len(set(a.features) & set(b.features)),
    )


def similar_order(score: float, product_id: UUID) -> tuple[float, UUID]:
    """The ranking of a product's similar products: score descending, then id ascending (UUID
    order is PostgreSQL's uuid order and the order of the ids as text, so every store agrees)."""
    return (-score, product_id)


def top_similar(
    product: ProductFact, catalog: Iterable[ProductFact], k: int = SIMILAR_K
) -> list[SimilarEdge]:
    """A product's SIMILAR_TO: its best `k` similar products among those for sale (the only ones
    the `similar` recommender serves), ranked by `similar_order`. Directed: P's best k need not
    list P among theirs."""
    found = [(other.id, s) for other in catalog
             if other.for_sale and (s := similarity(product, other)) is not None]  # fmt: skip
    found.sort(key=lambda f: similar_order(f[1].score, f[0]))
    return [(product.id, other, s) for other, s in found[:k]]


def moved_lists(
    stored: Mapping[UUID, Sequence[SimilarEdge]], reaching: Iterable[SimilarEdge],
    changed: Collection[UUID], k: int = SIMILAR_K,
) -> tuple[dict[UUID, list[SimilarEdge]], set[UUID]]:  # fmt: skip
    """New SIMILAR_TO lists of the products `stored` (their stored lists; none of them
    `changed`), given the changed products' new edges from them (`reaching`: P -> X for each
    changed X for sale that P is similar to). A list whose changed members all kept or raised
    their score can only gain changed products or reorder: its new list is the best k of its
    unchanged members and the new edges (anything else ranked after its k-th before, and still
    does). A list with a changed member that lost score or is no longer a candidate may need its
    (k+1)-th, which only a ranking of the catalog knows: returned in the second part. Lists that
    come out unchanged are left out of the first part."""
    new: dict[UUID, dict[UUID, SimilarEdge]] = {}
    for edge in reaching:
        new.setdefault(edge[0], {})[edge[1]] = edge
    moved: dict[UUID, list[SimilarEdge]] = {}
    again: set[UUID] = set()
    for product, edges in stored.items():
        mine = new.get(product, {})
        if any(b in changed and (b not in mine or mine[b][2].score < s.score)
               for _, b, s in edges):  # fmt: skip
            again.add(product)
            continue
        pool = [e for e in edges if e[1] not in changed] + list(mine.values())
        pool.sort(key=lambda e: similar_order(e[2].score, e[1]))
        if pool[:k] != sorted(edges, key=lambda e: similar_order(e[2].score, e[1])):
            moved[product] = pool[:k]
    return moved, again


def enters_top(
    stored: Sequence[tuple[float, UUID]], score: float, product_id: UUID, k: int = SIMILAR_K
) -> bool:
    """Whether a product of this score would be among the best `k` of a product whose stored
    top list is `stored` (its similar products' scores and ids, at most k): yes when the list is
    not full (it holds every similar product for sale), or when it ranks before the k-th."""
    if len(stored) < k:
        return True
    kth = max(similar_order(s, p) for s, p in stored)
    return similar_order(score, product_id) < kth


# ---------------------------------------------------------------- answers


@dataclass(frozen=True, slots=True)
class Recommendation:
    product_id: UUID
    name: str
    score: float
    reason: str


@dataclass(frozen=True, slots=True)
class Related:
    """One maintained relationship from a product, as an adapter reads it."""

    product_id: UUID
    name: str
    weight: float
    reason: str | None = None  # SIMILAR_TO keeps its reason


def explain(kind: RecommendationKind, related: Related, category: str | None = None) -> str:
    if kind is RecommendationKind.BOUGHT_TOGETHER:
        n = int(related.weight)
        return f"bought together {n} time{'s' if n != 1 else ''}"
    if kind is RecommendationKind.ALSO_BOUGHT:
        n = int(related.weight)
        return f"{n} customer{'s' if n != 1 else ''} who bought this also bought it"
    if kind is RecommendationKind.SIMILAR:
        return related.reason or "similar"
    return f"trending in {category or 'this category'}"


@dataclass(frozen=True, slots=True)
class Signal:
    """What a customer did with a product (from PURCHASED, ADDED_TO_CART, VIEWED, REVIEWED)."""

    product_id: UUID
    name: str
    purchased: int
    last_purchased: datetime | None
    carted: int
    last_carted: datetime | None
    viewed: int
    last_viewed: datetime | None
    rating: int | None


def _fade(at: datetime | None, now: datetime) -> float:
    if at is None:
        return 0.0
    days = max(0.0, (now - at).total_seconds() / 86400.0)
    return math.pow(0.5, days / SIGNAL_HALF_LIFE_DAYS)


def seed_weights(signals: Iterable[Signal], now: datetime) -> dict[UUID, tuple[float, str]]:
    """How much each product a customer touched says about them now, and the strongest reason.
    Recent behaviour weighs more; a bad review (1-2 stars) removes the product as a seed."""
    seeds: dict[UUID, tuple[float, str]] = {}
    for s in signals:
        parts = [
            (SIGNAL_WEIGHTS["purchased"] * _fade(s.last_purchased, now), "because you bought {}"),
            (
                SIGNAL_WEIGHTS["added_to_cart"] * _fade(s.last_carted, now),
                "because you added {} to your cart",
            ),
            (SIGNAL_WEIGHTS["viewed"] * _fade(s.last_viewed, now), "because you viewed {}"),
        ]
        weight = sum(w for w, _ in parts)
        if s.rating is not None:
            if s.rating <= 2:
                continue
            weight *= 1.0 + (s.rating - 3) * 0.25
        if weight <= 0:
            continue
        template = max(parts, key=lambda p: p[0])[1]
        seeds[s.product_id] = (weight, template.format(s.name))
    ranked = sorted(seeds.items(), key=lambda kv: (-round(kv[1][0], 9), str(kv[0])))
    return dict(ranked[:PERSONAL_SEEDS])


@dataclass(frozen=True, slots=True)
class Neighbour:
    seed_id: UUID
    product_id: UUID
    name: str
    bought_together: int
    similar: float


# The stores rank the candidates themselves and send only the first `limit` and those close
# behind (`GraphStore.personal`); their scores come from other float arithmetic (Java's or
# PostgreSQL's pow, sums in another order), so a candidate is sent while it scores at least
# the `limit`-th's score minus this margin. The stores' scores differ from `personalise`'s by
# far less (about 1e-15 relative), and the ranking rounds to 9 digits: a candidate below the
# margin ranks after each of the first `limit` there too, so `personalise` over what is sent
# gives exactly its answer over every candidate.
PERSONAL_MARGIN = 2e-9  # absolute, plus PERSONAL_MARGIN_RELATIVE x the limit-th's score
PERSONAL_MARGIN_RELATIVE = 1e-9


def personal_cut(scores: Iterable[float], limit: int) -> float:
    """The lowest score a store sends, given the candidates' scores as the store computed them
    (the rule both adapters implement in their statement; -inf when fewer than `limit`)."""
    ranked = sorted(scores, reverse=True)
    if len(ranked) < limit:
        return -math.inf
    last = ranked[limit - 1]
    return last - (PERSONAL_MARGIN + PERSONAL_MARGIN_RELATIVE * abs(last))


def personalise(
    seeds: dict[UUID, tuple[float, str]], neighbours: Iterable[Neighbour],
    exclude: set[UUID], limit: int,
) -> list[Recommendation]:  # fmt: skip
    """Score = sum over seeds of seed weight x (orders together + similarity); the reason names
    the seed that contributed most (on a tie, the likelier seed). `seeds` in rank order
    (`seed_weights`). The answer does not depend on the neighbours' order, nor on whether a
    seed's bought-together and similar links to a product come as one Neighbour or two: each
    seed's part is its weight x the sum of its links, added up in the seeds' order."""
    rank = {seed: i for i, seed in enumerate(seeds)}
    weights = [w for w, _ in seeds.values()]
    reasons = [reason for _, reason in seeds.values()]
    found: dict[UUID, tuple[str, dict[int, float]]] = {}  # product -> (name, seed rank -> links)
    for n in neighbours:
        seed = rank.get(n.seed_id)
        if seed is None or n.product_id in exclude:
            continue
        entry = found.get(n.product_id)
        if entry is None:
            entry = found[n.product_id] = (n.name, {})
        links = entry[1]
        links[seed] = links.get(seed, 0.0) + n.bought_together + n.similar
    scored: list[tuple[UUID, str, float, str]] = []
    for product, (name, links) in found.items():
        score, best, reason = 0.0, 0.0, None
        for seed in sorted(links):
            part = weights[seed] * links[seed]
            if part <= 0:
                continue
            score += part
            if part > best:
                best, reason = part, reasons[seed]
        if reason is not None:
            scored.append((product, name, score, reason))
    # Ties by id: a UUID's integer orders as its canonical string (fixed-width lowercase hex),
    # without formatting every candidate's id.
    ranked = heapq.nsmallest(limit, scored, key=lambda c: (-round(c[2], 9), c[0].int))
    return [Recommendation(pid, name, round(score, 9), reason)
            for pid, name, score, reason in ranked]  # fmt: skip


Tally = dict[tuple[str, UUID, UUID], tuple[int, datetime]]


def tally(rows: Iterable[Interaction]) -> Tally:
    """Interactions of known customers per (kind, customer, product): how many and the latest."""
    found: Tally = {}
    for r in rows:
        if r.user_id is None:
            continue
        key = (r.kind, r.user_id, r.product_id)
        count, last = found.get(key, (0, r.at))
        found[key] = (count + 1, max(last, r.at))
    return dict(sorted(found.items(), key=lambda kv: (kv[0][0], str(kv[0][1]), str(kv[0][2]))))


Snapshot = dict[str, dict[str, tuple[object, ...]]]


def for_sale_list(partners: Iterable[tuple[str, float]], length: int | None) -> tuple[object, ...]:
    """A product's for-sale list of one relationship type as a snapshot value, from its
    partners for sale (id, weight): ranked by weight desc then id, the first `length` (None:
    all), as (the ids in that order, then each weight as a float, so that `snapshot_drift`
    compares them within its tolerance)."""
    ranked = sorted(partners, key=lambda p: (-p[1], p[0]))[:length]
    return (tuple(b for b, _ in ranked), *(float(w) for _, w in ranked))


def snapshot_lists(
    snapshot: Snapshot, relationship: str, length: int | None
) -> dict[str, tuple[object, ...]]:
    """What every product's for-sale list of `relationship` must be in this graph snapshot
    (its relationships' first property the weight; a Product's second its `for_sale`), for the
    products with a partner for sale: the lists a store keeps, checked by `sync verify graph`."""
    for_sale = {key for key, node in snapshot.get("Product", {}).items() if node[1]}
    partners: dict[str, list[tuple[str, float]]] = defaultdict(list)
    for key, value in snapshot.get(relationship, {}).items():
        a, b = key.split(">")
        if b in for_sale:
            partners[a].append((b, float(value[0])))  # type: ignore[arg-type]
    return {a: for_sale_list(found, length) for a, found in sorted(partners.items())}


def snapshot_drift(
    expected: Snapshot, actual: Snapshot, *, float_scale: float = 1.0
) -> tuple[list[tuple[str, str]], list[tuple[str, str]], list[tuple[str, str]]]:
    """(missing, extra, different) as (label or relationship type, key), comparing two graph
    snapshots node by node and relationship by relationship. A Product's floats (its trend sum)
    compare within 1e-9 of `float_scale`: the same contributions added in another order differ
    in last bits, and forward decay makes them large. Every other float (a similarity score, a
    for-sale list's weights) within 1e-9 of 1: the trend's scale (2^47 in late 2026) would let
    a score or a weight be off by 1e5."""
    missing, extra, different = [], [], []
    for label in sorted(expected.keys() | actual.keys()):
        want, got = expected.get(label, {}), actual.get(label, {})
        scale = float_scale if label == "Product" else 1.0
        missing += [(label, k) for k in sorted(want.keys() - got.keys())]
        extra += [(label, k) for k in sorted(got.keys() - want.keys())]
        different += [(label, k) for k in sorted(want.keys() & got.keys())
                      if not _same(want[k], got[k], scale)]  # fmt: skip
    return missing, extra, different


def snapshot_differences(
    expected: Snapshot, actual: Snapshot, *, float_scale: float = 1.0
) -> list[str]:
    """The same comparison in words, with both sides of every difference (for tests and logs)."""
    missing, extra, different = snapshot_drift(expected, actual, float_scale=float_scale)
    return ([f"{label} {k}: missing" for label, k in missing]
            + [f"{label} {k}: extra" for label, k in extra]
            + [f"{label} {k}: {expected[label][k]!r} != {actual[label][k]!r}"
               for label, k in different])  # fmt: skip


def _same(a: tuple[object, ...], b: tuple[object, ...], scale: float) -> bool:
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        if isinstance(x, float) and isinstance(y, float):
            if not math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-9 * scale):
                return False
        elif x != y:
            return False
    return True
