package store

import (
	"context"
	"fmt"
	"time"

	"github.com/klavi-demo/portal/consent"
)

// Replay is one replay of a stored delivery by an operator (the inbox page lists them under the delivery).
type Replay struct {
	ID         int64
	DeliveryID int64
	At         time.Time // set to now when zero
	Actor      string    // the operator's email
	Changed    bool      // the replay changed something (a status, a timeline line); false: it was already applied
	// Result is the worker's results for the delivery's events (encoded like inbox results, combined with "; ").
	Result       string
	ConsentID    string         // the first consent the delivery names; "" when none
	StatusBefore consent.Status // that consent's status before and after the replay; "" when unknown
	StatusAfter  consent.Status
}

// AddReplay stores a replay of an existing delivery and returns it with its ID and time. Returns ErrNotFound if
// there is no such delivery.
func (s *Store) AddReplay(ctx context.Context, r Replay) (Replay, error) {
	r.At = s.stamp(r.At)
	err := s.tx(ctx, "add replay", func(tx *txn) error {
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM webhook_deliveries WHERE id = ?`, r.DeliveryID).Scan(&one); err != nil {
			return notFound(err)
		}
		return tx.QueryRowContext(ctx, `INSERT INTO webhook_replays (delivery_id, at, actor, changed, result, consent_id,
			status_before, status_after) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
			r.DeliveryID, us(r.At), r.Actor, boolInt(r.Changed), r.Result, r.ConsentID, string(r.StatusBefore),
			string(r.StatusAfter)).Scan(&r.ID)
	})
	if err != nil {
		return Replay{}, err
	}
	return r, nil
}

// Replays returns the replays of a delivery, newest first (at most 100).
func (s *Store) Replays(ctx context.Context, deliveryID int64) ([]Replay, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, delivery_id, at, actor, changed, result, consent_id, status_before,
		status_after FROM webhook_replays WHERE delivery_id = ? ORDER BY id DESC LIMIT 100`, deliveryID)
	if err != nil {
		return nil, fmt.Errorf("store: replays: %w", err)
	}
	defer rows.Close()
	var out []Replay
	for rows.Next() {
		var r Replay
		var at int64
		var before, after string
		if err := rows.Scan(&r.ID, &r.DeliveryID, &at, &r.Actor, &r.Changed, &r.Result, &r.ConsentID, &before,
			&after); err != nil {
			return nil, fmt.Errorf("store: replays: %w", err)
		}
		r.At, r.StatusBefore, r.StatusAfter = fromUS(at), consent.Status(before), consent.Status(after)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: replays: %w", err)
	}
	return out, nil
}
