"""`polyshop seed`: a realistic platform, deterministic for a seed value, loaded with COPY.

The generator is pure (no I/O): `ShopGenerator` turns a plan and a shop index into batches of
rows, the same rows for the same seed and end date. `Seeder` writes them with the bulk loader
(adapters.postgres), one transaction per chunk, so the schema's constraints and triggers check
every row (the deferred order/items check runs at each chunk's commit).

What it generates per shop: tax and shipping rules; vendors, brands, a two-level category tree;
products with typed attributes, images (one primary) and, for about half, variants with options;
customers with profiles and a default address (plus one shop admin); orders over `months`
months with seasonality (a holiday peak, weekends, growth) that went through the real steps
(reserved, paid or declined, processing, shipped, delivered, sometimes refunded) with their
items, payments, refunds, history and outbox events; reviews (verified purchases, from delivered
orders) with helpful votes; storefront sessions (views, searches, carts) as outbox batches in
the shared `storefront.events_recorded` shape, for the analytics and graph projectors.

Stock: every movement is a ledger row (initial stock, restocks when a product would run out,
each order's `out`, a declined order's release), and the stock figures written at the end are
the sums the generator kept, so the ledger equals the stock (a test checks it in SQL).

Outbox: only what a projector reads from the outbox is written (order events, storefront
batches, tenant creation); documents are rebuilt from the tables by `sync rebuild`.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import math
import multiprocessing
import queue
import random
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from argon2.low_level import Type, hash_secret
from faker import Faker

from polyshop.adapters.postgres import BulkLoader, encode_rows
from polyshop.domain.analytics import EVENTS_RECORDED
from polyshop.domain.errors import ConflictError
from polyshop.domain.events import Aggregate, Event, order_moved_to
from polyshop.domain.pricing import PricedLine, PricingRules, quote

# Everyone the generator creates signs in with this password (it is a demo platform).
SEED_PASSWORD = "polyshop seed password"  # noqa: S105 (documented demo credential)

_CHUNK = 2000  # orders (or users, sessions) per transaction: bounded memory and commit checks

Row = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class SeedPlan:
    shops: int = 3
    users: int = 1000
    products: int = 200
    orders: int = 2000
    events: int = 10_000
    seed: int = 1
    months: int = 12
    until: date = field(default_factory=lambda: datetime.now(UTC).date())

    def share(self, total: int, shop: int) -> int:
        """Shop `shop`'s part of `total` (the first shops take the remainder)."""
        base, rest = divmod(total, self.shops)
        return base + (1 if shop < rest else 0)


@dataclass(slots=True)
class Batch:
    table: str
    columns: tuple[str, ...]
    rows: list[Row] = field(default_factory=list)


COLUMNS: dict[str, tuple[str, ...]] = {
    "tenants": ("id", "slug", "name", "currency", "settings", "created_at", "updated_at"),
    "vendors": ("tenant_id", "id", "name", "slug", "contact_email", "created_at", "updated_at"),
    "brands": ("tenant_id", "id", "name", "slug", "description", "logo_url", "created_at",
               "updated_at"),
    "categories": ("tenant_id", "id", "name", "slug", "description", "parent_id", "sort_order",
                   "created_at", "updated_at"),
    "products": ("tenant_id", "id", "name", "slug", "description", "short_description", "sku",
                 "price", "compare_price", "cost_price", "weight", "dimensions", "category_id",
                 "brand_id", "vendor_id", "status", "low_stock_threshold", "seo_title",
                 "seo_description", "created_at", "updated_at"),
    "product_variants": ("tenant_id", "id", "product_id", "title", "sku", "price",
                         "cost_price", "options", "position", "created_at", "updated_at"),
    "product_attributes": ("tenant_id", "id", "product_id", "name", "value", "type",
                           "created_at", "updated_at"),
    "product_images": ("tenant_id", "id", "product_id", "url", "alt_text", "position",
                       "is_primary", "created_at"),
    "users": ("tenant_id", "id", "email", "password_hash", "first_name", "last_name", "phone",
              "date_of_birth", "role", "email_verified", "created_at", "updated_at"),
    "user_profiles": ("tenant_id", "user_id", "preferences", "timezone", "language",
                      "created_at", "updated_at"),
    "user_addresses": ("tenant_id", "id", "user_id", "type", "first_name", "last_name",
                       "street_address", "city", "postal_code", "country", "is_default",
                       "created_at", "updated_at"),
    "orders": ("tenant_id", "id", "order_number", "user_id", "status", "subtotal", "tax_amount",
               "shipping_amount", "discount_amount", "total_amount", "currency",
               "payment_status", "shipping_status", "billing_address", "shipping_address",
               "shipping_method", "shipping_carrier", "tracking_number", "created_at",
               "updated_at", "shipped_at", "delivered_at"),
    "order_items": ("tenant_id", "id", "order_id", "product_id", "variant_id", "name", "sku",
                    "options", "quantity", "unit_price", "total_price", "created_at"),
    "payments": ("tenant_id", "id", "order_id", "payment_method", "payment_gateway",
                 "gateway_transaction_id", "amount", "refunded_amount", "currency", "status",
                 "processed_at", "created_at", "updated_at"),
    "refunds": ("tenant_id", "id", "order_id", "payment_id", "amount", "currency", "status",
                "reason", "order_target", "expires_at", "created_at", "settled_at",
                "updated_at"),
    "order_events": ("tenant_id", "id", "order_id", "from_status", "to_status", "note",
                     "actor_user_id", "created_at"),
    "inventory_transactions": ("tenant_id", "id", "product_id", "variant_id", "type",
                               "quantity", "reason", "reference_id", "created_at"),
    "reviews": ("tenant_id", "id", "product_id", "user_id", "order_id", "rating", "title",
                "content", "is_verified_purchase", "is_approved", "created_at", "updated_at"),
    "review_votes": ("tenant_id", "review_id", "user_id", "created_at"),
    "outbox": ("tenant_id", "aggregate_type", "aggregate_id", "event_type", "payload",
               "created_at"),
}  # fmt: skip

