package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Link is one start-form submission: the Klavi link created for it and who it was for. The LinkToken is kept
// server-side only (it never goes into a page, URL or log).
type Link struct {
	ID             string // Klavi linkId
	SessionID      string
	PersonType     string // "personal" | "business"
	PersonalTaxID  string // normalised
	BusinessTaxID  string // normalised
	Email          string
	Phone          string
	LinkToken      string
	TokenExpiresAt time.Time
	CreatedAt      time.Time // set to now when zero
}

// CreateLink stores a new link. Returns ErrConflict when the ID already exists.
func (s *Store) CreateLink(ctx context.Context, l Link) error {
	if l.ID == "" {
		return fmt.Errorf("store: create link: empty id")
	}
	l.CreatedAt = s.stamp(l.CreatedAt)
	return s.tx(ctx, "create link", func(tx *txn) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO links (id, session_id, person_type, personal_tax_id,
			business_tax_id, email, phone, link_token, token_expires_at, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			l.ID, l.SessionID, l.PersonType, l.PersonalTaxID, l.BusinessTaxID, l.Email, l.Phone, l.LinkToken,
			us(l.TokenExpiresAt), us(l.CreatedAt))
		if err != nil {
			return err
		}
		return conflictUnlessInserted(res)
	})
}

const linkCols = `id, session_id, person_type, personal_tax_id, business_tax_id, email, phone, link_token,
	token_expires_at, created_at`

func scanLink(row interface{ Scan(...any) error }) (Link, error) {
	var l Link
	var exp, created int64
	err := row.Scan(&l.ID, &l.SessionID, &l.PersonType, &l.PersonalTaxID, &l.BusinessTaxID, &l.Email, &l.Phone,
		&l.LinkToken, &exp, &created)
	if err != nil {
		return Link{}, err
	}
	l.TokenExpiresAt, l.CreatedAt = fromUS(exp), fromUS(created)
	return l, nil
}

// Link returns the link by its Klavi linkId. Returns ErrNotFound if there is none.
func (s *Store) Link(ctx context.Context, id string) (Link, error) {
	l, err := scanLink(s.r.QueryRowContext(ctx, `SELECT `+linkCols+` FROM links WHERE id = ?`, id))
	if err != nil {
		return Link{}, fmt.Errorf("store: link: %w", notFound(err))
	}
	return l, nil
}

// LatestLinkForSession returns the session's most recent link. Returns ErrNotFound if it has none.
func (s *Store) LatestLinkForSession(ctx context.Context, sessionID string) (Link, error) {
	l, err := scanLink(s.r.QueryRowContext(ctx, `SELECT `+linkCols+` FROM links WHERE session_id = ?
		ORDER BY created_at DESC, rowid DESC LIMIT 1`, sessionID))
	if err != nil {
		return Link{}, fmt.Errorf("store: latest link for session: %w", notFound(err))
	}
	return l, nil
}

// notFound turns sql.ErrNoRows into ErrNotFound.
func notFound(err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	return err
}

// conflictUnlessInserted is for INSERT ... ON CONFLICT DO NOTHING: no row inserted means a unique key clash.
func conflictUnlessInserted(res sql.Result) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrConflict
	}
	return nil
}

// mustAffect returns ErrNotFound when an UPDATE by primary key touched nothing.
func mustAffect(res sql.Result) error {
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// encodeList stores a string list as JSON text; nil and empty are both "[]".
func encodeList(v []string) string {
	if len(v) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(v) // a []string always marshals
	return string(b)
}

// decodeList reads what encodeList wrote; an empty list comes back as nil.
func decodeList(s string) ([]string, error) {
	if s == "" || s == "[]" {
		return nil, nil
	}
	var v []string
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return nil, fmt.Errorf("decode list: %w", err)
	}
	return v, nil
}

// LatestConsentForLink returns the newest consent created on the link. Returns ErrNotFound if there is none.
func (s *Store) LatestConsentForLink(ctx context.Context, linkID string) (Consent, error) {
	c, err := scanConsent(s.r.QueryRowContext(ctx, `SELECT `+consentCols+` FROM consents WHERE link_id = ?
		ORDER BY created_at DESC, rowid DESC LIMIT 1`, linkID))
	if err != nil {
		return Consent{}, fmt.Errorf("store: latest consent for link: %w", notFound(err))
	}
	return c, nil
}
