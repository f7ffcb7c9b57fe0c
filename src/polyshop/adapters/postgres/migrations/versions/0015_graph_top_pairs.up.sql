-- A product's strongest FREQUENTLY_BOUGHT_WITH and ALSO_BOUGHT partners (docs/recommendations.md,
-- "Latency"). The primary key (tenant_id, product_id, other_id) found a hot product's rows (up
-- to the catalog's size) and sorted all of them for a top 10. These partial indexes hold each
-- relationship's rows in the order the recommenders ask for (weight, then the partner's id, the
-- contract's tie-break: the queries' `p.id` is `x.other_id` by the join), so the read is
-- Limit -> Nested Loop (index entries in rank order, each partner's for_sale by primary key)
-- and stops after N partners for sale. The index conditions are uuid `=` and the predicates an
-- integer `>` (leakproof), so row-level security does not keep the indexes from serving the
-- application role (tests/integration/postgres/test_graph_pairs_plan.py). SIMILAR_TO is left
-- to its own bounded top-K (issue 14).
CREATE INDEX graph_pairs_together_idx
    ON graph_pairs (tenant_id, product_id, bought_together DESC, other_id)
    WHERE bought_together > 0;
CREATE INDEX graph_pairs_also_bought_idx
    ON graph_pairs (tenant_id, product_id, also_bought DESC, other_id)
    WHERE also_bought > 0;
