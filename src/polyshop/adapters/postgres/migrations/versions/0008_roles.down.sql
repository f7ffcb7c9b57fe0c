REVOKE ALL ON outbox FROM polyshop_platform;
REVOKE ALL ON FUNCTION app_current_tenant() FROM polyshop_platform, polyshop_relay;
DROP FUNCTION platform_create_tenant(text, text, text), platform_add_domain(uuid, text),
    platform_configure_tenant(uuid, jsonb), platform_set_tenant_status(uuid, text);
REVOKE USAGE ON SCHEMA public FROM polyshop_platform;

REVOKE ALL ON
    tenants, categories, brands, vendors, products, product_variants, product_attributes,
    product_images, users, user_profiles, user_addresses, orders, order_items, payments,
    documents, sync_checkpoints, sync_parked, analytics_events, analytics_rollups, outbox
    FROM polyshop_relay;
REVOKE ALL ON FUNCTION outbox_after(xid8, bigint, integer), outbox_pending(xid8, bigint),
    sync_parked_counts() FROM polyshop_relay;
REVOKE USAGE ON SCHEMA public FROM polyshop_relay;

GRANT INSERT, UPDATE ON tenants TO polyshop_app;
GRANT INSERT, DELETE ON tenant_domains TO polyshop_app;
GRANT SELECT ON outbox TO polyshop_app;
GRANT SELECT, INSERT, UPDATE ON sync_checkpoints TO polyshop_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON sync_parked TO polyshop_app;
GRANT INSERT, UPDATE, DELETE ON documents TO polyshop_app;
GRANT INSERT ON analytics_events TO polyshop_app;
GRANT INSERT, UPDATE ON analytics_rollups TO polyshop_app;
GRANT EXECUTE ON FUNCTION outbox_after(xid8, bigint, integer), outbox_pending(xid8, bigint),
    sync_parked_counts() TO polyshop_app;
