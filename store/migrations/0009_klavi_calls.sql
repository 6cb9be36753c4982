-- The Klavi call log: one row per HTTP attempt made for a link or a consent (the klavi client's observer writes it,
-- reading the subject from the caller's context), so that a support bundle can list the X-Request-Id of every call
-- made for a consent. No body, no token, no concrete path: the endpoint is the path template. Bounded: the newest
-- rows per consent (or per link, for calls made before a consent existed) are kept, and a link's rows go when its
-- personal data is purged.
CREATE TABLE klavi_calls (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    consent_id  TEXT NOT NULL DEFAULT '',
    link_id     TEXT NOT NULL DEFAULT '',
    at          INTEGER NOT NULL,            -- when the attempt started, microseconds
    method      TEXT NOT NULL,
    endpoint    TEXT NOT NULL,               -- path template, e.g. /consents/{consentId}
    status      INTEGER NOT NULL DEFAULT 0,  -- HTTP status; 0 when no answer came
    attempt     INTEGER NOT NULL DEFAULT 1,
    duration_ms INTEGER NOT NULL DEFAULT 0,
    request_id  TEXT NOT NULL DEFAULT ''
);
CREATE INDEX klavi_calls_consent ON klavi_calls (consent_id, id);
CREATE INDEX klavi_calls_link ON klavi_calls (link_id, id);
