-- Helpful votes: one row per account and review (the primary key makes a second vote of the same
-- account a no-op), so the count is derived and cannot be inflated by repeating a call.
CREATE TABLE review_votes (
    tenant_id   uuid NOT NULL,
    review_id   uuid NOT NULL,
    user_id     uuid NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, review_id, user_id),
    FOREIGN KEY (tenant_id, review_id) REFERENCES reviews (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX review_votes_user_idx ON review_votes (tenant_id, user_id);
ALTER TABLE review_votes ENABLE ROW LEVEL SECURITY;
ALTER TABLE review_votes FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON review_votes USING (tenant_id = app_current_tenant())
    WITH CHECK (tenant_id = app_current_tenant());
-- Votes are cast and taken back by their voter (a review's deletion removes its votes).
GRANT SELECT, INSERT, DELETE ON review_votes TO polyshop_app;

-- The old counter cannot say who voted, so it is not carried over: every counted vote from now
-- on is a row.
ALTER TABLE reviews DROP COLUMN helpful_count;
