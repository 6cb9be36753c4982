package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Session is one server-side session. The browser's cookie holds a random token; IDHash is its SHA-256 in hex,
// so that the database never holds a usable cookie.
type Session struct {
	IDHash     string
	Data       map[string]string
	OperatorID int64 // 0 for a visitor
	CreatedAt  time.Time
	SeenAt     time.Time
	ExpiresAt  time.Time
}

// SaveSession writes the session, creating it or replacing its data, operator and times.
func (s *Store) SaveSession(ctx context.Context, ss Session) error {
	if ss.IDHash == "" {
		return errors.New("store: save session: empty id")
	}
	data, err := json.Marshal(ss.Data)
	if err != nil {
		return fmt.Errorf("store: save session: %w", err)
	}
	if ss.Data == nil {
		data = []byte("{}")
	}
	var op any
	if ss.OperatorID != 0 {
		op = ss.OperatorID
	}
	return s.tx(ctx, "save session", func(tx *txn) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO sessions (id_hash, data, operator_id, created_at, seen_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (id_hash) DO UPDATE SET data = excluded.data,
			operator_id = excluded.operator_id, seen_at = excluded.seen_at, expires_at = excluded.expires_at`,
			ss.IDHash, string(data), op, us(s.stamp(ss.CreatedAt)), us(s.stamp(ss.SeenAt)), us(ss.ExpiresAt))
		return err
	})
}

// Session returns the session with this id hash. Returns ErrNotFound when there is none or it has expired.
func (s *Store) Session(ctx context.Context, idHash string) (Session, error) {
	var ss Session
	var data string
	var op sql.NullInt64
	var created, seen, expires int64
	err := s.r.QueryRowContext(ctx, `SELECT id_hash, data, operator_id, created_at, seen_at, expires_at FROM sessions
		WHERE id_hash = ? AND expires_at > ?`, idHash, us(s.now())).Scan(&ss.IDHash, &data, &op, &created, &seen, &expires)
	if err != nil {
		return Session{}, fmt.Errorf("store: session: %w", notFound(err))
	}
	if err := json.Unmarshal([]byte(data), &ss.Data); err != nil {
		return Session{}, fmt.Errorf("store: session: %w", err)
	}
	ss.OperatorID = op.Int64
	ss.CreatedAt, ss.SeenAt, ss.ExpiresAt = fromUS(created), fromUS(seen), fromUS(expires)
	return ss, nil
}

// DeleteSession removes a session (sign-out, rotation); removing one that does not exist is not an error.
func (s *Store) DeleteSession(ctx context.Context, idHash string) error {
	return s.tx(ctx, "delete session", func(tx *txn) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE id_hash = ?`, idHash)
		return err
	})
}

// DeleteOperatorSessions removes every session of an operator (password change, removal) and returns how many.
func (s *Store) DeleteOperatorSessions(ctx context.Context, operatorID int64) (int, error) {
	var n int
	err := s.tx(ctx, "delete operator sessions", func(tx *txn) error {
		var err error
		n, err = execCount(ctx, tx, `DELETE FROM sessions WHERE operator_id = ?`, operatorID)
		return err
	})
	return n, err
}

