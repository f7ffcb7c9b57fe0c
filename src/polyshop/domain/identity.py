"""Identity rules: what each role may do (emails, passwords and names: `credentials`)."""

from __future__ import annotations

# What each role may do; sessions carry these (the spec's `permissions`). Vendor staff are
# further limited to their own vendor's products and order lines (`polyshop.domain.access`).
ROLE_PERMISSIONS: dict[str, tuple[str, ...]] = {
    "customer": (
        "read:profile", "write:profile", "read:orders", "write:orders", "write:cart",
        "write:reviews",
    ),
    "vendor_staff": (
        "read:profile", "write:profile", "read:products", "write:products", "read:order_lines",
    ),
    "tenant_admin": (
        "read:profile", "write:profile", "read:products", "write:products", "write:catalog",
        "read:orders", "write:orders", "read:all_orders", "write:fulfilment", "write:refunds",
        "write:content", "moderate:reviews", "read:customers", "manage:staff", "read:analytics",
    ),
}  # fmt: skip


def permissions_for(role: str) -> list[str]:
    return list(ROLE_PERMISSIONS.get(role, ()))
