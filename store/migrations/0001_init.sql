-- 0001_init: the portal's whole schema. Never edit once applied; add 0002_... instead.
-- Times are INTEGER unix milliseconds (UTC); NULL where "not yet". String lists are JSON text ('[]' when empty).
-- Tax ids are TEXT: the alphanumeric CNPJ has letters and CPFs/CNPJs have leading zeros.

CREATE TABLE links (
    id               TEXT PRIMARY KEY CHECK (id <> ''),   -- Klavi linkId
    session_id       TEXT NOT NULL,
    person_type      TEXT NOT NULL,                       -- personal | business
    personal_tax_id  TEXT NOT NULL DEFAULT '',
    business_tax_id  TEXT NOT NULL DEFAULT '',
    email            TEXT NOT NULL DEFAULT '',
    phone            TEXT NOT NULL DEFAULT '',
    link_token       TEXT NOT NULL DEFAULT '',            -- server-side only
    token_expires_at INTEGER NOT NULL,
    created_at       INTEGER NOT NULL
);
CREATE INDEX links_session ON links (session_id, created_at);

-- No foreign key to links: consents (and webhooks about them) may reference links this database never saw.
CREATE TABLE consents (
    id                   TEXT PRIMARY KEY CHECK (id <> ''),   -- Klavi consentId
    link_id              TEXT NOT NULL DEFAULT '',
    session_id           TEXT NOT NULL DEFAULT '',
    track_id_hash        TEXT NOT NULL DEFAULT '',            -- hex sha256 of externalTrackId
    person_type          TEXT NOT NULL DEFAULT '',
    personal_tax_id      TEXT NOT NULL DEFAULT '',
    business_tax_id      TEXT NOT NULL DEFAULT '',
    institution_code     TEXT NOT NULL DEFAULT '',
    institution_name     TEXT NOT NULL DEFAULT '',
    validity_period      INTEGER NOT NULL DEFAULT 0,
    status               TEXT NOT NULL,
    permissions_apply    TEXT NOT NULL DEFAULT '[]',
    permissions_granted  TEXT NOT NULL DEFAULT '[]',
    expire_at            TEXT NOT NULL DEFAULT '',            -- as Klavi sent it
    error_code           TEXT NOT NULL DEFAULT '',
    error_description    TEXT NOT NULL DEFAULT '',
    callback_at          INTEGER,
    reports_requested_at INTEGER,
    report_request_id    TEXT NOT NULL DEFAULT '',
    next_poll_at         INTEGER,
    poll_attempts        INTEGER NOT NULL DEFAULT 0,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL
);
-- The track id is our OAuth-style state: it must identify exactly one consent.
CREATE UNIQUE INDEX consents_track_id_hash ON consents (track_id_hash) WHERE track_id_hash <> '';
CREATE INDEX consents_session ON consents (session_id, created_at);
CREATE INDEX consents_link ON consents (link_id);
CREATE INDEX consents_created ON consents (created_at);
CREATE INDEX consents_status ON consents (status, created_at);
CREATE INDEX consents_personal_tax_id ON consents (personal_tax_id) WHERE personal_tax_id <> '';
CREATE INDEX consents_business_tax_id ON consents (business_tax_id) WHERE business_tax_id <> '';
-- The reconciler's question: which unfinished consents are due for a poll.
CREATE INDEX consents_due_poll ON consents (next_poll_at)
    WHERE status NOT IN ('REJECTED', 'ERROR', 'EXPIRED', 'REVOKED', 'DELETED_BY_USER');

CREATE TABLE timeline (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    consent_id TEXT NOT NULL,
    kind       TEXT NOT NULL,
    title      TEXT NOT NULL DEFAULT '',
    detail     TEXT NOT NULL DEFAULT '',
    ok         INTEGER NOT NULL DEFAULT 0,
    at         INTEGER NOT NULL
);
CREATE INDEX timeline_consent ON timeline (consent_id, at, id);

-- Every webhook POST, rejected ones included (audit trail for /webhooks).
CREATE TABLE webhook_deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    kind            TEXT NOT NULL,                 -- event | report
    received_at     INTEGER NOT NULL,
    signature_valid INTEGER NOT NULL,
    keys            TEXT NOT NULL DEFAULT '[]',    -- eventIds or the productReportId
    event_names     TEXT NOT NULL DEFAULT '[]',
    duplicate       INTEGER NOT NULL DEFAULT 0,
    body_sha256     TEXT NOT NULL DEFAULT '',
    body            BLOB,                          -- NULL when rejected
    result          TEXT NOT NULL DEFAULT '',
    size            INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX webhook_deliveries_received ON webhook_deliveries (received_at, id);

-- One row per event ever accepted: the UNIQUE key is what makes a redelivery a no-op.
CREATE TABLE inbox (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id  INTEGER NOT NULL REFERENCES webhook_deliveries (id),
    kind         TEXT NOT NULL,
    key          TEXT NOT NULL CHECK (key <> ''),
    event_name   TEXT NOT NULL DEFAULT '',
    body         BLOB,
    received_at  INTEGER NOT NULL,
    processed_at INTEGER,
    result       TEXT NOT NULL DEFAULT '',
    attempts     INTEGER NOT NULL DEFAULT 0,
    UNIQUE (kind, key)
);
CREATE INDEX inbox_pending ON inbox (id) WHERE processed_at IS NULL;
CREATE INDEX inbox_delivery ON inbox (delivery_id);

CREATE TABLE reports (
    product_report_id TEXT PRIMARY KEY CHECK (product_report_id <> ''),
    delivery_id       INTEGER NOT NULL REFERENCES webhook_deliveries (id),
    request_id        TEXT NOT NULL DEFAULT '',
    product_name      TEXT NOT NULL DEFAULT '',
    product_version   TEXT NOT NULL DEFAULT '',
    code              INTEGER NOT NULL DEFAULT 0,
    message           TEXT NOT NULL DEFAULT '',
    link_id           TEXT NOT NULL DEFAULT '',
    consent_id        TEXT NOT NULL DEFAULT '',
    received_at       INTEGER NOT NULL,
    raw               BLOB,
    body_sha256       TEXT NOT NULL DEFAULT '',
    size              INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX reports_consent ON reports (consent_id, received_at);
CREATE INDEX reports_link ON reports (link_id, received_at) WHERE consent_id = '';
CREATE INDEX reports_received ON reports (received_at);
