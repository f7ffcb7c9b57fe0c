CREATE INDEX documents_body_idx ON documents USING gin (body jsonb_path_ops);
