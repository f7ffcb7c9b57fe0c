"""Identity rules: roles and what each may do (emails, passwords and names: `credentials`)."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """Who a user of a shop is (users.role)."""

    CUSTOMER = "customer"
    VENDOR_STAFF = "vendor_staff"
    TENANT_ADMIN = "tenant_admin"


class Permission(StrEnum):
    """What a role may do; a route asks for one (`Allowed(Permission.WRITE_CATALOG)`)."""

    READ_PROFILE = "read:profile"
    WRITE_PROFILE = "write:profile"
    READ_ORDERS = "read:orders"
    WRITE_ORDERS = "write:orders"
    WRITE_CART = "write:cart"
    WRITE_REVIEWS = "write:reviews"
    READ_PRODUCTS = "read:products"
    WRITE_PRODUCTS = "write:products"
    READ_ORDER_LINES = "read:order_lines"
    WRITE_CATALOG = "write:catalog"
    READ_ALL_ORDERS = "read:all_orders"
    WRITE_FULFILMENT = "write:fulfilment"
    WRITE_REFUNDS = "write:refunds"
    WRITE_CONTENT = "write:content"
    MODERATE_REVIEWS = "moderate:reviews"
    READ_CUSTOMERS = "read:customers"
    MANAGE_STAFF = "manage:staff"
    READ_ANALYTICS = "read:analytics"


P = Permission
# What each role may do; sessions carry these (the spec's `permissions`). Vendor staff are
# further limited to their own vendor's products and order lines (`polyshop.domain.access`).
ROLE_PERMISSIONS: dict[Role, tuple[Permission, ...]] = {
    Role.CUSTOMER: (
        P.READ_PROFILE, P.WRITE_PROFILE, P.READ_ORDERS, P.WRITE_ORDERS, P.WRITE_CART,
        P.WRITE_REVIEWS,
    ),
    Role.VENDOR_STAFF: (
        P.READ_PROFILE, P.WRITE_PROFILE, P.READ_PRODUCTS, P.WRITE_PRODUCTS, P.READ_ORDER_LINES,
    ),
    Role.TENANT_ADMIN: (
        P.READ_PROFILE, P.WRITE_PROFILE, P.READ_PRODUCTS, P.WRITE_PRODUCTS, P.WRITE_CATALOG,
        P.READ_ORDERS, P.WRITE_ORDERS, P.READ_ALL_ORDERS, P.WRITE_FULFILMENT, P.WRITE_REFUNDS,
        P.WRITE_CONTENT, P.MODERATE_REVIEWS, P.READ_CUSTOMERS, P.MANAGE_STAFF, P.READ_ANALYTICS,
    ),
}  # fmt: skip
del P


def permissions_for(role: str) -> list[str]:
    """The permission names of a role (none for a name that is no role)."""
    try:
        return [str(p) for p in ROLE_PERMISSIONS[Role(role)]]
    except ValueError:
        return []
