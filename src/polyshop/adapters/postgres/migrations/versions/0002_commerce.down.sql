DO $$
DECLARE
    sequence_name text;
BEGIN
    FOR sequence_name IN SELECT relname FROM pg_class
        WHERE relkind = 'S' AND relname LIKE 'order\_number\_%' AND relnamespace = 'public'::regnamespace
    LOOP
        EXECUTE format('DROP SEQUENCE %I', sequence_name);
    END LOOP;
END
$$;
DROP TRIGGER tenants_order_sequence ON tenants;
DROP FUNCTION next_order_number(), tenants_create_order_sequence(), order_number_sequence(uuid);
DROP INDEX products_search_idx;
ALTER TABLE products DROP COLUMN search_vector;
