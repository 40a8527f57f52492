-- SIP accounts: trunks (PBXs and carriers that send calls in) and extensions (phones).
-- Same tables and columns as mysql/0005.

CREATE TABLE trunks (
    id              TEXT NOT NULL PRIMARY KEY,
    customer_id     TEXT NOT NULL,
    name            TEXT NOT NULL,
    detail          TEXT NOT NULL,
    domain_name     TEXT NOT NULL,
    auth_types      TEXT NOT NULL,
    username        TEXT NOT NULL,
    password        TEXT NOT NULL,
    allowed_ips     TEXT NOT NULL,
    realm           TEXT NOT NULL,
    tm_create       TEXT NOT NULL,
    tm_update       TEXT NOT NULL,
    tm_delete       TEXT NOT NULL DEFAULT '9999-01-01 00:00:00'
);
CREATE UNIQUE INDEX idx_trunks_domain_name ON trunks (domain_name, tm_delete);
CREATE INDEX idx_trunks_customer_list ON trunks (customer_id, tm_delete, tm_create, id);
CREATE INDEX idx_trunks_tm_create ON trunks (tm_create);

CREATE TABLE extensions (
    id              TEXT NOT NULL PRIMARY KEY,
    customer_id     TEXT NOT NULL,
    name            TEXT NOT NULL,
    detail          TEXT NOT NULL,
    extension       TEXT NOT NULL,
    username        TEXT NOT NULL,
    password        TEXT NOT NULL,
    domain_name     TEXT NOT NULL,
    tm_create       TEXT NOT NULL,
    tm_update       TEXT NOT NULL,
    tm_delete       TEXT NOT NULL DEFAULT '9999-01-01 00:00:00'
);
CREATE UNIQUE INDEX idx_extensions_login ON extensions (username, domain_name, tm_delete);
CREATE INDEX idx_extensions_customer_list ON extensions (customer_id, tm_delete, tm_create, id);
CREATE INDEX idx_extensions_tm_create ON extensions (tm_create);
