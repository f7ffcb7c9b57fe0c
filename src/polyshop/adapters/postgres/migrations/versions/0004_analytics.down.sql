DROP TABLE analytics_rollups;
DROP INDEX analytics_events_user_key_idx, analytics_events_order_idx;
ALTER TABLE analytics_events
    DROP COLUMN user_key, DROP COLUMN category_id, DROP COLUMN quantity, DROP COLUMN amount;
