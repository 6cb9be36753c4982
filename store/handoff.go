package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Handoff is a "continue on the phone" token (docs/reliability.md#hand-off): made on the desktop's institution step,
// spent once by a phone, which then gets its own session bound to LinkID. Only the token's SHA-256 is stored. Once
// spent, the row pairs the two browsers on that link: DeviceRef (the desktop) may see the consents that
// PhoneDeviceRef starts on LinkID.
type Handoff struct {
	ID             int64
	TokenHash      string // hex SHA-256 of the token
	LinkID         string
	SessionID      string // the desktop's flow id
	DeviceRef      string // the desktop's device ref
	Lang           string // the desktop's language
	CreatedAt      time.Time
	ExpiresAt      time.Time
	UsedAt         *time.Time // nil while unused
	PhoneDeviceRef string     // "" while unused
}

// HandoffPairingLife is how long a spent hand-off keeps pairing the two browsers (the device cookie's lifetime);
// SweepAccess deletes older ones.
const HandoffPairingLife = 30 * 24 * time.Hour

// CreateHandoff stores a new hand-off and returns its id. The same desktop session's unused hand-offs are deleted
// in the same transaction: only the newest code shown works. The portal derives a code's token from the row's id
// (docs/reliability.md#hand-off), so the token's hash is not given but asked of tokenHash once the row has its id,
// and written in the same transaction (h.TokenHash is not read). LinkID, SessionID and ExpiresAt are required;
// CreatedAt defaults to now.
func (s *Store) CreateHandoff(ctx context.Context, h Handoff, tokenHash func(id int64) string) (int64, error) {
	if tokenHash == nil || h.LinkID == "" || h.SessionID == "" || h.ExpiresAt.IsZero() {
		return 0, errors.New("store: create handoff: token hash, link, session and expiry are required")
	}
	h.CreatedAt = s.stamp(h.CreatedAt)
	var id int64
	err := s.tx(ctx, "create handoff", func(tx *txn) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM handoffs WHERE session_id = ? AND used_at IS NULL`,
			h.SessionID); err != nil {
			return err
		}
		// A placeholder holds token_hash's place (unique, never a SHA-256 in hex) until the id is known.
		if err := tx.QueryRowContext(ctx, `INSERT INTO handoffs (token_hash, link_id, session_id, device_ref, lang,
			created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			"pending:"+rand.Text(), h.LinkID, h.SessionID, h.DeviceRef, h.Lang, us(h.CreatedAt), us(h.ExpiresAt)).Scan(&id); err != nil {
			return err
		}
		hash := tokenHash(id)
		if hash == "" {
			return errors.New("empty token hash")
		}
		_, err := tx.ExecContext(ctx, `UPDATE handoffs SET token_hash = ? WHERE id = ?`, hash, id)
		return err
	})
	if err != nil {
		return 0, err
	}
	return id, nil
}

// SetHandoffLang records the desktop's language on hand-off id while it is unused: the desktop switched language
// while showing the code, and the phone's pages follow the desktop's (docs/reliability.md#hand-off). A spent or
// unknown hand-off is left alone, without an error.
func (s *Store) SetHandoffLang(ctx context.Context, id int64, lang string) error {
	return s.tx(ctx, "set handoff lang", func(tx *txn) error {
		_, err := tx.ExecContext(ctx, `UPDATE handoffs SET lang = ? WHERE id = ? AND used_at IS NULL`, lang, id)
		return err
	})
}

const handoffCols = `id, token_hash, link_id, session_id, device_ref, lang, created_at, expires_at, used_at,
	phone_device_ref`

func scanHandoff(row interface{ Scan(...any) error }) (Handoff, error) {
	var h Handoff
	var created, expires int64
	var used sql.NullInt64
	if err := row.Scan(&h.ID, &h.TokenHash, &h.LinkID, &h.SessionID, &h.DeviceRef, &h.Lang, &created, &expires,
		&used, &h.PhoneDeviceRef); err != nil {
		return Handoff{}, notFound(err)
	}
	h.CreatedAt, h.ExpiresAt, h.UsedAt = fromUS(created), fromUS(expires), fromNullUS(used)
	return h, nil
}

