-- Customers (tenants) and their API access keys.

CREATE TABLE customers (
    id              VARCHAR(36)   NOT NULL,
    name            VARCHAR(255)  NOT NULL,
    detail          TEXT          NOT NULL,
    email           VARCHAR(255)  NOT NULL DEFAULT '',
    webhook_method  VARCHAR(16)   NOT NULL DEFAULT 'POST',
    webhook_uri     VARCHAR(1024) NOT NULL DEFAULT '',
    webhook_secret  VARCHAR(255)  NOT NULL,
    tm_create       DATETIME(6)   NOT NULL,
    tm_update       DATETIME(6)   NOT NULL,
    tm_delete       DATETIME(6)   NOT NULL DEFAULT '9999-01-01 00:00:00.000000',
    PRIMARY KEY (id),
    INDEX idx_customers_tm_create (tm_create),
    INDEX idx_customers_tm_delete (tm_delete)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- The key itself is shown once at creation; only its SHA-256 (hex) is stored.
CREATE TABLE accesskeys (
    id              VARCHAR(36)   NOT NULL,
    customer_id     VARCHAR(36)   NOT NULL,
    name            VARCHAR(255)  NOT NULL,
    detail          TEXT          NOT NULL,
    token_hash      CHAR(64)      NOT NULL,
    token_prefix    VARCHAR(16)   NOT NULL,
    permissions     TEXT          NOT NULL,
    tm_expire       DATETIME(6)   NOT NULL,
    tm_create       DATETIME(6)   NOT NULL,
    tm_update       DATETIME(6)   NOT NULL,
    tm_delete       DATETIME(6)   NOT NULL DEFAULT '9999-01-01 00:00:00.000000',
    PRIMARY KEY (id),
    UNIQUE INDEX idx_accesskeys_token_hash (token_hash),
    INDEX idx_accesskeys_customer_id (customer_id, tm_delete),
    INDEX idx_accesskeys_tm_create (tm_create)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