# The order tables go in this order (foreign keys), in one transaction per chunk.
ORDER_TABLES = ("orders", "order_items", "payments", "refunds", "order_events",
                "inventory_transactions", "reviews", "review_votes", "outbox")  # fmt: skip

_LOCALES = (("en_US", "US", "USD"), ("en_GB", "GB", "GBP"), ("de_DE", "DE", "EUR"),
            ("fr_FR", "FR", "EUR"))  # fmt: skip

# category → subcategories → product nouns
_TAXONOMY: dict[str, dict[str, tuple[str, ...]]] = {
    "Electronics": {"Audio": ("Headphones", "Earbuds", "Speaker", "Soundbar"),
                    "Phones": ("Smartphone", "Phone Case", "Charger", "Power Bank"),
                    "Computers": ("Laptop", "Keyboard", "Mouse", "Monitor")},
    "Home": {"Kitchen": ("Chef Knife", "Skillet", "Kettle", "Blender"),
             "Furniture": ("Desk Chair", "Bookshelf", "Side Table", "Floor Lamp"),
             "Bedding": ("Duvet", "Pillow", "Sheet Set", "Throw Blanket")},
    "Apparel": {"Men": ("T-Shirt", "Hoodie", "Chinos", "Jacket"),
                "Women": ("Dress", "Blouse", "Cardigan", "Jeans"),
                "Shoes": ("Sneakers", "Boots", "Sandals", "Loafers")},
    "Sports": {"Outdoor": ("Tent", "Backpack", "Sleeping Bag", "Headlamp"),
               "Fitness": ("Yoga Mat", "Dumbbell Set", "Resistance Band", "Jump Rope")},
    "Beauty": {"Skincare": ("Moisturizer", "Serum", "Cleanser", "Sunscreen"),
               "Hair": ("Shampoo", "Conditioner", "Hair Dryer", "Brush")},
}  # fmt: skip
_ADJECTIVES = ("Classic", "Premium", "Essential", "Ultra", "Compact", "Pro", "Everyday",
               "Eco", "Deluxe", "Smart", "Vintage", "Modern", "Lightweight", "Rugged")  # fmt: skip
_LANGUAGES = {"US": "en", "GB": "en", "DE": "de", "FR": "fr"}
_COLORS = ("black", "white", "navy", "grey", "red", "green", "sand")
_SIZES = ("XS", "S", "M", "L", "XL")
_CARRIERS = ("UPS", "DHL", "FedEx", "Royal Mail", "La Poste")
_SEARCHES = ("wireless", "gift", "sale", "black", "organic", "running", "kids", "waterproof",
             "summer", "leather", "usb-c", "bestseller")  # fmt: skip
_RATINGS = (1, 2, 3, 4, 5)
_RATING_WEIGHTS = (5, 5, 12, 33, 45)
_HOURS = tuple(range(24))
_HOUR_WEIGHTS = (2, 1, 1, 1, 1, 2, 3, 5, 6, 7, 8, 9, 11, 10, 8, 8, 8, 9, 10, 12, 13, 12, 8, 4)
# Cumulative weights, computed once: `choices(weights=...)` would add them up on every call
# (the same draws either way).
_HOUR_CUM = tuple(itertools.accumulate(_HOUR_WEIGHTS))
_RATING_CUM = tuple(itertools.accumulate(_RATING_WEIGHTS))
_LINES, _LINES_CUM = (1, 2, 3, 4), tuple(itertools.accumulate((55, 25, 12, 8)))
_QUANTITIES, _QUANTITIES_CUM = (1, 2, 3), tuple(itertools.accumulate((80, 15, 5)))


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def _slug(text: str) -> str:
    out = "".join(c if c.isalnum() else "-" for c in _ascii(text))
    return "-".join(part for part in out.split("-") if part)


def _money(value: float) -> Decimal:
    return Decimal(f"{value:.2f}")


@dataclass(frozen=True, slots=True)
class _Sku:
    product_id: UUID
    variant_id: UUID | None
    name: str
    sku: str
    price: Decimal
    options: dict[str, str]
    category_id: UUID


