package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Delivery is one webhook POST as received, accepted or not (the audit trail behind /webhooks).
type Delivery struct {
	ID             int64
	Kind           string    // "event" | "report"
	ReceivedAt     time.Time // set to now when zero
	SignatureValid bool
	Keys           []string // eventIds, or the productReportId
	EventNames     []string
	Duplicate      bool   // computed by the store: every key was already known
	BodySHA256     string // hex
	Body           []byte // raw; always nil for rejected deliveries
	Result         string
	Size           int // body size in bytes; len(Body) when zero
	// ConsentID is the consent the body names (set by the receiver, "" when none); ConsentKnown is computed by the
	// store when reading: a consent with that id is stored.
	ConsentID    string
	ConsentKnown bool
}

// InboxItem is one accepted event (or report), unique per (Kind, Key), waiting to be processed after the ack.
type InboxItem struct {
	ID          int64
	DeliveryID  int64 // set by the store
	Kind        string
	Key         string // eventId (or productReportId); must not be empty
	EventName   string
	Body        []byte    // this element's raw JSON
	ReceivedAt  time.Time // the delivery's when zero
	ProcessedAt *time.Time
	Result      string
	Attempts    int
}

// MaxInboxAttempts is how many RetryInbox calls an item gets before it is given up ("dead": marked
// processed with its last result, so the worker stops picking it).
const MaxInboxAttempts = 10

// listBodyLimit: Deliveries includes a body only up to this size, so the list page never loads megabytes of
// reports; Delivery(id) always returns the whole body.
const listBodyLimit = 64 << 10

// RecordEventDelivery stores the delivery row and one inbox row per element in ONE transaction, so the 2xx the
// caller sends afterwards means both are durable. Elements whose (Kind, Key) already exists are skipped
// (INSERT ... ON CONFLICT DO NOTHING); newItems counts the inserted ones. The delivery is marked Duplicate when
// it carried elements and none was new. An item with an empty Kind takes the delivery's Kind (default "event").
// On any error nothing at all is written.
func (s *Store) RecordEventDelivery(ctx context.Context, d Delivery, items []InboxItem) (newItems int, err error) {
	if d.Kind == "" {
		d.Kind = "event"
	}
	d.ReceivedAt = s.stamp(d.ReceivedAt)
	err = s.tx(ctx, "record event delivery", func(tx *txn) error {
		newItems = 0 // a retried closure must not count twice
		// On PostgreSQL an insert that meets another transaction's uncommitted row with the same key waits for
		// it; two deliveries carrying the same events in different orders would each wait for the other. Locking
		// every key first, in one fixed order, turns that into plain waiting (SQLite: no-op).
		keys := make([]string, 0, len(items))
		for _, it := range items {
			kind := it.Kind
			if kind == "" {
				kind = d.Kind
			}
			keys = append(keys, kind+"\x00"+it.Key)
		}
		if err := tx.lockAll(ctx, "inbox", keys); err != nil {
			return err
		}
		id, err := insertDelivery(ctx, tx, d)
		if err != nil {
			return err
		}
		for _, it := range items {
			if it.Key == "" {
				return errors.New("inbox item without key")
			}
			kind := it.Kind
			if kind == "" {
				kind = d.Kind
			}
			at := it.ReceivedAt
			if at.IsZero() {
				at = d.ReceivedAt
			}
			res, err := tx.ExecContext(ctx, `INSERT INTO inbox (delivery_id, kind, key, event_name, body, received_at,
				result, attempts) VALUES (?, ?, ?, ?, ?, ?, '', 0) ON CONFLICT (kind, key) DO NOTHING`,
				id, kind, it.Key, it.EventName, it.Body, us(at))
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			newItems += int(n)
		}
		if len(items) > 0 && newItems == 0 {
			_, err = tx.ExecContext(ctx, `UPDATE webhook_deliveries SET duplicate = 1 WHERE id = ?`, id)
		}
		return err
	})
	if err != nil {
		return 0, err
	}
	return newItems, nil
}

