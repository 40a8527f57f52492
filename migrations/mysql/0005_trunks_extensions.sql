-- SIP accounts: trunks (PBXs and carriers that send calls in) and extensions (phones).

CREATE TABLE trunks (
    id              VARCHAR(36)   NOT NULL,
    customer_id     VARCHAR(36)   NOT NULL,
    name            VARCHAR(255)  NOT NULL,
    detail          TEXT          NOT NULL,
    domain_name     VARCHAR(255)  NOT NULL,
    auth_types      TEXT          NOT NULL,
    username        VARCHAR(255)  NOT NULL,
    password        VARCHAR(255)  NOT NULL,
    allowed_ips     TEXT          NOT NULL,
    realm           VARCHAR(255)  NOT NULL,
    tm_create       DATETIME(6)   NOT NULL,
    tm_update       DATETIME(6)   NOT NULL,
    tm_delete       DATETIME(6)   NOT NULL DEFAULT '9999-01-01 00:00:00.000000',
    PRIMARY KEY (id),
    -- Inbound SIP: a trunk is found by its domain; one live trunk per domain.
    UNIQUE INDEX idx_trunks_domain_name (domain_name, tm_delete),
    INDEX idx_trunks_customer_list (customer_id, tm_delete, tm_create, id),
    INDEX idx_trunks_tm_create (tm_create)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE extensions (
    id              VARCHAR(36)   NOT NULL,
    customer_id     VARCHAR(36)   NOT NULL,
    name            VARCHAR(255)  NOT NULL,
    detail          TEXT          NOT NULL,
    extension       VARCHAR(32)   NOT NULL,
    username        VARCHAR(255)  NOT NULL,
    password        VARCHAR(255)  NOT NULL,
    domain_name     VARCHAR(255)  NOT NULL,
    tm_create       DATETIME(6)   NOT NULL,
    tm_update       DATETIME(6)   NOT NULL,
    tm_delete       DATETIME(6)   NOT NULL DEFAULT '9999-01-01 00:00:00.000000',
    PRIMARY KEY (id),
    -- REGISTER: a phone authenticates as username@domain; one live binding of the pair.
    UNIQUE INDEX idx_extensions_login (username, domain_name, tm_delete),
    INDEX idx_extensions_customer_list (customer_id, tm_delete, tm_create, id),
    INDEX idx_extensions_tm_create (tm_create)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
