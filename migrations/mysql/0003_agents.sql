-- Agents: the people (and their phones) of a customer; they log in to the API.

CREATE TABLE agents (
    id              VARCHAR(36)   NOT NULL,
    customer_id     VARCHAR(36)   NOT NULL,
    username        VARCHAR(255)  NOT NULL,
    password_hash   VARCHAR(255)  NOT NULL,
    name            VARCHAR(255)  NOT NULL,
    detail          TEXT          NOT NULL,
    status          VARCHAR(32)   NOT NULL,
    permission      VARCHAR(32)   NOT NULL,
    tag_ids         TEXT          NOT NULL,
    addresses       TEXT          NOT NULL,
    tm_create       DATETIME(6)   NOT NULL,
    tm_update       DATETIME(6)   NOT NULL,
    tm_delete       DATETIME(6)   NOT NULL DEFAULT '9999-01-01 00:00:00.000000',
    PRIMARY KEY (id),
    -- Login: one live agent per username (deleted ones keep their own tm_delete).
    UNIQUE INDEX idx_agents_username (username, tm_delete),
    INDEX idx_agents_customer_list (customer_id, tm_delete, tm_create, id),
    INDEX idx_agents_tm_create (tm_create)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
