-- Sync: the document store (PostgreSQL JSONB adapter), relay checkpoints and parked events.

CREATE TABLE documents (
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    collection  varchar(50) NOT NULL CONSTRAINT documents_collection_valid
                    CHECK (collection ~ '^[a-z_]+$'),
    id          text NOT NULL,
    body        jsonb NOT NULL CONSTRAINT documents_body_object CHECK (jsonb_typeof(body) = 'object'),
    -- The outbox id of the event that produced this state: an older event never overwrites it.
    version     bigint NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, collection, id)
);
CREATE INDEX documents_body_idx ON documents USING gin (body jsonb_path_ops);
CREATE INDEX documents_product_slug_idx ON documents (tenant_id, (body ->> 'slug'))
    WHERE collection = 'products';
CREATE INDEX documents_order_user_idx ON documents (tenant_id, (body -> 'user' ->> 'id'), (body -> 'metadata' ->> 'createdAt') DESC)
    WHERE collection = 'orders';
ALTER TABLE documents ENABLE ROW LEVEL SECURITY;
ALTER TABLE documents FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON documents USING (tenant_id = app_current_tenant())
    WITH CHECK (tenant_id = app_current_tenant());

-- Platform tables of the relay: not tenant data.
CREATE TABLE sync_checkpoints (
    projector       varchar(50) PRIMARY KEY,
    transaction_id  xid8 NOT NULL DEFAULT '0',
    event_id        bigint NOT NULL DEFAULT 0,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- Events a projector could not apply, kept with their error for an operator (tenant data: the
-- relay parks an event while acting for its tenant).
CREATE TABLE sync_parked (
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    projector   varchar(50) NOT NULL,
    event_id    bigint NOT NULL,
    event_type  varchar(100) NOT NULL,
    error       text NOT NULL,
    attempts    integer NOT NULL CONSTRAINT sync_parked_attempts_positive CHECK (attempts > 0),
    parked_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, projector, event_id)
);
ALTER TABLE sync_parked ENABLE ROW LEVEL SECURITY;
ALTER TABLE sync_parked FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON sync_parked USING (tenant_id = app_current_tenant())
    WITH CHECK (tenant_id = app_current_tenant());

-- How many events each projector has parked, across tenants (for `sync status`).
CREATE FUNCTION sync_parked_counts() RETURNS TABLE (projector varchar, parked bigint)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, public
    AS $$ SELECT p.projector, count(*) FROM public.sync_parked p GROUP BY p.projector $$;

-- Events after a position, in (transaction, id) order, and only from transactions older than
-- every transaction still running: those can never gain a row behind the returned position.
CREATE FUNCTION outbox_after(after_transaction xid8, after_id bigint, batch integer)
    RETURNS TABLE (id bigint, transaction_id xid8, tenant_id uuid, aggregate_type varchar,
                   aggregate_id text, event_type varchar, payload jsonb, created_at timestamptz)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, public
    AS $$
        SELECT o.id, o.transaction_id, o.tenant_id, o.aggregate_type, o.aggregate_id,
               o.event_type, o.payload, o.created_at
          FROM public.outbox o
         WHERE (o.transaction_id, o.id) > (after_transaction, after_id)
           AND o.transaction_id < pg_snapshot_xmin(pg_current_snapshot())
         ORDER BY o.transaction_id, o.id
         LIMIT batch
    $$;

-- What is still waiting after a position (for `sync status`): count and oldest.
CREATE FUNCTION outbox_pending(after_transaction xid8, after_id bigint)
    RETURNS TABLE (pending bigint, oldest timestamptz)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, public
    AS $$
        SELECT count(*), min(o.created_at) FROM public.outbox o
         WHERE (o.transaction_id, o.id) > (after_transaction, after_id)
    $$;

CREATE TRIGGER documents_updated_at BEFORE UPDATE ON documents
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER sync_checkpoints_updated_at BEFORE UPDATE ON sync_checkpoints
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- Wake the relay when events are written (it also polls, in case a notification is missed).
CREATE FUNCTION outbox_notify() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    PERFORM pg_notify('polyshop_outbox', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();

GRANT SELECT, INSERT, UPDATE, DELETE ON documents TO polyshop_app;
GRANT SELECT, INSERT, UPDATE ON sync_checkpoints TO polyshop_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON sync_parked TO polyshop_app;
REVOKE EXECUTE ON FUNCTION outbox_after(xid8, bigint, integer), outbox_pending(xid8, bigint),
    outbox_notify(), sync_parked_counts() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION outbox_after(xid8, bigint, integer), outbox_pending(xid8, bigint),
    sync_parked_counts() TO polyshop_app;
