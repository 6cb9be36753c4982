package store

import (
	"context"
	"fmt"
	"time"
)

// KlaviCall is one HTTP attempt to Klavi made for a link or a consent, as the call log keeps it: no body, no token,
// no concrete path (Endpoint is the path template), so nothing in it identifies a person.
type KlaviCall struct {
	ID        int64
	ConsentID string // "" when the call was made for the link only
	LinkID    string // "" when unknown
	At        time.Time
	Method    string
	Endpoint  string
	Status    int // 0 when no answer came
	Attempt   int
	Duration  time.Duration // kept in milliseconds
	RequestID string
}

// MaxKlaviCallsPerSubject is how many calls the log keeps per consent (and per link, for the calls made for a link
// before any consent): the newest. A consent that stays AUTHORISED is polled every five minutes for as long as it
// lives, so without a cap its log would grow for ever.
const MaxKlaviCallsPerSubject = 200

// AddKlaviCalls appends calls to the log in ONE transaction and trims each consent's (or link's) log to its newest
// MaxKlaviCallsPerSubject rows. Calls with neither a consent nor a link are skipped. Texts are cut to sane lengths.
func (s *Store) AddKlaviCalls(ctx context.Context, calls []KlaviCall) error {
	type subject struct{ consent, link string }
	touched := map[subject]bool{}
	err := s.tx(ctx, "add klavi calls", func(tx *txn) error {
		clear(touched)
		for _, c := range calls {
			if c.ConsentID == "" && c.LinkID == "" {
				continue
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO klavi_calls (consent_id, link_id, at, method, endpoint,
				status, attempt, duration_ms, request_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				cut(c.ConsentID, 128), cut(c.LinkID, 128), us(s.stamp(c.At)), cut(c.Method, 16), cut(c.Endpoint, 200),
				c.Status, c.Attempt, c.Duration.Milliseconds(), cut(c.RequestID, 64)); err != nil {
				return err
			}
			touched[subject{cut(c.ConsentID, 128), cut(c.LinkID, 128)}] = true
		}
		for sub := range touched {
			// The row MaxKlaviCallsPerSubject places below the newest, if any, and everything older goes.
			var err error
			if sub.consent != "" {
				_, err = tx.ExecContext(ctx, `DELETE FROM klavi_calls WHERE consent_id = ?1 AND id <= (SELECT id
					FROM klavi_calls WHERE consent_id = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)`,
					sub.consent, MaxKlaviCallsPerSubject)
			} else {
				_, err = tx.ExecContext(ctx, `DELETE FROM klavi_calls WHERE consent_id = '' AND link_id = ?1 AND id <=
					(SELECT id FROM klavi_calls WHERE consent_id = '' AND link_id = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)`,
					sub.link, MaxKlaviCallsPerSubject)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: add klavi calls: %w", err)
	}
	return nil
}

// KlaviCallsFor returns the calls made for the consent or for the link (either may be ""), oldest first, at most
// limit (<= 0 means 500; at most 2000) of the newest.
func (s *Store) KlaviCallsFor(ctx context.Context, consentID, linkID string, limit int) ([]KlaviCall, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, consent_id, link_id, at, method, endpoint, status, attempt,
		duration_ms, request_id FROM klavi_calls
		WHERE (?1 <> '' AND consent_id = ?1) OR (?2 <> '' AND link_id = ?2)
		ORDER BY id DESC LIMIT ?3`, consentID, linkID, limitOr(limit, 500, 2000))
	if err != nil {
		return nil, fmt.Errorf("store: klavi calls: %w", err)
	}
	defer rows.Close()
	var out []KlaviCall
	for rows.Next() {
		var c KlaviCall
		var at, ms int64
		if err := rows.Scan(&c.ID, &c.ConsentID, &c.LinkID, &at, &c.Method, &c.Endpoint, &c.Status, &c.Attempt, &ms,
			&c.RequestID); err != nil {
			return nil, fmt.Errorf("store: klavi calls: %w", err)
		}
		c.At, c.Duration = fromUS(at), time.Duration(ms)*time.Millisecond
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: klavi calls: %w", err)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}

// cut shortens s to at most n bytes (the values are ASCII ids and templates; a sequence cut in half would become
// U+FFFD through storableText).
func cut(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
