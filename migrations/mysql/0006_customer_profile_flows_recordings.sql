-- Customer profile fields, call flows, and recordings.

-- The profile and billing link of a customer. customer_id is generated as the row's own id:
-- a customer is its own tenant, so the generic record queries (always scoped by customer_id)
-- serve this table too; generated, it can never disagree with id. Those queries look rows up
-- by id (the primary key).
ALTER TABLE customers
    ADD COLUMN phone_number       VARCHAR(32)   NOT NULL DEFAULT '',
    ADD COLUMN address            VARCHAR(1024) NOT NULL DEFAULT '',
    ADD COLUMN billing_account_id VARCHAR(36)   NULL,
    ADD COLUMN customer_id        VARCHAR(36)   AS (id) VIRTUAL;

-- Call flows: the action list is JSON text, checked by the API on every write.
CREATE TABLE flows (
    id              VARCHAR(36)   NOT NULL,
    customer_id     VARCHAR(36)   NOT NULL,
    name            VARCHAR(255)  NOT NULL,
    detail          TEXT          NOT NULL,
    actions         MEDIUMTEXT    NOT NULL,
    tm_create       DATETIME(6)   NOT NULL,
    tm_update       DATETIME(6)   NOT NULL,
    tm_delete       DATETIME(6)   NOT NULL DEFAULT '9999-01-01 00:00:00.000000',
    PRIMARY KEY (id),
    INDEX idx_flows_customer_list (customer_id, tm_delete, tm_create, id),
    INDEX idx_flows_tm_create (tm_create)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- Recordings of calls and conferences; the audio is <data dir>/recordings/<filename>.
-- duration is in milliseconds; tm_end is 9999-01-01 while recording.
CREATE TABLE recordings (
    id              VARCHAR(36)   NOT NULL,
    customer_id     VARCHAR(36)   NOT NULL,
    reference_type  VARCHAR(16)   NOT NULL,
    reference_id    VARCHAR(36)   NOT NULL,
    status          VARCHAR(16)   NOT NULL,
    format          VARCHAR(8)    NOT NULL,
    filename        VARCHAR(255)  NOT NULL,
    duration        BIGINT        NOT NULL,
    tm_start        DATETIME(6)   NOT NULL,
    tm_end          DATETIME(6)   NOT NULL DEFAULT '9999-01-01 00:00:00.000000',
    tm_create       DATETIME(6)   NOT NULL,
    tm_update       DATETIME(6)   NOT NULL,
    tm_delete       DATETIME(6)   NOT NULL DEFAULT '9999-01-01 00:00:00.000000',
    PRIMARY KEY (id),
    INDEX idx_recordings_customer_list (customer_id, tm_delete, tm_create, id),
    -- The media side ends the recordings of a call or conference when it hangs up.
    INDEX idx_recordings_reference (reference_id, tm_delete),
    INDEX idx_recordings_tm_create (tm_create)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;
