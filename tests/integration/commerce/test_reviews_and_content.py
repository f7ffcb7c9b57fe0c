"""Reviews (verified purchases, one per order, moderation, aggregates) and content pages."""

from __future__ import annotations

from decimal import Decimal

import pytest

from polyshop.domain.errors import (
    ConflictError,
    InvalidTransitionError,
    NotFoundError,
    ValidationError,
)
from tests.support.shops import Shop, make_shop


async def _delivered(shop: Shop, name: str) -> object:
    placed = await shop.app.checkout.place_order(shop.tenant_id, shop.request(shop.line(name)))
    for step in (shop.app.orders.mark_processing, shop.app.orders.ship, shop.app.orders.deliver):
        await step(shop.tenant_id, placed.id)
    return placed


async def test_a_review_is_verified_only_for_a_delivered_purchase(shop: Shop) -> None:
    reviews, t = shop.app.reviews, shop.tenant_id
    unverified = await reviews.write(t, shop.customer_id, shop.products["speaker"], 3)
    assert (unverified.is_verified_purchase, unverified.order_id) == (False, None)
    with pytest.raises(ConflictError, match="already reviewed"):
        await reviews.write(t, shop.customer_id, shop.products["speaker"], 4)

    not_yet = await shop.app.checkout.place_order(t, shop.request(shop.line("headphones")))
    with pytest.raises(ValidationError, match="not a delivered purchase"):
        await reviews.write(
            t, shop.customer_id, shop.products["headphones"], 5, order_id=not_yet.id
        )
    delivered = await _delivered(shop, "headphones")
    verified = await reviews.write(
        t, shop.customer_id, shop.products["headphones"], 5, title="Great"
    )
    assert (verified.is_verified_purchase, verified.order_id) == (True, delivered.id)  # type: ignore[attr-defined]
    with pytest.raises(ConflictError):
        await reviews.write(
            t, shop.customer_id, shop.products["headphones"], 1, order_id=delivered.id
        )  # type: ignore[attr-defined]


async def test_moderation_and_rating_summary(shop: Shop) -> None:
    reviews, t = shop.app.reviews, shop.tenant_id
    product = shop.products["speaker"]
    ratings = []
    for n, rating in enumerate((5, 4, 4, 1)):
        customer = await shop.app.customers.register(
            t, f"c{n}@example.com", "a fine long password", "C", str(n)
        )
        ratings.append(await reviews.write(t, customer.id, product, rating))
    assert (await reviews.summary(t, product)).count == 0
    assert len(await reviews.moderation_queue(t)) == 4
    for review in ratings[:3]:
        await reviews.approve(t, review.id)
    await reviews.reject(t, ratings[3].id)
    summary = await reviews.summary(t, product)
    assert (summary.count, summary.average) == (3, Decimal("4.33"))
    assert summary.distribution == {1: 0, 2: 0, 3: 0, 4: 2, 5: 1}
    assert await reviews.mark_helpful(t, ratings[0].id, shop.customer_id) == 1
    assert await reviews.mark_helpful(t, ratings[0].id, shop.customer_id) == 1  # once per account
    with pytest.raises(NotFoundError):
        await reviews.mark_helpful(t, ratings[3].id, shop.customer_id)
    page = await shop.app.catalog.product(t, product_id=product)
    assert page["rating"] == {"count": 3, "average": Decimal("4.33")}
    with pytest.raises(ValidationError):
        await reviews.write(t, shop.customer_id, product, 6)


async def test_content_pages_lifecycle(shop: Shop) -> None:
    content, t = shop.app.content, shop.tenant_id
    page = await content.create(t, "Shipping Policy", "We ship fast.", page_type="policy")
    assert (page.slug, page.status, page.published_at) == ("shipping-policy", "draft", None)
    with pytest.raises(NotFoundError):
        await content.published(t, "shipping-policy")
    await content.publish(t, page.id)
    first = await content.published(t, "shipping-policy")
    assert first.published_at is not None
    await content.unpublish(t, page.id)
    await content.edit(t, page.id, content="We ship very fast.")
    await content.publish(t, page.id)
    again = await content.published(t, "shipping-policy")
    assert (again.content, again.published_at) == ("We ship very fast.", first.published_at)
    await content.archive(t, page.id)
    with pytest.raises(InvalidTransitionError):
        await content.publish(t, page.id)
    assert await content.list(t, page_type="policy") == []
    with pytest.raises(ConflictError, match="slug already exists"):
        await content.create(t, "Shipping Policy", "dup")
    other = await make_shop(shop.app)
    elsewhere = await content.create(other.tenant_id, "Shipping Policy", "Other shop")
    assert elsewhere.slug == "shipping-policy"
