-- Carrier interconnect: providers (SIP gateways of carriers) and the routes that pick them.
-- Same tables and columns as mysql/0004.

CREATE TABLE providers (
    id              TEXT NOT NULL PRIMARY KEY,
    customer_id     TEXT NOT NULL,
    name            TEXT NOT NULL,
    detail          TEXT NOT NULL,
    hostname        TEXT NOT NULL,
    port            INTEGER NOT NULL,
    transport       TEXT NOT NULL,
    tech_prefix     TEXT NOT NULL,
    codecs          TEXT NOT NULL,
    auth_username   TEXT NOT NULL,
    auth_password   TEXT NOT NULL,
    tm_create       TEXT NOT NULL,
    tm_update       TEXT NOT NULL,
    tm_delete       TEXT NOT NULL DEFAULT '9999-01-01 00:00:00'
);
CREATE INDEX idx_providers_customer_list ON providers (customer_id, tm_delete, tm_create, id);
CREATE INDEX idx_providers_tm_create ON providers (tm_create);

CREATE TABLE routes (
    id              TEXT NOT NULL PRIMARY KEY,
    customer_id     TEXT NOT NULL,
    name            TEXT NOT NULL,
    detail          TEXT NOT NULL,
    provider_id     TEXT NOT NULL,
    priority        INTEGER NOT NULL,
    target          TEXT NOT NULL,
    tm_create       TEXT NOT NULL,
    tm_update       TEXT NOT NULL,
    tm_delete       TEXT NOT NULL DEFAULT '9999-01-01 00:00:00'
);
CREATE INDEX idx_routes_customer_list ON routes (customer_id, tm_delete, tm_create, id);
CREATE INDEX idx_routes_provider_id ON routes (provider_id, tm_delete);
CREATE INDEX idx_routes_tm_create ON routes (tm_create);
