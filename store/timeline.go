package store

import (
	"context"
	"database/sql"
	"errors"
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
	Repeats   int       // how many times it happened (1, or more for a coalesced entry; see AddTimelineCoalesced)
	LastAt    time.Time // when it last happened, for Repeats > 1
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

// AddTimelineCoalesced appends e, unless the consent's newest entry is the same thing (kind, title, detail and
// ok alike): then that entry's Repeats grows by one and LastAt becomes e.At. A poll that keeps seeing the same
// status is thus one line, not one per poll.
func (s *Store) AddTimelineCoalesced(ctx context.Context, e TimelineEntry) error {
	if e.ConsentID == "" {
		return fmt.Errorf("store: add timeline: empty consent id")
	}
	at := s.stamp(e.At)
	return s.tx(ctx, "add timeline", func(tx *sql.Tx) error {
		var id int64
		var kind, title, detail string
		var ok bool
		err := tx.QueryRowContext(ctx, `SELECT id, kind, title, detail, ok FROM timeline WHERE consent_id = ?
			ORDER BY at DESC, id DESC LIMIT 1`, e.ConsentID).Scan(&id, &kind, &title, &detail, &ok)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if err == nil && kind == e.Kind && title == e.Title && detail == e.Detail && ok == e.OK {
			_, err = tx.ExecContext(ctx, `UPDATE timeline SET repeats = repeats + 1, last_at = ? WHERE id = ?`, ms(at), id)
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO timeline (consent_id, kind, title, detail, ok, at)
			VALUES (?, ?, ?, ?, ?, ?)`, e.ConsentID, e.Kind, e.Title, e.Detail, boolInt(e.OK), ms(at))
		return err
	})
}

// Timeline returns the consent's entries, oldest first (insertion order for equal times); empty when none.
func (s *Store) Timeline(ctx context.Context, consentID string) ([]TimelineEntry, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, consent_id, kind, title, detail, ok, at, repeats, last_at FROM timeline
		WHERE consent_id = ? ORDER BY at, id`, consentID)
	if err != nil {
		return nil, fmt.Errorf("store: timeline: %w", err)
	}
	defer rows.Close()
	var out []TimelineEntry
	for rows.Next() {
		var e TimelineEntry
		var at int64
		var last sql.NullInt64
		if err := rows.Scan(&e.ID, &e.ConsentID, &e.Kind, &e.Title, &e.Detail, &e.OK, &at, &e.Repeats, &last); err != nil {
			return nil, fmt.Errorf("store: timeline: %w", err)
		}
		e.At = fromMS(at)
		if lt := fromNullMS(last); lt != nil {
			e.LastAt = *lt
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: timeline: %w", err)
	}
	return out, nil
}
