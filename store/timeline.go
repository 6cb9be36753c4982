package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// TimelineEntry is one thing that happened to a consent, shown on its page. Title and Detail must never
// contain personal data (CPF/CNPJ, tokens, bodies): the caller writes them for people to read.
type TimelineEntry struct {
	ID        int64
	ConsentID string
	Kind      string // api | redirect | callback | webhook | poll | status | reports | revoke
	Title     string
	Detail    string
	OK        bool
	At        time.Time // set to now when zero
}

// AddTimeline appends an entry. The consent need not exist yet (an API call may be logged before the consent
// row is written).
func (s *Store) AddTimeline(ctx context.Context, e TimelineEntry) error {
	if e.ConsentID == "" {
		return fmt.Errorf("store: add timeline: empty consent id")
	}
	at := s.stamp(e.At)
	return s.tx(ctx, "add timeline", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO timeline (consent_id, kind, title, detail, ok, at)
			VALUES (?, ?, ?, ?, ?, ?)`, e.ConsentID, e.Kind, e.Title, e.Detail, boolInt(e.OK), ms(at))
		return err
	})
}

// Timeline returns the consent's entries, oldest first (insertion order for equal times); empty when none.
func (s *Store) Timeline(ctx context.Context, consentID string) ([]TimelineEntry, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, consent_id, kind, title, detail, ok, at FROM timeline
		WHERE consent_id = ? ORDER BY at, id`, consentID)
	if err != nil {
		return nil, fmt.Errorf("store: timeline: %w", err)
	}
	defer rows.Close()
	var out []TimelineEntry
	for rows.Next() {
		var e TimelineEntry
		var at int64
		if err := rows.Scan(&e.ID, &e.ConsentID, &e.Kind, &e.Title, &e.Detail, &e.OK, &at); err != nil {
			return nil, fmt.Errorf("store: timeline: %w", err)
		}
		e.At = fromMS(at)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: timeline: %w", err)
	}
	return out, nil
}