class ShopGenerator:
    """Rows of one shop. Call `catalog`, `users`, `orders`, `sessions`, then `stock`, in that
    order (orders need the catalog and the customers; stock is known after the orders)."""

    def __init__(self, plan: SeedPlan, index: int) -> None:
        self.plan = plan
        self.index = index
        self.rng = random.Random(f"polyshop:{plan.seed}:{index}")  # noqa: S311 (not security)
        locale, self.country, self.currency = _LOCALES[index % len(_LOCALES)]
        fake = Faker(locale)
        fake.seed_instance(f"polyshop:{plan.seed}:{index}")
        company = fake.company()
        self.name = company
        self.slug = f"{_slug(company)[:40].strip('-')}-{index + 1}"
        self.domain = f"{self.slug}.example"
        self.tenant_id = self._uuid()
        self.end = datetime(plan.until.year, plan.until.month, plan.until.day, tzinfo=UTC)
        self.start = self.end - timedelta(days=round(30.44 * plan.months))
        self.first_names = sorted({fake.first_name() for _ in range(300)})
        self.last_names = sorted({fake.last_name() for _ in range(300)})
        self.streets = sorted({fake.street_name() for _ in range(300)})
        self.cities = sorted({(fake.city(), fake.postcode()) for _ in range(120)})
        self.companies = sorted({fake.company() for _ in range(60)})
        self.sentences = [fake.sentence(nb_words=12) for _ in range(200)]
        self.paragraphs = [fake.paragraph(nb_sentences=4) for _ in range(100)]
        self.review_titles = [fake.sentence(nb_words=5).rstrip(".") for _ in range(100)]
        self.rules_settings: dict[str, Any] = {
            "tax": {"default_rate": "0.08" if self.country == "US" else "0.20",
                    "rates": {"DE": "0.19", "FR": "0.20", "GB": "0.20"}},
            "shipping": {"standard": {"price": "4.95", "free_over": "60.00"},
                         "express": {"price": "14.95"}},
            "discounts": {"WELCOME10": {"type": "percent", "value": "10"},
                          "SAVE5": {"type": "fixed", "value": "5.00"}},
        }  # fmt: skip
        self.rules = PricingRules.from_settings(self.rules_settings)
        self.n_users = plan.share(plan.users, index)
        self.n_products = plan.share(plan.products, index)
        self.n_orders = plan.share(plan.orders, index)
        self.n_events = plan.share(plan.events, index)
        self.user_ids: list[UUID] = []
        self.user_times: list[datetime] = []
        self.skus: list[_Sku] = []
        self.sku_weights: list[float] = []
        self.stock: dict[tuple[UUID, UUID | None], int] = {}
        self._day_weights = self._seasonality()

    # ---- helpers ---------------------------------------------------------------------------

    def _uuid(self) -> UUID:
        return UUID(int=self.rng.getrandbits(128), version=4)

    def _seasonality(self) -> list[float]:
        """A weight per day: growth over the period, a late-November/December peak, busier
        weekends."""
        days = (self.end - self.start).days
        weights = []
        for d in range(days):
            day = (self.start + timedelta(days=d)).date()
            peak = 1.6 * math.exp(-(((day.timetuple().tm_yday - 340) / 14) ** 2))
            weekend = 1.25 if day.weekday() >= 5 else 1.0
            weights.append((0.6 + 0.8 * d / max(days, 1)) * (1 + peak) * weekend)
        return list(itertools.accumulate(weights))

    def _moment(self) -> datetime:
        """A time in the period, following the seasonality and the hours people shop."""
        day = bisect.bisect(self._day_weights, self.rng.random() * self._day_weights[-1])
        hour = self.rng.choices(_HOURS, cum_weights=_HOUR_CUM)[0]
        return self.start + timedelta(days=day, hours=hour, seconds=self.rng.randrange(3600))

    def _user_time(self, i: int) -> datetime:
        """When customer `i` registered: increasing with `i`, from six months before the
        period to its end (earlier customers are the loyal ones)."""
        span = (self.end - self.start) + timedelta(days=180)
        share: float = (i / max(self.n_users, 1)) ** 0.8
        return self.start - timedelta(days=180) + span * share

    def _person(self, u: int) -> tuple[str, str, dict[str, str]]:
        first = self.first_names[(u * 31 + 7) % len(self.first_names)]
        last = self.last_names[(u * 17 + 3) % len(self.last_names)]
        city, postcode = self.cities[(u * 11 + 5) % len(self.cities)]
        street = f"{(u * 13) % 998 + 1} {self.streets[(u * 7 + 1) % len(self.streets)]}"
        address = {"firstName": first, "lastName": last, "street": street, "city": city,
                   "postalCode": postcode, "country": self.country}  # fmt: skip
        return first, last, address

    def _customer_before(self, moment: datetime) -> int:
        known = bisect.bisect(self.user_times, moment)
        return int(max(known, 1) * self.rng.random() ** 1.4)

    def _pick_skus(self, count: int) -> list[_Sku]:
        picked: dict[str, _Sku] = {}
        for sku in self.rng.choices(self.skus, cum_weights=self.sku_weights, k=count):
            picked[sku.sku] = sku
        return list(picked.values())

    # ---- the shop and its catalog ---------------------------------------------------------

    def catalog(self) -> list[Batch]:
        t, rng = self.tenant_id, self.rng
        created = self.start - timedelta(days=365)
        b = {name: Batch(name, COLUMNS[name]) for name in (
            "tenants", "vendors", "brands", "categories", "products", "product_variants",
            "product_attributes", "product_images", "inventory_transactions", "outbox")}  # fmt: skip
        b["tenants"].rows.append(
            (t, self.slug, self.name, self.currency, self.rules_settings, created, created)
        )
        b["outbox"].rows.append((t, str(Aggregate.TENANT), str(t), str(Event.TENANT_CREATED),
                                 {"slug": self.slug, "name": self.name,
                                  "currency": self.currency}, created))  # fmt: skip
        vendors, brands = [], []
        for i, company in enumerate(self.companies[:8]):
            vendors.append(self._uuid())
            b["vendors"].rows.append((t, vendors[-1], company, f"{_slug(company)}-{i}",
                                      f"sales@{_slug(company)[:30]}.example", created, created))  # fmt: skip
        for i, company in enumerate(self.companies[8:28]):
            brands.append(self._uuid())
            brand = company.split()[0].strip(",")
            b["brands"].rows.append((t, brands[-1], brand, f"{_slug(brand)}-{i}",
                                     rng.choice(self.sentences),
                                     f"https://images.example/brands/{_slug(brand)}-{i}.png",
                                     created, created))  # fmt: skip
        leaves: list[tuple[UUID, tuple[str, ...]]] = []
        for order, (top, subs) in enumerate(_TAXONOMY.items()):
            top_id = self._uuid()
            b["categories"].rows.append(
                (t, top_id, top, _slug(top), f"Everything {top.lower()}", None, order, created,
                 created))  # fmt: skip
            for sub_order, (sub, nouns) in enumerate(subs.items()):
                sub_id = self._uuid()
                b["categories"].rows.append(
                    (t, sub_id, sub, f"{_slug(top)}-{_slug(sub)}", f"{sub} in {top.lower()}",
                     top_id, sub_order, created, created))  # fmt: skip
                leaves.append((sub_id, nouns))
        for n in range(self.n_products):
            self._product(b, n, rng.choice(leaves), rng.choice(vendors), rng.choice(brands))
        # Popularity follows a long tail (Zipf-like): a few products sell most.
        rng.shuffle(self.skus)
        self.sku_weights = list(
            itertools.accumulate(1 / (rank + 1) ** 0.9 for rank in range(len(self.skus)))
        )
        return list(b.values())

    def _product(self, b: dict[str, Batch], n: int, leaf: tuple[UUID, tuple[str, ...]],
                 vendor: UUID, brand: UUID) -> None:  # fmt: skip
        t, rng = self.tenant_id, self.rng
        category, nouns = leaf
        pid = self._uuid()
        brand_name = next(r[2] for r in b["brands"].rows if r[1] == brand)
        name = f"{brand_name} {rng.choice(_ADJECTIVES)} {rng.choice(nouns)} {n + 1}"
        sku = f"SKU-{self.index + 1:02d}-{n + 1:07d}"
        price = _money(math.exp(rng.uniform(math.log(5), math.log(900))))
        compare = _money(float(price) * rng.uniform(1.1, 1.4)) if rng.random() < 0.3 else None
        cost = _money(float(price) * rng.uniform(0.35, 0.7))
        created = self.start - timedelta(days=rng.uniform(30, 360))
        status = "active" if rng.random() < 0.95 else rng.choice(("draft", "inactive"))
        b["products"].rows.append((
            t, pid, name, f"{_slug(name)}-{n + 1}", rng.choice(self.paragraphs),
            rng.choice(self.sentences), sku, price, compare, cost, _money(rng.uniform(0.1, 20)),
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
        for_sale = status == "active"
        if rng.random() < 0.5:
            colors = rng.sample(_COLORS, rng.randint(2, 3))
            sizes = rng.sample(_SIZES, rng.randint(1, 2))
            for position, (color, size) in enumerate(itertools.product(colors, sizes)):
                vid = self._uuid()
                options = {"color": color, "size": size}
                vsku = f"{sku}-{color.upper()}-{size}"
                b["product_variants"].rows.append(
                    (t, vid, pid, f"{color.title()} / {size}", vsku, price, cost, options,
                     position, created, created))  # fmt: skip
                self._initial_stock(b, pid, vid, created)
                if for_sale:
                    self.skus.append(_Sku(pid, vid, name, vsku, price, options, category))
        else:
            self._initial_stock(b, pid, None, created)
            if for_sale:
                self.skus.append(_Sku(pid, None, name, sku, price, {}, category))

    def _initial_stock(self, b: dict[str, Batch], pid: UUID, vid: UUID | None,
                       created: datetime) -> None:  # fmt: skip
        quantity = self.rng.randint(20, 200)
        self.stock[(pid, vid)] = quantity
        b["inventory_transactions"].rows.append(
            (self.tenant_id, self._uuid(), pid, vid, "in", quantity, "initial stock", None,
             created))  # fmt: skip

    # ---- customers -------------------------------------------------------------------------

    def users(self, password_hash: str) -> Iterator[list[Batch]]:
        t = self.tenant_id
        admin_at = self.start - timedelta(days=365)
        for start in range(0, self.n_users + 1, _CHUNK):
            b = {n: Batch(n, COLUMNS[n]) for n in ("users", "user_profiles", "user_addresses")}
            if start == 0:
                admin = self._uuid()
                b["users"].rows.append((t, admin, f"admin@{self.domain}", password_hash,
                                        "Shop", "Admin", None, None, "tenant_admin", True,
                                        admin_at, admin_at))  # fmt: skip
            for u in range(start, min(start + _CHUNK, self.n_users)):
                uid = self._uuid()
                created = self._user_time(u)
                self.user_ids.append(uid)
                self.user_times.append(created)
                first, last, address = self._person(u)
                email = f"{_ascii(first)}.{_ascii(last)}.{u + 1}@{self.domain}".replace(" ", "")
                birth = date(1950, 1, 1) + timedelta(days=self.rng.randrange(20000))
                phone = f"+{self.rng.randint(10, 99)} {self.rng.randint(100000000, 999999999)}"
                b["users"].rows.append((t, uid, email, password_hash, first, last, phone, birth,
                                        "customer", self.rng.random() < 0.8, created, created))  # fmt: skip
                b["user_profiles"].rows.append(
                    (t, uid, {"newsletter": self.rng.random() < 0.4,
                              "currency": self.currency},
                     "UTC", _LANGUAGES[self.country], created, created))  # fmt: skip
                b["user_addresses"].rows.append(
                    (t, self._uuid(), uid, "both", first, last, address["street"],
                     address["city"], address["postalCode"], self.country, True, created,
                     created))  # fmt: skip
            if b["users"].rows:
                yield list(b.values())

    # ---- orders ----------------------------------------------------------------------------

    def orders(self) -> Iterator[list[Batch]]:
        if not self.skus or not self.user_ids:
            return
        times = sorted(self._moment() for _ in range(self.n_orders))
        for start in range(0, len(times), _CHUNK):
            b = {n: Batch(n, COLUMNS[n]) for n in ORDER_TABLES}
            for number, placed_at in enumerate(times[start : start + _CHUNK], start=start):
                self._order(b, 1001 + number, placed_at)
            yield list(b.values())

    def _order(self, b: dict[str, Batch], number: int, at: datetime) -> None:
        t, rng, end = self.tenant_id, self.rng, self.end
        oid, payment = self._uuid(), self._uuid()
        u = self._customer_before(at)
        user = self.user_ids[u]
        _, _, address = self._person(u)
        count = rng.choices(_LINES, cum_weights=_LINES_CUM)[0]
        lines = [
            PricedLine(s.product_id, s.variant_id, s.name, s.sku,
                       rng.choices(_QUANTITIES, cum_weights=_QUANTITIES_CUM)[0], s.price,
                       options=s.options)
            for s in self._pick_skus(count)
        ]  # fmt: skip
        method = "express" if rng.random() < 0.15 else "standard"
        code = rng.choice(("WELCOME10", "SAVE5")) if rng.random() < 0.1 else None
        q = quote(lines, self.rules, country=self.country, shipping_method=method,
                  discount_code=code)  # fmt: skip
        ledger, history, outbox = (b["inventory_transactions"].rows, b["order_events"].rows,
                                   b["outbox"].rows)  # fmt: skip
        for line in lines:
            key = (line.product_id, line.variant_id)
            if self.stock[key] < line.quantity:  # the shop restocked before this order
                more = line.quantity + rng.randint(50, 300)
                self.stock[key] += more
                ledger.append((t, self._uuid(), line.product_id, line.variant_id, "in", more,
                               "restock", None, at - timedelta(hours=2)))  # fmt: skip
            self.stock[key] -= line.quantity
            ledger.append((t, self._uuid(), line.product_id, line.variant_id, "out",
                           -line.quantity, "order", oid, at))  # fmt: skip
            b["order_items"].rows.append(
                (t, self._uuid(), oid, line.product_id, line.variant_id, line.name, line.sku,
                 dict(line.options), line.quantity, line.unit_price, line.total, at))  # fmt: skip
        history.append((t, self._uuid(), oid, None, "pending", "stock reserved, awaiting payment",
                        user, at))  # fmt: skip
        outbox.append((t, str(Aggregate.ORDER), str(oid), str(Event.ORDER_RESERVED),
                       {"order_number": str(number)}, at))  # fmt: skip
        total = q.total
        paid_at = at + timedelta(seconds=rng.randint(2, 40))
        fate = rng.random()
        status, payment_status, shipping_status = "confirmed", "paid", "pending"
        shipped_at = delivered_at = None
        carrier = tracking = None
        refunded = Decimal("0.00")
        payment_state = "completed"
        last = paid_at
        if fate < 0.03:  # the card was declined: stock released, order cancelled
            status, payment_status, payment_state = "cancelled", "failed", "declined"
            for line in lines:
                self.stock[(line.product_id, line.variant_id)] += line.quantity
                ledger.append((t, self._uuid(), line.product_id, line.variant_id, "in",
                               line.quantity, "order released", oid, paid_at))  # fmt: skip
            history.append((t, self._uuid(), oid, "pending", "cancelled", "payment declined",
                            None, paid_at))  # fmt: skip
            outbox.append((t, str(Aggregate.ORDER), str(oid), str(Event.ORDER_CANCELLED),
                           {"from": "pending", "to": "cancelled", "reason": "payment declined"},
                           paid_at))  # fmt: skip
        else:
            history.append((t, self._uuid(), oid, "pending", "confirmed", "payment completed",
                            user, paid_at))  # fmt: skip
            outbox.append((t, str(Aggregate.ORDER), str(oid), str(Event.ORDER_PLACED), {
                "order_id": str(oid), "order_number": str(number), "customer_id": str(user),
                "total": str(total), "discount": str(q.discount), "currency": self.currency,
                "lines": [{"product_id": str(x.product_id),
                           "variant_id": str(x.variant_id) if x.variant_id else None,
                           "quantity": x.quantity, "unit_price": str(x.unit_price)}
                          for x in sorted(lines, key=lambda x: x.sku)],
            }, paid_at))  # fmt: skip
            steps = [("processing", paid_at + timedelta(hours=rng.uniform(2, 30)))]
            steps.append(("shipped", steps[-1][1] + timedelta(hours=rng.uniform(4, 48))))
            steps.append(("delivered", steps[-1][1] + timedelta(hours=rng.uniform(24, 120))))
            if fate > 0.96:
                steps.append(("refunded", steps[-1][1] + timedelta(days=rng.uniform(2, 20))))
            previous = "confirmed"
            for target, when in steps:
                if when >= end:
                    break
                history.append((t, self._uuid(), oid, previous, target, None, None, when))
                outbox.append((t, str(Aggregate.ORDER), str(oid), str(order_moved_to(target)),
                               {"from": previous, "to": target}, when))  # fmt: skip
                previous, status, last = target, target, when
                if target == "shipped":
                    shipped_at, shipping_status = when, "shipped"
                    carrier = rng.choice(_CARRIERS)
                    tracking = f"{carrier[:2].upper()}{rng.randint(10**9, 10**10 - 1)}"
                elif target == "delivered":
                    delivered_at, shipping_status = when, "delivered"
                elif target == "refunded":
                    refunded, payment_status, payment_state = total, "refunded", "refunded"
                    b["refunds"].rows.append(
                        (t, self._uuid(), oid, payment, total, self.currency, "settled",
                         "customer return", "refunded", when + timedelta(hours=1), when, when,
                         when))  # fmt: skip
            if status == "delivered" and delivered_at is not None:
                self._reviews(b, oid, user, lines, delivered_at)
        b["payments"].rows.append(
            (t, payment, oid, "card", "test", f"test_{payment.hex[:24]}", total, refunded,
             self.currency, payment_state, paid_at, at, last))  # fmt: skip
        b["orders"].rows.append((
            t, oid, str(number), user, status, q.subtotal, q.tax, q.shipping, q.discount, total,
            self.currency, payment_status, shipping_status, address, address,
            q.shipping_method, carrier, tracking, at, last, shipped_at, delivered_at,
        ))  # fmt: skip

    def _reviews(self, b: dict[str, Batch], oid: UUID, user: UUID, lines: Sequence[PricedLine],
                 delivered_at: datetime) -> None:  # fmt: skip
        t, rng = self.tenant_id, self.rng
        for product in sorted({line.product_id for line in lines}, key=str):
            if rng.random() >= 0.25:
                continue
            written = delivered_at + timedelta(days=rng.uniform(1, 14))
            if written >= self.end:
                continue
            rating = rng.choices(_RATINGS, cum_weights=_RATING_CUM)[0]
            rid = self._uuid()
            b["reviews"].rows.append(
                (t, rid, product, user, oid, rating, rng.choice(self.review_titles),
                 rng.choice(self.paragraphs), True, rng.random() < 0.9, written, written))  # fmt: skip
            voters = {
                self.user_ids[self._customer_before(written)] for _ in range(rng.randint(0, 3))
            }
            for voter in sorted(voters - {user}, key=str):
                b["review_votes"].rows.append((t, rid, voter, written + timedelta(days=1)))

    # ---- storefront events -----------------------------------------------------------------

    def sessions(self) -> Iterator[tuple[list[Batch], int]]:
        """Outbox batches (one per session) and how many events they hold."""
        if not self.skus:
            return
        t, rng = self.tenant_id, self.rng
        made = 0
        while made < self.n_events:
            batch = Batch("outbox", COLUMNS["outbox"])
            in_chunk = 0
            while made + in_chunk < self.n_events and len(batch.rows) < _CHUNK:
                events = self._session(min(rng.randint(3, 15), self.n_events - made - in_chunk))
                at = datetime.fromisoformat(events[0]["occurred_at"])
                batch.rows.append((t, str(Aggregate.STOREFRONT), str(self._uuid()),
                                   EVENTS_RECORDED, {"events": events}, at))  # fmt: skip
                in_chunk += len(events)
            made += in_chunk
            yield [batch], in_chunk

    def _session(self, size: int) -> list[dict[str, Any]]:
        rng = self.rng
        at = self._moment()
        customer = (str(self.user_ids[self._customer_before(at)])
                    if self.user_ids and rng.random() < 0.45 else None)  # fmt: skip
        session = f"s-{self._uuid().hex[:16]}"
        cart = f"c-{self._uuid().hex[:16]}"
        events: list[dict[str, Any]] = []

        def add(kind: str, sku: _Sku | None = None, **extra: Any) -> None:
            nonlocal at
            events.append({
                "event_id": str(self._uuid()), "type": kind, "occurred_at": at.isoformat(),
                "customer_id": customer, "cart_token": cart if kind != "search" else None,
                "session_id": session,
                "product_id": str(sku.product_id) if sku else None,
                "category_id": str(sku.category_id) if sku else None,
                "query": extra.get("query"), "quantity": extra.get("quantity"),
            })  # fmt: skip
            at += timedelta(seconds=rng.randint(5, 120))

        if rng.random() < 0.4:
            add("search", query=rng.choice(_SEARCHES))
        viewed: list[_Sku] = []
        while len(events) < size:
            roll = rng.random()
            if viewed and roll < 0.2:
                add("add_to_cart", rng.choice(viewed), quantity=rng.randint(1, 2))
            elif viewed and roll < 0.24:
                add("remove_from_cart", rng.choice(viewed), quantity=1)
            elif viewed and roll < 0.3:
                add("checkout_started")
            else:
                sku = self._pick_skus(1)[0]
                viewed.append(sku)
                add("view", sku)
        return events

    # ---- the stock the ledger adds up to ---------------------------------------------------

    def final_stock(self) -> tuple[list[tuple[UUID, int]], list[tuple[UUID, int]]]:
        """(products without variants, variants) with the stock the ledger sums to."""
        products = [(p, q) for (p, v), q in self.stock.items() if v is None]
        variants = [(v, q) for (_, v), q in self.stock.items() if v is not None]
        return products, variants


def password_hash(seed: int) -> str:
    """One argon2id hash of SEED_PASSWORD with a salt from the seed (deterministic; hashing a
    million times would take hours and prove nothing)."""
    salt = f"polyshop-seed-{seed}".encode().ljust(16, b"0")[:16]
    return hash_secret(SEED_PASSWORD.encode(), salt, time_cost=3, memory_cost=65536,
                       parallelism=4, hash_len=32, type=Type.ID).decode()  # fmt: skip


# stage name, done, total
SeedProgress = Callable[[str, int, int], None]


@dataclass(slots=True)
class SeedReport:
    tenants: list[tuple[UUID, str]] = field(default_factory=list)
    rows: dict[str, int] = field(default_factory=dict)

    def count(self, table: str, n: int) -> None:
        self.rows[table] = self.rows.get(table, 0) + n


@dataclass(frozen=True, slots=True)
class _Shop:
    """A shop starts: check its slug is free, make its analytics partitions."""

    tenant_id: UUID
    slug: str
    start: datetime
    months: int


@dataclass(frozen=True, slots=True)
class _Load:
    """One transaction's rows, already COPY text: (table, columns, data, rows) each."""

    tenant_id: UUID
    tables: list[tuple[str, tuple[str, ...], bytes, int]]
    stage: str
    done: int
    total: int


@dataclass(frozen=True, slots=True)
class _Stock:
    """A shop ends: the stock its ledger adds up to, and where its order numbers stand."""

    tenant_id: UUID
    products: list[tuple[UUID, int]]
    variants: list[tuple[UUID, int]]
    orders: int


@dataclass(frozen=True, slots=True)
class _Failed:
    error: str  # the generator's error, as text (it crosses a process boundary)


_Item = _Shop | _Load | _Stock | _Failed | None


def _load(tenant_id: UUID, batches: Sequence[Batch], stage: str, done: int, total: int) -> _Load:
    return _Load(tenant_id, [(b.table, b.columns, encode_rows(b.rows), len(b.rows))
                             for b in batches if b.rows], stage, done, total)  # fmt: skip


def _work(plan: SeedPlan, hashed: str) -> Iterator[_Shop | _Load | _Stock]:
    """Everything to load, in order, as COPY text."""
    for index in range(plan.shops):
        shop = ShopGenerator(plan, index)
        t = shop.tenant_id
        yield _Shop(t, shop.slug, shop.start, plan.months)
        yield _load(t, shop.catalog(), "catalog", shop.n_products, plan.products)
        for batches in shop.users(hashed):
            yield _load(t, batches, "users", len(batches[0].rows), plan.users + plan.shops)
        for batches in shop.orders():
            yield _load(t, batches, "orders", len(batches[0].rows), plan.orders)
        for batches, events in shop.sessions():
            yield _load(t, batches, "events", events, plan.events)
        products, variants = shop.final_stock()
        yield _Stock(t, products, variants, shop.n_orders)


def _produce(plan: SeedPlan, hashed: str, items: Any, stop: Any) -> None:
    """The generator process: `_work` into the bounded queue until done or told to stop."""

    def put(item: _Item) -> None:
        while not stop.is_set():
            try:
                items.put(item, timeout=0.2)
            except queue.Full:
                continue
            return

    try:
        for item in _work(plan, hashed):
            if stop.is_set():
                break
            put(item)
        else:
            put(None)
    except Exception as error:
        put(_Failed(f"{type(error).__name__}: {error}"))
    if stop.is_set():
        items.cancel_join_thread()  # a stopped loader reads no more: exit without flushing


class Seeder:
    """Loads a plan. A generator process makes the rows and formats them as COPY text while
    this process sends the previous transaction's rows and PostgreSQL checks and stores them,
    so the generator, the loader and the server work at the same time instead of in turn (a
    thread would not do: the loader would wait for the generator's GIL at every round trip).
    The queue between them is bounded: memory stays a few transactions' worth."""

    def __init__(self, admin_url: str, *, queued: int = 4) -> None:
        self._admin_url = admin_url
        self._queued = queued

    async def run(self, plan: SeedPlan, progress: SeedProgress | None = None) -> SeedReport:
        report = SeedReport()
        hashed = password_hash(plan.seed)
        done = {"catalog": 0, "users": 0, "orders": 0, "events": 0}
        context = multiprocessing.get_context("spawn")  # no fork of a running event loop
        items = context.Queue(maxsize=self._queued)
        stop = context.Event()
        producer = context.Process(target=_produce, args=(plan, hashed, items, stop),
                                   name="polyshop-seed-generator", daemon=True)  # fmt: skip
        producer.start()
        try:
            async with BulkLoader(self._admin_url) as loader:
                while (item := await asyncio.to_thread(self._next, items, producer)) is not None:
                    await self._consume(loader, item, report)
                    if isinstance(item, _Load):
                        done[item.stage] += item.done
                        if progress:
                            progress(item.stage, done[item.stage], item.total)
                await loader.try_execute("ANALYZE", ())
        finally:
            stop.set()
            await asyncio.to_thread(producer.join, 10)
            if producer.is_alive():
                producer.terminate()
            items.close()
        return report

    @staticmethod
    def _next(items: Any, producer: Any) -> _Item:
        """The next item, or an error if the generator process died without a word."""
        while True:
            try:
                item: _Item = items.get(timeout=1)
            except queue.Empty:
                if not producer.is_alive():
                    return _Failed(f"the process ended (exit code {producer.exitcode})")
                continue
            return item

    @staticmethod
    async def _consume(loader: BulkLoader, item: _Item, report: SeedReport) -> None:
        if isinstance(item, _Failed):
            raise RuntimeError(f"the seed generator failed: {item.error}")  # noqa: TRY004
        if isinstance(item, _Shop):
            async with loader.transaction(None) as tx:
                taken = await tx.execute("SELECT 1 FROM tenants WHERE slug = %s", (item.slug,))
            if taken:
                raise ConflictError(
                    f"a shop {item.slug!r} already exists: seed an empty database, or pass"
                    " another --seed"
                )
            # Months before today's partitions: events land in their own month, not in
            # the default partition (fails harmlessly when that one already holds rows).
            await loader.try_execute(
                "SELECT analytics_ensure_partitions(%s, %s)",
                (item.start - timedelta(days=31), item.months + 2),
            )
            report.tenants.append((item.tenant_id, item.slug))
        elif isinstance(item, _Load):
            async with loader.transaction(item.tenant_id) as tx:
                for table, columns, data, rows in item.tables:
                    await tx.copy_text(table, columns, data)
                    report.count(table, rows)
        elif isinstance(item, _Stock):
            await Seeder._finish(loader, item)

    @staticmethod
    async def _finish(loader: BulkLoader, item: _Stock) -> None:
        async with loader.transaction(item.tenant_id) as tx:
            await tx.execute(
                "UPDATE products p SET inventory_quantity = s.q"
                " FROM unnest(%s::uuid[], %s::int[]) AS s(id, q)"
                " WHERE p.tenant_id = %s AND p.id = s.id AND s.q <> 0",
                ([p for p, _ in item.products], [q for _, q in item.products], item.tenant_id),
            )
            await tx.execute(
                "UPDATE product_variants v SET inventory_quantity = s.q"
                " FROM unnest(%s::uuid[], %s::int[]) AS s(id, q)"
                " WHERE v.tenant_id = %s AND v.id = s.id",
                ([v for v, _ in item.variants], [q for _, q in item.variants], item.tenant_id),
            )
            # Checkouts after the seed continue after the seeded order numbers.
            if item.orders:
                await tx.execute(
                    "SELECT setval(format('public.%%I', order_number_sequence(%s)), %s)",
                    (item.tenant_id, 1000 + item.orders),
                )
