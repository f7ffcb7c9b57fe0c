"""The shop and its catalog: the tenant (with its creation event), vendors, brands, a two-level
category tree, products with typed attributes, images (one primary) and, for about half,
variants with options; each sellable item's initial stock as a ledger row."""

from __future__ import annotations

import itertools
import math
from datetime import datetime, timedelta
from uuid import UUID

from polyshop.domain.catalog import ProductStatus, is_for_sale, slug_words
from polyshop.domain.events import Aggregate, Event
from polyshop.services.seeding._plan import Batch, empty_batches
from polyshop.services.seeding._shop import ShopState, Sku
from polyshop.services.seeding._vocabulary import ADJECTIVES, COLORS, SIZES, TAXONOMY, money

# A leaf category and the product nouns that belong in it.
_Leaf = tuple[UUID, tuple[str, ...]]


class CatalogRows(ShopState):
    def catalog(self) -> list[Batch]:
        t, rng = self.tenant_id, self.rng
        created = self.start - timedelta(days=365)
        b = empty_batches("tenants", "vendors", "brands", "categories", "products",
                          "product_variants", "product_attributes", "product_images",
                          "inventory_transactions", "outbox")  # fmt: skip
        b["tenants"].rows.append(
            (t, self.slug, self.name, self.currency, self.rules_settings, created, created)
        )
        b["outbox"].rows.append((t, str(Aggregate.TENANT), str(t), str(Event.TENANT_CREATED),
                                 {"slug": self.slug, "name": self.name,
                                  "currency": self.currency}, created))  # fmt: skip
        vendors, brands = [], []
        for i, company in enumerate(self.companies[:8]):
            vendors.append(self._uuid())
            b["vendors"].rows.append((t, vendors[-1], company, f"{slug_words(company)}-{i}",
                                      f"sales@{slug_words(company)[:30]}.example", created,
                                      created))  # fmt: skip
        for i, company in enumerate(self.companies[8:28]):
            brands.append(self._uuid())
            brand = company.split()[0].strip(",")
            b["brands"].rows.append((t, brands[-1], brand, f"{slug_words(brand)}-{i}",
                                     rng.choice(self.sentences),
                                     f"https://images.example/brands/{slug_words(brand)}-{i}.png",
                                     created, created))  # fmt: skip
        leaves: list[_Leaf] = []
        for order, (top, subs) in enumerate(TAXONOMY.items()):
            top_id = self._uuid()
            b["categories"].rows.append(
                (t, top_id, top, slug_words(top), f"Everything {top.lower()}", None, order,
                 created, created))  # fmt: skip
            for sub_order, (sub, nouns) in enumerate(subs.items()):
                sub_id = self._uuid()
                b["categories"].rows.append(
                    (t, sub_id, sub, f"{slug_words(top)}-{slug_words(sub)}",
                     f"{sub} in {top.lower()}", top_id, sub_order, created, created))  # fmt: skip
                leaves.append((sub_id, nouns))
        for n in range(self.n_products):
            self._product(b, n, rng.choice(leaves), rng.choice(vendors), rng.choice(brands))
        # Popularity follows a long tail (Zipf-like): a few products sell most.
        rng.shuffle(self.skus)
        self.sku_weights = list(
            itertools.accumulate(1 / (rank + 1) ** 0.9 for rank in range(len(self.skus)))
        )
        return list(b.values())

    def _product(self, b: dict[str, Batch], n: int, leaf: _Leaf, vendor: UUID,
                 brand: UUID) -> None:  # fmt: skip
        t, rng = self.tenant_id, self.rng
        category, nouns = leaf
        pid = self._uuid()
        brand_name = next(r[2] for r in b["brands"].rows if r[1] == brand)
        name = f"{brand_name} {rng.choice(ADJECTIVES)} {rng.choice(nouns)} {n + 1}"
        sku = f"SKU-{self.index + 1:02d}-{n + 1:07d}"
        price = money(math.exp(rng.uniform(math.log(5), math.log(900))))
        compare = money(float(price) * rng.uniform(1.1, 1.4)) if rng.random() < 0.3 else None
        cost = money(float(price) * rng.uniform(0.35, 0.7))
        created = self.start - timedelta(days=rng.uniform(30, 360))
        status = (ProductStatus.ACTIVE if rng.random() < 0.95
                  else rng.choice((ProductStatus.DRAFT, ProductStatus.INACTIVE)))  # fmt: skip
        b["products"].rows.append((
            t, pid, name, f"{slug_words(name)}-{n + 1}", rng.choice(self.paragraphs),
            rng.choice(self.sentences), sku, price, compare, cost, money(rng.uniform(0.1, 20)),
            {"length": rng.randint(5, 80), "width": rng.randint(5, 60),
             "height": rng.randint(1, 40), "unit": "cm"},
            category, brand if rng.random() < 0.85 else None, vendor, status, 5,
            f"{name} | {self.name}", rng.choice(self.sentences), created, created,
        ))  # fmt: skip
        attributes = (("material", rng.choice(("cotton", "steel", "wood", "plastic", "glass")),
                       "text"),
                      ("warranty_months", str(rng.choice((6, 12, 24, 36))), "number"),
                      ("eco_certified", rng.choice(("true", "false")), "boolean"),
                      ("released", f"{rng.randint(2019, 2026)}-{rng.randint(1, 12):02d}-01",
                       "date"))  # fmt: skip
        for attr, value, kind in attributes[: rng.randint(2, 4)]:
            b["product_attributes"].rows.append(
                (t, self._uuid(), pid, attr, value, kind, created, created)
            )
        for position in range(rng.randint(1, 4)):
            b["product_images"].rows.append(
                (t, self._uuid(), pid, f"https://images.example/{sku.lower()}-{position}.jpg",
                 f"{name}, view {position + 1}", position, position == 0, created))  # fmt: skip
        for_sale = is_for_sale(status)
        if rng.random() < 0.5:
            colors = rng.sample(COLORS, rng.randint(2, 3))
            sizes = rng.sample(SIZES, rng.randint(1, 2))
            for position, (color, size) in enumerate(itertools.product(colors, sizes)):
                vid = self._uuid()
                options = {"color": color, "size": size}
                vsku = f"{sku}-{color.upper()}-{size}"
                b["product_variants"].rows.append(
                    (t, vid, pid, f"{color.title()} / {size}", vsku, price, cost, options,
                     position, created, created))  # fmt: skip
                self._initial_stock(b, pid, vid, created)
                if for_sale:
                    self.skus.append(Sku(pid, vid, name, vsku, price, options, category))
        else:
            self._initial_stock(b, pid, None, created)
            if for_sale:
                self.skus.append(Sku(pid, None, name, sku, price, {}, category))

    def _initial_stock(self, b: dict[str, Batch], pid: UUID, vid: UUID | None,
                       created: datetime) -> None:  # fmt: skip
        quantity = self.rng.randint(20, 200)
        self._ledger(b["inventory_transactions"].rows, (pid, vid), "in", quantity,
                     "initial stock", None, created)  # fmt: skip
