"""The streamed graph verify's merge (`sync.graph.merge`), over pages given in memory:
whatever the pages' sizes on either side, it reports what comparing the two wholes reports."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import pytest

from polyshop.domain.recommendations import snapshot_drift
from polyshop.ports import Drift
from polyshop.sync.graph import merge

TENANT = UUID(int=7)
Item = tuple[str, tuple[Any, ...]]


async def pages(items: list[Item], sizes: list[int]) -> AsyncIterator[list[Item]]:
    """`items` cut into pages of the given sizes in turn (an empty page now and then)."""
    start, turn = 0, 0
    while start < len(items):
        size = sizes[turn % len(sizes)]
        turn += 1
        yield items[start : start + size]
        start += size


async def merged(want: list[Item], got: list[Item], a: list[int], b: list[int]) -> Drift:
    drift = Drift()
    await merge(TENANT, "ALSO_BOUGHT", pages(want, a), pages(got, b), drift, 1.0)
    return drift


def whole(want: list[Item], got: list[Item]) -> Drift:
    missing, extra, different = snapshot_drift({"ALSO_BOUGHT": dict(want)},
                                               {"ALSO_BOUGHT": dict(got)})  # fmt: skip
    return Drift([(TENANT, *m) for m in missing], [(TENANT, *e) for e in extra],
                 [(TENANT, *d) for d in different], len(want))  # fmt: skip


@pytest.mark.parametrize("seed", range(40))
async def test_any_pages_give_what_the_whole_comparison_gives(seed: int) -> None:
    rng = random.Random(seed)
    keys = sorted(f"{rng.randrange(16):x}>{rng.randrange(16):x}" for _ in range(rng.randrange(40)))
    keys = sorted(set(keys))
    want = [(k, (rng.randrange(3),)) for k in keys if rng.random() < 0.8]
    got = [(k, (v[0] if rng.random() < 0.8 else v[0] + 1,)) for k, v in want if rng.random() < 0.8]
    got = sorted(got + [(k, (1,)) for k in keys if rng.random() < 0.2 and k not in dict(want)])
    a = [rng.choice([0, 1, 2, 3, 7]) or 1 for _ in range(5)]
    b = [rng.choice([0, 1, 2, 5]) for _ in range(5)] + [1]
    assert await merged(want, got, a, b) == whole(want, got)


async def test_one_side_empty_and_floats_within_the_tolerance() -> None:
    items: list[Item] = [("a>b", (1.0,)), ("a>c", (2.0,)), ("b>a", (3.0,))]
    assert await merged(items, [], [2], [1]) == whole(items, [])
    assert await merged([], items, [1], [2]) == whole([], items)
    close: list[Item] = [(k, (v[0] + 1e-12,)) for k, v in items]  # type: ignore[operator]
    assert (await merged(items, close, [1], [2])).clean


async def test_a_side_out_of_key_order_stops_the_verify() -> None:
    unordered: list[Any] = [("b>a", (1,)), ("a>b", (1,))]
    with pytest.raises(RuntimeError, match="key order"):
        await merged(unordered, [], [2], [1])
    with pytest.raises(RuntimeError, match="key order"):  # across pages too
        await merged([], unordered, [1], [1])


def test_only_a_products_trend_takes_the_trend_scale() -> None:
    """The trend's tolerance (1e-9 of a contribution made now: 2^47 in late 2026) is for a
    Product's trend sum; a similarity score or a for-sale list's weight off by 0.5 is drift."""
    scale = 2.0**47
    product = {"Product": {"p": ("Cable", True, None, None, (), 100.0, 3)}}
    trend = {"Product": {"p": ("Cable", True, None, None, (), 100.5, 3)}}
    assert snapshot_drift(product, trend, float_scale=scale) == ([], [], [])
    assert snapshot_drift(product, trend) == ([], [], [("Product", "p")])
    for label, value, off in [("SIMILAR_TO", (2.5, "same category"), (3.0, "same category")),
                              ("list:SIMILAR_TO", (("q",), 2.5), (("q",), 3.0))]:  # fmt: skip
        found = snapshot_drift({label: {"p>q": value}}, {label: {"p>q": off}}, float_scale=scale)
        assert found == ([], [], [(label, "p>q")]), label
