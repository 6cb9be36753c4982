-- Times become microseconds: every INTEGER time column so far held unix milliseconds (UTC) and now holds unix
-- microseconds (UTC), the precision the PostgreSQL backend keeps too. NULL stays NULL. The audit trail refuses any
-- UPDATE, so its two triggers (0005) are dropped for the conversion and made again, word for word, in the same
-- transaction.
DROP TRIGGER audit_append_only_update;
DROP TRIGGER audit_append_only_delete;

UPDATE links SET token_expires_at = token_expires_at * 1000, created_at = created_at * 1000;
UPDATE consents SET callback_at = callback_at * 1000, reports_requested_at = reports_requested_at * 1000,
    next_poll_at = next_poll_at * 1000, created_at = created_at * 1000, updated_at = updated_at * 1000;
UPDATE timeline SET at = at * 1000, last_at = last_at * 1000;
UPDATE webhook_deliveries SET received_at = received_at * 1000;
UPDATE inbox SET received_at = received_at * 1000, processed_at = processed_at * 1000;
UPDATE reports SET received_at = received_at * 1000;
UPDATE sessions SET created_at = created_at * 1000, seen_at = seen_at * 1000, expires_at = expires_at * 1000;
UPDATE operators SET created_at = created_at * 1000;
UPDATE audit SET at = at * 1000;
UPDATE login_failures SET first_at = first_at * 1000, locked_until = locked_until * 1000;
UPDATE setup_tokens SET expires_at = expires_at * 1000, used_at = used_at * 1000;
UPDATE schema_migrations SET applied_at = applied_at * 1000;

CREATE TRIGGER audit_append_only_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
CREATE TRIGGER audit_append_only_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
