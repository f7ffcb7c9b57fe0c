"""Shapes and helpers every router shares: money, ids, pages with next links, problems."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID

from fastapi import Request, Response
from pydantic import BaseModel, ConfigDict, Field, PlainSerializer

from polyshop.api._problems import Problem
from polyshop.domain.errors import ValidationError

# Money goes out as an exact decimal string ("19.99") and comes in the same way: a JSON number
# could be read as a binary float on the way.
Money = Annotated[Decimal, PlainSerializer(str, return_type=str, when_used="json")]
MoneyIn = Annotated[
    str,
    Field(pattern=r"^\d{1,10}(\.\d{1,2})?$", examples=["19.99"], description="A decimal string"),
]
Name = Annotated[str, Field(min_length=1, max_length=255)]
Slug = Annotated[str, Field(pattern=r"^[a-z0-9](?:[a-z0-9-]{0,253}[a-z0-9])?$", max_length=255)]
Text = Annotated[str, Field(max_length=20_000)]
Limit = Annotated[int, Field(ge=1, le=100)]

PROBLEMS: dict[int | str, dict[str, Any]] = {
    "4XX": {"model": Problem, "description": "The request was refused (RFC 9457 problem)."},
    "5XX": {"model": Problem, "description": "A store or the gateway failed (RFC 9457 problem)."},
}


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Created(BaseModel):
    id: UUID


def page(request: Request, response: Response, items: Any, next_cursor: str | None) -> Any:
    """A page body whose `next` is this URL with the next cursor (null on the last page),
    also sent as a `Link: <...>; rel="next"` header."""
    link = None
    if next_cursor is not None:
        link = str(
            request.url.include_query_params(cursor=next_cursor).replace(scheme="", netloc="")
        )
        response.headers["Link"] = f'<{link}>; rel="next"'
    return {"items": items, "next": link}


def cursor_after(items: Sequence[Any], limit: int, moment: str) -> str | None:
    """The next page's cursor when this page is full: the last item's (`moment`, id)."""
    if len(items) < limit:
        return None
    raw = json.dumps([getattr(items[-1], moment).isoformat(), str(items[-1].id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_position(cursor: str | None) -> tuple[datetime, UUID] | None:
    if cursor is None:
        return None
    try:
        moment, row_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return datetime.fromisoformat(moment), UUID(row_id)
    except (ValueError, TypeError):
        raise ValidationError("the page cursor is not valid", field="cursor") from None
