"""Catalog use cases: categories, brands, vendors, products with variants, attributes, images,
listing with filters and keyset pagination, and ranked full-text search.

One service, written in parts by what a reader looks for: `_categories` (the tree, brands,
vendors), `_products` (product commands), `_listing` (the filter, sort and cursor builder),
`_page` (the product page read); `_change` is the sequence every command shares.
"""

from polyshop.services.catalog._categories import CategoryCommands
from polyshop.services.catalog._listing import ProductListing, listing_planner, listing_statement
from polyshop.services.catalog._model import (
    MAX_PAGE,
    Brand,
    Category,
    Page,
    ProductDraft,
    ProductQuery,
    ProductSummary,
    Sort,
    VariantDraft,
    Vendor,
)
from polyshop.services.catalog._page import ProductPage
from polyshop.services.catalog._products import ProductCommands


class CatalogService(CategoryCommands, ProductCommands, ProductListing, ProductPage):
    """The catalog of one platform, every tenant's under its own unit of work."""


__all__ = [
    "MAX_PAGE",
    "Brand",
    "CatalogService",
    "Category",
    "Page",
    "ProductDraft",
    "ProductQuery",
    "ProductSummary",
    "Sort",
    "VariantDraft",
    "Vendor",
    "listing_planner",
    "listing_statement",
]
