"""The graph's pure rules: incremental weights equal weights counted from scratch."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

from polyshop.domain.recommendations import (
    CountedMove,
    Neighbour,
    OrderFact,
    PairDeltas,
    ProductFact,
    Signal,
    Similarity,
    also_bought_delta,
    counted_moves,
    enters_top,
    moved_lists,
    order_counts,
    order_delta,
    personal_cut,
    personalise,
    purchase_writes,
    purchases_after,
    seed_weights,
    similarity,
    top_similar,
    trend_contribution,
)

NOW = datetime(2026, 11, 20, tzinfo=UTC)


def moves(changes: list[tuple[OrderFact | None, OrderFact]]) -> list[CountedMove[UUID]]:
    """The counted moves with the ids as they are (the projector uses their integers)."""
    return counted_moves(changes, lambda u: u)


def customers_of_pairs(bought: dict[UUID, set[UUID]]) -> Counter[tuple[UUID, UUID]]:
    counts: Counter[tuple[UUID, UUID]] = Counter()
    for products in bought.values():
        counts.update((a, b) for a in products for b in products if a != b)
    return counts


def test_also_bought_deltas_add_up_to_a_count_from_scratch() -> None:
    rng = random.Random(5)
    products = [uuid4() for _ in range(8)]
    users = [uuid4() for _ in range(5)]
    state: dict[UUID, set[UUID]] = {}
    maintained: Counter[tuple[UUID, UUID]] = Counter()
    for _ in range(300):
        user = rng.choice(users)
        after = dict(state)
        after[user] = set(rng.sample(products, rng.randint(0, 5)))
        maintained.update(also_bought_delta({user: state.get(user, set())}, {user: after[user]}))
        state = after
        assert +maintained == customers_of_pairs(state)


def bought_from_scratch(orders: dict[UUID, OrderFact]) -> dict[UUID, dict[UUID, tuple]]:
    found: dict[UUID, dict[UUID, tuple]] = {}
    for o in orders.values():
        if o.counted:
            mine = found.setdefault(o.user_id, {})
            for p in o.products:
                count, last = mine.get(p, (0, o.placed_at))
                mine[p] = (count + 1, max(last, o.placed_at))
    return found


def test_purchased_moved_by_increments_equals_purchased_counted_from_scratch() -> None:
    """The projector's PURCHASED upkeep: increments from the batch alone, a recount only for
    customers whose count went down; writing only what differs reaches the full recount."""
    rng = random.Random(11)
    products, users = [uuid4() for _ in range(6)], [uuid4() for _ in range(4)]
    orders: dict[UUID, OrderFact] = {}
    stored: dict[UUID, dict[UUID, tuple]] = {}
    recounts = 0
    for _ in range(200):
        batch: dict[UUID, OrderFact] = {}
        for _ in range(rng.randint(1, 4)):
            if orders and rng.random() < 0.3:  # a cancellation, a refund, or a repeat
                old = rng.choice(list(orders.values()))
                new = OrderFact(old.id, old.user_id, old.placed_at,
                                old.counted and rng.random() < 0.3, old.products, "card")  # fmt: skip
            else:
                new = OrderFact(uuid4(), rng.choice(users), NOW - timedelta(days=rng.randint(0, 40)),
                                True, tuple(rng.sample(products, rng.randint(1, 3))), "card")  # fmt: skip
            batch[new.id] = new
        changes = [(orders.get(o.id), o) for o in batch.values()]
        after, shrunk = purchases_after(stored, moves(changes))
        orders.update(batch)
        truth = bought_from_scratch(orders)
        for user in shrunk:  # what the adapter's `bought` recount gives
            after[user] = truth.get(user, {})
        recounts += len(shrunk)
        for (user, product), (count, last) in purchase_writes(stored, after).items():
            mine = stored.setdefault(user, {})
            if count:
                mine[product] = (count, last)
            else:
                del mine[product]
        stored = {u: p for u, p in stored.items() if p}
        assert stored == truth
    assert recounts > 0


def test_an_order_counts_once_and_its_cancellation_takes_it_back() -> None:
    a, b, c = uuid4(), uuid4(), uuid4()
    placed = OrderFact(uuid4(), uuid4(), NOW, True, (a, b, c), "card")
    cancelled = OrderFact(placed.id, placed.user_id, NOW, False, (a, b, c), "card")
    first = order_delta(moves([(None, placed)]))
    assert first.bought_together[(a, b)] == 1 and len(first.bought_together) == 6
    assert first.trend[a] == (trend_contribution(1.0, NOW), 1)
    assert order_delta(moves([(placed, placed)])).bought_together == {}
    back = order_delta(moves([(placed, cancelled)]))
    assert all(v == -1 for v in back.bought_together.values()) and back.trend[b][1] == -1
    assert order_delta(moves([(cancelled, cancelled)])).trend == {}


def test_only_paid_orders_count_until_cancelled_or_refunded() -> None:
    assert order_counts("pending", "paid") and order_counts("delivered", "partially_refunded")
    assert not order_counts("pending", "pending")
    assert not order_counts("cancelled", "refunded")
    assert not order_counts("refunded", "refunded")


def test_similarity_needs_a_shared_category_or_brand() -> None:
    cat, other_cat, brand = uuid4(), uuid4(), uuid4()
    a = ProductFact(uuid4(), "A", True, cat, brand, ("colour=red", "size=2"))
    b = ProductFact(uuid4(), "B", True, cat, brand, ("colour=red", "size=3"))
    c = ProductFact(uuid4(), "C", True, other_cat, None, ("colour=red",))
    found = similarity(a, b)
    assert found is not None and found.score == 3.5
    assert found.reason == "similar: same category and brand, 1 shared attribute"
    assert similarity(a, c) is None and similarity(a, a) is None


def test_a_products_similar_list_is_its_best_k_for_sale_ties_by_id() -> None:
    cat, brand = uuid4(), uuid4()
    me = ProductFact(uuid4(), "Me", False, cat, brand, ("colour=red",))
    twins = [ProductFact(UUID(int=i), f"T{i}", True, cat, None, ()) for i in range(30, 0, -1)]
    best = ProductFact(UUID(int=99), "Best", True, cat, brand, ("colour=red",))
    off = ProductFact(UUID(int=0), "Off sale", False, cat, brand, ("colour=red",))
    found = top_similar(me, [*twins, off, best, me], k=5)
    # Best first (3.5); then the ties at 2.0 by id; never the one off sale, nor itself (a
    # product not for sale still has its list).
    assert [(b, s.score) for _, b, s in found] == [(UUID(int=99), 3.5)] + [
        (UUID(int=i), 2.0) for i in (1, 2, 3, 4)
    ]
    assert all(a == me.id for a, _, _ in found)
    assert len(top_similar(me, twins, k=100)) == 30


def test_a_candidate_enters_a_full_list_only_before_its_kth() -> None:
    stored = [(3.0, UUID(int=1)), (2.0, UUID(int=5)), (2.0, UUID(int=7))]
    assert enters_top(stored, 0.5, UUID(int=1), k=4)  # not full: every similar product is in
    assert enters_top(stored, 2.5, UUID(int=9), k=3)
    assert enters_top(stored, 2.0, UUID(int=6), k=3)  # a tie, ranked before the k-th by id
    assert not enters_top(stored, 2.0, UUID(int=8), k=3)
    assert not enters_top(stored, 1.5, UUID(int=0), k=3)


def test_lists_take_in_risen_or_new_products_and_fall_back_to_a_ranking_otherwise() -> None:
    p, q, r, a, b, c, x = (UUID(int=i) for i in (100, 101, 102, 1, 2, 3, 9))

    def edge(src: UUID, dst: UUID, score: float) -> tuple[UUID, UUID, Similarity]:
        return (src, dst, Similarity(score, f"s{score}"))

    stored = {p: [edge(p, a, 3.0), edge(p, b, 2.0), edge(p, c, 2.0)],
              q: [edge(q, a, 3.0), edge(q, b, 2.0), edge(q, c, 2.0)],
              r: [edge(r, a, 3.0), edge(r, b, 2.0), edge(r, c, 2.0)]}  # fmt: skip
    # x (new) enters p's list before b, pushing c out. b rose for q: q's list reorders. b fell
    # for r, or c is no longer a candidate of r: r's 4th is unknown, r is ranked again.
    moved, again = moved_lists(stored, [edge(p, x, 2.5)], {x}, k=3)
    assert again == set() and moved == {p: [edge(p, a, 3.0), edge(p, x, 2.5), edge(p, b, 2.0)]}
    moved, again = moved_lists(
        {q: stored[q], r: stored[r]}, [edge(q, b, 4.0), edge(r, b, 1.0)], {b}, k=3
    )
    assert again == {r} and moved == {q: [edge(q, b, 4.0), edge(q, a, 3.0), edge(q, c, 2.0)]}
    assert moved_lists({r: stored[r]}, [], {c}, k=3) == ({}, {r})  # c: no longer a candidate
    # Nothing new and nothing changed in the list: left out.
    assert moved_lists({p: stored[p]}, [edge(p, x, 1.0)], {x}, k=3) == ({}, set())


def test_recent_behaviour_weighs_more_and_a_bad_review_removes_a_seed() -> None:
    old, fresh, disliked = uuid4(), uuid4(), uuid4()
    signals = [
        Signal(old, "Old", 1, NOW - timedelta(days=60), 0, None, 0, None, None),
        Signal(fresh, "Fresh", 0, None, 0, None, 1, NOW - timedelta(hours=1), None),
        Signal(disliked, "Bad", 1, NOW, 0, None, 0, None, 1),
    ]
    seeds = seed_weights(signals, NOW)
    assert list(seeds) == [fresh, old]
    assert seeds[fresh][1] == "because you viewed Fresh"


def test_the_increments_on_integer_ids_are_the_increments_on_uuids() -> None:
    """The projector computes on `UUID.int` (hashed and compared in C): the same increments as
    on the UUIDs, id for id, and the writes in the same (customer, product) order, which is
    the UUIDs' order as text too (the lock order)."""
    rng = random.Random(3)
    products, users = [uuid4() for _ in range(12)], [uuid4() for _ in range(6)]
    uuid_of = {u.int: u for u in products + users}

    def back(key: object) -> object:
        if isinstance(key, tuple):
            return tuple(uuid_of[k] for k in key)
        return uuid_of[key] if isinstance(key, int) else key

    orders: dict[UUID, OrderFact] = {}
    stored: dict[UUID, dict[UUID, tuple]] = {}
    for _ in range(150):
        batch: dict[UUID, OrderFact] = {}
        for _ in range(rng.randint(1, 6)):
            if orders and rng.random() < 0.3:
                old = rng.choice(list(orders.values()))
                new = OrderFact(old.id, old.user_id, old.placed_at,
                                old.counted and rng.random() < 0.3, old.products, "card")  # fmt: skip
            else:
                new = OrderFact(uuid4(), rng.choice(users), NOW - timedelta(days=rng.randint(0, 40)),
                                rng.random() < 0.9, tuple(rng.sample(products, rng.randint(1, 4))),
                                "card")  # fmt: skip
            batch[new.id] = new
        changes = [(orders.get(o.id), o) for o in batch.values()]
        by_uuid, by_int = moves(changes), counted_moves(changes, lambda u: u.int)
        delta, int_delta = order_delta(by_uuid), order_delta(by_int)
        assert {back(k): v for k, v in int_delta.bought_together.items()} == delta.bought_together
        assert {back(k): v for k, v in int_delta.trend.items()} == delta.trend
        assert {back(u) for u in int_delta.touched_users} == delta.touched_users
        int_stored = {u.int: {p.int: v for p, v in mine.items()} for u, mine in stored.items()}
        after, shrunk = purchases_after(stored, by_uuid)
        int_after, int_shrunk = purchases_after(int_stored, by_int)
        assert {back(u) for u in int_shrunk} == shrunk
        assert {back(u): {back(p): v for p, v in mine.items()} for u, mine in int_after.items()} \
            == after  # fmt: skip
        writes, int_writes = purchase_writes(stored, after), purchase_writes(int_stored, int_after)
        assert [(back(k), v) for k, v in int_writes.items()] == list(writes.items())
        assert list(writes) == sorted(writes, key=lambda k: (str(k[0]), str(k[1])))
        as_sets = {u: set(p) for u, p in stored.items()}, {u: set(p) for u, p in after.items()}
        int_sets = ({u: set(p) for u, p in int_stored.items()},
                    {u: set(p) for u, p in int_after.items()})  # fmt: skip
        also, int_also = also_bought_delta(*as_sets), also_bought_delta(*int_sets)
        assert {back(k): v for k, v in int_also.items()} == also
        for pairs, int_pairs in ((delta.bought_together, int_delta.bought_together),
                                 (also, int_also)):  # fmt: skip
            written = PairDeltas.of(pairs)
            assert PairDeltas.numbered(int_pairs, uuid_of) == written
            assert [((a, b), d) for a, b, d in written.rows()] == sorted(
                pairs.items(), key=lambda kv: (str(kv[0][0]), str(kv[0][1]))
            )
        orders.update(batch)
        stored = {u: p for u, p in after.items() if p}


