"""Who may see and change what, beyond the role's permissions: pure rules, no I/O."""

from __future__ import annotations

from uuid import UUID

from polyshop.domain.errors import ForbiddenError, ValidationError

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


def vendor_of_new_product(role: str, staff_vendor: UUID | None, requested: UUID | None) -> UUID:
    """Whose a new product is: vendor staff create for their own vendor (saying so or not);
    shop admins name the vendor."""
    if role == "vendor_staff":
        if staff_vendor is None or (requested is not None and requested != staff_vendor):
            raise ForbiddenError("vendor staff create products for their own vendor only")
        return staff_vendor
    if requested is None:
        raise ValidationError("vendor_id is required", field="vendor_id")
    return requested
