package store

import (
	"context"
	"fmt"
	"time"

	"github.com/klavi-demo/portal/consent"
)

// InboxPending is InboxBacklog as two values, the shape the metrics collector reads (it imports no store type).
func (s *Store) InboxPending(ctx context.Context) (pending int, oldest time.Time, err error) {
	b, err := s.InboxBacklog(ctx)
	return b.Pending, b.Oldest, err
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
