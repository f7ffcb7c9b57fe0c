-- The GIN index on document bodies goes (docs/benchmarks.md, "Seeding"). Under the forced
-- row-level security of `documents` no role that reads them can use it: the jsonb operators
-- (@>, ->, ->>) are not leakproof, so the policy is evaluated first and containment is a
-- filter on the tenant's rows (the lookups that matter use `lookup_key`, migration 0010). Yet
-- every document write maintained it: it was seven eighths of the cost of writing an order
-- document (20,000 order documents: 3.3 s with it, 0.43 s without), in the relay and in a
-- rebuild of two million documents alike.
DROP INDEX documents_body_idx;
