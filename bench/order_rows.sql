-- One order's rows, exactly as the checkout writes them (bench.checkout runs this with pgbench
-- as the application role): reserve in one transaction, confirm in a second.
\set p1 random(0, $products - 1)
\set p2 (:p1 + random(1, $third)) % $products
\set p3 (:p2 + random(1, $third)) % $products
\set q1 random(1, 3)
\set q2 random(1, 3)
\set q3 random(1, 3)
\set c random(1, $customers)
BEGIN;
SELECT set_config('app.tenant_id', '$tenant', true);
SELECT settings, currency FROM tenants WHERE id = '$tenant';
SELECT id AS customer FROM users
 WHERE tenant_id = '$tenant' AND email = 'bench' || :c::int || '@example.com' \gset
SELECT p.id, p.price, p.inventory_quantity
  FROM products p JOIN $lines ON p.sku = l.sku ORDER BY p.id FOR UPDATE OF p;
SELECT gen_random_uuid() AS oid, gen_random_uuid() AS pid, next_order_number() AS onum \gset
INSERT INTO orders (tenant_id, id, order_number, user_id, status, subtotal, tax_amount,
                    shipping_amount, discount_amount, total_amount, currency, payment_status,
                    billing_address, shipping_address)
SELECT '$tenant', :oid::uuid, :onum::text, :customer::uuid, 'pending', s.sub,
       round(s.sub * 0.08, 2), 0, 0, s.sub + round(s.sub * 0.08, 2), 'USD', 'pending',
       '$address', '$address'
  FROM (SELECT sum(p.price * l.q) AS sub FROM products p JOIN $lines ON p.sku = l.sku) s
RETURNING total_amount AS total \gset
INSERT INTO order_items (tenant_id, order_id, product_id, name, sku, quantity, unit_price,
                         total_price)
SELECT '$tenant', :oid::uuid, p.id, p.name, p.sku, l.q, p.price, p.price * l.q
  FROM products p JOIN $lines ON p.sku = l.sku;
UPDATE products p SET inventory_quantity = p.inventory_quantity - l.q
  FROM $lines WHERE p.sku = l.sku;
INSERT INTO inventory_transactions (tenant_id, product_id, type, quantity, reason, reference_id,
                                    created_by)
SELECT '$tenant', p.id, 'out', -l.q, 'order', :oid::uuid, :customer::uuid
  FROM products p JOIN $lines ON p.sku = l.sku;
INSERT INTO payments (tenant_id, id, order_id, payment_method, payment_gateway, amount, currency,
                      status, expires_at)
VALUES ('$tenant', :pid::uuid, :oid::uuid, 'card', 'test', :total::numeric, 'USD', 'pending',
        now() + interval '15 minutes');
INSERT INTO order_events (tenant_id, order_id, from_status, to_status, note, actor_user_id)
VALUES ('$tenant', :oid::uuid, NULL, 'pending', 'stock reserved, awaiting payment', :customer::uuid);
INSERT INTO outbox (tenant_id, aggregate_type, aggregate_id, event_type, payload)
VALUES ('$tenant', 'order', :oid::uuid, 'order.reserved', jsonb_build_object('order_number', :onum::text));
COMMIT;
BEGIN;
SELECT set_config('app.tenant_id', '$tenant', true);
SELECT o.status, p.status FROM payments p
  JOIN orders o ON o.tenant_id = p.tenant_id AND o.id = p.order_id
 WHERE p.id = :pid::uuid FOR UPDATE OF o, p;
UPDATE payments SET status = 'completed', gateway_transaction_id = 'bench_' || :pid::uuid,
       gateway_response = '{}', processed_at = now(), expires_at = NULL
 WHERE id = :pid::uuid AND status = 'pending';
UPDATE orders SET status = 'confirmed', payment_status = 'paid'
 WHERE id = :oid::uuid AND status = 'pending';
INSERT INTO order_events (tenant_id, order_id, from_status, to_status, note, actor_user_id)
VALUES ('$tenant', :oid::uuid, 'pending', 'confirmed', 'placed and paid', :customer::uuid);
INSERT INTO outbox (tenant_id, aggregate_type, aggregate_id, event_type, payload)
VALUES ('$tenant', 'order', :oid::uuid, 'order.placed', jsonb_build_object('order_id', :oid::uuid));
COMMIT;
