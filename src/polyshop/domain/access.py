"""Who may see and change what, beyond the role's permissions: pure rules, no I/O."""

from __future__ import annotations

from collections.abc import Collection
from uuid import UUID

from polyshop.domain.catalog import ProductStatus
from polyshop.domain.errors import ForbiddenError, ValidationError
from polyshop.domain.identity import Permission, Role

PUBLIC_PRODUCT_STATUSES = frozenset({ProductStatus.ACTIVE})


def manages_every_product(role: str) -> bool:
    """Shop admins manage every product without anyone asking whose it is."""
    return role == Role.TENANT_ADMIN


def manages_product(role: str, staff_vendor: UUID | None, product_vendor: UUID | str) -> bool:
    """Shop admins manage every product; vendor staff only their own vendor's."""
    if manages_every_product(role):
        return True
    return (
        role == Role.VENDOR_STAFF
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
    if role == Role.VENDOR_STAFF:
        if staff_vendor is None or (requested is not None and requested != staff_vendor):
            raise ForbiddenError("vendor staff create products for their own vendor only")
        return staff_vendor
    if requested is None:
        raise ValidationError("vendor_id is required", field="vendor_id")
    return requested


def listing_scope(
    role: str | None, permissions: Collection[str], staff_vendor: UUID | None,
    status: str | None, vendor_id: UUID | None,
) -> tuple[ProductStatus, UUID | None]:  # fmt: skip
    """Which status and vendor a product listing shows: products for sale unless staff ask for
    another status; vendor staff only their own vendor's products, whatever they asked for."""
    wanted = ProductStatus.ACTIVE
    if status is not None and status != ProductStatus.ACTIVE:
        if Permission.READ_PRODUCTS not in permissions:
            raise ForbiddenError("only staff can list products that are not for sale")
        wanted = ProductStatus(status)
    if role == Role.VENDOR_STAFF:
        vendor_id = staff_vendor
    return wanted, vendor_id


def orders_scope(permissions: Collection[str], user_id: UUID) -> UUID | None:
    """Whose orders a caller sees: None (every order) for those who may read all, else their
    own only."""
    return None if Permission.READ_ALL_ORDERS in permissions else user_id


def has_cart(permissions: Collection[str]) -> bool:
    """Only customers (and anonymous visitors) have carts."""
    return Permission.WRITE_CART in permissions
