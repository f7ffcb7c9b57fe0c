-- A product's SIMILAR_TO in ranked order (score desc, then id), without the pairs that only
-- carry FREQUENTLY_BOUGHT_WITH or ALSO_BOUGHT (a hot product has thousands of those): the
-- `similar` read is an ordered read of at most K rows, and the projector finds a product's
-- k-th similar product with OFFSET K-1 on it.
CREATE INDEX graph_pairs_similar_idx ON graph_pairs (tenant_id, product_id, similarity DESC, other_id)
    WHERE similarity > 0;
