DROP TABLE IF EXISTS
    idempotency_keys, outbox, analytics_events, content_pages, inventory_transactions,
    review_images, reviews, order_events, payments, order_items, orders, product_images,
    product_attributes, product_variants, products, categories, user_addresses, user_profiles,
    users, brands, vendors, tenant_domains, tenants
    CASCADE;
DROP FUNCTION IF EXISTS
    analytics_ensure_partitions(timestamptz, integer), orders_check_items(), orders_forget_checks(),
    products_stock_location(), categories_refuse_cycle(), tenant_for_hostname(text),
    set_updated_at(), app_current_tenant();
