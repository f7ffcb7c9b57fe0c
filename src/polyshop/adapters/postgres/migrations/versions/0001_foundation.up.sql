-- polyshop foundation schema: every table of schema-design.md, made multi-tenant, plus the
-- tables the spec forgot (tenants, vendors, brands) and the ones the platform needs (outbox,
-- idempotency_keys, order_events). docs/schema.md lists every deviation from the spec.

-- ---------------------------------------------------------------------------------------------
-- Helpers
-- ---------------------------------------------------------------------------------------------

-- The tenant of the current transaction, set with set_config('app.tenant_id', ..., true).
-- NULL when unset, and `tenant_id = NULL` is never true: no tenant means no rows (fail closed).
CREATE FUNCTION app_current_tenant() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT NULLIF(current_setting('app.tenant_id', true), '')::uuid $$;

CREATE FUNCTION set_updated_at() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END
$$;

-- ---------------------------------------------------------------------------------------------
-- Platform
-- ---------------------------------------------------------------------------------------------

CREATE TABLE tenants (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    slug        text NOT NULL CONSTRAINT tenants_slug_format
                    CHECK (slug ~ '^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$'),
    name        text NOT NULL CONSTRAINT tenants_name_not_blank CHECK (btrim(name) <> ''),
    currency    char(3) NOT NULL DEFAULT 'USD' CONSTRAINT tenants_currency_iso
                    CHECK (currency ~ '^[A-Z]{3}$'),
    status      text NOT NULL DEFAULT 'active'
                    CONSTRAINT tenants_status_valid CHECK (status IN ('active', 'suspended', 'closed')),
    -- Per-tenant rules for checkout (tax, shipping), read by the commerce core.
    settings    jsonb NOT NULL DEFAULT '{}'::jsonb
                    CONSTRAINT tenants_settings_object CHECK (jsonb_typeof(settings) = 'object'),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT tenants_slug_key UNIQUE (slug)
);

CREATE TABLE tenant_domains (
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    hostname    text NOT NULL CONSTRAINT tenant_domains_hostname_lower
                    CHECK (hostname = lower(hostname) AND hostname <> ''),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, hostname),
    CONSTRAINT tenant_domains_hostname_key UNIQUE (hostname)
);

-- Resolving the tenant of a request happens before any tenant is set, so row-level security
-- would hide every domain; this definer function answers exactly one question and nothing more.
CREATE FUNCTION tenant_for_hostname(requested text) RETURNS uuid
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, public
    AS $$ SELECT d.tenant_id FROM public.tenant_domains d
           JOIN public.tenants t ON t.id = d.tenant_id
          WHERE d.hostname = lower(requested) AND t.status = 'active' $$;