// RecordRejectedDelivery stores a delivery that was refused (bad signature, malformed body) for the audit
// trail only. The body is never kept: it is unauthenticated and may carry personal data.
func (s *Store) RecordRejectedDelivery(ctx context.Context, d Delivery) error {
	if d.Kind == "" {
		d.Kind = "event"
	}
	if d.Size == 0 {
		d.Size = len(d.Body)
	}
	d.Body = nil
	d.ReceivedAt = s.stamp(d.ReceivedAt)
	return s.tx(ctx, "record rejected delivery", func(tx *txn) error {
		_, err := insertDelivery(ctx, tx, d)
		return err
	})
}

// insertDelivery writes a delivery row (Duplicate false; the caller updates it) and returns its id.
func insertDelivery(ctx context.Context, tx *txn, d Delivery) (int64, error) {
	if d.Size == 0 {
		d.Size = len(d.Body)
	}
	var id int64
	err := tx.QueryRowContext(ctx, `INSERT INTO webhook_deliveries (kind, received_at, signature_valid, keys,
		event_names, duplicate, body_sha256, body, result, size, consent_id) VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?)
		RETURNING id`,
		d.Kind, us(d.ReceivedAt), boolInt(d.SignatureValid), encodeList(d.Keys), encodeList(d.EventNames),
		d.BodySHA256, d.Body, d.Result, d.Size, d.ConsentID).Scan(&id)
	return id, err
}

const inboxCols = `id, delivery_id, kind, key, event_name, body, received_at, processed_at, result, attempts`

// PendingInbox returns up to limit (<= 0 means 100) unprocessed items, oldest first.
func (s *Store) PendingInbox(ctx context.Context, limit int) ([]InboxItem, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+inboxCols+` FROM inbox WHERE processed_at IS NULL
		ORDER BY id LIMIT ?`, limitOr(limit, 100, 1000))
	if err != nil {
		return nil, fmt.Errorf("store: pending inbox: %w", err)
	}
	defer rows.Close()
	var out []InboxItem
	for rows.Next() {
		it, err := scanInboxItem(rows)
		if err != nil {
			return nil, fmt.Errorf("store: pending inbox: %w", err)
		}
		out = append(out, it)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: pending inbox: %w", err)
	}
	return out, nil
}

// scanInboxItem reads one row of inboxCols.
func scanInboxItem(row interface{ Scan(...any) error }) (InboxItem, error) {
	var it InboxItem
	var at int64
	var processed sql.NullInt64
	if err := row.Scan(&it.ID, &it.DeliveryID, &it.Kind, &it.Key, &it.EventName, &it.Body, &at, &processed,
		&it.Result, &it.Attempts); err != nil {
		return InboxItem{}, err
	}
	it.ReceivedAt, it.ProcessedAt = fromUS(at), fromNullUS(processed)
	return it, nil
}