// SweepAccess deletes expired sessions, used or expired setup tokens, hand-offs that neither work nor pair anything
// any more (sweepHandoffs) and stale sign-in failures (older than staleFailures and no longer locked). It returns how many session rows it deleted.
func (s *Store) SweepAccess(ctx context.Context, staleFailures time.Duration) (int, error) {
	var n int
	now := s.now()
	err := s.tx(ctx, "sweep access", func(tx *txn) error {
		var err error
		if n, err = execCount(ctx, tx, `DELETE FROM sessions WHERE expires_at <= ?`, us(now)); err != nil {
			return err
		}
		if _, err = tx.ExecContext(ctx, `DELETE FROM setup_tokens WHERE expires_at <= ? OR used_at IS NOT NULL`,
			us(now)); err != nil {
			return err
		}
		if err = sweepHandoffs(ctx, tx, now); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM login_failures WHERE first_at <= ?
			AND (locked_until IS NULL OR locked_until <= ?)`, us(now.Add(-staleFailures)), us(now))
		return err
	})
	return n, err
}

// Operator is a person who may sign in and see everything.
type Operator struct {
	ID           int64
	Email        string // lower-case
	PasswordHash string // argon2id PHC string; "" for single sign-on only
	CreatedAt    time.Time
}

// NormalizeEmail is how operator emails are compared and stored: trimmed and lower-cased.
func NormalizeEmail(email string) string { return strings.ToLower(strings.TrimSpace(email)) }

// AddOperator creates an operator. Returns ErrConflict when the email is taken.
func (s *Store) AddOperator(ctx context.Context, email, passwordHash string) (Operator, error) {
	o := Operator{Email: NormalizeEmail(email), PasswordHash: passwordHash, CreatedAt: s.now()}
	if o.Email == "" {
		return Operator{}, errors.New("store: add operator: empty email")
	}
	err := s.tx(ctx, "add operator", func(tx *txn) error {
		if err := tx.lock(ctx, "operators", ""); err != nil { // see UseSetupToken
			return err
		}
		err := tx.QueryRowContext(ctx, `INSERT INTO operators (email, password_hash, created_at) VALUES (?, ?, ?)
			ON CONFLICT DO NOTHING RETURNING id`, o.Email, o.PasswordHash, us(o.CreatedAt)).Scan(&o.ID)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrConflict // the email is taken
		}
		return err
	})
	if err != nil {
		return Operator{}, err
	}
	return o, nil
}

const operatorCols = `id, email, password_hash, created_at`

func scanOperator(row interface{ Scan(...any) error }) (Operator, error) {
	var o Operator
	var created int64
	if err := row.Scan(&o.ID, &o.Email, &o.PasswordHash, &created); err != nil {
		return Operator{}, notFound(err)
	}
	o.CreatedAt = fromUS(created)
	return o, nil
}

// OperatorByEmail returns the operator with this email (compared as NormalizeEmail). Returns ErrNotFound.
func (s *Store) OperatorByEmail(ctx context.Context, email string) (Operator, error) {
	o, err := scanOperator(s.r.QueryRowContext(ctx, `SELECT `+operatorCols+` FROM operators WHERE email = ?`,
		NormalizeEmail(email)))
	if err != nil {
		return Operator{}, fmt.Errorf("store: operator: %w", err)
	}
	return o, nil
}

// Operator returns the operator by id. Returns ErrNotFound.
func (s *Store) Operator(ctx context.Context, id int64) (Operator, error) {
	o, err := scanOperator(s.r.QueryRowContext(ctx, `SELECT `+operatorCols+` FROM operators WHERE id = ?`, id))
	if err != nil {
		return Operator{}, fmt.Errorf("store: operator: %w", err)
	}
	return o, nil
}

// Operators lists every operator by email.
func (s *Store) Operators(ctx context.Context) ([]Operator, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+operatorCols+` FROM operators ORDER BY email`)
	if err != nil {
		return nil, fmt.Errorf("store: operators: %w", err)
	}
	defer rows.Close()
	var out []Operator
	for rows.Next() {
		o, err := scanOperator(rows)
		if err != nil {
			return nil, fmt.Errorf("store: operators: %w", err)
		}
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: operators: %w", err)
	}
	return out, nil
}

// CountOperators returns how many operators exist.
func (s *Store) CountOperators(ctx context.Context) (int, error) {
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM operators`).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count operators: %w", err)
	}
	return n, nil
}

