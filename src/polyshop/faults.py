"""Crash points for fault tests: `POLYSHOP_CRASH_POINTS="checkout.after_reserve=0.2,..."` makes
the process kill itself with SIGKILL (no cleanup, no flush: a real kill -9) at that point with
that probability. Unset in production, where `crash_point` is one dictionary lookup.

The points are the durable steps of a payment: `checkout.after_reserve`,
`checkout.after_charge`, `checkout.after_confirm`, `refund.after_record`,
`refund.after_gateway`.
"""

from __future__ import annotations

import os
import random
import signal


def _parse(spec: str) -> dict[str, float]:
    points: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, probability = item.partition("=")
        points[name.strip()] = float(probability or "1")
    return points


_POINTS = _parse(os.environ.get("POLYSHOP_CRASH_POINTS", ""))


def crash_point(name: str) -> None:
    probability = _POINTS.get(name)
    if probability is not None and random.random() < probability:  # noqa: S311 (not crypto)
        os.kill(os.getpid(), signal.SIGKILL)
