-- Phone numbers, the transactional outbox of events, and the audit trail.

CREATE TABLE numbers (
    id              VARCHAR(36)   NOT NULL,
    customer_id     VARCHAR(36)   NOT NULL,
    number          VARCHAR(32)   NOT NULL,
    flow_id         VARCHAR(36)   NULL,
    name            VARCHAR(255)  NOT NULL,
    detail          TEXT          NOT NULL,
    status          VARCHAR(32)   NOT NULL,
    tm_create       DATETIME(6)   NOT NULL,
    tm_update       DATETIME(6)   NOT NULL,
    tm_delete       DATETIME(6)   NOT NULL DEFAULT '9999-01-01 00:00:00.000000',
    PRIMARY KEY (id),
    -- Lists: a customer's live numbers, newest first.
    INDEX idx_numbers_customer_list (customer_id, tm_delete, tm_create, id),
    -- A live number belongs to one customer: looked up on every inbound call.
    INDEX idx_numbers_number (number, tm_delete),
    INDEX idx_numbers_tm_create (tm_create)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Events written in the same transaction as the change they describe; a relay publishes them
-- to the bus and stamps tm_publish, so an event survives the broker being down.
CREATE TABLE outbox (
    seq             BIGINT        NOT NULL AUTO_INCREMENT,
    event_id        VARCHAR(36)   NOT NULL,
    event_type      VARCHAR(255)  NOT NULL,
    payload         MEDIUMTEXT    NOT NULL,
    tm_create       DATETIME(6)   NOT NULL,
    tm_publish      DATETIME(6)   NULL,
    PRIMARY KEY (seq),
    UNIQUE INDEX idx_outbox_event_id (event_id),
    INDEX idx_outbox_pending (tm_publish, seq)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Who changed what: every create, update and delete, with the row before and after.
CREATE TABLE audits (
    id              VARCHAR(36)   NOT NULL,
    customer_id     VARCHAR(36)   NOT NULL,
    actor           VARCHAR(255)  NOT NULL,
    action          VARCHAR(32)   NOT NULL,
    resource        VARCHAR(64)   NOT NULL,
    resource_id     VARCHAR(36)   NOT NULL,
    before_value    MEDIUMTEXT    NULL,
    after_value     MEDIUMTEXT    NULL,
    tm_create       DATETIME(6)   NOT NULL,
    PRIMARY KEY (id),
    INDEX idx_audits_customer (customer_id, tm_create),
    INDEX idx_audits_resource (resource, resource_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
