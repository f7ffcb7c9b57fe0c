-- Document lookups that an index can serve under row-level security (docs/benchmarks.md, "Hot
-- reads at scale"). The policy's condition is evaluated before every condition of the query
-- that is not leakproof, and the jsonb operators (->, ->>, @>) are not, so the expression
-- indexes of 0003 could never be used: a customer's order history and a product by slug read
-- every document of the shop's collection (3,330 rows filtered per history at 10k orders, a
-- hundred times more at 1M). A stored generated column compared with text = (leakproof) can be.
ALTER TABLE documents ADD COLUMN lookup_key text GENERATED ALWAYS AS (
    CASE collection
        WHEN 'orders' THEN body -> 'user' ->> 'id'
        WHEN 'products' THEN body ->> 'slug'
    END) STORED;
DROP INDEX documents_product_slug_idx;
DROP INDEX documents_order_user_idx;
CREATE INDEX documents_lookup_idx ON documents (tenant_id, collection, lookup_key)
    WHERE lookup_key IS NOT NULL;
