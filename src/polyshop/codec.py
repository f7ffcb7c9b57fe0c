"""JSON that keeps money exact, used by every layer (so it lives in none of them).

- `dumps`: outbox payloads, cached pages and API bodies; Decimal becomes a string, never a
  float.
- `encode`/`decode`: documents in JSON keep their types the way MongoDB's extended JSON does:
  Decimal as {"$numberDecimal": "..."} and datetimes as {"$date": "..."}.
"""

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


def encode(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [encode(v) for v in value]
    if isinstance(value, Decimal):
        return {"$numberDecimal": str(value)}
    if isinstance(value, datetime):
        return {"$date": value.isoformat()}
    if isinstance(value, date):
        return {"$date": datetime(value.year, value.month, value.day).isoformat()}
    if isinstance(value, UUID):
        return str(value)
    return value


def decode(value: Any) -> Any:
    if isinstance(value, dict):
        if len(value) == 1 and "$numberDecimal" in value:
            return Decimal(value["$numberDecimal"])
        if len(value) == 1 and "$date" in value:
            return datetime.fromisoformat(value["$date"])
        return {k: decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode(v) for v in value]
    return value
