-- Agents: the people (and their phones) of a customer; they log in to the API.
-- Same table and columns as mysql/0003.

CREATE TABLE agents (
    id              TEXT NOT NULL PRIMARY KEY,
    customer_id     TEXT NOT NULL,
    username        TEXT NOT NULL,
    password_hash   TEXT NOT NULL,
    name            TEXT NOT NULL,
    detail          TEXT NOT NULL,
    status          TEXT NOT NULL,
    permission      TEXT NOT NULL,
    tag_ids         TEXT NOT NULL,
    addresses       TEXT NOT NULL,
    tm_create       TEXT NOT NULL,
    tm_update       TEXT NOT NULL,
    tm_delete       TEXT NOT NULL DEFAULT '9999-01-01 00:00:00'
);
CREATE UNIQUE INDEX idx_agents_username ON agents (username, tm_delete);
CREATE INDEX idx_agents_customer_list ON agents (customer_id, tm_delete, tm_create, id);
CREATE INDEX idx_agents_tm_create ON agents (tm_create);