def test_for_you_sums_each_seeds_part_and_names_the_seed_that_gave_most() -> None:
    a, b, c = (UUID(int=i) for i in (1, 2, 3))  # seeds, in rank order
    x, y, z, bought = (UUID(int=i) for i in (10, 11, 12, 13))
    seeds = {a: (2.0, "because of A"), b: (1.0, "because of B"), c: (1.0, "because of C")}
    near = [
        Neighbour(a, x, "X", 1, 0.0),  # x: 2 x 1 from a, 1 x 3 from b (2 + 1 split in two)
        Neighbour(b, x, "X", 2, 0.0),
        Neighbour(b, x, "X", 0, 1.0),
        Neighbour(b, y, "Y", 0, 2.0),  # y: 2 from b and 2 from c: a tie, the likelier seed
        Neighbour(c, y, "Y", 2, 0.0),
        Neighbour(c, z, "Z", 0, 4.0),  # z: 4, a tie with y, broken by id
        Neighbour(a, bought, "Bought", 9, 0.0),
        Neighbour(uuid4(), bought, "Not a seed", 9, 0.0),
    ]
    found = personalise(seeds, near, {bought}, 10)
    assert [(r.product_id, r.score, r.reason) for r in found] == [
        (x, 5.0, "because of B"), (y, 4.0, "because of B"), (z, 4.0, "because of C"),
    ]  # fmt: skip
    assert personalise(seeds, near, {bought}, 2) == found[:2]
    # The same links in any order, or one Neighbour per seed and product: the same answer.
    rng = random.Random(3)
    for _ in range(20):
        assert personalise(seeds, rng.sample(near, len(near)), {bought}, 10) == found
    merged = [Neighbour(b, x, "X", 2, 1.0), *near[:1], *near[3:]]
    assert personalise(seeds, merged, {bought}, 10) == found


