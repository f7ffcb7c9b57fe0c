"""Catalog: category tree, products with variants, typed attributes, images, lifecycle,
filtered listings with keyset pagination, and ranked search."""

from __future__ import annotations

from decimal import Decimal

import pytest

from polyshop.domain.catalog import ProductStatus
from polyshop.domain.errors import (
    ConflictError,
    InvalidTransitionError,
    NotFoundError,
    ValidationError,
)
from polyshop.services.catalog import ProductDraft, ProductQuery, VariantDraft
from tests.support.shops import Shop, make_shop


async def test_category_tree_moves_and_refuses_cycles(shop: Shop) -> None:
    catalog, t = shop.app.catalog, shop.tenant_id
    headphones = await catalog.create_category(t, "Headphones", parent_id=shop.category)
    wireless = await catalog.create_category(t, "Wireless", parent_id=headphones.id)
    assert set(await catalog.subtree(t, shop.root_category)) == {
        shop.root_category, shop.category, headphones.id, wireless.id,
    }  # fmt: skip
    with pytest.raises(ValidationError, match="under itself or one of its descendants"):
        await catalog.move_category(t, shop.category, wireless.id)
    with pytest.raises(ValidationError, match="under itself"):
        await catalog.move_category(t, wireless.id, wireless.id)
    await catalog.move_category(t, wireless.id, shop.root_category)
    tree = await catalog.categories(t)
    assert [(c.name, c.depth) for c in tree] == [
        ("Electronics", 0), ("Audio", 1), ("Headphones", 2), ("Wireless", 1),
    ]  # fmt: skip
    with pytest.raises(ConflictError, match="category with this slug"):
        await catalog.create_category(t, "Audio")
    with pytest.raises(NotFoundError):
        await catalog.move_category(t, wireless.id, (await make_shop(shop.app)).category)


