package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/klavi-demo/portal/consent"
)

// InboxBacklog returns how many inbox items are not processed yet (claimed ones included: a claim is work in
// progress, not work done) and when the oldest of them was received; oldest is zero when none is pending. It is
// one indexed read (the inbox_pending partial index), cheap enough for every metrics scrape.
func (s *Store) InboxBacklog(ctx context.Context) (pending int, oldest time.Time, err error) {
	var first sql.NullInt64
	err = s.r.QueryRowContext(ctx, `SELECT COUNT(*), MIN(received_at) FROM inbox WHERE processed_at IS NULL`).
		Scan(&pending, &first)
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("store: inbox backlog: %w", err)
	}
	if first.Valid {
		oldest = fromUS(first.Int64)
	}
	return pending, oldest, nil
}

// ConsentCountsByStatus returns how many consents are in each status. Every status of consent.All is a key, with 0
// when no consent has it; a stored status outside consent.All (none is ever written) has its own key.
func (s *Store) ConsentCountsByStatus(ctx context.Context) (map[consent.Status]int, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT status, COUNT(*) FROM consents GROUP BY status`)
	if err != nil {
		return nil, fmt.Errorf("store: consent counts: %w", err)
	}
	defer rows.Close()
	out := make(map[consent.Status]int, len(consent.All))
	for _, st := range consent.All {
		out[st] = 0
	}
	for rows.Next() {
		var st consent.Status
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, fmt.Errorf("store: consent counts: %w", err)
		}
		out[st] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: consent counts: %w", err)
	}
	return out, nil
}
