"""Reviews: one per product, customer and order; verified when bought and delivered; moderated."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NamedTuple
from uuid import UUID

from polyshop.adapters.postgres import Database, domain_errors
from polyshop.domain.access import product_visible
from polyshop.domain.errors import ForbiddenError, NotFoundError, ValidationError
from polyshop.domain.events import Aggregate, Event


class Viewer(NamedTuple):
    """Who asks, for the visibility rule of products (`domain.access.product_visible`)."""

    role: str | None = None
    vendor_id: UUID | None = None


PUBLIC = Viewer()


@dataclass(frozen=True, slots=True)
class Review:
    id: UUID
    product_id: UUID
    user_id: UUID
    order_id: UUID | None
    rating: int
    title: str | None
    content: str | None
    is_verified_purchase: bool
    is_approved: bool
    helpful_count: int


@dataclass(frozen=True, slots=True)
class RatingSummary:
    count: int
    average: Decimal | None
    distribution: dict[int, int]


# The helpful count is derived from the votes (one row per account), never stored.
_COLUMNS = (
    "id, product_id, user_id, order_id, rating, title, content, is_verified_purchase,"
    " is_approved, (SELECT count(*) FROM review_votes v WHERE v.tenant_id = reviews.tenant_id"
    " AND v.review_id = reviews.id)::integer AS helpful_count"
)


class ReviewService:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def write(
        self, tenant_id: UUID, customer_id: UUID, product_id: UUID, rating: int, *,
        title: str | None = None, content: str | None = None, order_id: UUID | None = None,
        viewer: Viewer = PUBLIC,
    ) -> Review:  # fmt: skip
        """A review awaiting moderation. It is a verified purchase when it belongs to one of the
        customer's delivered orders containing the product: the one given, or else the latest
        delivered order not reviewed yet. A product the writer cannot see is not found."""
        if not isinstance(rating, int) or not 1 <= rating <= 5:
            raise ValidationError("rating must be a whole number from 1 to 5", field="rating")
        async with self._database.unit_of_work(tenant_id) as uow:
            connection = uow.connection
            await _visible_product(connection, product_id, viewer, lock=True)
            if order_id is not None:
                cursor = await connection.execute(
                    _DELIVERED_PURCHASE + " AND o.id = %s", (customer_id, product_id, order_id)
                )
                if await cursor.fetchone() is None:
                    raise ValidationError(
                        "that order is not a delivered purchase of this product by this customer",
                        field="order_id",
                    )
            else:
                cursor = await connection.execute(
                    _DELIVERED_PURCHASE
                    + " AND NOT EXISTS (SELECT 1 FROM reviews r WHERE r.tenant_id = o.tenant_id"
                    " AND r.order_id = o.id AND r.product_id = %s AND r.user_id = %s)"
                    " ORDER BY o.delivered_at DESC LIMIT 1",
                    (customer_id, product_id, product_id, customer_id),
                )
                found = await cursor.fetchone()
                order_id = found[0] if found else None
            with domain_errors():
                cursor = await connection.execute(
                    "INSERT INTO reviews (tenant_id, product_id, user_id, order_id, rating, title,"
                    " content, is_verified_purchase) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
                    f" RETURNING {_COLUMNS}",
                    (tenant_id, product_id, customer_id, order_id, rating, title, content,
                     order_id is not None),
                )  # fmt: skip
            review = Review(*await cursor.fetchone())  # type: ignore[misc]
            await uow.append_event(Aggregate.REVIEW, review.id, Event.REVIEW_WRITTEN,
                {"product_id": product_id, "rating": rating, "verified": review.is_verified_purchase},
            )  # fmt: skip
            await uow.commit()
        return review

    async def approve(self, tenant_id: UUID, review_id: UUID) -> None:
        async with self._database.unit_of_work(tenant_id) as uow:
            cursor = await uow.connection.execute(
                "UPDATE reviews SET is_approved = true WHERE id = %s RETURNING product_id",
                (review_id,),
            )
            row = await cursor.fetchone()
            if row is None:
                raise NotFoundError("review not found")
            await uow.append_event(
                Aggregate.REVIEW, review_id, Event.REVIEW_APPROVED, {"product_id": row[0]}
            )
            await uow.commit()

    async def reject(self, tenant_id: UUID, review_id: UUID) -> None:
        """A rejected review is removed, with its images."""
        async with self._database.unit_of_work(tenant_id) as uow:
            cursor = await uow.connection.execute(
                "DELETE FROM reviews WHERE id = %s RETURNING product_id", (review_id,)
            )
            row = await cursor.fetchone()
            if row is None:
                raise NotFoundError("review not found")
            await uow.append_event(
                Aggregate.REVIEW, review_id, Event.REVIEW_REJECTED, {"product_id": row[0]}
            )
            await uow.commit()

    async def mark_helpful(
        self, tenant_id: UUID, review_id: UUID, voter: UUID, *, viewer: Viewer = PUBLIC
    ) -> int:
        """One vote per account and review (voting again changes nothing), never for one's own
        review, only for approved reviews of products the voter can see; returns the count."""
        async with self._database.unit_of_work(tenant_id) as uow:
            cursor = await uow.connection.execute(
                "SELECT r.user_id, p.status, p.vendor_id FROM reviews r JOIN products p"
                " ON p.tenant_id = r.tenant_id AND p.id = r.product_id"
                " WHERE r.id = %s AND r.is_approved FOR SHARE OF r",
                (review_id,),
            )
            row = await cursor.fetchone()
            if row is None or not product_visible(row[1], viewer.role, viewer.vendor_id, row[2]):
                raise NotFoundError("review not found")
            if row[0] == voter:
                raise ForbiddenError("you cannot vote for your own review")
            with domain_errors():
                await uow.connection.execute(
                    "INSERT INTO review_votes (tenant_id, review_id, user_id) VALUES (%s, %s, %s)"
                    " ON CONFLICT DO NOTHING",
                    (tenant_id, review_id, voter),
                )
            cursor = await uow.connection.execute(
                "SELECT count(*) FROM review_votes WHERE review_id = %s", (review_id,)
            )
            (count,) = await cursor.fetchone()  # type: ignore[misc]
            await uow.commit()
        return int(count)

    async def for_product(
        self, tenant_id: UUID, product_id: UUID, *, include_pending: bool = False,
        viewer: Viewer = PUBLIC,
    ) -> list[Review]:  # fmt: skip
        condition = "" if include_pending else " AND is_approved"
        async with self._database.unit_of_work(tenant_id) as uow:
            await _visible_product(uow.connection, product_id, viewer)
            cursor = await uow.connection.execute(
                f"SELECT {_COLUMNS} FROM reviews WHERE product_id = %s{condition}"
                " ORDER BY created_at DESC, id",
                (product_id,),
            )
            return [Review(*row) for row in await cursor.fetchall()]

    async def moderation_queue(self, tenant_id: UUID, *, limit: int = 50) -> list[Review]:
        async with self._database.unit_of_work(tenant_id) as uow:
            cursor = await uow.connection.execute(
                f"SELECT {_COLUMNS} FROM reviews WHERE NOT is_approved ORDER BY created_at LIMIT %s",
                (limit,),
            )
            return [Review(*row) for row in await cursor.fetchall()]

    async def summary(
        self, tenant_id: UUID, product_id: UUID, *, viewer: Viewer = PUBLIC
    ) -> RatingSummary:
        """Count, average and distribution of the approved ratings."""
        async with self._database.unit_of_work(tenant_id) as uow:
            await _visible_product(uow.connection, product_id, viewer)
            cursor = await uow.connection.execute(
                "SELECT rating, count(*) FROM reviews WHERE product_id = %s AND is_approved"
                " GROUP BY rating",
                (product_id,),
            )
            counts = {int(rating): int(n) for rating, n in await cursor.fetchall()}
        total = sum(counts.values())
        average = (
            (Decimal(sum(r * n for r, n in counts.items())) / total).quantize(Decimal("0.01"))
            if total
            else None
        )
        return RatingSummary(total, average, {r: counts.get(r, 0) for r in range(1, 6)})


_DELIVERED_PURCHASE = """
    SELECT o.id FROM orders o
     WHERE o.user_id = %s AND o.status = 'delivered'
       AND EXISTS (SELECT 1 FROM order_items i WHERE i.tenant_id = o.tenant_id
                      AND i.order_id = o.id AND i.product_id = %s)
"""


async def _visible_product(
    connection: Any, product_id: UUID, viewer: Viewer, *, lock: bool = False
) -> None:
    """Reviews follow their product's visibility: what a caller cannot read (a draft, an
    archived product, another vendor's unpublished one) is not found for its reviews either,
    so they cannot tell which hidden ids exist."""
    cursor = await connection.execute(
        "SELECT status, vendor_id FROM products WHERE id = %s" + (" FOR SHARE" if lock else ""),
        (product_id,),
    )
    row = await cursor.fetchone()
    if row is None or not product_visible(row[0], viewer.role, viewer.vendor_id, row[1]):
        raise NotFoundError("product not found")
