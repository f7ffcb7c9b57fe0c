"""JSON for outbox payloads and documents: Decimal stays exact (as a string), never a float."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID


def _default(value: object) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def dumps(value: object) -> str:
    return json.dumps(value, default=_default, separators=(",", ":"))
