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

In parts, by what a reader looks for: `_plan` (the plan, the tables and their columns),
`_vocabulary` (the words and weights drawn from), `_shop` (one shop's state and shared draws),
`_catalog`, `_customers`, `_orders`, `_sessions` (the generator's stages, combined in
`_generator`), `_pipeline` (the generator process and the messages it sends) and `_loader`
(`Seeder`: the loading process, progress and report).
"""

from polyshop.services.seeding._customers import SEED_PASSWORD, password_hash
from polyshop.services.seeding._generator import ShopGenerator
from polyshop.services.seeding._loader import Seeder, SeedProgress, SeedReport
from polyshop.services.seeding._plan import COLUMNS, Batch, SeedPlan

__all__ = [
    "COLUMNS",
    "SEED_PASSWORD",
    "Batch",
    "SeedPlan",
    "SeedProgress",
    "SeedReport",
    "Seeder",
    "ShopGenerator",
    "password_hash",
]
