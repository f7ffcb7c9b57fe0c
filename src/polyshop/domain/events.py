"""The names of what happened: outbox aggregate types and event types, written once.

Producers (the services) append these; projectors compare against them. Both are `StrEnum`s,
so they are the same strings in the outbox as before and a misspelt name fails mypy.
"""

from __future__ import annotations

from enum import StrEnum

from polyshop.domain.orders import OrderStatus


class Aggregate(StrEnum):
    """What an outbox row is about (`aggregate_type`); `aggregate_id` is its id."""

    TENANT = "tenant"
    CATEGORY = "category"
    BRAND = "brand"
    VENDOR = "vendor"
    PRODUCT = "product"
    INVENTORY = "inventory"  # a transfer between two stock items (payload: from, to)
    USER = "user"
    ORDER = "order"
    REVIEW = "review"
    CONTENT_PAGE = "content_page"
    STOREFRONT = "storefront"  # a batch of storefront events (POST /events); id: the batch


class Event(StrEnum):
    """`event_type` of an outbox row."""

    TENANT_CREATED = "tenant.created"
    TENANT_CONFIGURED = "tenant.configured"
    TENANT_STATUS_CHANGED = "tenant.status_changed"

    CATEGORY_CREATED = "category.created"
    CATEGORY_MOVED = "category.moved"
    BRAND_CREATED = "brand.created"
    VENDOR_CREATED = "vendor.created"

    PRODUCT_CREATED = "product.created"
    PRODUCT_UPDATED = "product.updated"
    PRODUCT_STATUS_CHANGED = "product.status_changed"
    PRODUCT_VARIANT_ADDED = "product.variant_added"
    PRODUCT_VARIANT_UPDATED = "product.variant_updated"
    PRODUCT_VARIANT_REMOVED = "product.variant_removed"
    PRODUCT_ATTRIBUTE_SET = "product.attribute_set"
    PRODUCT_ATTRIBUTE_REMOVED = "product.attribute_removed"
    PRODUCT_IMAGE_ADDED = "product.image_added"
    PRODUCT_PRIMARY_IMAGE_SET = "product.primary_image_set"
    PRODUCT_IMAGE_REMOVED = "product.image_removed"

    INVENTORY_CHANGED = "inventory.changed"  # aggregate: the product
    INVENTORY_TRANSFERRED = "inventory.transferred"  # aggregate: the transfer

    USER_REGISTERED = "user.registered"
    USER_UPDATED = "user.updated"
    USER_EMAIL_VERIFIED = "user.email_verified"
    USER_PASSWORD_CHANGED = "user.password_changed"  # noqa: S105 (an event name)
    USER_SIGNED_IN = "user.signed_in"
    USER_SIGN_IN_FAILED = "user.sign_in_failed"
    USER_PROFILE_UPDATED = "user.profile_updated"
    USER_ADDRESS_ADDED = "user.address_added"
    USER_DEFAULT_ADDRESS_SET = "user.default_address_set"
    USER_ADDRESS_REMOVED = "user.address_removed"

    # Stock reserved, payment pending (checkout's first step); then placed (paid) or cancelled.
    ORDER_RESERVED = "order.reserved"
    ORDER_PLACED = "order.placed"
    ORDER_PARTIALLY_REFUNDED = "order.partially_refunded"
    # A refund the gateway paid, settled after the order's own change (a cancelled order's).
    ORDER_REFUND_SETTLED = "order.refund_settled"
    # An order moving to a status is "order.<status>" (order_moved_to).
    ORDER_CONFIRMED = "order.confirmed"
    ORDER_PROCESSING = "order.processing"
    ORDER_SHIPPED = "order.shipped"
    ORDER_DELIVERED = "order.delivered"
    ORDER_CANCELLED = "order.cancelled"
    ORDER_REFUNDED = "order.refunded"

    REVIEW_WRITTEN = "review.written"
    REVIEW_APPROVED = "review.approved"
    REVIEW_REJECTED = "review.rejected"

    CONTENT_CREATED = "content.created"
    CONTENT_EDITED = "content.edited"
    # A page moving to a status is "content.<status>" (content_moved_to).
    CONTENT_DRAFT = "content.draft"
    CONTENT_PUBLISHED = "content.published"
    CONTENT_ARCHIVED = "content.archived"

    # Storefront events accepted by POST /events, one row per batch (payload: {"events": [...]});
    # the analytics and graph projectors both read them.
    STOREFRONT_EVENTS_RECORDED = "storefront.events_recorded"


def order_moved_to(status: OrderStatus | str) -> Event:
    """The event of an order reaching `status` (ValueError for a status with no event)."""
    return Event(f"order.{status}")


def content_moved_to(status: str) -> Event:
    return Event(f"content.{status}")


def created(aggregate: Aggregate) -> Event:
    """ "<aggregate>.created" for the simply named things (brands, vendors, categories...)."""
    return Event(f"{aggregate}.created")
