-- Access: server-side sessions (a cookie holds only a random token; its SHA-256 is the key here, so a copy of
-- the database gives no live cookie), operator accounts, the append-only audit trail, sign-in throttling, the
-- first-run setup tokens, and the device a consent was started on (a keyed pseudonym of the device cookie).
CREATE TABLE sessions (
    id_hash     TEXT PRIMARY KEY CHECK (id_hash <> ''),
    data        TEXT NOT NULL DEFAULT '{}',   -- JSON object of string values
    operator_id INTEGER,                      -- the signed-in operator, NULL for a visitor
    created_at  INTEGER NOT NULL,
    seen_at     INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL              -- the earlier of the idle and the absolute limit
);
CREATE INDEX sessions_expires ON sessions (expires_at);
CREATE INDEX sessions_operator ON sessions (operator_id) WHERE operator_id IS NOT NULL;

CREATE TABLE operators (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    email         TEXT NOT NULL UNIQUE CHECK (email <> ''),  -- lower-case
    password_hash TEXT NOT NULL DEFAULT '',                  -- argon2id, PHC string; '' signs in by single sign-on only
    created_at    INTEGER NOT NULL
);

CREATE TABLE audit (
    id     INTEGER PRIMARY KEY AUTOINCREMENT,
    at     INTEGER NOT NULL,
    actor  TEXT NOT NULL,             -- an operator's email, or "visitor"
    action TEXT NOT NULL,
    target TEXT NOT NULL DEFAULT '',  -- a consent, report or operator the action was about
    ip     TEXT NOT NULL DEFAULT '',
    ok     INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX audit_at ON audit (at, id);
CREATE TRIGGER audit_append_only_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
CREATE TRIGGER audit_append_only_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;

CREATE TABLE login_failures (
    key          TEXT PRIMARY KEY,    -- a keyed pseudonym of the email typed
    failures     INTEGER NOT NULL,
    first_at     INTEGER NOT NULL,
    locked_until INTEGER
);

CREATE TABLE setup_tokens (
    token_hash TEXT PRIMARY KEY,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
);

ALTER TABLE consents ADD COLUMN device_ref TEXT NOT NULL DEFAULT '';
CREATE INDEX consents_device ON consents (device_ref, created_at) WHERE device_ref <> '';
