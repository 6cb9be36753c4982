-- The report body moves to the last column of reports (docs/benchmarks.md#report-path). SQLite stores a row's
-- columns in order and a large body in a chain of overflow pages, so reading body_sha256 or size, which came after
-- raw, walked the whole chain: every consent page and report page read each byte of a 5 MB report to learn its hash
-- and size. Same columns, constraints and indexes; only the order changes. PostgreSQL needs no counterpart: it keeps
-- large values out of line (TOAST) and reads other columns without them.
CREATE TABLE reports_new (
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
    body_sha256       TEXT NOT NULL DEFAULT '',
    size              INTEGER NOT NULL DEFAULT 0,
    raw               BLOB
);
INSERT INTO reports_new (product_report_id, delivery_id, request_id, product_name, product_version, code, message,
    link_id, consent_id, received_at, body_sha256, size, raw)
    SELECT product_report_id, delivery_id, request_id, product_name, product_version, code, message,
    link_id, consent_id, received_at, body_sha256, size, raw FROM reports;
DROP TABLE reports;
ALTER TABLE reports_new RENAME TO reports;
CREATE INDEX reports_consent ON reports (consent_id, received_at);
CREATE INDEX reports_link ON reports (link_id, received_at); -- full since 0011
CREATE INDEX reports_received ON reports (received_at);
