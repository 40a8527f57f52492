-- Customers administered by the platform operator (GET/POST/DELETE /v1.0/customers).

-- The operator's customer list: live customers, newest first, across every tenant.
CREATE INDEX idx_customers_live_list ON customers (tm_delete, tm_create, id);

-- The first start's admin key becomes the platform operator's: until now only the first start
-- created customers, so this key's holder already ran the whole appliance.
UPDATE accesskeys
SET permissions = '["customer_admin","platform_admin"]'
WHERE name = 'admin' AND detail = 'created at first start' AND permissions = '["customer_admin"]';
