package store

import (
	"context"
	"strings"
)

// SettleDeliveryResult sets the result shown for a delivery from its inbox items, in one transaction: the
// distinct results of the processed items, in arrival order, joined by "; " (a delivery may carry several
// events, and an item given up after MaxInboxAttempts shows as "dead: …"). While no item is processed the
// result is left as it is ("accepted"). Returns ErrNotFound if there is no such delivery.
func (s *Store) SettleDeliveryResult(ctx context.Context, deliveryID int64) error {
	return s.tx(ctx, "settle delivery result", func(tx *txn) error {
		// Lock the delivery first: on PostgreSQL two workers settling items of one delivery at once then run one
		// after the other, and the second reads every item the first saw finished, so the last result written
		// is complete.
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM webhook_deliveries WHERE id = ? {forUpdate}`,
			deliveryID).Scan(&one); err != nil {
			return notFound(err)
		}
		rows, err := tx.QueryContext(ctx, `SELECT result FROM inbox
			WHERE delivery_id = ? AND processed_at IS NOT NULL ORDER BY id`, deliveryID)
		if err != nil {
			return err
		}
		var parts []string
		seen := map[string]bool{}
		for rows.Next() {
			var r string
			if err := rows.Scan(&r); err != nil {
				rows.Close()
				return err
			}
			if r != "" && !seen[r] {
				seen[r] = true
				parts = append(parts, r)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(parts) == 0 {
			return nil
		}
		res, err := tx.ExecContext(ctx, `UPDATE webhook_deliveries SET result = ? WHERE id = ?`,
			strings.Join(parts, "; "), deliveryID)
		if err != nil {
			return err
		}
		return mustAffect(res)
	})
}
