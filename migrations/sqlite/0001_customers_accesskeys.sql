-- Customers (tenants) and their API access keys. Same tables and columns as mysql/0001.
-- Timestamps are TEXT 'YYYY-MM-DD HH:MM:SS[.ffffff]' (sqlx's chrono encoding).

CREATE TABLE customers (
    id              TEXT NOT NULL PRIMARY KEY,
    name            TEXT NOT NULL,
    detail          TEXT NOT NULL,
    email           TEXT NOT NULL DEFAULT '',
    webhook_method  TEXT NOT NULL DEFAULT 'POST',
    webhook_uri     TEXT NOT NULL DEFAULT '',
    webhook_secret  TEXT NOT NULL,
    tm_create       TEXT NOT NULL,
    tm_update       TEXT NOT NULL,
    tm_delete       TEXT NOT NULL DEFAULT '9999-01-01 00:00:00'
);
CREATE INDEX idx_customers_tm_create ON customers (tm_create);
CREATE INDEX idx_customers_tm_delete ON customers (tm_delete);

CREATE TABLE accesskeys (
    id              TEXT NOT NULL PRIMARY KEY,
    customer_id     TEXT NOT NULL,
    name            TEXT NOT NULL,
    detail          TEXT NOT NULL,
    token_hash      TEXT NOT NULL,
    token_prefix    TEXT NOT NULL,
    permissions     TEXT NOT NULL,
    tm_expire       TEXT NOT NULL,
    tm_create       TEXT NOT NULL,
    tm_update       TEXT NOT NULL,
    tm_delete       TEXT NOT NULL DEFAULT '9999-01-01 00:00:00'
);
CREATE UNIQUE INDEX idx_accesskeys_token_hash ON accesskeys (token_hash);
CREATE INDEX idx_accesskeys_customer_id ON accesskeys (customer_id, tm_delete);
CREATE INDEX idx_accesskeys_tm_create ON accesskeys (tm_create);
