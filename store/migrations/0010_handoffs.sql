-- Hand-off to a phone (docs/reliability.md#hand-off): a short-lived, single-use token shown as a QR code on the
-- institution step. Only its SHA-256 is kept. Spending it gives the phone its own session bound to the same link;
-- the row then pairs the two browsers on that link (the desktop's device ref may see the consents the phone's
-- device ref starts on it). Unused rows are swept when they expire, used ones after 30 days.
CREATE TABLE handoffs (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash       TEXT NOT NULL UNIQUE CHECK (token_hash <> ''),
    link_id          TEXT NOT NULL,
    session_id       TEXT NOT NULL,              -- the desktop's flow id (what its page polls by)
    device_ref       TEXT NOT NULL,              -- the desktop's device ref
    lang             TEXT NOT NULL DEFAULT '',   -- the desktop's language, given to the phone's session
    created_at       INTEGER NOT NULL,
    expires_at       INTEGER NOT NULL,
    used_at          INTEGER,
    phone_device_ref TEXT NOT NULL DEFAULT ''    -- set when spent
);
CREATE INDEX handoffs_session ON handoffs (session_id);
CREATE INDEX handoffs_pairing ON handoffs (device_ref, link_id) WHERE used_at IS NOT NULL;
CREATE INDEX handoffs_expires ON handoffs (expires_at);
