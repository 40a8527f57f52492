-- Customers administered by the platform operator. Same as mysql/0007.

CREATE INDEX idx_customers_live_list ON customers (tm_delete, tm_create, id);

UPDATE accesskeys
SET permissions = '["customer_admin","platform_admin"]'
WHERE name = 'admin' AND detail = 'created at first start' AND permissions = '["customer_admin"]';
