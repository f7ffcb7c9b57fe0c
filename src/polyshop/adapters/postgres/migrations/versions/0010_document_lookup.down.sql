DROP INDEX documents_lookup_idx;
ALTER TABLE documents DROP COLUMN lookup_key;
CREATE INDEX documents_product_slug_idx ON documents (tenant_id, (body ->> 'slug'))
    WHERE collection = 'products';
CREATE INDEX documents_order_user_idx ON documents (tenant_id, (body -> 'user' ->> 'id'), (body -> 'metadata' ->> 'createdAt') DESC)
    WHERE collection = 'orders';