// RemoveOperator deletes the operator with this email and every session it has, in one transaction. Returns
// ErrNotFound when there is none.
func (s *Store) RemoveOperator(ctx context.Context, email string) error {
	return s.tx(ctx, "remove operator", func(tx *txn) error {
		var id int64
		if err := tx.QueryRowContext(ctx, `SELECT id FROM operators WHERE email = ? {forUpdate}`, NormalizeEmail(email)).Scan(&id); err != nil {
			return notFound(err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE operator_id = ?`, id); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM operators WHERE id = ?`, id)
		return err
	})
}

// SetOperatorPassword replaces an operator's password hash and ends every session it has, in one transaction.
// Returns ErrNotFound when there is no such operator.
func (s *Store) SetOperatorPassword(ctx context.Context, id int64, passwordHash string) error {
	return s.tx(ctx, "set operator password", func(tx *txn) error {
		res, err := tx.ExecContext(ctx, `UPDATE operators SET password_hash = ? WHERE id = ?`, passwordHash, id)
		if err != nil {
			return err
		}
		if err := mustAffect(res); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM sessions WHERE operator_id = ?`, id)
		return err
	})
}

// AuditEntry is one line of the audit trail. It never holds a CPF/CNPJ or a password.
type AuditEntry struct {
	ID     int64
	At     time.Time // set to now when zero
	Actor  string    // an operator's email, or "visitor"
	Action string
	Target string
	IP     string
	OK     bool
}

// AddAudit appends an entry to the audit trail (which the database refuses to change or delete).
func (s *Store) AddAudit(ctx context.Context, e AuditEntry) error {
	return s.tx(ctx, "add audit", func(tx *txn) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO audit (at, actor, action, target, ip, ok) VALUES (?, ?, ?, ?, ?, ?)`,
			us(s.stamp(e.At)), e.Actor, e.Action, e.Target, e.IP, boolInt(e.OK))
		return err
	})
}

// AuditPage is one page of the audit trail, newest first; Next is the id to pass as before for the next page
// (0 on the last page).
type AuditPage struct {
	Rows []AuditEntry
	Next int64
}

// Audit returns up to limit (<= 0 means 50; at most 500) entries older than the entry before (0 = the newest).
func (s *Store) Audit(ctx context.Context, before int64, limit int) (AuditPage, error) {
	limit = limitOr(limit, 50, 500)
	var q sqlText = `SELECT id, at, actor, action, target, ip, ok FROM audit`
	args := []any{}
	if before > 0 {
		q += ` WHERE id < ?`
		args = append(args, before)
	}
	q += ` ORDER BY id DESC LIMIT ?`
	args = append(args, limit+1)
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return AuditPage{}, fmt.Errorf("store: audit: %w", err)
	}
	defer rows.Close()
	var p AuditPage
	for rows.Next() {
		var e AuditEntry
		var at int64
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.Action, &e.Target, &e.IP, &e.OK); err != nil {
			return AuditPage{}, fmt.Errorf("store: audit: %w", err)
		}
		e.At = fromUS(at)
		p.Rows = append(p.Rows, e)
	}
	if err := rows.Err(); err != nil {
		return AuditPage{}, fmt.Errorf("store: audit: %w", err)
	}
	if len(p.Rows) > limit {
		p.Rows = p.Rows[:limit]
		p.Next = p.Rows[limit-1].ID
	}
	return p, nil
}

// LoginLockedUntil returns when the lock on key ends, or the zero time when key is not locked now.
func (s *Store) LoginLockedUntil(ctx context.Context, key string) (time.Time, error) {
	var until sql.NullInt64
	err := s.r.QueryRowContext(ctx, `SELECT locked_until FROM login_failures WHERE key = ?`, key).Scan(&until)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("store: login lock: %w", err)
	}
	if t := fromNullUS(until); t != nil && t.After(s.now()) {
		return *t, nil
	}
	return time.Time{}, nil
}

