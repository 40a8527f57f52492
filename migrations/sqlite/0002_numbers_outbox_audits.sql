-- Phone numbers, the transactional outbox of events, and the audit trail.
-- Same tables and columns as mysql/0002.

CREATE TABLE numbers (
    id              TEXT NOT NULL PRIMARY KEY,
    customer_id     TEXT NOT NULL,
    number          TEXT NOT NULL,
    flow_id         TEXT NULL,
    name            TEXT NOT NULL,
    detail          TEXT NOT NULL,
    status          TEXT NOT NULL,
    tm_create       TEXT NOT NULL,
    tm_update       TEXT NOT NULL,
    tm_delete       TEXT NOT NULL DEFAULT '9999-01-01 00:00:00'
);
CREATE INDEX idx_numbers_customer_list ON numbers (customer_id, tm_delete, tm_create, id);
CREATE INDEX idx_numbers_number ON numbers (number, tm_delete);
CREATE INDEX idx_numbers_tm_create ON numbers (tm_create);

CREATE TABLE outbox (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id        TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    payload         TEXT NOT NULL,
    tm_create       TEXT NOT NULL,
    tm_publish      TEXT NULL
);
CREATE UNIQUE INDEX idx_outbox_event_id ON outbox (event_id);
CREATE INDEX idx_outbox_pending ON outbox (tm_publish, seq);

CREATE TABLE audits (
    id              TEXT NOT NULL PRIMARY KEY,
    customer_id     TEXT NOT NULL,
    actor           TEXT NOT NULL,
    action          TEXT NOT NULL,
    resource        TEXT NOT NULL,
    resource_id     TEXT NOT NULL,
    before_value    TEXT NULL,
    after_value     TEXT NULL,
    tm_create       TEXT NOT NULL
);
CREATE INDEX idx_audits_customer ON audits (customer_id, tm_create);
CREATE INDEX idx_audits_resource ON audits (resource, resource_id);
