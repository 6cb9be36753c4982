-- The operators' webhook tools: each delivery remembers the consent it names (consent_id, '' when none: the
-- inbox page links to it when such a consent exists), deliveries can be found by the SHA-256 of their body (the
-- portal's own round trip finds the row its receiver wrote), and every replay of a delivery is kept with its outcome.
ALTER TABLE webhook_deliveries ADD COLUMN consent_id TEXT NOT NULL DEFAULT '';

-- Deliveries stored before: the consent named by the body, where a body was kept and is JSON (consent_* events:
-- payload.consents.consentId; product_* events: payload.consentIds[0]; reports: links[0].consents[0].consentId).
UPDATE webhook_deliveries SET consent_id = substr(COALESCE(
        json_extract(CAST(body AS TEXT), '$[0].payload.consents.consentId'),
        json_extract(CAST(body AS TEXT), '$[0].payload.consents[0].consentId'),
        json_extract(CAST(body AS TEXT), '$[0].payload.consentIds[0]'),
        json_extract(CAST(body AS TEXT), '$.payload.consents.consentId'),
        json_extract(CAST(body AS TEXT), '$.payload.consents[0].consentId'),
        json_extract(CAST(body AS TEXT), '$.payload.consentIds[0]'),
        json_extract(CAST(body AS TEXT), '$.links[0].consents[0].consentId'),
        ''), 1, 64)
    WHERE body IS NOT NULL AND signature_valid = 1 AND json_valid(CAST(body AS TEXT));

-- Report deliveries keep no body of their own (the report row holds it): the consent their report names, or else
-- the latest consent of its link.
UPDATE webhook_deliveries SET consent_id = COALESCE((
        SELECT COALESCE(NULLIF(r.consent_id, ''), (SELECT c.id FROM consents c WHERE r.link_id <> ''
            AND c.link_id = r.link_id ORDER BY c.created_at DESC, c.id DESC LIMIT 1))
        FROM reports r
        WHERE r.delivery_id = webhook_deliveries.id OR r.product_report_id = json_extract(webhook_deliveries.keys, '$[0]')
        ORDER BY r.delivery_id = webhook_deliveries.id DESC LIMIT 1), '')
    WHERE kind = 'report' AND consent_id = '' AND json_valid(keys);

CREATE INDEX webhook_deliveries_body_sha256 ON webhook_deliveries (body_sha256);

-- One row per replay of a delivery by an operator: when, who, whether it changed anything, the worker's results
-- (encoded like inbox results) and the first consent's status before and after.
CREATE TABLE webhook_replays (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    delivery_id   INTEGER NOT NULL REFERENCES webhook_deliveries (id),
    at            INTEGER NOT NULL,
    actor         TEXT NOT NULL DEFAULT '',
    changed       INTEGER NOT NULL DEFAULT 0,
    result        TEXT NOT NULL DEFAULT '',
    consent_id    TEXT NOT NULL DEFAULT '',
    status_before TEXT NOT NULL DEFAULT '',
    status_after  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX webhook_replays_delivery ON webhook_replays (delivery_id, id);