// ClaimInbox takes up to limit (<= 0 means 50; at most 1000) pending items for owner until now+lease, oldest
// first, and returns them. An item is pending while it is not processed and not claimed, or its claim has run
// out: a replica that dies holding items gives them up when its lease ends. Concurrent claimers (replicas on
// PostgreSQL) each get different items and never wait for each other.
func (s *Store) ClaimInbox(ctx context.Context, owner string, lease time.Duration, limit int) ([]InboxItem, error) {
	now := s.now()
	var out []InboxItem
	err := s.tx(ctx, "claim inbox", func(tx *txn) error {
		out = out[:0]
		rows, err := tx.QueryContext(ctx, `UPDATE inbox SET claimed_by = ?, claimed_until = ?
			WHERE id IN (SELECT id FROM inbox WHERE processed_at IS NULL AND (claimed_until IS NULL OR claimed_until <= ?)
				ORDER BY id LIMIT ? {skipLocked})
			RETURNING `+inboxCols, owner, us(now.Add(lease)), us(now), limitOr(limit, 50, 1000))
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			it, err := scanInboxItem(rows)
			if err != nil {
				return err
			}
			out = append(out, it)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b InboxItem) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// FinishInbox marks an item processed with its result. Finishing an item again changes nothing (the first
// result stays). Returns ErrNotFound if there is no such item.
func (s *Store) FinishInbox(ctx context.Context, id int64, result string) error {
	return s.tx(ctx, "finish inbox", func(tx *txn) error {
		res, err := tx.ExecContext(ctx, `UPDATE inbox SET processed_at = ?, result = ?, claimed_until = NULL
			WHERE id = ? AND processed_at IS NULL`, us(s.now()), result, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return err
		}
		return inboxExists(ctx, tx, id)
	})
}

// RetryInbox records a failed processing attempt: Attempts+1 and the result, and the item stays pending. At
// MaxInboxAttempts it is given up: marked processed with result "dead: <result>". An already processed item
// is left alone. Returns ErrNotFound if there is no such item.
func (s *Store) RetryInbox(ctx context.Context, id int64, result string) error {
	return s.tx(ctx, "retry inbox", func(tx *txn) error {
		res, err := tx.ExecContext(ctx, `UPDATE inbox SET attempts = attempts + 1,
			result = CASE WHEN attempts + 1 >= ?1 THEN 'dead: ' || CAST(?2 AS TEXT) ELSE CAST(?2 AS TEXT) END,
			processed_at = CASE WHEN attempts + 1 >= ?1 THEN CAST(?3 AS BIGINT) END, claimed_until = NULL
			WHERE id = ?4 AND processed_at IS NULL`, MaxInboxAttempts, result, us(s.now()), id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return err
		}
		return inboxExists(ctx, tx, id)
	})
}

func inboxExists(ctx context.Context, tx *txn, id int64) error {
	var one int
	return notFound(tx.QueryRowContext(ctx, `SELECT 1 FROM inbox WHERE id = ?`, id).Scan(&one))
}

// deliveryCols are the columns scanDelivery reads from deliveryFrom (%s: the body expression, over d.body).
const deliveryCols = `d.id, d.kind, d.received_at, d.signature_valid, d.keys, d.event_names, d.duplicate,
	d.body_sha256, %s, d.result, d.size, d.consent_id, c.id IS NOT NULL`

// deliveryFrom is the deliveries with the consent each names, when it is stored.
const deliveryFrom = ` FROM webhook_deliveries d LEFT JOIN consents c ON d.consent_id <> '' AND c.id = d.consent_id`

func scanDelivery(row interface{ Scan(...any) error }) (Delivery, error) {
	var d Delivery
	var at int64
	var keys, names string
	if err := row.Scan(&d.ID, &d.Kind, &at, &d.SignatureValid, &keys, &names, &d.Duplicate, &d.BodySHA256, &d.Body,
		&d.Result, &d.Size, &d.ConsentID, &d.ConsentKnown); err != nil {
		return Delivery{}, err
	}
	d.ReceivedAt = fromUS(at)
	var err error
	if d.Keys, err = decodeList(keys); err != nil {
		return Delivery{}, err
	}
	if d.EventNames, err = decodeList(names); err != nil {
		return Delivery{}, err
	}
	return d, nil
}

// Deliveries returns up to limit (<= 0 means 100) deliveries, newest first. Body is included only when it is
// at most 64 KiB (events are; large reports are not); use Delivery for the whole body.
func (s *Store) Deliveries(ctx context.Context, limit int) ([]Delivery, error) {
	cols := fmt.Sprintf(deliveryCols, fmt.Sprintf("CASE WHEN length(d.body) <= %d THEN d.body END", listBodyLimit))
	q := sqlText(`SELECT ` + cols + deliveryFrom + ` ORDER BY d.received_at DESC, d.id DESC LIMIT ?`) // cols: constants
	rows, err := s.r.QueryContext(ctx, q, limitOr(limit, 100, 1000))
	if err != nil {
		return nil, fmt.Errorf("store: deliveries: %w", err)
	}
	defer rows.Close()
	var out []Delivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, fmt.Errorf("store: deliveries: %w", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: deliveries: %w", err)
	}
	return out, nil
}

// DeliveryFilter selects deliveries for ListDeliveries. Zero fields match everything.
type DeliveryFilter struct {
	Kind           string // "event" | "report"; "" = both
	SignatureValid *bool  // nil = both
	BeforeID       int64  // > 0: only deliveries older than this one (the cursor of the previous page's Next)
	Limit          int    // page size; <= 0 means 50, at most 1000
}

// DeliveryPage is one page of ListDeliveries.
type DeliveryPage struct {
	Rows []Delivery // Body is always nil: use Delivery(id) for it
	Next int64      // BeforeID for the next (older) page; 0 when this is the last page
}

// ListDeliveries returns one page of the deliveries matching f, newest (highest id: ids are assigned in arrival
// order) first, for the inbox page: keyset pagination on the id, so a page costs the same however deep it is.
// Bodies are never read, not even small ones.
func (s *Store) ListDeliveries(ctx context.Context, f DeliveryFilter) (DeliveryPage, error) {
	var where []string
	var args []any
	if f.Kind != "" {
		where = append(where, "d.kind = ?")
		args = append(args, f.Kind)
	}
	if f.SignatureValid != nil {
		where = append(where, "d.signature_valid = ?")
		args = append(args, boolInt(*f.SignatureValid))
	}
	if f.BeforeID > 0 {
		where = append(where, "d.id < ?")
		args = append(args, f.BeforeID)
	}
	q := sqlText(`SELECT ` + fmt.Sprintf(deliveryCols, "NULL") + deliveryFrom)
	if len(where) > 0 {
		q += sqlText(" WHERE " + strings.Join(where, " AND ")) // constant fragments; values are bound with ?
	}
	limit := limitOr(f.Limit, 50, 1000)
	q += " ORDER BY d.id DESC LIMIT ?"
	args = append(args, limit+1) // one more tells whether there is a next page
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return DeliveryPage{}, fmt.Errorf("store: list deliveries: %w", err)
	}
	defer rows.Close()
	var page DeliveryPage
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return DeliveryPage{}, fmt.Errorf("store: list deliveries: %w", err)
		}
		page.Rows = append(page.Rows, d)
	}
	if err := rows.Err(); err != nil {
		return DeliveryPage{}, fmt.Errorf("store: list deliveries: %w", err)
	}
	if len(page.Rows) > limit {
		page.Rows = page.Rows[:limit]
		page.Next = page.Rows[limit-1].ID
	}
	return page, nil
}

