REVOKE DELETE ON analytics_rollups FROM polyshop_relay;
DROP TABLE analytics_daily_products;
