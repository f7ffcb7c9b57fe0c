CREATE INDEX analytics_events_type_idx ON analytics_events (tenant_id, event_type, created_at);
CREATE INDEX analytics_events_product_idx ON analytics_events (tenant_id, product_id, created_at)
    WHERE product_id IS NOT NULL;
CREATE INDEX analytics_events_user_idx ON analytics_events (tenant_id, user_id, created_at)
    WHERE user_id IS NOT NULL;
