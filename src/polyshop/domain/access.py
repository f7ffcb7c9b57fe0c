"""Who may see and change what, beyond the role's permissions: pure rules, no I/O."""

from __future__ import annotations

from uuid import UUID

PUBLIC_PRODUCT_STATUSES = frozenset({"active"})


def manages_product(role: str, staff_vendor: UUID | None, product_vendor: UUID | str) -> bool:
    """Shop admins manage every product; vendor staff only their own vendor's."""
    if role == "tenant_admin":
        return True
    return (
        role == "vendor_staff"
        and staff_vendor is not None
        and str(staff_vendor) == str(product_vendor)
    )


def product_visible(
    status: str, role: str | None, staff_vendor: UUID | None, product_vendor: UUID | str
) -> bool:
    """Anyone sees what is for sale; drafts and archived products only those who manage them."""
    if status in PUBLIC_PRODUCT_STATUSES:
        return True
    return role is not None and manages_product(role, staff_vendor, product_vendor)
