ALTER TABLE reviews ADD COLUMN helpful_count integer NOT NULL DEFAULT 0
    CONSTRAINT reviews_helpful_count_nonnegative CHECK (helpful_count >= 0);
UPDATE reviews r SET helpful_count = v.n
  FROM (SELECT tenant_id, review_id, count(*) AS n FROM review_votes GROUP BY 1, 2) v
 WHERE r.tenant_id = v.tenant_id AND r.id = v.review_id;
DROP TABLE review_votes;