// Delivery returns one delivery with its whole body. Returns ErrNotFound if there is none.
func (s *Store) Delivery(ctx context.Context, id int64) (Delivery, error) {
	d, err := scanDelivery(s.r.QueryRowContext(ctx, sqlText(`SELECT `+fmt.Sprintf(deliveryCols, "d.body")+
		deliveryFrom+` WHERE d.id = ?`), id))
	if err != nil {
		return Delivery{}, fmt.Errorf("store: delivery: %w", notFound(err))
	}
	return d, nil
}

// DeliveryByBodySHA256 returns the newest delivery (with its body) whose body has this SHA-256 (lowercase hex), the
// one the receiver wrote for a POST whose bytes the caller knows. Returns ErrNotFound if there is none.
func (s *Store) DeliveryByBodySHA256(ctx context.Context, sum string) (Delivery, error) {
	d, err := scanDelivery(s.r.QueryRowContext(ctx, sqlText(`SELECT `+fmt.Sprintf(deliveryCols, "d.body")+
		deliveryFrom+` WHERE d.body_sha256 = ? ORDER BY d.id DESC LIMIT 1`), sum))
	if err != nil {
		return Delivery{}, fmt.Errorf("store: delivery by body hash: %w", notFound(err))
	}
	return d, nil
}

// InboxItem returns the inbox item of (kind, key), whichever delivery brought it first. Returns ErrNotFound if there
// is none.
func (s *Store) InboxItem(ctx context.Context, kind, key string) (InboxItem, error) {
	it, err := scanInboxItem(s.r.QueryRowContext(ctx, `SELECT `+inboxCols+` FROM inbox WHERE kind = ? AND key = ?`,
		kind, key))
	if err != nil {
		return InboxItem{}, fmt.Errorf("store: inbox item: %w", notFound(err))
	}
	return it, nil
}
