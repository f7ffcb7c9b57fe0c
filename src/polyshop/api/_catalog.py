"""Catalog over HTTP: categories, brands, vendors, products, variants, attributes, images,
stock, listing and search. Reads are public (drafts only for those who manage them); changes
need `write:catalog` (structure) or `write:products` (vendor staff: their vendor's only)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response, status
from pydantic import Field

from polyshop.api._catalog_models import (
    AttributeIn,
    BrandIn,
    CategoryIn,
    CategoryMove,
    ImageIn,
    ProductIn,
    ProductList,
    ProductPage,
    ProductPatch,
    StatusIn,
    StatusName,
    StockChange,
    StockLevel,
    VariantIn,
    VariantPatch,
    VendorIn,
)
from polyshop.api._common import (
    PROBLEMS,
    Created,
    Limit,
    Model,
    MoneyIn,
    Slug,
    page,
)
from polyshop.api._context import (
    Allowed,
    MaybePrincipal,
    Principal,
    Services,
    Tenant,
    current_tenant,
    optional_principal,
    rate_limit,
)
from polyshop.bootstrap import Container
from polyshop.codec import dumps
from polyshop.domain.access import (
    listing_scope,
    manages_every_product,
    manages_product,
    product_visible,
    vendor_of_new_product,
)
from polyshop.domain.catalog import ProductStatus
from polyshop.domain.errors import NotFoundError, ValidationError
from polyshop.domain.identity import Permission
from polyshop.services.catalog import (
    Brand,
    Category,
    ProductDraft,
    ProductQuery,
    Sort,
    VariantDraft,
    Vendor,
)
from polyshop.services.inventory import StockItem

router = APIRouter(tags=["catalog"], responses=PROBLEMS, dependencies=[Depends(rate_limit)])

CatalogAdmin = Annotated[Principal, Depends(Allowed(Permission.WRITE_CATALOG))]
ProductWriter = Annotated[Principal, Depends(Allowed(Permission.WRITE_PRODUCTS))]
# The product page is the hottest route: it has its own router (listed first, so it is matched
# first) and resolves tenant and caller by plain calls instead of FastAPI dependencies.
storefront = APIRouter(tags=["catalog"], responses=PROBLEMS)


@storefront.get(
    "/products/{product_id}",
    response_model=ProductPage,
    responses={304: {"description": "Not modified (the ETag matched)."}},
)
async def product_page(product_id: UUID, request: Request) -> Response:
    """The product page, from the caches; `ETag` and `If-None-Match` save the body."""
    tenant_id = await current_tenant(request)
    principal = await optional_principal(request, tenant_id)
    container: Container = request.app.state.container
    entry = await container.catalog_reads.product_page_entry(tenant_id, product_id)
    role, vendor = (principal.role, principal.vendor_id) if principal else (None, None)
    if not product_visible(entry.status, role, vendor, entry.vendor_id):
        raise NotFoundError("product not found")
    headers = {"ETag": entry.etag, "Cache-Control": "no-cache"}
    if entry.etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(entry.body, media_type="application/json", headers=headers)


@storefront.get("/storefront/products/{slug}", response_model=dict[str, Any])
async def product_document(
    slug: Slug, container: Services, tenant_id: Tenant, _: MaybePrincipal
) -> Response:
    """The product as its document in the document store (one read, no joins; the relay keeps
    it up to date, a moment behind PostgreSQL). Only products for sale."""
    document = await container.document_reads.storefront_product_by_slug(tenant_id, slug)
    return Response(dumps(document), media_type="application/json")


@storefront.get(
    "/storefront/categories/{category_id}/products", response_model=list[dict[str, Any]]
)
async def category_documents(
    category_id: UUID, container: Services, tenant_id: Tenant, _: MaybePrincipal,
    limit: Limit = 50,
) -> Response:  # fmt: skip
    """A category's products for sale, by name, from the document store."""
    documents = await container.document_reads.category_listing(tenant_id, category_id, limit=limit)
    return Response(dumps(documents), media_type="application/json")


def _changes(patch: Model) -> dict[str, Any]:
    return patch.model_dump(exclude_unset=True)


async def _manage(container: Services, tenant_id: UUID, who: Principal, **ids: UUID) -> None:
    """Vendor staff may touch only their vendor's things; another vendor's look absent."""
    if manages_every_product(who.role):
        return
    owner = await container.catalog.owner_vendor(tenant_id, **ids)
    if not manages_product(who.role, who.vendor_id, owner):
        raise NotFoundError(f"{next(iter(ids)).removesuffix('_id')} not found")


# -- categories, brands, vendors --------------------------------------------------------------


@router.get("/categories", response_model=list[Category])
async def list_categories(container: Services, tenant_id: Tenant) -> list[Any]:
    return list(await container.catalog.categories(tenant_id))