-- ---------------------------------------------------------------------------------------------
-- Vendors and brands (referenced by the spec's products, never defined there)
-- ---------------------------------------------------------------------------------------------

CREATE TABLE vendors (
    tenant_id       uuid NOT NULL REFERENCES tenants (id),
    id              uuid NOT NULL DEFAULT gen_random_uuid(),
    name            varchar(255) NOT NULL CONSTRAINT vendors_name_not_blank CHECK (btrim(name) <> ''),
    slug            varchar(255) NOT NULL,
    contact_email   varchar(255),
    is_active       boolean NOT NULL DEFAULT true,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT vendors_slug_key UNIQUE (tenant_id, slug)
);

CREATE TABLE brands (
    tenant_id       uuid NOT NULL REFERENCES tenants (id),
    id              uuid NOT NULL DEFAULT gen_random_uuid(),
    name            varchar(255) NOT NULL CONSTRAINT brands_name_not_blank CHECK (btrim(name) <> ''),
    slug            varchar(255) NOT NULL,
    description     text,
    logo_url        varchar(500),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT brands_slug_key UNIQUE (tenant_id, slug)
);

-- ---------------------------------------------------------------------------------------------
-- Users and authentication
-- ---------------------------------------------------------------------------------------------

CREATE TABLE users (
    tenant_id               uuid NOT NULL REFERENCES tenants (id),
    id                      uuid NOT NULL DEFAULT gen_random_uuid(),
    email                   varchar(255) NOT NULL
                                CONSTRAINT users_email_format CHECK (email ~ '^[^@\s]+@[^@\s]+$'),
    password_hash           varchar(255) NOT NULL,
    first_name              varchar(100) NOT NULL,
    last_name               varchar(100) NOT NULL,
    phone                   varchar(20),
    date_of_birth           date,
    role                    text NOT NULL DEFAULT 'customer'
                                CONSTRAINT users_role_valid
                                CHECK (role IN ('customer', 'vendor_staff', 'tenant_admin')),
    vendor_id               uuid,
    failed_login_attempts   integer NOT NULL DEFAULT 0
                                CONSTRAINT users_failed_login_attempts_nonnegative
                                CHECK (failed_login_attempts >= 0),
    locked_until            timestamptz,
    last_login_at           timestamptz,
    anonymized_at           timestamptz,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    is_active               boolean NOT NULL DEFAULT true,
    email_verified          boolean NOT NULL DEFAULT false,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, vendor_id) REFERENCES vendors (tenant_id, id),
    -- Vendor staff belong to exactly one vendor; nobody else belongs to one.
    CONSTRAINT users_vendor_matches_role
        CHECK ((role = 'vendor_staff') = (vendor_id IS NOT NULL))
);
-- Per-tenant, case-insensitive email (replaces the spec's global UNIQUE and idx_users_email).
CREATE UNIQUE INDEX users_email_key ON users (tenant_id, lower(email));
CREATE INDEX users_tenant_created_idx ON users (tenant_id, created_at DESC);
CREATE INDEX users_vendor_idx ON users (tenant_id, vendor_id) WHERE vendor_id IS NOT NULL;

CREATE TABLE user_profiles (
    tenant_id   uuid NOT NULL,
    user_id     uuid NOT NULL,
    avatar_url  varchar(500),
    bio         text,
    preferences jsonb NOT NULL DEFAULT '{}'::jsonb
                    CONSTRAINT user_profiles_preferences_object
                    CHECK (jsonb_typeof(preferences) = 'object'),
    timezone    varchar(50) NOT NULL DEFAULT 'UTC',
    language    varchar(10) NOT NULL DEFAULT 'en',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, user_id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);

CREATE TABLE user_addresses (
    tenant_id       uuid NOT NULL,
    id              uuid NOT NULL DEFAULT gen_random_uuid(),
    user_id         uuid NOT NULL,
    type            varchar(20) NOT NULL
                        CONSTRAINT user_addresses_type_valid
                        CHECK (type IN ('billing', 'shipping', 'both')),
    first_name      varchar(100),
    last_name       varchar(100),
    street_address  varchar(255) NOT NULL,
    city            varchar(100) NOT NULL,
    state           varchar(100),
    postal_code     varchar(20) NOT NULL,
    country         varchar(100) NOT NULL,
    is_default      boolean NOT NULL DEFAULT false,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX user_addresses_user_idx ON user_addresses (tenant_id, user_id);
-- One default address per user and type.
CREATE UNIQUE INDEX user_addresses_one_default_key
    ON user_addresses (tenant_id, user_id, type) WHERE is_default;

-- ---------------------------------------------------------------------------------------------
-- Catalog
-- ---------------------------------------------------------------------------------------------

CREATE TABLE categories (
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    id          uuid NOT NULL DEFAULT gen_random_uuid(),
    name        varchar(100) NOT NULL CONSTRAINT categories_name_not_blank CHECK (btrim(name) <> ''),
    slug        varchar(100) NOT NULL,
    description text,
    parent_id   uuid,
    image_url   varchar(500),
    sort_order  integer NOT NULL DEFAULT 0,
    is_active   boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT categories_slug_key UNIQUE (tenant_id, slug),
    -- SET NULL on the parent column only: the tenant column of the child must stay.
    FOREIGN KEY (tenant_id, parent_id) REFERENCES categories (tenant_id, id)
        ON DELETE SET NULL (parent_id)
);
CREATE INDEX categories_parent_idx ON categories (tenant_id, parent_id, sort_order);

-- A category may not become its own parent or ancestor. Moves within one tenant are serialised by an
-- advisory lock so two concurrent moves cannot close a cycle that neither sees alone.
CREATE FUNCTION categories_refuse_cycle() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
DECLARE
    found boolean;
BEGIN
    IF NEW.parent_id IS NULL THEN
        RETURN NEW;
    END IF;
    PERFORM pg_advisory_xact_lock(hashtextextended('polyshop.categories:' || NEW.tenant_id::text, 0));
    WITH RECURSIVE ancestors(id) AS (
        SELECT NEW.parent_id
        UNION
        SELECT c.parent_id FROM categories c JOIN ancestors a ON c.id = a.id
         WHERE c.tenant_id = NEW.tenant_id AND c.parent_id IS NOT NULL
    )
    SELECT EXISTS (SELECT 1 FROM ancestors WHERE id = NEW.id) INTO found;
    IF found THEN
        RAISE EXCEPTION 'category % cannot be moved under its own descendant %', NEW.id, NEW.parent_id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'categories_no_cycle';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER categories_no_cycle
    BEFORE INSERT OR UPDATE OF parent_id ON categories
    FOR EACH ROW EXECUTE FUNCTION categories_refuse_cycle();

CREATE TABLE products (
    tenant_id           uuid NOT NULL REFERENCES tenants (id),
    id                  uuid NOT NULL DEFAULT gen_random_uuid(),
    name                varchar(255) NOT NULL CONSTRAINT products_name_not_blank CHECK (btrim(name) <> ''),
    slug                varchar(255) NOT NULL,
    description         text,
    short_description   varchar(500),
    sku                 varchar(100) NOT NULL,
    -- Prices are in the tenant's currency (tenants.currency).
    price               numeric(12, 2) NOT NULL CONSTRAINT products_price_nonnegative CHECK (price >= 0),
    compare_price       numeric(12, 2) CONSTRAINT products_compare_price_nonnegative CHECK (compare_price >= 0),
    cost_price          numeric(12, 2) CONSTRAINT products_cost_price_nonnegative CHECK (cost_price >= 0),
    weight              numeric(8, 2) CONSTRAINT products_weight_nonnegative CHECK (weight >= 0),
    dimensions          jsonb CONSTRAINT products_dimensions_object
                            CHECK (dimensions IS NULL OR jsonb_typeof(dimensions) = 'object'),
    category_id         uuid NOT NULL,
    brand_id            uuid,
    vendor_id           uuid NOT NULL,
    status              varchar(20) NOT NULL DEFAULT 'draft'
                            CONSTRAINT products_status_valid
                            CHECK (status IN ('draft', 'active', 'inactive', 'archived')),
    inventory_tracking  boolean NOT NULL DEFAULT true,
    -- Stock of a product without variants. A product with variants keeps its stock on the
    -- variants and 0 here (enforced by products_stock_location below).
    inventory_quantity  integer NOT NULL DEFAULT 0,
    inventory_policy    varchar(20) NOT NULL DEFAULT 'deny'
                            CONSTRAINT products_inventory_policy_valid
                            CHECK (inventory_policy IN ('deny', 'continue')),
    low_stock_threshold integer CONSTRAINT products_low_stock_threshold_nonnegative
                            CHECK (low_stock_threshold >= 0),
    requires_shipping   boolean NOT NULL DEFAULT true,
    taxable             boolean NOT NULL DEFAULT true,
    seo_title           varchar(255),
    seo_description     text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT products_slug_key UNIQUE (tenant_id, slug),
    CONSTRAINT products_sku_key UNIQUE (tenant_id, sku),
    FOREIGN KEY (tenant_id, category_id) REFERENCES categories (tenant_id, id),
    FOREIGN KEY (tenant_id, brand_id) REFERENCES brands (tenant_id, id),
    FOREIGN KEY (tenant_id, vendor_id) REFERENCES vendors (tenant_id, id),
    -- A tracked `deny` product never has negative stock: the last line against overselling.
    CONSTRAINT products_stock_not_oversold
        CHECK (inventory_policy = 'continue' OR NOT inventory_tracking OR inventory_quantity >= 0)
);
CREATE INDEX products_category_idx ON products (tenant_id, category_id, status);
CREATE INDEX products_brand_idx ON products (tenant_id, brand_id) WHERE brand_id IS NOT NULL;
CREATE INDEX products_vendor_idx ON products (tenant_id, vendor_id, status);
CREATE INDEX products_status_created_idx ON products (tenant_id, status, created_at DESC, id);
CREATE INDEX products_status_price_idx ON products (tenant_id, status, price, id);

CREATE TABLE product_variants (
    tenant_id           uuid NOT NULL,
    id                  uuid NOT NULL DEFAULT gen_random_uuid(),
    product_id          uuid NOT NULL,
    title               varchar(255) NOT NULL,
    sku                 varchar(100) NOT NULL,
    price               numeric(12, 2) NOT NULL CONSTRAINT product_variants_price_nonnegative CHECK (price >= 0),
    compare_price       numeric(12, 2) CONSTRAINT product_variants_compare_price_nonnegative CHECK (compare_price >= 0),
    cost_price          numeric(12, 2) CONSTRAINT product_variants_cost_price_nonnegative CHECK (cost_price >= 0),
    weight              numeric(8, 2) CONSTRAINT product_variants_weight_nonnegative CHECK (weight >= 0),
    -- Option values such as {"color": "black", "size": "standard"} (the document's attributes).
    options             jsonb NOT NULL DEFAULT '{}'::jsonb
                            CONSTRAINT product_variants_options_object
                            CHECK (jsonb_typeof(options) = 'object'),
    inventory_quantity  integer NOT NULL DEFAULT 0,
    inventory_policy    varchar(20) NOT NULL DEFAULT 'deny'
                            CONSTRAINT product_variants_inventory_policy_valid
                            CHECK (inventory_policy IN ('deny', 'continue')),
    position            integer NOT NULL DEFAULT 0,
    is_active           boolean NOT NULL DEFAULT true,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT product_variants_sku_key UNIQUE (tenant_id, sku),
    FOREIGN KEY (tenant_id, product_id) REFERENCES products (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT product_variants_stock_not_oversold
        CHECK (inventory_policy = 'continue' OR inventory_quantity >= 0)
);
CREATE INDEX product_variants_product_idx ON product_variants (tenant_id, product_id, position);

-- Where stock lives (seed-review #10): on the variants when a product has any, else on the
-- product. A product cannot hold stock of its own while it has variants.
CREATE FUNCTION products_stock_location() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF TG_TABLE_NAME = 'product_variants' THEN
        IF EXISTS (SELECT 1 FROM products p
                    WHERE p.tenant_id = NEW.tenant_id AND p.id = NEW.product_id
                      AND p.inventory_quantity <> 0) THEN
            RAISE EXCEPTION 'product % holds stock of its own; move it to variants first', NEW.product_id
                USING ERRCODE = 'check_violation', CONSTRAINT = 'products_stock_location';
        END IF;
    ELSIF NEW.inventory_quantity <> 0 AND EXISTS (
            SELECT 1 FROM product_variants v WHERE v.tenant_id = NEW.tenant_id AND v.product_id = NEW.id) THEN
        RAISE EXCEPTION 'product % has variants; its stock lives on the variants', NEW.id
            USING ERRCODE = 'check_violation', CONSTRAINT = 'products_stock_location';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER products_stock_location
    BEFORE UPDATE OF inventory_quantity ON products
    FOR EACH ROW WHEN (NEW.inventory_quantity <> 0)
    EXECUTE FUNCTION products_stock_location();
CREATE TRIGGER product_variants_stock_location
    BEFORE INSERT OR UPDATE OF product_id ON product_variants
    FOR EACH ROW EXECUTE FUNCTION products_stock_location();

CREATE TABLE product_attributes (
    tenant_id   uuid NOT NULL,
    id          uuid NOT NULL DEFAULT gen_random_uuid(),
    product_id  uuid NOT NULL,
    name        varchar(100) NOT NULL CONSTRAINT product_attributes_name_not_blank CHECK (btrim(name) <> ''),
    value       text NOT NULL,
    type        varchar(20) NOT NULL DEFAULT 'text'
                    CONSTRAINT product_attributes_type_valid
                    CHECK (type IN ('text', 'number', 'boolean', 'date', 'url')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, product_id) REFERENCES products (tenant_id, id) ON DELETE CASCADE,
    CONSTRAINT product_attributes_name_key UNIQUE (tenant_id, product_id, name),
    -- The value must parse as its declared type, so filters can cast it safely.
    CONSTRAINT product_attributes_value_typed CHECK (
        CASE type
            WHEN 'number' THEN value ~ '^-?[0-9]+(\.[0-9]+)?$'
            WHEN 'boolean' THEN value IN ('true', 'false')
            WHEN 'date' THEN value ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}$'
            WHEN 'url' THEN value ~ '^https?://[^\s]+$'
            ELSE true
        END)
);
CREATE INDEX product_attributes_filter_idx ON product_attributes (tenant_id, name, value);

CREATE TABLE product_images (
    tenant_id   uuid NOT NULL,
    id          uuid NOT NULL DEFAULT gen_random_uuid(),
    product_id  uuid NOT NULL,
    url         varchar(500) NOT NULL,
    alt_text    varchar(255),
    position    integer NOT NULL DEFAULT 0,
    is_primary  boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, product_id) REFERENCES products (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX product_images_product_idx ON product_images (tenant_id, product_id, position);
CREATE UNIQUE INDEX product_images_one_primary_key
    ON product_images (tenant_id, product_id) WHERE is_primary;

-- ---------------------------------------------------------------------------------------------
-- Orders and payments
-- ---------------------------------------------------------------------------------------------

CREATE TABLE orders (
    tenant_id           uuid NOT NULL REFERENCES tenants (id),
    id                  uuid NOT NULL DEFAULT gen_random_uuid(),
    order_number        varchar(50) NOT NULL,
    -- Erasure anonymises the user row instead of deleting it, so orders keep their customer.
    user_id             uuid NOT NULL,
    status              varchar(20) NOT NULL DEFAULT 'pending'
                            CONSTRAINT orders_status_valid
                            CHECK (status IN ('pending', 'confirmed', 'processing', 'shipped',
                                              'delivered', 'cancelled', 'refunded')),
    subtotal            numeric(12, 2) NOT NULL CONSTRAINT orders_subtotal_nonnegative CHECK (subtotal >= 0),
    tax_amount          numeric(12, 2) NOT NULL DEFAULT 0 CONSTRAINT orders_tax_amount_nonnegative CHECK (tax_amount >= 0),
    shipping_amount     numeric(12, 2) NOT NULL DEFAULT 0 CONSTRAINT orders_shipping_amount_nonnegative CHECK (shipping_amount >= 0),
    discount_amount     numeric(12, 2) NOT NULL DEFAULT 0 CONSTRAINT orders_discount_amount_nonnegative CHECK (discount_amount >= 0),
    total_amount        numeric(12, 2) NOT NULL CONSTRAINT orders_total_amount_nonnegative CHECK (total_amount >= 0),
    currency            char(3) NOT NULL DEFAULT 'USD' CONSTRAINT orders_currency_iso CHECK (currency ~ '^[A-Z]{3}$'),
    payment_status      varchar(20) NOT NULL DEFAULT 'pending'
                            CONSTRAINT orders_payment_status_valid
                            CHECK (payment_status IN ('pending', 'paid', 'failed', 'refunded',
                                                      'partially_refunded')),
    shipping_status     varchar(20) NOT NULL DEFAULT 'pending'
                            CONSTRAINT orders_shipping_status_valid
                            CHECK (shipping_status IN ('pending', 'shipped', 'delivered', 'returned')),
    billing_address     jsonb NOT NULL CONSTRAINT orders_billing_address_object
                            CHECK (jsonb_typeof(billing_address) = 'object'),
    shipping_address    jsonb NOT NULL CONSTRAINT orders_shipping_address_object
                            CHECK (jsonb_typeof(shipping_address) = 'object'),
    shipping_method     varchar(50),
    shipping_carrier    varchar(50),
    tracking_number     varchar(100),
    estimated_delivery  timestamptz,
    notes               text,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    shipped_at          timestamptz,
    delivered_at        timestamptz,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT orders_order_number_key UNIQUE (tenant_id, order_number),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id),
    CONSTRAINT orders_total_adds_up
        CHECK (total_amount = subtotal + tax_amount + shipping_amount - discount_amount),
    CONSTRAINT orders_delivered_after_shipped
        CHECK (delivered_at IS NULL OR (shipped_at IS NOT NULL AND delivered_at >= shipped_at))
);
CREATE INDEX orders_user_created_idx ON orders (tenant_id, user_id, created_at DESC);
CREATE INDEX orders_status_created_idx ON orders (tenant_id, status, created_at DESC);

CREATE TABLE order_items (
    tenant_id   uuid NOT NULL,
    id          uuid NOT NULL DEFAULT gen_random_uuid(),
    order_id    uuid NOT NULL,
    product_id  uuid NOT NULL,
    variant_id  uuid,
    -- What was bought, as it was when it was bought.
    name        varchar(255) NOT NULL,
    sku         varchar(100) NOT NULL,
    options     jsonb NOT NULL DEFAULT '{}'::jsonb,
    quantity    integer NOT NULL CONSTRAINT order_items_quantity_positive CHECK (quantity > 0),
    unit_price  numeric(12, 2) NOT NULL CONSTRAINT order_items_unit_price_nonnegative CHECK (unit_price >= 0),
    -- Not negative either, as it follows from the quantity and unit price checks.
    total_price numeric(12, 2) NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, order_id) REFERENCES orders (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, product_id) REFERENCES products (tenant_id, id),
    FOREIGN KEY (tenant_id, variant_id) REFERENCES product_variants (tenant_id, id),
    CONSTRAINT order_items_total_is_quantity_times_price CHECK (total_price = quantity * unit_price)
);
CREATE INDEX order_items_order_idx ON order_items (tenant_id, order_id);
CREATE INDEX order_items_product_idx ON order_items (tenant_id, product_id);
CREATE INDEX order_items_variant_idx ON order_items (tenant_id, variant_id) WHERE variant_id IS NOT NULL;

-- An order commits with at least one item and a subtotal equal to the sum of its items; checked
-- at commit (deferred), so a half-written order cannot be committed by any code path. A check
-- marks its order as verified (transaction-local); the other firings for the same order (one per
-- item) skip the query. Any later statement that changes orders or items clears the marks, so a
-- change after an early `SET CONSTRAINTS ... IMMEDIATE` is checked again.
CREATE FUNCTION orders_check_items() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
DECLARE
    target_tenant uuid;
    target_order uuid;
    checked text := coalesce(current_setting('polyshop.orders_checked', true), '');
    order_subtotal numeric;
    expected numeric;
    lines integer;
BEGIN
    IF TG_TABLE_NAME = 'orders' THEN
        target_tenant := NEW.tenant_id;
        target_order := NEW.id;
    ELSIF TG_OP = 'DELETE' THEN
        target_tenant := OLD.tenant_id;
        target_order := OLD.order_id;
    ELSE
        target_tenant := NEW.tenant_id;
        target_order := NEW.order_id;
    END IF;
    IF position(target_order::text IN checked) > 0 THEN
        RETURN NULL;
    END IF;
    SELECT o.subtotal, coalesce(sum(i.total_price), 0), count(i.id)
      INTO order_subtotal, expected, lines
      FROM orders o
      LEFT JOIN order_items i ON i.tenant_id = o.tenant_id AND i.order_id = o.id
     WHERE o.tenant_id = target_tenant AND o.id = target_order
     GROUP BY o.subtotal;
    IF NOT FOUND THEN
        RETURN NULL;  -- the order itself was deleted
    END IF;
    IF lines = 0 THEN
        RAISE EXCEPTION 'order % has no items', target_order
            USING ERRCODE = 'check_violation', CONSTRAINT = 'orders_have_items';
    END IF;
    IF expected <> order_subtotal THEN
        RAISE EXCEPTION 'order % subtotal % is not the sum of its items %', target_order, order_subtotal, expected
            USING ERRCODE = 'check_violation', CONSTRAINT = 'orders_subtotal_matches_items';
    END IF;
    PERFORM set_config('polyshop.orders_checked', checked || ' ' || target_order::text, true);
    RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER orders_items_consistent
    AFTER INSERT OR UPDATE OF subtotal ON orders
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION orders_check_items();
CREATE CONSTRAINT TRIGGER order_items_consistent
    AFTER INSERT OR UPDATE OR DELETE ON order_items
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION orders_check_items();

CREATE FUNCTION orders_forget_checks() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    PERFORM set_config('polyshop.orders_checked', '', true);
    RETURN NULL;
END
$$;
CREATE TRIGGER orders_changed AFTER INSERT OR UPDATE OR DELETE ON orders
    FOR EACH STATEMENT EXECUTE FUNCTION orders_forget_checks();
CREATE TRIGGER order_items_changed AFTER INSERT OR UPDATE OR DELETE ON order_items
    FOR EACH STATEMENT EXECUTE FUNCTION orders_forget_checks();

CREATE TABLE payments (
    tenant_id               uuid NOT NULL,
    id                      uuid NOT NULL DEFAULT gen_random_uuid(),
    order_id                uuid NOT NULL,
    payment_method          varchar(50) NOT NULL,
    payment_gateway         varchar(50) NOT NULL,
    gateway_transaction_id  varchar(255),
    amount                  numeric(12, 2) NOT NULL CONSTRAINT payments_amount_nonnegative CHECK (amount >= 0),
    refunded_amount         numeric(12, 2) NOT NULL DEFAULT 0
                                CONSTRAINT payments_refunded_within_amount
                                CHECK (refunded_amount >= 0 AND refunded_amount <= amount),
    currency                char(3) NOT NULL DEFAULT 'USD' CONSTRAINT payments_currency_iso CHECK (currency ~ '^[A-Z]{3}$'),
    status                  varchar(20) NOT NULL
                                CONSTRAINT payments_status_valid
                                CHECK (status IN ('pending', 'processing', 'completed', 'failed',
                                                  'cancelled', 'refunded')),
    gateway_response        jsonb,
    processed_at            timestamptz,
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    -- Payments are financial records: an order with payments cannot be deleted.
    FOREIGN KEY (tenant_id, order_id) REFERENCES orders (tenant_id, id)
);
CREATE INDEX payments_order_idx ON payments (tenant_id, order_id);
CREATE UNIQUE INDEX payments_gateway_transaction_key
    ON payments (tenant_id, payment_gateway, gateway_transaction_id)
    WHERE gateway_transaction_id IS NOT NULL;

CREATE TABLE order_events (
    tenant_id       uuid NOT NULL,
    id              uuid NOT NULL DEFAULT gen_random_uuid(),
    order_id        uuid NOT NULL,
    from_status     varchar(20),
    to_status       varchar(20) NOT NULL,
    note            text,
    actor_user_id   uuid,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, order_id) REFERENCES orders (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, actor_user_id) REFERENCES users (tenant_id, id) ON DELETE SET NULL (actor_user_id),
    CONSTRAINT order_events_status_changes CHECK (from_status IS DISTINCT FROM to_status)
);
CREATE INDEX order_events_order_idx ON order_events (tenant_id, order_id, created_at);
CREATE INDEX order_events_actor_idx ON order_events (tenant_id, actor_user_id) WHERE actor_user_id IS NOT NULL;

-- ---------------------------------------------------------------------------------------------
-- Reviews
-- ---------------------------------------------------------------------------------------------

CREATE TABLE reviews (
    tenant_id               uuid NOT NULL,
    id                      uuid NOT NULL DEFAULT gen_random_uuid(),
    product_id              uuid NOT NULL,
    -- No cascade from users: erasure anonymises the author and keeps the content.
    user_id                 uuid NOT NULL,
    order_id                uuid,
    rating                  integer NOT NULL CONSTRAINT reviews_rating_range CHECK (rating BETWEEN 1 AND 5),
    title                   varchar(255),
    content                 text,
    is_verified_purchase    boolean NOT NULL DEFAULT false,
    is_approved             boolean NOT NULL DEFAULT false,
    helpful_count           integer NOT NULL DEFAULT 0 CONSTRAINT reviews_helpful_count_nonnegative CHECK (helpful_count >= 0),
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, product_id) REFERENCES products (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id),
    FOREIGN KEY (tenant_id, order_id) REFERENCES orders (tenant_id, id),
    -- NULLS NOT DISTINCT: a NULL order cannot be used to review the same product again and again.
    CONSTRAINT reviews_one_per_order_key UNIQUE NULLS NOT DISTINCT (tenant_id, product_id, user_id, order_id),
    -- A verified purchase is tied to the order it was bought in.
    CONSTRAINT reviews_verified_has_order CHECK (NOT is_verified_purchase OR order_id IS NOT NULL)
);
CREATE INDEX reviews_product_idx ON reviews (tenant_id, product_id, created_at DESC) WHERE is_approved;
CREATE INDEX reviews_user_idx ON reviews (tenant_id, user_id);
CREATE INDEX reviews_order_idx ON reviews (tenant_id, order_id) WHERE order_id IS NOT NULL;
CREATE INDEX reviews_moderation_idx ON reviews (tenant_id, created_at) WHERE NOT is_approved;

CREATE TABLE review_images (
    tenant_id   uuid NOT NULL,
    id          uuid NOT NULL DEFAULT gen_random_uuid(),
    review_id   uuid NOT NULL,
    url         varchar(500) NOT NULL,
    alt_text    varchar(255),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, review_id) REFERENCES reviews (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX review_images_review_idx ON review_images (tenant_id, review_id);

-- ---------------------------------------------------------------------------------------------
-- Inventory ledger: the stock figure always equals the sum of its movements.
-- ---------------------------------------------------------------------------------------------

CREATE TABLE inventory_transactions (
    tenant_id       uuid NOT NULL,
    id              uuid NOT NULL DEFAULT gen_random_uuid(),
    product_id      uuid NOT NULL,
    variant_id      uuid,
    type            varchar(20) NOT NULL
                        CONSTRAINT inventory_transactions_type_valid
                        CHECK (type IN ('in', 'out', 'adjustment', 'transfer')),
    quantity        integer NOT NULL CONSTRAINT inventory_transactions_quantity_nonzero CHECK (quantity <> 0),
    reason          varchar(100),
    reference_id    uuid,
    notes           text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    created_by      uuid,
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, product_id) REFERENCES products (tenant_id, id),
    FOREIGN KEY (tenant_id, variant_id) REFERENCES product_variants (tenant_id, id),
    FOREIGN KEY (tenant_id, created_by) REFERENCES users (tenant_id, id) ON DELETE SET NULL (created_by),
    CONSTRAINT inventory_transactions_direction
        CHECK ((type <> 'in' OR quantity > 0) AND (type <> 'out' OR quantity < 0))
);
CREATE INDEX inventory_transactions_product_idx ON inventory_transactions (tenant_id, product_id, created_at);
CREATE INDEX inventory_transactions_variant_idx ON inventory_transactions (tenant_id, variant_id) WHERE variant_id IS NOT NULL;
CREATE INDEX inventory_transactions_creator_idx ON inventory_transactions (tenant_id, created_by) WHERE created_by IS NOT NULL;
CREATE INDEX inventory_transactions_reference_idx ON inventory_transactions (tenant_id, reference_id) WHERE reference_id IS NOT NULL;

-- ---------------------------------------------------------------------------------------------
-- Content
-- ---------------------------------------------------------------------------------------------

CREATE TABLE content_pages (
    tenant_id       uuid NOT NULL REFERENCES tenants (id),
    id              uuid NOT NULL DEFAULT gen_random_uuid(),
    title           varchar(255) NOT NULL CONSTRAINT content_pages_title_not_blank CHECK (btrim(title) <> ''),
    slug            varchar(255) NOT NULL,
    content         text NOT NULL,
    excerpt         text,
    status          varchar(20) NOT NULL DEFAULT 'draft'
                        CONSTRAINT content_pages_status_valid
                        CHECK (status IN ('draft', 'published', 'archived')),
    page_type       varchar(50) NOT NULL DEFAULT 'page'
                        CONSTRAINT content_pages_page_type_valid
                        CHECK (page_type IN ('page', 'blog_post', 'faq', 'policy')),
    seo_title       varchar(255),
    seo_description text,
    published_at    timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    created_by      uuid,
    updated_by      uuid,
    PRIMARY KEY (tenant_id, id),
    CONSTRAINT content_pages_slug_key UNIQUE (tenant_id, slug),
    FOREIGN KEY (tenant_id, created_by) REFERENCES users (tenant_id, id) ON DELETE SET NULL (created_by),
    FOREIGN KEY (tenant_id, updated_by) REFERENCES users (tenant_id, id) ON DELETE SET NULL (updated_by),
    CONSTRAINT content_pages_published_has_date CHECK (status <> 'published' OR published_at IS NOT NULL)
);
CREATE INDEX content_pages_listing_idx ON content_pages (tenant_id, page_type, status, published_at DESC);
CREATE INDEX content_pages_creator_idx ON content_pages (tenant_id, created_by) WHERE created_by IS NOT NULL;
CREATE INDEX content_pages_updater_idx ON content_pages (tenant_id, updated_by) WHERE updated_by IS NOT NULL;

-- ---------------------------------------------------------------------------------------------
-- Analytics: partitioned by month so retention is a partition drop (seed-review #11).
-- No foreign keys to users, products or orders: an event outlives what it was about, and an
-- append-only stream should not pay for a lookup per insert.
-- ---------------------------------------------------------------------------------------------

CREATE TABLE analytics_events (
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    id          uuid NOT NULL DEFAULT gen_random_uuid(),
    event_type  varchar(50) NOT NULL,
    user_id     uuid,
    session_id  varchar(255),
    product_id  uuid,
    order_id    uuid,
    properties  jsonb NOT NULL DEFAULT '{}'::jsonb
                    CONSTRAINT analytics_events_properties_object
                    CHECK (jsonb_typeof(properties) = 'object'),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, created_at, id)
) PARTITION BY RANGE (created_at);
CREATE INDEX analytics_events_type_idx ON analytics_events (tenant_id, event_type, created_at);
CREATE INDEX analytics_events_product_idx ON analytics_events (tenant_id, product_id, created_at)
    WHERE product_id IS NOT NULL;
CREATE INDEX analytics_events_user_idx ON analytics_events (tenant_id, user_id, created_at)
    WHERE user_id IS NOT NULL;

-- Creates the monthly partitions covering [month of `start_at`, + `months`); idempotent.
CREATE FUNCTION analytics_ensure_partitions(start_at timestamptz, months integer) RETURNS integer
    LANGUAGE plpgsql
    AS $$
DECLARE
    first_month timestamptz := date_trunc('month', start_at AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
    lower_bound timestamptz;
    upper_bound timestamptz;
    partition_name text;
    created integer := 0;
BEGIN
    FOR step IN 0 .. months - 1 LOOP
        lower_bound := first_month + make_interval(months => step);
        upper_bound := lower_bound + interval '1 month';
        partition_name := 'analytics_events_' || to_char(lower_bound AT TIME ZONE 'UTC', 'YYYY_MM');
        IF to_regclass(partition_name) IS NULL THEN
            EXECUTE format('CREATE TABLE %I PARTITION OF analytics_events FOR VALUES FROM (%L) TO (%L)',
                           partition_name, lower_bound, upper_bound);
            created := created + 1;
        END IF;
    END LOOP;
    RETURN created;
END
$$;
SELECT analytics_ensure_partitions(now() - interval '1 month', 4);
-- Catches events outside the prepared months instead of failing the insert.
CREATE TABLE analytics_events_default PARTITION OF analytics_events DEFAULT;

-- ---------------------------------------------------------------------------------------------
-- Platform machinery: outbox, idempotency keys
-- ---------------------------------------------------------------------------------------------

CREATE TABLE outbox (
    tenant_id       uuid NOT NULL REFERENCES tenants (id),
    id              bigint GENERATED ALWAYS AS IDENTITY,
    -- The writing transaction: the relay uses it to never pass a transaction still in flight.
    transaction_id  xid8 NOT NULL DEFAULT pg_current_xact_id(),
    aggregate_type  varchar(50) NOT NULL,
    aggregate_id    text NOT NULL,
    event_type      varchar(100) NOT NULL,
    payload         jsonb NOT NULL CONSTRAINT outbox_payload_object CHECK (jsonb_typeof(payload) = 'object'),
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id)
);
CREATE UNIQUE INDEX outbox_id_key ON outbox (id);
CREATE INDEX outbox_transaction_idx ON outbox (transaction_id, id);

CREATE TABLE idempotency_keys (
    tenant_id       uuid NOT NULL REFERENCES tenants (id),
    scope           varchar(50) NOT NULL,
    key             varchar(255) NOT NULL CONSTRAINT idempotency_keys_key_not_blank CHECK (btrim(key) <> ''),
    request_hash    char(64) NOT NULL,
    resource_id     uuid,
    response        jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL DEFAULT now() + interval '24 hours',
    PRIMARY KEY (tenant_id, scope, key),
    CONSTRAINT idempotency_keys_expiry_after_creation CHECK (expires_at > created_at)
);
CREATE INDEX idempotency_keys_expiry_idx ON idempotency_keys (expires_at);

-- ---------------------------------------------------------------------------------------------
-- updated_at triggers (seed-review #7): every table with an updated_at column gets one.
-- ---------------------------------------------------------------------------------------------

DO $$
DECLARE
    table_name text;
BEGIN
    FOR table_name IN
        SELECT c.table_name FROM information_schema.columns c
          JOIN information_schema.tables t USING (table_schema, table_name)
         WHERE c.table_schema = current_schema() AND c.column_name = 'updated_at'
           AND t.table_type = 'BASE TABLE'
    LOOP
        EXECUTE format('CREATE TRIGGER %I BEFORE UPDATE ON %I FOR EACH ROW EXECUTE FUNCTION set_updated_at()',
                       table_name || '_updated_at', table_name);
    END LOOP;
END
$$;

-- ---------------------------------------------------------------------------------------------
-- Row-level security: enabled and forced on every table with a tenant_id column.
-- ---------------------------------------------------------------------------------------------

DO $$
DECLARE
    table_name text;
BEGIN
    FOR table_name IN
        SELECT c.relname FROM pg_class c
          JOIN pg_namespace n ON n.oid = c.relnamespace
          JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
         WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT c.relispartition
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', table_name);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', table_name);
        EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (tenant_id = app_current_tenant()) '
                       'WITH CHECK (tenant_id = app_current_tenant())', table_name);
    END LOOP;
END
$$;

-- ---------------------------------------------------------------------------------------------
-- Privileges of the application role. Ledgers are append-only for it.
-- ---------------------------------------------------------------------------------------------

REVOKE ALL ON ALL TABLES IN SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO polyshop_app;
GRANT SELECT, INSERT, UPDATE ON tenants TO polyshop_app;
GRANT SELECT, INSERT, DELETE ON tenant_domains TO polyshop_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON
    vendors, brands, users, user_profiles, user_addresses, categories, products,
    product_variants, product_attributes, product_images, orders, order_items, payments,
    reviews, review_images, content_pages, idempotency_keys
    TO polyshop_app;
GRANT SELECT, INSERT ON inventory_transactions, order_events, outbox, analytics_events TO polyshop_app;
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA public FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app_current_tenant(), tenant_for_hostname(text) TO polyshop_app;
