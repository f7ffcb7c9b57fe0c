-- Commerce core: full-text search on products and per-tenant order numbers.

-- Ranked, language-neutral search ('simple': no stemming, so no shop's language is assumed).
ALTER TABLE products ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('simple', coalesce(name, '')), 'A') ||
    setweight(to_tsvector('simple', coalesce(sku, '')), 'A') ||
    setweight(to_tsvector('simple', coalesce(short_description, '')), 'B') ||
    setweight(to_tsvector('simple', coalesce(description, '')), 'C')
) STORED;
CREATE INDEX products_search_idx ON products USING gin (search_vector);

-- Order numbers: one sequence per tenant, so numbers are per-tenant and concurrent checkouts
-- of one shop never queue on a counter row. Gaps (from rolled-back checkouts) are allowed.
CREATE FUNCTION order_number_sequence(tenant uuid) RETURNS text
    LANGUAGE sql IMMUTABLE
    AS $$ SELECT 'order_number_' || replace(tenant::text, '-', '') $$;

CREATE FUNCTION tenants_create_order_sequence() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, public
    AS $$
BEGIN
    EXECUTE format('CREATE SEQUENCE IF NOT EXISTS public.%I START 1001', order_number_sequence(NEW.id));
    RETURN NEW;
END
$$;
CREATE TRIGGER tenants_order_sequence AFTER INSERT ON tenants
    FOR EACH ROW EXECUTE FUNCTION tenants_create_order_sequence();

-- The next order number of the current transaction's tenant (and of no other).
CREATE FUNCTION next_order_number() RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER
    SET search_path = pg_catalog, public
    AS $$
DECLARE
    tenant uuid := app_current_tenant();
BEGIN
    IF tenant IS NULL THEN
        RAISE EXCEPTION 'no tenant is set' USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN nextval(format('public.%I', order_number_sequence(tenant)))::text;
END
$$;

DO $$
DECLARE
    tenant uuid;
BEGIN
    FOR tenant IN SELECT id FROM tenants LOOP
        EXECUTE format('CREATE SEQUENCE IF NOT EXISTS %I START 1001', order_number_sequence(tenant));
    END LOOP;
END
$$;

REVOKE EXECUTE ON FUNCTION order_number_sequence(uuid), tenants_create_order_sequence(),
    next_order_number() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION next_order_number() TO polyshop_app;
