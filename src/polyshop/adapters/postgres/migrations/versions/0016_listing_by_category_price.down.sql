DROP INDEX products_category_price_idx;
ALTER TABLE products DROP COLUMN price_cents;
