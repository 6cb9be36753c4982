package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/klavi-demo/portal/consent"
)

// TimelineEntry is one thing that happened to a consent, shown on its page. Title and Detail are message keys with
// arguments (rendered in the reader's language by views); their arguments must never contain personal data
// (CPF/CNPJ, tokens, bodies).
type TimelineEntry struct {
	ID        int64
	ConsentID string
	Kind      string // api | redirect | callback | webhook | poll | status | reports | revoke
	Title     consent.Msg
	Detail    consent.Msg // zero when the entry has no detail
	OK        bool
	At        time.Time // set to now when zero
	Repeats   int       // how many times it happened (1, or more for a coalesced entry; see AddTimelineCoalesced)
	LastAt    time.Time // when it last happened, for Repeats > 1
}

const insertTimeline = `INSERT INTO timeline (consent_id, kind, title_key, title_args, detail_key, detail_args, ok, at)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?)`

// insertTimelineTx writes e inside tx at the given time (microseconds).
func insertTimelineTx(ctx context.Context, tx *txn, e TimelineEntry, at int64) error {
	_, err := tx.ExecContext(ctx, insertTimeline, e.ConsentID, e.Kind, e.Title.Key, encodeList(e.Title.Args),
		e.Detail.Key, encodeList(e.Detail.Args), boolInt(e.OK), at)
	return err
}

// AddTimeline appends an entry. The consent need not exist yet (an API call may be logged before the consent
// row is written).
func (s *Store) AddTimeline(ctx context.Context, e TimelineEntry) error {
	if e.ConsentID == "" {
		return fmt.Errorf("store: add timeline: empty consent id")
	}
	at := s.stamp(e.At)
	return s.tx(ctx, "add timeline", func(tx *txn) error { return insertTimelineTx(ctx, tx, e, us(at)) })
}

// AddTimelineCoalesced appends e, unless the consent's newest entry is the same thing (kind, title, detail and
// ok alike): then that entry's Repeats grows by one and LastAt becomes e.At. A poll that keeps seeing the same
// status is thus one line, not one per poll.
func (s *Store) AddTimelineCoalesced(ctx context.Context, e TimelineEntry) error {
	if e.ConsentID == "" {
		return fmt.Errorf("store: add timeline: empty consent id")
	}
	at := s.stamp(e.At)
	return s.tx(ctx, "add timeline", func(tx *txn) error {
		// The consent's newest entry decides between an update and an insert, and it may not exist yet: on
		// PostgreSQL a lock on the consent id keeps two calls from both inserting (or both missing the other).
		if err := tx.lock(ctx, "timeline", e.ConsentID); err != nil {
			return err
		}
		var id int64
		var last TimelineEntry
		var titleArgs, detailArgs string
		err := tx.QueryRowContext(ctx, `SELECT id, kind, title_key, title_args, detail_key, detail_args, ok
			FROM timeline WHERE consent_id = ? ORDER BY at DESC, id DESC LIMIT 1`, e.ConsentID).Scan(&id, &last.Kind,
			&last.Title.Key, &titleArgs, &last.Detail.Key, &detailArgs, &last.OK)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if err == nil {
			if last.Title.Args, err = decodeList(titleArgs); err != nil {
				return err
			}
			if last.Detail.Args, err = decodeList(detailArgs); err != nil {
				return err
			}
			if last.Kind == e.Kind && last.Title.Equal(e.Title) && last.Detail.Equal(e.Detail) && last.OK == e.OK {
				_, err = tx.ExecContext(ctx, `UPDATE timeline SET repeats = repeats + 1, last_at = ? WHERE id = ?`, us(at), id)
				return err
			}
		}
		return insertTimelineTx(ctx, tx, e, us(at))
	})
}

// Timeline returns the consent's entries, oldest first (insertion order for equal times); empty when none.
func (s *Store) Timeline(ctx context.Context, consentID string) ([]TimelineEntry, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, consent_id, kind, title_key, title_args, detail_key, detail_args,
		ok, at, repeats, last_at FROM timeline WHERE consent_id = ? ORDER BY at, id`, consentID)
	if err != nil {
		return nil, fmt.Errorf("store: timeline: %w", err)
	}
	defer rows.Close()
	var out []TimelineEntry
	for rows.Next() {
		var e TimelineEntry
		var at int64
		var last sql.NullInt64
		var titleArgs, detailArgs string
		if err := rows.Scan(&e.ID, &e.ConsentID, &e.Kind, &e.Title.Key, &titleArgs, &e.Detail.Key, &detailArgs,
			&e.OK, &at, &e.Repeats, &last); err != nil {
			return nil, fmt.Errorf("store: timeline: %w", err)
		}
		if e.Title.Args, err = decodeList(titleArgs); err != nil {
			return nil, fmt.Errorf("store: timeline: %w", err)
		}
		if e.Detail.Args, err = decodeList(detailArgs); err != nil {
			return nil, fmt.Errorf("store: timeline: %w", err)
		}
		e.At = fromUS(at)
		if lt := fromNullUS(last); lt != nil {
			e.LastAt = *lt
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: timeline: %w", err)
	}
	return out, nil
}
