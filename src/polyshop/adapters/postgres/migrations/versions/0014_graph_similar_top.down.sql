DROP INDEX IF EXISTS graph_pairs_similar_idx;
