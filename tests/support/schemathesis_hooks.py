"""Schemathesis hooks (loaded through SCHEMATHESIS_HOOKS by the e2e run): listing cursors are
opaque base64 to the schema, so random strings almost never decode; half the generated
requests of a paged listing carry a crafted cursor instead, one that decodes to JSON of any
shape (objects, numbers, SQL text, NUL characters, huge or non-finite numbers) beside an id."""

from __future__ import annotations

import base64
import json
from typing import Any

import schemathesis
from hypothesis import strategies as st

_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=40)
    | st.sampled_from(["NaN", "Infinity", "1e999999", "x' OR 1=1--", "2026-01-01T00:00:00",
                       "2026-01-01T00:00:00+00:00", "-0.00", "9" * 40, "\u0000"])
)  # fmt: skip
_JSON = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
_ID = st.uuids().map(str) | st.text(max_size=40)


def _encode(value: Any) -> str:
    raw = json.dumps(value, allow_nan=True).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


CRAFTED_CURSORS = st.one_of(
    st.tuples(_JSON, _ID).map(lambda pair: _encode(list(pair))),
    _JSON.map(_encode),
)


@schemathesis.hook
def flatmap_query(ctx: Any, query: dict[str, Any] | None) -> Any:
    if ctx.operation is None or "cursor" not in ctx.operation.query:
        return st.just(query)
    crafted = CRAFTED_CURSORS.map(lambda cursor: {**(query or {}), "cursor": cursor})
    return st.just(query) | crafted
