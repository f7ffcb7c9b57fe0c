-- Least privilege: one role per job. docs/schema.md ("Database roles") is the table of rights;
-- tests/integration/postgres/test_roles.py fails when the catalog grants more than it says.
--
--   polyshop_app       serves requests: tenant data under row-level security, append-only
--                      ledgers, reads of documents; never writes `tenants`, never reads the
--                      outbox or the relay's checkpoints.
--   polyshop_relay     the outbox relay: reads the outbox through outbox_after, its checkpoints,
--                      parked events, the documents it writes and the tables it builds them from.
--   polyshop_platform  the platform operator: creates and configures shops, only through the
--                      platform_* functions below.
--   polyshop_owner     owns everything and runs migrations.

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'polyshop_relay')
       OR NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'polyshop_platform') THEN
        RAISE EXCEPTION 'the roles polyshop_relay and polyshop_platform are missing: run `polyshop db provision` first';
    END IF;
END
$$;

-- ---------------------------------------------------------------------------------------------
-- The request-serving role loses what only the platform or the relay needs.
-- ---------------------------------------------------------------------------------------------

REVOKE INSERT, UPDATE, DELETE ON tenants FROM polyshop_app;
REVOKE INSERT, UPDATE, DELETE ON tenant_domains FROM polyshop_app;
-- Append only, and blind: events of every shop pass through the outbox.
REVOKE SELECT ON outbox FROM polyshop_app;
REVOKE ALL ON sync_checkpoints, sync_parked FROM polyshop_app;
-- Derived stores are the relay's: requests only read documents and analytics (storefront events
-- reach analytics through the outbox).
REVOKE INSERT, UPDATE, DELETE ON documents FROM polyshop_app;
REVOKE INSERT, UPDATE, DELETE ON analytics_events, analytics_rollups FROM polyshop_app;
REVOKE EXECUTE ON FUNCTION outbox_after(xid8, bigint, integer), outbox_pending(xid8, bigint),
    sync_parked_counts() FROM polyshop_app;

-- ---------------------------------------------------------------------------------------------
-- The relay: exactly what delivering events needs. Row-level security still applies to it; it
-- acts for one tenant at a time like the application does.
-- ---------------------------------------------------------------------------------------------

GRANT USAGE ON SCHEMA public TO polyshop_relay;
GRANT SELECT ON
    tenants, categories, brands, vendors, products, product_variants, product_attributes,
    product_images, users, user_profiles, user_addresses, orders, order_items, payments
    TO polyshop_relay;
GRANT SELECT, INSERT, UPDATE, DELETE ON documents TO polyshop_relay;
-- The analytics projector: events in, rollups updated; it also reads its tenant's outbox rows.
GRANT SELECT, INSERT ON analytics_events TO polyshop_relay;
GRANT SELECT, INSERT, UPDATE ON analytics_rollups TO polyshop_relay;
GRANT SELECT ON outbox TO polyshop_relay;
GRANT SELECT, INSERT, UPDATE ON sync_checkpoints TO polyshop_relay;
GRANT SELECT, INSERT ON sync_parked TO polyshop_relay;
GRANT EXECUTE ON FUNCTION app_current_tenant(), outbox_after(xid8, bigint, integer),
    outbox_pending(xid8, bigint), sync_parked_counts() TO polyshop_relay;

-- ---------------------------------------------------------------------------------------------
-- The platform operator: shops are created and changed only through these functions, each of
-- which does one thing. They run as the owner (which may see every tenant).
-- ---------------------------------------------------------------------------------------------

CREATE FUNCTION platform_create_tenant(p_slug text, p_name text, p_currency text)
    RETURNS TABLE (id uuid, slug text, name text, currency text, status text,
                   created_at timestamptz)
    LANGUAGE sql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, public
    AS $$
        INSERT INTO public.tenants (slug, name, currency) VALUES (p_slug, p_name, p_currency)
        RETURNING id, slug, name, currency::text, status, created_at
    $$;

CREATE FUNCTION platform_add_domain(p_tenant uuid, p_hostname text) RETURNS void
    LANGUAGE sql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, public
    AS $$ INSERT INTO public.tenant_domains (tenant_id, hostname) VALUES (p_tenant, lower(p_hostname)) $$;

-- Returns false when there is no such tenant.
CREATE FUNCTION platform_configure_tenant(p_tenant uuid, p_settings jsonb) RETURNS boolean
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, public
    AS $$
BEGIN
    UPDATE public.tenants SET settings = p_settings WHERE id = p_tenant;
    RETURN FOUND;
END
$$;

CREATE FUNCTION platform_set_tenant_status(p_tenant uuid, p_status text) RETURNS boolean
    LANGUAGE plpgsql VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, public
    AS $$
BEGIN
    UPDATE public.tenants SET status = p_status WHERE id = p_tenant;
    RETURN FOUND;
END
$$;

REVOKE EXECUTE ON FUNCTION platform_create_tenant(text, text, text), platform_add_domain(uuid, text),
    platform_configure_tenant(uuid, jsonb), platform_set_tenant_status(uuid, text) FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO polyshop_platform;
GRANT EXECUTE ON FUNCTION platform_create_tenant(text, text, text), platform_add_domain(uuid, text),
    platform_configure_tenant(uuid, jsonb), platform_set_tenant_status(uuid, text),
    app_current_tenant() TO polyshop_platform;
-- Its changes are events like any other (appended under the shop's tenant, row-level security).
GRANT INSERT ON outbox TO polyshop_platform;
