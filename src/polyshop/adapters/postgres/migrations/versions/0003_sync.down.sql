DROP TRIGGER outbox_notify ON outbox;
DROP FUNCTION sync_parked_counts(), outbox_notify(), outbox_pending(xid8, bigint), outbox_after(xid8, bigint, integer);
DROP TABLE sync_parked, sync_checkpoints, documents;