@router.post("/categories", status_code=status.HTTP_201_CREATED, response_model=Category)
async def create_category(
    body: CategoryIn, container: Services, tenant_id: Tenant, _: CatalogAdmin
) -> Any:
    return await container.catalog.create_category(tenant_id, **body.model_dump())


@router.put("/categories/{category_id}/parent", status_code=status.HTTP_204_NO_CONTENT)
async def move_category(
    category_id: UUID, body: CategoryMove, container: Services, tenant_id: Tenant, _: CatalogAdmin
) -> None:
    await container.catalog.move_category(tenant_id, category_id, body.parent_id)


@router.get("/brands", response_model=list[Brand])
async def list_brands(container: Services, tenant_id: Tenant) -> Any:
    return await container.catalog.brands(tenant_id)


@router.get("/vendors", response_model=list[Vendor])
async def list_vendors(
    container: Services,
    tenant_id: Tenant,
    _: Annotated[Principal, Depends(Allowed(Permission.READ_PRODUCTS))],
) -> Any:
    """Vendors with their contact addresses: for staff."""
    return await container.catalog.vendors(tenant_id)


@router.post("/brands", status_code=status.HTTP_201_CREATED, response_model=Created)
async def create_brand(
    body: BrandIn, container: Services, tenant_id: Tenant, _: CatalogAdmin
) -> Any:
    return {"id": await container.catalog.create_brand(tenant_id, **body.model_dump())}


@router.post("/vendors", status_code=status.HTTP_201_CREATED, response_model=Created)
async def create_vendor(
    body: VendorIn, container: Services, tenant_id: Tenant, _: CatalogAdmin
) -> Any:
    return {"id": await container.catalog.create_vendor(tenant_id, **body.model_dump())}


# -- products ------------------------------------------------------------------------------


