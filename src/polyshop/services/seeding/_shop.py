"""One shop's generator state: its random source, identity, period and pools of names, what the
later stages need from the earlier ones (customers, the SKUs for sale, the stock kept so far),
and the draws every stage shares (a moment in the period, a customer, SKUs by popularity).

Every value comes from the shop's own `random.Random` (and a Faker seeded alike), drawn in a
fixed order: the same plan, shop index and end date give the same rows.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from faker import Faker

from polyshop.domain.catalog import slug_words
from polyshop.domain.pricing import PricingRules
from polyshop.services._inventory_ledger import MovementType
from polyshop.services.seeding._plan import Row, SeedPlan
from polyshop.services.seeding._vocabulary import HOUR_CUM, HOURS, LOCALES, rules_settings


@dataclass(frozen=True, slots=True)
class Sku:
    """Something a customer can buy: a product without variants, or one variant."""

    product_id: UUID
    variant_id: UUID | None
    name: str
    sku: str
    price: Decimal
    options: dict[str, str]
    category_id: UUID


class ShopState:
    def __init__(self, plan: SeedPlan, index: int) -> None:
        self.plan = plan
        self.index = index
        self.rng = random.Random(f"polyshop:{plan.seed}:{index}")  # noqa: S311 (not security)
        locale, self.country, self.currency = LOCALES[index % len(LOCALES)]
        fake = Faker(locale)
        fake.seed_instance(f"polyshop:{plan.seed}:{index}")
        company = fake.company()
        self.name = company
        self.slug = f"{slug_words(company)[:40].strip('-')}-{index + 1}"
        self.domain = f"{self.slug}.example"
        self.tenant_id = self._uuid()
        self.end = datetime(plan.until.year, plan.until.month, plan.until.day, tzinfo=UTC)
        self.start = self.end - timedelta(days=round(30.44 * plan.months))
        # Pools drawn once, in this order (the order is part of what a seed means).
        self.first_names = sorted({fake.first_name() for _ in range(300)})
        self.last_names = sorted({fake.last_name() for _ in range(300)})
        self.streets = sorted({fake.street_name() for _ in range(300)})
        self.cities = sorted({(fake.city(), fake.postcode()) for _ in range(120)})
        self.companies = sorted({fake.company() for _ in range(60)})
        self.sentences = [fake.sentence(nb_words=12) for _ in range(200)]
        self.paragraphs = [fake.paragraph(nb_sentences=4) for _ in range(100)]
        self.review_titles = [fake.sentence(nb_words=5).rstrip(".") for _ in range(100)]
        self.rules_settings: dict[str, Any] = rules_settings(self.country)
        self.rules = PricingRules.from_settings(self.rules_settings)
        self.n_users = plan.share(plan.users, index)
        self.n_products = plan.share(plan.products, index)
        self.n_orders = plan.share(plan.orders, index)
        self.n_events = plan.share(plan.events, index)
        # Filled by the stages, read by the later ones.
        self.user_ids: list[UUID] = []
        self.user_times: list[datetime] = []
        self.skus: list[Sku] = []
        self.sku_weights: list[float] = []
        self.stock: dict[tuple[UUID, UUID | None], int] = {}
        self._day_weights = self._seasonality()

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
        hour = self.rng.choices(HOURS, cum_weights=HOUR_CUM)[0]
        return self.start + timedelta(days=day, hours=hour, seconds=self.rng.randrange(3600))

    def _user_time(self, i: int) -> datetime:
        """When customer `i` registered: increasing with `i`, from six months before the
        period to its end (earlier customers are the loyal ones)."""
        span = (self.end - self.start) + timedelta(days=180)
        share: float = (i / max(self.n_users, 1)) ** 0.8
        return self.start - timedelta(days=180) + span * share

    def _person(self, u: int) -> tuple[str, str, dict[str, str]]:
        """Customer `u`'s name and address: a function of `u` alone (no draw), so an order can
        ask again for the address its customer registered with."""
        first = self.first_names[(u * 31 + 7) % len(self.first_names)]
        last = self.last_names[(u * 17 + 3) % len(self.last_names)]
        city, postcode = self.cities[(u * 11 + 5) % len(self.cities)]
        street = f"{(u * 13) % 998 + 1} {self.streets[(u * 7 + 1) % len(self.streets)]}"
        address = {"firstName": first, "lastName": last, "street": street, "city": city,
                   "postalCode": postcode, "country": self.country}  # fmt: skip
        return first, last, address

    def _customer_before(self, moment: datetime) -> int:
        """A customer registered before `moment`, the earlier ones more often."""
        known = bisect.bisect(self.user_times, moment)
        return int(max(known, 1) * self.rng.random() ** 1.4)

    def _pick_skus(self, count: int) -> list[Sku]:
        """Up to `count` different SKUs, by popularity (a repeated draw counts once)."""
        picked: dict[str, Sku] = {}
        for sku in self.rng.choices(self.skus, cum_weights=self.sku_weights, k=count):
            picked[sku.sku] = sku
        return list(picked.values())

    # ---- the stock the ledger adds up to ---------------------------------------------------

    def _ledger(self, rows: list[Row], sku: tuple[UUID, UUID | None], kind: MovementType,
                quantity: int, reason: str, reference: UUID | None, at: datetime) -> None:  # fmt: skip
        """Move `sku`'s stock by `quantity` (signed) and write the ledger row that says so."""
        self.stock[sku] = self.stock.get(sku, 0) + quantity
        product, variant = sku
        rows.append((self.tenant_id, self._uuid(), product, variant, kind, quantity, reason,
                     reference, at))  # fmt: skip

    def final_stock(self) -> tuple[list[tuple[UUID, int]], list[tuple[UUID, int]]]:
        """(products without variants, variants) with the stock the ledger sums to."""
        products = [(p, q) for (p, v), q in self.stock.items() if v is None]
        variants = [(v, q) for (_, v), q in self.stock.items() if v is not None]
        return products, variants
