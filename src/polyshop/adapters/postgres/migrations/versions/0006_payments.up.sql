-- Payments in durable steps (docs/architecture.md "Checkout"): a checkout reserves stock and
-- writes its payment as `pending` with a deadline, charges the gateway outside any transaction,
-- then confirms or releases; the reconciler resolves whatever is still pending past its deadline.

ALTER TABLE payments DROP CONSTRAINT payments_status_valid;
ALTER TABLE payments ADD CONSTRAINT payments_status_valid
    CHECK (status IN ('pending', 'processing', 'completed', 'declined', 'failed', 'cancelled',
                      'refunded'));
-- When a pending payment stops being the checkout's business and becomes the reconciler's.
ALTER TABLE payments ADD COLUMN expires_at timestamptz;
ALTER TABLE payments ADD CONSTRAINT payments_pending_expires
    CHECK (status <> 'pending' OR expires_at IS NOT NULL);
CREATE INDEX payments_pending_idx ON payments (expires_at) WHERE status = 'pending';

-- A refund is recorded as pending before the gateway is asked, settled after; its id is the
-- gateway's idempotency reference, so asking again (a retry, the reconciler) never pays twice.
CREATE TABLE refunds (
    tenant_id           uuid NOT NULL,
    id                  uuid NOT NULL DEFAULT gen_random_uuid(),
    order_id            uuid NOT NULL,
    payment_id          uuid NOT NULL,
    amount              numeric(12, 2) NOT NULL CONSTRAINT refunds_amount_positive CHECK (amount > 0),
    currency            char(3) NOT NULL CONSTRAINT refunds_currency_iso CHECK (currency ~ '^[A-Z]{3}$'),
    status              varchar(20) NOT NULL DEFAULT 'pending'
                            CONSTRAINT refunds_status_valid
                            CHECK (status IN ('pending', 'settled', 'failed')),
    reason              varchar(255),
    gateway_refund_id   varchar(255),
    gateway_response    jsonb,
    -- What the order becomes once every pending refund of it has settled.
    order_target        varchar(20),
    actor_user_id       uuid,
    expires_at          timestamptz NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now(),
    settled_at          timestamptz,
    updated_at          timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, id),
    FOREIGN KEY (tenant_id, order_id) REFERENCES orders (tenant_id, id),
    FOREIGN KEY (tenant_id, payment_id) REFERENCES payments (tenant_id, id),
    CONSTRAINT refunds_settled_when CHECK ((status = 'settled') = (settled_at IS NOT NULL))
);
CREATE INDEX refunds_order_idx ON refunds (tenant_id, order_id);
CREATE INDEX refunds_payment_idx ON refunds (tenant_id, payment_id);
CREATE INDEX refunds_pending_idx ON refunds (expires_at) WHERE status = 'pending';
ALTER TABLE refunds ENABLE ROW LEVEL SECURITY;
ALTER TABLE refunds FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON refunds USING (tenant_id = app_current_tenant())
    WITH CHECK (tenant_id = app_current_tenant());
CREATE TRIGGER refunds_updated_at BEFORE UPDATE ON refunds
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- Gateway webhook events already handled: a replayed event id changes nothing.
CREATE TABLE payment_webhook_events (
    tenant_id   uuid NOT NULL REFERENCES tenants (id),
    gateway     varchar(50) NOT NULL,
    event_id    varchar(255) NOT NULL,
    event_type  varchar(100) NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, gateway, event_id)
);
ALTER TABLE payment_webhook_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE payment_webhook_events FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON payment_webhook_events USING (tenant_id = app_current_tenant())
    WITH CHECK (tenant_id = app_current_tenant());

-- Pending payments and refunds past their deadline, across tenants (the reconciler's one
-- cross-tenant read; it then acts on each under its own tenant, so RLS still applies).
CREATE FUNCTION payments_due(batch integer)
    RETURNS TABLE (tenant_id uuid, kind text, id uuid)
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, public
    AS $$
        (SELECT p.tenant_id, 'payment', p.id FROM public.payments p
          WHERE p.status = 'pending' AND p.expires_at < now()
          ORDER BY p.expires_at LIMIT batch)
        UNION ALL
        (SELECT r.tenant_id, 'refund', r.id FROM public.refunds r
          WHERE r.status = 'pending' AND r.expires_at < now()
          ORDER BY r.expires_at LIMIT batch)
    $$;

GRANT SELECT, INSERT, UPDATE ON refunds TO polyshop_app;
GRANT SELECT, INSERT ON payment_webhook_events TO polyshop_app;
REVOKE EXECUTE ON FUNCTION payments_due(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION payments_due(integer) TO polyshop_app;

-- Releasing a reservation spends the checkout's idempotency key, found by its order.
CREATE INDEX idempotency_keys_resource_idx ON idempotency_keys (tenant_id, resource_id)
    WHERE resource_id IS NOT NULL;
