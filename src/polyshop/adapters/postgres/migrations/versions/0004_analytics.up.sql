-- Analytics, PostgreSQL twin (profile `embedded`): the same events and answers as the Cassandra
-- tables. Events stay in the append-only, month-partitioned `analytics_events` (their id is the
-- event id, so a replayed event is skipped by ON CONFLICT); the rollups below are updated in the
-- same statement from the rows that were really inserted, so nothing is counted twice.

ALTER TABLE analytics_events
    ADD COLUMN user_key     varchar(300),
    ADD COLUMN category_id  uuid,
    ADD COLUMN quantity     integer,
    ADD COLUMN amount       numeric;
CREATE INDEX analytics_events_user_key_idx ON analytics_events (tenant_id, user_key, created_at)
    WHERE user_key IS NOT NULL;
CREATE INDEX analytics_events_order_idx ON analytics_events (tenant_id, order_id, created_at)
    WHERE order_id IS NOT NULL;

-- Counts and revenue per hour and event type, for a product or a category.
CREATE TABLE analytics_rollups (
    tenant_id     uuid NOT NULL REFERENCES tenants (id),
    subject_kind  varchar(10) NOT NULL
                      CONSTRAINT analytics_rollups_subject_kind_valid
                      CHECK (subject_kind IN ('product', 'category')),
    subject_id    uuid NOT NULL,
    hour          timestamptz NOT NULL,
    event_type    varchar(50) NOT NULL,
    events        bigint NOT NULL CONSTRAINT analytics_rollups_events_positive CHECK (events > 0),
    amount        numeric NOT NULL DEFAULT 0,
    -- The newest event counted here: the row expires with it (retention, like Cassandra's TTL).
    last_at       timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, subject_kind, subject_id, hour, event_type)
);
-- A shop's day across products (top products).
CREATE INDEX analytics_rollups_day_idx ON analytics_rollups (tenant_id, subject_kind, hour);
ALTER TABLE analytics_rollups ENABLE ROW LEVEL SECURITY;
ALTER TABLE analytics_rollups FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON analytics_rollups USING (tenant_id = app_current_tenant())
    WITH CHECK (tenant_id = app_current_tenant());

GRANT SELECT, INSERT, UPDATE ON analytics_rollups TO polyshop_app;
