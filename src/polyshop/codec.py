"""Documents in JSON keep their types the way MongoDB's extended JSON does: Decimal as
{"$numberDecimal": "..."} and datetimes as {"$date": "..."}, so money stays exact."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID


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