// Handoff returns the hand-off by id. Returns ErrNotFound.
func (s *Store) Handoff(ctx context.Context, id int64) (Handoff, error) {
	h, err := scanHandoff(s.r.QueryRowContext(ctx, `SELECT `+handoffCols+` FROM handoffs WHERE id = ?`, id))
	if err != nil {
		return Handoff{}, fmt.Errorf("store: handoff: %w", err)
	}
	return h, nil
}

// HandoffByToken returns the hand-off whose token has this hash, used or not, expired or not. Returns ErrNotFound.
func (s *Store) HandoffByToken(ctx context.Context, tokenHash string) (Handoff, error) {
	h, err := scanHandoff(s.r.QueryRowContext(ctx, `SELECT `+handoffCols+` FROM handoffs WHERE token_hash = ?`,
		tokenHash))
	if err != nil {
		return Handoff{}, fmt.Errorf("store: handoff by token: %w", err)
	}
	return h, nil
}

// UseHandoff spends the hand-off whose token has this hash, recording the phone's device ref, and returns it. One
// conditional statement: of any number of concurrent callers exactly one succeeds. Returns ErrNotFound when the token
// is unknown, already used, or expired at now.
func (s *Store) UseHandoff(ctx context.Context, tokenHash, phoneDeviceRef string, now time.Time) (Handoff, error) {
	if phoneDeviceRef == "" {
		return Handoff{}, errors.New("store: use handoff: empty device ref")
	}
	var h Handoff
	err := s.tx(ctx, "use handoff", func(tx *txn) error {
		var err error
		h, err = scanHandoff(tx.QueryRowContext(ctx, `UPDATE handoffs SET used_at = ?, phone_device_ref = ?
			WHERE token_hash = ? AND used_at IS NULL AND expires_at > ? RETURNING `+handoffCols,
			us(now), phoneDeviceRef, tokenHash, us(now)))
		return err
	})
	if err != nil {
		return Handoff{}, err
	}
	return h, nil
}

// HandoffPaired reports whether a spent hand-off on linkID pairs the desktop device deviceRef with the phone device
// phoneDeviceRef, i.e. whether deviceRef may see what phoneDeviceRef started on that link.
func (s *Store) HandoffPaired(ctx context.Context, linkID, deviceRef, phoneDeviceRef string) (bool, error) {
	if linkID == "" || deviceRef == "" || phoneDeviceRef == "" {
		return false, nil
	}
	var one int
	err := s.r.QueryRowContext(ctx, `SELECT 1 FROM handoffs WHERE device_ref = ? AND link_id = ?
		AND used_at IS NOT NULL AND phone_device_ref = ? LIMIT 1`, deviceRef, linkID, phoneDeviceRef).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("store: handoff paired: %w", err)
	}
	return true, nil
}

// ConsentsForLink returns the link's consents, newest first (empty, not an error, when none).
func (s *Store) ConsentsForLink(ctx context.Context, linkID string) ([]Consent, error) {
	out, err := s.queryConsents(ctx, `SELECT `+consentCols+` FROM consents WHERE link_id = ?
		ORDER BY created_at DESC, rowid DESC`, linkID)
	if err != nil {
		return nil, fmt.Errorf("store: consents for link: %w", err)
	}
	return out, nil
}

// sweepHandoffs deletes the hand-offs that can no longer be spent and no longer pair anything: unused ones past
// their expiry, spent ones older than HandoffPairingLife. Part of SweepAccess.
func sweepHandoffs(ctx context.Context, tx *txn, now time.Time) error {
	_, err := tx.ExecContext(ctx, `DELETE FROM handoffs WHERE (used_at IS NULL AND expires_at <= ?)
		OR (used_at IS NOT NULL AND used_at <= ?)`, us(now), us(now.Add(-HandoffPairingLife)))
	return err
}