async def test_a_product_with_variants_attributes_and_images(shop: Shop) -> None:
    catalog, t = shop.app.catalog, shop.tenant_id
    product_id = await catalog.create_product(
        t,
        ProductDraft(
            name="Studio Monitor", sku="MON-1", price="249.00", compare_price="299.00",
            category_id=shop.category, vendor_id=shop.vendor_id, brand_id=shop.brand_id,
            seo_title="Studio Monitor | Acme", seo_description="Flat response",
            dimensions={"length": 20, "unit": "cm"},
            variants=(VariantDraft("Black", "MON-1-BLK", "249.00", {"color": "black"}, 3),),
            attributes=(("watts", "50", "number"), ("wireless", True, "boolean"),
                        ("released", "2026-01-15", "date")),
            images=(("https://img.test/front.jpg", "front"), ("https://img.test/side.jpg", "side")),
        ),
    )  # fmt: skip
    page = await catalog.product(t, slug="studio-monitor")
    assert page["id"] == product_id
    assert page["status"] == "draft"
    assert page["category_path"] == ["Electronics", "Audio"]
    assert [(a["name"], a["value"], a["type"]) for a in page["attributes"]] == [
        ("released", "2026-01-15", "date"), ("watts", "50", "number"), ("wireless", "true", "boolean"),
    ]  # fmt: skip
    assert [(i["alt_text"], i["is_primary"]) for i in page["images"]] == [
        ("front", True),
        ("side", False),
    ]
    side = page["images"][1]["id"]
    await catalog.set_primary_image(t, side)
    await catalog.remove_image(t, side)
    page = await catalog.product(t, product_id=product_id)
    assert [(i["alt_text"], i["is_primary"]) for i in page["images"]] == [("front", True)]
    added = await catalog.add_variant(t, product_id, VariantDraft("White", "MON-1-WHT", "259.00"))
    await catalog.update_variant(t, added, price="255.00", options={"color": "white"})
    page = await catalog.product(t, product_id=product_id)
    assert {v["sku"]: v["price"] for v in page["variants"]} == {
        "MON-1-BLK": Decimal("249.00"), "MON-1-WHT": Decimal("255.00"),
    }  # fmt: skip
    await catalog.remove_variant(t, added)
    with pytest.raises(ValidationError, match="not a valid number"):
        await catalog.set_attribute(t, product_id, "watts", "loud", "number")
    with pytest.raises(ValidationError, match="stock on the variants"):
        await catalog.create_product(
            t, ProductDraft(name="Bad", sku="BAD", price="1.00", category_id=shop.category,
                            vendor_id=shop.vendor_id, initial_stock=3,
                            variants=(VariantDraft("x", "BAD-X", "1.00"),)),
        )  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        ({"price": "-1.00"}, ValidationError, "must not be negative"),
        ({"price": 1.5}, ValidationError, "not a float"),
        ({"price": "1.005"}, ValidationError, "more than two decimals"),
        ({"sku": "SPEAKER"}, ConflictError, "product with this sku already exists"),
        (
            {"category_id": "00000000-0000-0000-0000-000000000000"},
            NotFoundError,
            "category not found",
        ),
        ({"inventory_quantity": 5}, ValidationError, "cannot change inventory_quantity"),
    ],
)
async def test_bad_product_changes_are_refused(
    shop: Shop, changes: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        await shop.app.catalog.update_product(
            shop.tenant_id, shop.products["headphones"], **changes
        )
    page = await shop.app.catalog.product(shop.tenant_id, product_id=shop.products["headphones"])
    assert (page["price"], page["sku"]) == (Decimal("50.00"), "HEADPHONES")


async def test_status_lifecycle(shop: Shop) -> None:
    catalog, t, product = shop.app.catalog, shop.tenant_id, shop.products["speaker"]
    await catalog.change_status(t, product, ProductStatus.INACTIVE)
    await catalog.change_status(t, product, ProductStatus.ARCHIVED)
    with pytest.raises(InvalidTransitionError, match="archived cannot become active"):
        await catalog.change_status(t, product, ProductStatus.ACTIVE)
    await catalog.change_status(t, product, ProductStatus.DRAFT)


async def _listed(shop: Shop, **query: object) -> list[str]:
    page = await shop.app.catalog.list_products(shop.tenant_id, ProductQuery(**query))  # type: ignore[arg-type]
    return [item.sku for item in page.items]


async def test_filters(shop: Shop) -> None:
    catalog, t = shop.app.catalog, shop.tenant_id
    await catalog.set_attribute(t, shop.products["speaker"], "color", "red")
    other_brand = await catalog.create_brand(t, "Other")
    await catalog.update_product(t, shop.products["cable"], brand_id=other_brand)
    await catalog.change_status(t, shop.products["ebook"], ProductStatus.INACTIVE)
    everything = {"HEADPHONES", "SPEAKER", "CABLE", "PREORDER", "SHIRT"}
    assert set(await _listed(shop)) == everything
    assert set(await _listed(shop, category_id=shop.root_category)) == everything
    assert "SHIRT" not in await _listed(shop, category_id=shop.category)
    assert set(await _listed(shop, min_price=Decimal("20.00"), max_price=Decimal("30.00"))) == {
        "SPEAKER", "PREORDER", "SHIRT",
    }  # fmt: skip
    assert await _listed(shop, brand_id=other_brand) == ["CABLE"]
    assert await _listed(shop, attributes=(("color", "red"),)) == ["SPEAKER"]
    assert await _listed(shop, status=ProductStatus.INACTIVE) == ["EBOOK"]
    assert "CABLE" not in await _listed(shop, vendor_id=(await catalog.create_vendor(t, "Nobody")))
    other = await make_shop(shop.app)
    assert await _listed(shop, category_id=other.category) == []


@pytest.mark.parametrize("sort", ["newest", "price_asc", "price_desc", "name"])
async def test_keyset_pages_cover_everything_once_in_order(shop: Shop, sort: str) -> None:
    for n in range(7):
        await shop.app.catalog.create_product(
            shop.tenant_id,
            ProductDraft(name=f"Extra {n}", sku=f"EXTRA-{n}", price="30.00", status="active",
                         category_id=shop.category, vendor_id=shop.vendor_id),
        )  # fmt: skip
    full = await shop.app.catalog.list_products(shop.tenant_id, ProductQuery(sort=sort, limit=100))  # type: ignore[arg-type]
    seen, cursor = [], None
    while True:
        page = await shop.app.catalog.list_products(
            shop.tenant_id,
            ProductQuery(sort=sort, limit=3, cursor=cursor),  # type: ignore[arg-type]
        )
        seen += [item.id for item in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == [item.id for item in full.items]
    assert len(seen) == 13
    prices = [item.price for item in full.items]
    if sort == "price_asc":
        assert prices == sorted(prices)
    if sort == "price_desc":
        assert prices == sorted(prices, reverse=True)


async def test_search_is_ranked_and_per_tenant(shop: Shop) -> None:
    catalog, t = shop.app.catalog, shop.tenant_id
    await catalog.update_product(t, shop.products["speaker"], description="pairs with headphones")
    found = await catalog.list_products(t, ProductQuery(text="headphones", sort="relevance"))
    assert [i.sku for i in found.items] == ["HEADPHONES", "SPEAKER"]
    assert found.items[0].rank > found.items[1].rank  # type: ignore[operator]
    assert await _listed(shop, text="wireless -headphones") == []
    other = await make_shop(shop.app)
    assert [
        i.sku
        for i in (await catalog.list_products(other.tenant_id, ProductQuery(text="pairs"))).items
    ] == []
    with pytest.raises(ValidationError, match="cursor"):
        await catalog.list_products(t, ProductQuery(cursor="not-a-cursor"))
    with pytest.raises(ValidationError, match="relevance"):
        await catalog.list_products(t, ProductQuery(sort="relevance"))