// RecordLoginFailure counts a failed sign-in for key. Failures are counted in windows of length window (a failure
// after the window starts a new count); the max-th failure within one window locks key for lockFor. It returns
// when the lock ends (zero when not locked).
func (s *Store) RecordLoginFailure(ctx context.Context, key string, window time.Duration, max int, lockFor time.Duration) (time.Time, error) {
	now := s.now()
	var until time.Time
	err := s.tx(ctx, "record login failure", func(tx *txn) error {
		until = time.Time{}
		// The row is made first (a new window, no failure yet) so that there is always a row to lock: on
		// PostgreSQL two failures at once then count one after the other instead of both starting from zero.
		if _, err := tx.ExecContext(ctx, `INSERT INTO login_failures (key, failures, first_at) VALUES (?, 0, ?)
			ON CONFLICT (key) DO NOTHING`, key, us(now)); err != nil {
			return err
		}
		var failures int
		var first int64
		var locked sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT failures, first_at, locked_until FROM login_failures WHERE key = ?
			{forUpdate}`, key).Scan(&failures, &first, &locked); err != nil {
			return err
		}
		if fromUS(first).Add(window).Before(now) && (!locked.Valid || fromUS(locked.Int64).Before(now)) {
			failures, first, locked = 0, us(now), sql.NullInt64{}
		}
		failures++
		if failures >= max {
			until = now.Add(lockFor)
			locked = sql.NullInt64{Int64: us(until), Valid: true}
		} else if l := fromNullUS(locked); l != nil && l.After(now) {
			until = *l
		}
		_, err := tx.ExecContext(ctx, `UPDATE login_failures SET failures = ?, first_at = ?, locked_until = ?
			WHERE key = ?`, failures, first, locked, key)
		return err
	})
	return until, err
}

// ClearLoginFailures forgets the failures of key (after a successful sign-in).
func (s *Store) ClearLoginFailures(ctx context.Context, key string) error {
	return s.tx(ctx, "clear login failures", func(tx *txn) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM login_failures WHERE key = ?`, key)
		return err
	})
}

// CreateSetupToken stores the hash of a first-run setup token valid until expires.
func (s *Store) CreateSetupToken(ctx context.Context, tokenHash string, expires time.Time) error {
	return s.tx(ctx, "create setup token", func(tx *txn) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO setup_tokens (token_hash, expires_at) VALUES (?, ?)`,
			tokenHash, us(expires))
		return err
	})
}

// SetupTokenValid reports whether the token with this hash exists, is unused and has not expired.
func (s *Store) SetupTokenValid(ctx context.Context, tokenHash string) (bool, error) {
	var one int
	err := s.r.QueryRowContext(ctx, `SELECT 1 FROM setup_tokens WHERE token_hash = ? AND used_at IS NULL
		AND expires_at > ?`, tokenHash, us(s.now())).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("store: setup token: %w", err)
	}
	return true, nil
}

// UseSetupToken spends the token and creates the first operator in one transaction: it fails with ErrNotFound
// when the token is unknown, used or expired, and with ErrConflict when an operator exists already (the setup
// page only ever makes the first one).
func (s *Store) UseSetupToken(ctx context.Context, tokenHash, email, passwordHash string) (Operator, error) {
	o := Operator{Email: NormalizeEmail(email), PasswordHash: passwordHash, CreatedAt: s.now()}
	err := s.tx(ctx, "use setup token", func(tx *txn) error {
		// The token's UPDATE is atomic on its own, but "no operator yet" is a read that must hold until the
		// insert: on PostgreSQL two different tokens spent at once would both count zero operators. The lock
		// (taken by AddOperator too) makes every operator insert wait for this transaction.
		if err := tx.lock(ctx, "operators", ""); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE setup_tokens SET used_at = ? WHERE token_hash = ? AND used_at IS NULL
			AND expires_at > ?`, us(o.CreatedAt), tokenHash, us(o.CreatedAt))
		if err != nil {
			return err
		}
		if err := mustAffect(res); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM operators`).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return ErrConflict
		}
		return tx.QueryRowContext(ctx, `INSERT INTO operators (email, password_hash, created_at) VALUES (?, ?, ?)
			RETURNING id`, o.Email, o.PasswordHash, us(o.CreatedAt)).Scan(&o.ID)
	})
	if err != nil {
		return Operator{}, err
	}
	return o, nil
}
