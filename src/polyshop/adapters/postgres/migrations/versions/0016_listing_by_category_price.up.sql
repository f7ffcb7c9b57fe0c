-- A shopper's listing of a category subtree in a price range, sorted by price, read every
-- active product of the shop (bench.scale at 1M orders: 47,392 index entries and 10,054 heap
-- blocks for 21 rows; docs/benchmarks.md). Two reasons, both from row-level security: the
-- policy is evaluated before any condition that is not leakproof, and `numeric` comparisons
-- are not, so the price range could never be an index condition for the application role; and
-- the category subtree was a semi-join, not an index condition either.
--
-- `price_cents` is the price in whole cents (price is numeric(12, 2), so exact), compared with
-- bigint operators, which are leakproof. With this index the listing reads, per category of the
-- subtree, the first entries of (status, category, price range) in price order
-- (services/catalog/_listing.py), whatever the size of the shop.
ALTER TABLE products
    ADD COLUMN price_cents bigint GENERATED ALWAYS AS ((price * 100)::bigint) STORED;

CREATE INDEX products_category_price_idx
    ON products (tenant_id, status, category_id, price_cents, id);
