-- Carrier interconnect: providers (SIP gateways of carriers) and the routes that pick them.

CREATE TABLE providers (
    id              VARCHAR(36)   NOT NULL,
    customer_id     VARCHAR(36)   NOT NULL,
    name            VARCHAR(255)  NOT NULL,
    detail          TEXT          NOT NULL,
    hostname        VARCHAR(255)  NOT NULL,
    port            BIGINT        NOT NULL,
    transport       VARCHAR(8)    NOT NULL,
    tech_prefix     VARCHAR(32)   NOT NULL,
    codecs          TEXT          NOT NULL,
    auth_username   VARCHAR(255)  NOT NULL,
    auth_password   VARCHAR(255)  NOT NULL,
    tm_create       DATETIME(6)   NOT NULL,
    tm_update       DATETIME(6)   NOT NULL,
    tm_delete       DATETIME(6)   NOT NULL DEFAULT '9999-01-01 00:00:00.000000',
    PRIMARY KEY (id),
    INDEX idx_providers_customer_list (customer_id, tm_delete, tm_create, id),
    INDEX idx_providers_tm_create (tm_create)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

CREATE TABLE routes (
    id              VARCHAR(36)   NOT NULL,
    customer_id     VARCHAR(36)   NOT NULL,
    name            VARCHAR(255)  NOT NULL,
    detail          TEXT          NOT NULL,
    provider_id     VARCHAR(36)   NOT NULL,
    priority        BIGINT        NOT NULL,
    target          VARCHAR(32)   NOT NULL,
    tm_create       DATETIME(6)   NOT NULL,
    tm_update       DATETIME(6)   NOT NULL,
    tm_delete       DATETIME(6)   NOT NULL DEFAULT '9999-01-01 00:00:00.000000',
    PRIMARY KEY (id),
    INDEX idx_routes_customer_list (customer_id, tm_delete, tm_create, id),
    -- Call routing: the live routes of a provider, and of a customer by target.
    INDEX idx_routes_provider_id (provider_id, tm_delete),
    INDEX idx_routes_tm_create (tm_create)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