def test_what_a_store_sends_for_you_ranks_exactly_like_every_candidate() -> None:
    """A store scores the candidates with other float arithmetic (here: each score off by up
    to 1e-13 relative) and sends those at or above `personal_cut`: `personalise` over what it
    sends equals `personalise` over every candidate, ties and near-ties included."""
    rng = random.Random(17)
    for _ in range(300):
        seeds = {UUID(int=rng.getrandbits(128)): (rng.choice([0.5, 1.0, 3.0, 1e-10, 2 / 3]),
                                                  f"seed {n}") for n in range(rng.randint(1, 6))}  # fmt: skip
        seeds = dict(sorted(seeds.items(), key=lambda kv: (-round(kv[1][0], 9), str(kv[0]))))
        products = [UUID(int=rng.getrandbits(128)) for _ in range(rng.randint(1, 30))]
        near = [Neighbour(seed, q, "", rng.choice([0, 1, 1, 2, 5]), rng.choice([0.0, 0.5, 2.0]))
                for seed in seeds for q in rng.sample(products, rng.randint(0, len(products)))]  # fmt: skip
        every = personalise(seeds, near, set(), len(products))
        store_scores = {r.product_id: r.score * (1 + rng.uniform(-1e-13, 1e-13)) for r in every}
        for limit in range(1, len(products) + 2):
            cut = personal_cut(store_scores.values(), limit)
            sent = [n for n in near if store_scores.get(n.product_id, -1.0) >= cut]
            assert personalise(seeds, sent, set(), limit) == every[:limit]
            assert len({n.product_id for n in sent}) >= min(limit, len(every))


def test_the_cut_keeps_the_limit_th_and_whatever_is_within_the_margin_behind_it() -> None:
    assert personal_cut([3.0, 1.0], 3) == float("-inf")
    cut = personal_cut([5.0, 2.0, 2.0 - 1e-9, 1.0], 2)
    assert 2.0 - 1e-9 >= cut > 1.0
    assert personal_cut([1e-12, 5e-12], 1) < 0  # below 9 digits everything ties: all are sent
