"""Product listings: filters (category subtree, price, brand, vendor, attributes, status, text),
four sorts and relevance, keyset pagination with opaque cursors."""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Mapping
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any
from uuid import UUID

from psycopg import sql

from polyshop.adapters.postgres import CATEGORY_SUBTREE, WALK_ONLY, fetch_all
from polyshop.codec import dumps
from polyshop.domain.errors import ValidationError
from polyshop.domain.money import parse_money
from polyshop.services.catalog._change import CatalogBase
from polyshop.services.catalog._model import MAX_PAGE, Page, ProductQuery, ProductSummary, Sort

_SORTS: dict[str, tuple[str, str]] = {
    # sort -> (expression, direction); the id breaks ties in the same direction.
    "newest": ("p.created_at", "DESC"),
    "price_asc": ("p.price", "ASC"),
    "price_desc": ("p.price", "DESC"),
    "name": ("p.name", "ASC"),
    "relevance": ("rank", "DESC"),
}


def _encode_cursor(value: object, row_id: UUID) -> str:
    raw = dumps([value, str(row_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str, sort: Sort) -> tuple[Any, UUID]:
    """The (sort key, id) a page ends at, each of the type its column compares with: a cursor
    is client input, and a dict or a number where a time belongs must be a 422, not a query
    the database refuses."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value, row_id = json.loads(base64.urlsafe_b64decode(padded))
        return _cursor_key(sort, value), UUID(row_id)
    except (ValueError, TypeError, ArithmeticError, binascii.Error):
        raise ValidationError("the page cursor is not valid", field="cursor") from None


def _cursor_key(sort: Sort, value: object) -> Any:
    if sort == "newest" and isinstance(value, str):
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is not None:
            return moment
    elif sort in ("price_asc", "price_desc") and isinstance(value, str):
        return parse_money(value, field="cursor")
    elif sort == "name" and isinstance(value, str) and len(value) <= 255 and "\0" not in value:
        value.encode()  # a lone surrogate (JSON allows "\ud800") is not text PostgreSQL takes
        return value
    elif sort == "relevance" and isinstance(value, int | float) and not isinstance(value, bool):
        rank = float(value)
        if math.isfinite(rank):
            return rank
    raise ValueError("a cursor key of the wrong type")


def _cents(amount: Decimal, rounding: str) -> int:
    return int((amount * 100).to_integral_value(rounding))


_COLUMNS = """p.id, p.name, p.slug, p.sku, p.price, p.compare_price, p.status,
                       p.category_id, p.brand_id, p.vendor_id,
                       (SELECT i.url FROM product_images i WHERE i.tenant_id = p.tenant_id
                          AND i.product_id = p.id AND i.is_primary) AS image_url,
                       p.created_at"""


class ProductListing(CatalogBase):
    async def list_products(self, tenant_id: UUID, query: ProductQuery) -> Page:
        if not 1 <= query.limit <= MAX_PAGE:
            raise ValidationError(f"limit must be between 1 and {MAX_PAGE}", field="limit")
        sort = query.sort
        text = (query.text or "").strip()
        if sort == "relevance" and not text:
            raise ValidationError("sorting by relevance needs a search text", field="sort")
        statement, params = listing_statement(query)
        async with self._database.unit_of_work(tenant_id) as uow:
            found = await fetch_all(uow.connection, statement, params, listing_planner(query))
        rows = [ProductSummary(*row) for row in found]
        items = rows[: query.limit]
        next_cursor = None
        if len(rows) > query.limit:
            last = items[-1]
            key = {
                "newest": last.created_at,
                "price_asc": last.price,
                "price_desc": last.price,
                "name": last.name,
                "relevance": last.rank,
            }[sort]
            next_cursor = _encode_cursor(key, last.id)
        return Page(items, next_cursor)


def listing_statement(
    query: ProductQuery, *, by_category_index: bool = True
) -> tuple[sql.Composed, list[Any]]:
    """The statement and parameters `list_products` runs for a (validated) query; with
    `by_category_index=False`, the general statement, which returns the same rows (the plan
    test compares them)."""
    if by_category_index and _by_category_index(query):
        return _category_by_price(query)
    return _statement(query, (query.text or "").strip())


def listing_planner(query: ProductQuery) -> Mapping[str, str] | None:
    """The planner settings `list_products` runs `listing_statement(query)` with: a category
    subtree by price walks each category's index entries in price order (`WALK_ONLY`); with a
    shop's category missing from the table's statistics the planner put its rows at a handful
    and read all of them to sort them instead (514 of 1,500 in a test, a page wanted)."""
    return WALK_ONLY if _by_category_index(query) else None


def _by_category_index(query: ProductQuery) -> bool:
    return (query.category_id is not None and query.status is not None
            and not (query.text or "").strip() and query.sort in ("price_asc", "price_desc"))  # fmt: skip


def _category_by_price(query: ProductQuery) -> tuple[sql.Composed, list[Any]]:
    """A category subtree by price: for each category of the subtree, the first entries of
    `products_category_price_idx` (status, category, price in cents, id) past the cursor,
    then the best of those. Every condition the index serves compares uuid, text or bigint,
    whose operators are leakproof, so row-level security lets them be index conditions
    (a `numeric` price range or an `IN (subtree)` semi-join read every product of the shop:
    docs/benchmarks.md, migration 0016). Same rows, same order as `_statement`."""
    direction = "DESC" if query.sort == "price_desc" else "ASC"
    conditions: list[sql.Composable] = [sql.SQL("p.status = %s"),
                                        sql.SQL("p.category_id = c.id")]  # fmt: skip
    params: list[Any] = [query.category_id, str(query.status)]
    _exact_filters(query, conditions, params)
    if query.min_price is not None:
        conditions.append(sql.SQL("p.price_cents >= %s"))
        params.append(_cents(query.min_price, ROUND_CEILING))
    if query.max_price is not None:
        conditions.append(sql.SQL("p.price_cents <= %s"))
        params.append(_cents(query.max_price, ROUND_FLOOR))
    if query.cursor:
        value, after_id = _decode_cursor(query.cursor, query.sort)
        # A cursor's price has two decimals (parse_money), so its cents are exact.
        conditions.append(
            sql.SQL("(p.price_cents, p.id) {} (%s, %s)").format(
                sql.SQL("<" if direction == "DESC" else ">")
            )
        )
        params.extend([_cents(value, ROUND_FLOOR), after_id])
    statement = sql.SQL(
        """
        SELECT {columns}, NULL::real AS rank
          FROM ({subtree}) AS c
         CROSS JOIN LATERAL (
            SELECT p.tenant_id, p.id, p.name, p.slug, p.sku, p.price, p.price_cents,
                   p.compare_price, p.status, p.category_id, p.brand_id, p.vendor_id,
                   p.created_at
              FROM products p
             WHERE {where}
             ORDER BY p.price_cents {direction}, p.id {direction}
             LIMIT %s
         ) p
         ORDER BY p.price_cents {direction}, p.id {direction}
         LIMIT %s
        """
    ).format(
        columns=sql.SQL(_COLUMNS), subtree=sql.SQL(CATEGORY_SUBTREE),
        where=sql.SQL(" AND ").join(conditions), direction=sql.SQL(direction),
    )  # fmt: skip
    params += [query.limit + 1, query.limit + 1]
    return statement, params


def _exact_filters(
    query: ProductQuery, conditions: list[sql.Composable], params: list[Any]
) -> None:
    """The brand, vendor and attribute filters, the same on both statements."""
    for column, value in (("brand_id", query.brand_id), ("vendor_id", query.vendor_id)):
        if value is not None:
            conditions.append(sql.SQL("p.{} = %s").format(sql.Identifier(column)))
            params.append(value)
    for name, wanted in query.attributes:
        conditions.append(
            sql.SQL(
                "EXISTS (SELECT 1 FROM product_attributes a WHERE a.tenant_id = p.tenant_id"
                " AND a.product_id = p.id AND a.name = %s AND a.value = %s)"
            )
        )
        params.extend([name, wanted])


def _statement(query: ProductQuery, text: str) -> tuple[sql.Composed, list[Any]]:
    sort = query.sort
    conditions: list[sql.Composable] = []
    params: list[Any] = []
    rank = sql.SQL("NULL::real")
    if text:
        rank = sql.SQL("ts_rank_cd(p.search_vector, websearch_to_tsquery('simple', %s))")
        params.append(text)
        conditions.append(sql.SQL("p.search_vector @@ websearch_to_tsquery('simple', %s)"))
        params.append(text)
    if query.status is not None:
        conditions.append(sql.SQL("p.status = %s"))
        params.append(str(query.status))
    if query.category_id is not None:
        conditions.append(sql.SQL("p.category_id IN (" + CATEGORY_SUBTREE + ")"))
        params.append(query.category_id)
    _exact_filters(query, conditions, params)
    if query.min_price is not None:
        conditions.append(sql.SQL("p.price >= %s"))
        params.append(query.min_price)
    if query.max_price is not None:
        conditions.append(sql.SQL("p.price <= %s"))
        params.append(query.max_price)

    expression, direction = _SORTS[sort]
    outer: list[sql.Composable] = []
    if query.cursor:
        value, after_id = _decode_cursor(query.cursor, sort)
        comparison = sql.SQL("<" if direction == "DESC" else ">")
        outer.append(
            sql.SQL("({}, id) {} (%s, %s)").format(
                sql.SQL(expression.removeprefix("p.")), comparison
            )
        )
        params.extend([value, after_id])
    statement = sql.SQL(
        """
        SELECT * FROM (
            SELECT {columns}, {rank} AS rank
              FROM products p
             WHERE {where}
        ) listed
        WHERE {outer}
        ORDER BY {order} {direction}, id {direction}
        LIMIT %s
        """
    ).format(
        columns=sql.SQL(_COLUMNS),
        rank=rank,
        where=sql.SQL(" AND ").join(conditions) if conditions else sql.SQL("true"),
        outer=sql.SQL(" AND ").join(outer) if outer else sql.SQL("true"),
        order=sql.SQL(expression.removeprefix("p.")),
        direction=sql.SQL(direction),
    )
    params.append(query.limit + 1)
    return statement, params
