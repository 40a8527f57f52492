-- Customer profile fields, call flows, and recordings. Same tables and columns as mysql/0006.
-- SQLite adds a generated column only as VIRTUAL, one column per ALTER TABLE.

ALTER TABLE customers ADD COLUMN phone_number TEXT NOT NULL DEFAULT '';
ALTER TABLE customers ADD COLUMN address TEXT NOT NULL DEFAULT '';
ALTER TABLE customers ADD COLUMN billing_account_id TEXT NULL;
ALTER TABLE customers ADD COLUMN customer_id TEXT GENERATED ALWAYS AS (id) VIRTUAL;

CREATE TABLE flows (
    id              TEXT NOT NULL PRIMARY KEY,
    customer_id     TEXT NOT NULL,
    name            TEXT NOT NULL,
    detail          TEXT NOT NULL,
    actions         TEXT NOT NULL,
    tm_create       TEXT NOT NULL,
    tm_update       TEXT NOT NULL,
    tm_delete       TEXT NOT NULL DEFAULT '9999-01-01 00:00:00'
);
CREATE INDEX idx_flows_customer_list ON flows (customer_id, tm_delete, tm_create, id);
CREATE INDEX idx_flows_tm_create ON flows (tm_create);

CREATE TABLE recordings (
    id              TEXT NOT NULL PRIMARY KEY,
    customer_id     TEXT NOT NULL,
    reference_type  TEXT NOT NULL,
    reference_id    TEXT NOT NULL,
    status          TEXT NOT NULL,
    format          TEXT NOT NULL,
    filename        TEXT NOT NULL,
    duration        INTEGER NOT NULL,
    tm_start        TEXT NOT NULL,
    tm_end          TEXT NOT NULL DEFAULT '9999-01-01 00:00:00',
    tm_create       TEXT NOT NULL,
    tm_update       TEXT NOT NULL,
    tm_delete       TEXT NOT NULL DEFAULT '9999-01-01 00:00:00'
);
CREATE INDEX idx_recordings_customer_list ON recordings (customer_id, tm_delete, tm_create, id);
CREATE INDEX idx_recordings_reference ON recordings (reference_id, tm_delete);
CREATE INDEX idx_recordings_tm_create ON recordings (tm_create);
