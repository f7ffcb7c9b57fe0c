"""Rules that have one home each: event names, roles and permissions, sellable lines, the
hidden purchase cost, who sees which listing."""

from __future__ import annotations

from decimal import Decimal
from uuid import uuid4

import pytest

from polyshop.domain.access import has_cart, listing_scope, orders_scope
from polyshop.domain.catalog import ProductStatus, is_for_sale, line_name, without_purchase_cost
from polyshop.domain.errors import ForbiddenError
from polyshop.domain.events import Aggregate, Event, content_moved_to, created, order_moved_to
from polyshop.domain.identity import Permission, Role, permissions_for
from polyshop.domain.orders import OrderStatus


def test_event_names_are_the_strings_in_the_outbox() -> None:
    assert Event.ORDER_PLACED == "order.placed"
    assert order_moved_to(OrderStatus.SHIPPED) is Event.ORDER_SHIPPED
    assert content_moved_to("published") is Event.CONTENT_PUBLISHED
    assert created(Aggregate.VENDOR) is Event.VENDOR_CREATED
    with pytest.raises(ValueError, match=r"order\.pending"):
        order_moved_to(OrderStatus.PENDING)  # no order ever moves back to pending


def test_every_order_status_an_order_can_reach_has_its_event() -> None:
    from polyshop.domain.orders import allowed_next

    reachable = {target for status in OrderStatus for target in allowed_next(status)}
    assert {order_moved_to(status) for status in reachable} <= set(Event)


def test_role_permissions_are_the_session_strings() -> None:
    assert permissions_for("customer")[:2] == ["read:profile", "write:profile"]
    assert "write:catalog" in permissions_for(Role.TENANT_ADMIN)
    assert "write:catalog" not in permissions_for("vendor_staff")
    assert permissions_for("platform_admin") == []
    assert Permission.READ_ALL_ORDERS == "read:all_orders"


def test_a_line_is_for_sale_when_its_product_and_chosen_variant_are_active() -> None:
    assert is_for_sale("active")
    assert is_for_sale("active", True)
    assert not is_for_sale("active", False)
    assert not is_for_sale("draft")
    assert not is_for_sale("inactive", True)
    assert line_name("Shirt", None) == "Shirt"
    assert line_name("Shirt", "Black") == "Shirt - Black"


def test_the_purchase_cost_is_hidden_in_both_shapes() -> None:
    row = {"name": "Cable", "price": Decimal("4.99"), "cost_price": Decimal("1.00")}
    document = {"name": "Cable", "pricing": {"price": Decimal("4.99"), "costPrice": Decimal("1")}}
    assert without_purchase_cost(row) == {"name": "Cable", "price": Decimal("4.99")}
    assert without_purchase_cost(document) == {
        "name": "Cable",
        "pricing": {"price": Decimal("4.99")},
    }
    assert "costPrice" in document["pricing"]  # the input is left as it was


def test_listing_scope() -> None:
    mine, other = uuid4(), uuid4()
    assert listing_scope(None, (), None, None, other) == (ProductStatus.ACTIVE, other)
    with pytest.raises(ForbiddenError):
        listing_scope("customer", permissions_for("customer"), None, "draft", None)
    admin = permissions_for("tenant_admin")
    assert listing_scope("tenant_admin", admin, None, "draft", other) == (
        ProductStatus.DRAFT,
        other,
    )
    staff = permissions_for("vendor_staff")
    assert listing_scope("vendor_staff", staff, mine, "draft", other) == (ProductStatus.DRAFT, mine)


def test_orders_scope_and_carts() -> None:
    me = uuid4()
    assert orders_scope(permissions_for("customer"), me) == me
    assert orders_scope(permissions_for("tenant_admin"), me) is None
    assert has_cart(permissions_for("customer"))
    assert not has_cart(permissions_for("tenant_admin"))