@router.get("/products", response_model=ProductList)
async def list_products(
    request: Request, response: Response, container: Services, tenant_id: Tenant,
    principal: MaybePrincipal,
    q: Annotated[str | None, Query(max_length=200, description="Full-text search")] = None,
    category_id: UUID | None = None, brand_id: UUID | None = None,
    vendor_id: UUID | None = None,
    min_price: MoneyIn | None = None, max_price: MoneyIn | None = None,
    attribute: Annotated[
        list[str] | None,
        Query(max_length=20, description="`name:value`; every one must match"),
    ] = None,
    status_filter: Annotated[
        StatusName | None, Query(alias="status", description="Staff only; default active")
    ] = None,
    sort: Sort = "newest", limit: Limit = 20,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Any:  # fmt: skip
    wanted_status, vendor_id = listing_scope(
        principal.role if principal else None, principal.permissions if principal else (),
        principal.vendor_id if principal else None, status_filter, vendor_id,
    )  # fmt: skip
    pairs = []
    for item in attribute or []:
        name, sep, value = item.partition(":")
        if not sep or not name:
            raise ValidationError("attribute filters look like name:value", field="attribute")
        pairs.append((name, value))
    query = ProductQuery(
        category_id=category_id, brand_id=brand_id, vendor_id=vendor_id,
        min_price=None if min_price is None else Decimal(min_price),
        max_price=None if max_price is None else Decimal(max_price),
        attributes=tuple(pairs), status=wanted_status, text=q, sort=sort, limit=limit,
        cursor=cursor,
    )  # fmt: skip
    found = await container.catalog_reads.search(tenant_id, query)
    return page(request, response, found["items"], found["next_cursor"])


@router.post("/products", status_code=status.HTTP_201_CREATED, response_model=Created)
async def create_product(
    body: ProductIn, response: Response, container: Services, tenant_id: Tenant,
    who: ProductWriter,
) -> Any:  # fmt: skip
    vendor_id = vendor_of_new_product(who.role, who.vendor_id, body.vendor_id)
    fields = body.model_dump(exclude={"variants", "attributes", "images", "vendor_id"})
    draft = ProductDraft(
        **fields,
        vendor_id=vendor_id,
        variants=tuple(VariantDraft(**v.model_dump()) for v in body.variants),
        attributes=tuple((a.name, a.value, a.type) for a in body.attributes),
        images=tuple((i.url, i.alt_text) for i in body.images),
    )
    product_id = await container.catalog.create_product(tenant_id, draft)
    response.headers["Location"] = f"/products/{product_id}"
    return {"id": product_id}


@router.patch("/products/{product_id}", status_code=status.HTTP_204_NO_CONTENT)
async def update_product(
    product_id: UUID, body: ProductPatch, container: Services, tenant_id: Tenant,
    who: ProductWriter,
) -> None:  # fmt: skip
    await _manage(container, tenant_id, who, product_id=product_id)
    await container.catalog.update_product(tenant_id, product_id, **_changes(body))


@router.put("/products/{product_id}/status", status_code=status.HTTP_204_NO_CONTENT)
async def change_product_status(
    product_id: UUID, body: StatusIn, container: Services, tenant_id: Tenant, who: ProductWriter
) -> None:
    await _manage(container, tenant_id, who, product_id=product_id)
    await container.catalog.change_status(tenant_id, product_id, ProductStatus(body.status))


@router.post(
    "/products/{product_id}/variants", status_code=status.HTTP_201_CREATED, response_model=Created
)
async def add_variant(
    product_id: UUID, body: VariantIn, container: Services, tenant_id: Tenant, who: ProductWriter
) -> Any:
    await _manage(container, tenant_id, who, product_id=product_id)
    draft = VariantDraft(**body.model_dump())
    return {"id": await container.catalog.add_variant(tenant_id, product_id, draft)}


@router.patch("/variants/{variant_id}", status_code=status.HTTP_204_NO_CONTENT)
async def update_variant(
    variant_id: UUID, body: VariantPatch, container: Services, tenant_id: Tenant,
    who: ProductWriter,
) -> None:  # fmt: skip
    await _manage(container, tenant_id, who, variant_id=variant_id)
    await container.catalog.update_variant(tenant_id, variant_id, **_changes(body))


@router.delete("/variants/{variant_id}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_variant(
    variant_id: UUID, container: Services, tenant_id: Tenant, who: ProductWriter
) -> None:
    await _manage(container, tenant_id, who, variant_id=variant_id)
    await container.catalog.remove_variant(tenant_id, variant_id)


@router.put("/products/{product_id}/attributes/{name}", status_code=status.HTTP_204_NO_CONTENT)
async def set_attribute(
    product_id: UUID, name: Annotated[str, Field(min_length=1, max_length=100)], body: AttributeIn,
    container: Services, tenant_id: Tenant, who: ProductWriter,
) -> None:  # fmt: skip
    await _manage(container, tenant_id, who, product_id=product_id)
    await container.catalog.set_attribute(tenant_id, product_id, name, body.value, body.type)


@router.delete("/products/{product_id}/attributes/{name}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_attribute(
    product_id: UUID, name: Annotated[str, Field(min_length=1, max_length=100)],
    container: Services, tenant_id: Tenant, who: ProductWriter,
) -> None:  # fmt: skip
    await _manage(container, tenant_id, who, product_id=product_id)
    await container.catalog.remove_attribute(tenant_id, product_id, name)


@router.post(
    "/products/{product_id}/images", status_code=status.HTTP_201_CREATED, response_model=Created
)
async def add_image(
    product_id: UUID, body: ImageIn, container: Services, tenant_id: Tenant, who: ProductWriter
) -> Any:
    await _manage(container, tenant_id, who, product_id=product_id)
    image_id = await container.catalog.add_image(
        tenant_id, product_id, body.url, alt_text=body.alt_text, primary=body.primary
    )
    return {"id": image_id}


@router.put("/images/{image_id}/primary", status_code=status.HTTP_204_NO_CONTENT)
async def set_primary_image(
    image_id: UUID, container: Services, tenant_id: Tenant, who: ProductWriter
) -> None:
    await _manage(container, tenant_id, who, image_id=image_id)
    await container.catalog.set_primary_image(tenant_id, image_id)


@router.delete("/images/{image_id}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_image(
    image_id: UUID, container: Services, tenant_id: Tenant, who: ProductWriter
) -> None:
    await _manage(container, tenant_id, who, image_id=image_id)
    await container.catalog.remove_image(tenant_id, image_id)


# -- stock ---------------------------------------------------------------------------------


@router.get("/products/{product_id}/stock", response_model=StockLevel)
async def stock_level(
    product_id: UUID, container: Services, tenant_id: Tenant, who: ProductWriter,
    variant_id: UUID | None = None,
) -> Any:  # fmt: skip
    await _manage(container, tenant_id, who, product_id=product_id)
    level = await container.inventory.level(tenant_id, StockItem(product_id, variant_id))
    return {"product_id": product_id, "variant_id": variant_id, "level": level}


@router.post("/products/{product_id}/stock", response_model=StockLevel)
async def adjust_stock(
    product_id: UUID, body: StockChange, container: Services, tenant_id: Tenant,
    who: ProductWriter,
) -> Any:  # fmt: skip
    """Record received goods (+) or a correction (-): every change goes through the ledger."""
    await _manage(container, tenant_id, who, product_id=product_id)
    item = StockItem(product_id, body.variant_id)
    if body.change > 0:
        level = await container.inventory.stock_in(
            tenant_id, item, body.change, reason=body.reason, actor=who.user_id
        )
    else:
        level = await container.inventory.adjust(
            tenant_id, item, body.change, reason=body.reason, actor=who.user_id
        )
    return {"product_id": product_id, "variant_id": body.variant_id, "level": level}
