DROP INDEX idempotency_keys_resource_idx;
DROP FUNCTION payments_due(integer);
DROP TABLE payment_webhook_events, refunds;
DROP INDEX payments_pending_idx;
ALTER TABLE payments DROP CONSTRAINT payments_pending_expires;
ALTER TABLE payments DROP COLUMN expires_at;
UPDATE payments SET status = 'failed' WHERE status = 'declined';
ALTER TABLE payments DROP CONSTRAINT payments_status_valid;
ALTER TABLE payments ADD CONSTRAINT payments_status_valid
    CHECK (status IN ('pending', 'processing', 'completed', 'failed', 'cancelled', 'refunded'));
