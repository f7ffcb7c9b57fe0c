DROP INDEX graph_pairs_also_bought_idx;
DROP INDEX graph_pairs_together_idx;
