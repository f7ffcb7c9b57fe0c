-- The recommendation graph's PostgreSQL twin (the GraphStore port's embedded adapter). Derived
-- data: the graph projector maintains it from the outbox, `polyshop sync rebuild graph` can
-- rebuild it. Nodes are tables keyed by (tenant_id, id); relationships between the same two
-- nodes share a row. No foreign keys to the commerce tables: a derived store follows events and
-- may briefly hold a product the relational side has not (it never invents one).

-- Category nodes and CHILD_OF.
CREATE TABLE graph_categories (
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    id          uuid NOT NULL,
    name        text NOT NULL,
    parent_id   uuid,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX graph_categories_parent_idx ON graph_categories (tenant_id, parent_id);

-- Product nodes, BELONGS_TO (category_id) and the maintained trend score (forward decay).
CREATE TABLE graph_products (
    tenant_id    uuid NOT NULL REFERENCES tenants (id),
    id           uuid NOT NULL,
    name         text NOT NULL DEFAULT '',
    for_sale     boolean NOT NULL DEFAULT false,
    category_id  uuid,
    brand_id     uuid,
    features     text[] NOT NULL DEFAULT '{}',
    trend        double precision NOT NULL DEFAULT 0,
    orders       integer NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX graph_products_category_idx ON graph_products (tenant_id, category_id, trend DESC);
CREATE INDEX graph_products_brand_idx ON graph_products (tenant_id, brand_id);

-- Order nodes: each order's contribution (PLACED, CONTAINS, PAID_WITH), kept so that a repeat
-- changes nothing and a cancellation takes back exactly what the order added.
CREATE TABLE graph_orders (
    tenant_id       uuid NOT NULL REFERENCES tenants (id),
    id              uuid NOT NULL,
    user_id         uuid NOT NULL,
    placed_at       timestamptz NOT NULL,
    counted         boolean NOT NULL,
    products        uuid[] NOT NULL,
    payment_method  text NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX graph_orders_user_idx ON graph_orders (tenant_id, user_id) WHERE counted;

-- PURCHASED, ADDED_TO_CART, VIEWED and REVIEWED between one customer and one product.
CREATE TABLE graph_user_products (
    tenant_id       uuid NOT NULL REFERENCES tenants (id),
    user_id         uuid NOT NULL,
    product_id      uuid NOT NULL,
    purchased       integer NOT NULL DEFAULT 0,
    last_purchased  timestamptz,
    carted          integer NOT NULL DEFAULT 0,
    last_carted     timestamptz,
    viewed          integer NOT NULL DEFAULT 0,
    last_viewed     timestamptz,
    rating          smallint,
    reviewed_at     timestamptz,
    PRIMARY KEY (tenant_id, user_id, product_id)
);
CREATE INDEX graph_user_products_product_idx ON graph_user_products (tenant_id, product_id);

-- FREQUENTLY_BOUGHT_WITH (orders with both), ALSO_BOUGHT (customers with both) and SIMILAR_TO,
-- one row per ordered pair, both directions stored so a lookup reads one product's rows.
CREATE TABLE graph_pairs (
    tenant_id        uuid NOT NULL REFERENCES tenants (id),
    product_id       uuid NOT NULL,
    other_id         uuid NOT NULL,
    bought_together  integer NOT NULL DEFAULT 0,
    also_bought      integer NOT NULL DEFAULT 0,
    similarity       double precision NOT NULL DEFAULT 0,
    similarity_reason text,
    PRIMARY KEY (tenant_id, product_id, other_id)
);
CREATE INDEX graph_pairs_other_idx ON graph_pairs (tenant_id, other_id);

-- Storefront batches (outbox ids) already counted: views and carts are counts, so a replayed
-- batch must be recognised.
CREATE TABLE graph_applied_batches (
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    event_id    bigint NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, event_id)
);

DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['graph_categories', 'graph_products', 'graph_orders',
                             'graph_user_products', 'graph_pairs', 'graph_applied_batches'] LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (tenant_id = app_current_tenant())'
                       ' WITH CHECK (tenant_id = app_current_tenant())', t);
        -- A derived store (migration 0008): the relay writes it, requests only read it.
        EXECUTE format('GRANT SELECT ON %I TO polyshop_app', t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %I TO polyshop_relay', t);
    END LOOP;
END
$$;

-- The graph projector counts reviews (REVIEWED) besides what the document projector reads.
GRANT SELECT ON reviews TO polyshop_relay;
