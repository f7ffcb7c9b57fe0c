-- analytics_events is read by a user's day (analytics_events_user_key_idx), an order's history
-- (analytics_events_order_idx), verify's day and the rebuild's recount (the primary key's
-- (tenant_id, created_at) range, or the whole shop). The indexes by event type, by product and
-- by user id (migration 0001) served no query: the per-product and per-type answers come from
-- the rollups since migration 0004, and timelines go by user_key. Each cost every inserted
-- event an index entry: with them, loading 312,633 events into a copy of the table took 13.8 s,
-- without them 6.4 s (docs/benchmarks.md, "The analytics rebuild on the twin, leaner").
DROP INDEX analytics_events_type_idx;
DROP INDEX analytics_events_product_idx;
DROP INDEX analytics_events_user_idx;
