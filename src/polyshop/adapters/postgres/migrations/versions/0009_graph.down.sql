REVOKE SELECT ON reviews FROM polyshop_relay;
DROP TABLE graph_applied_batches, graph_pairs, graph_user_products, graph_orders, graph_products,
    graph_categories;
