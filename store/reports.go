package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Report is one product report received by webhook, keyed by Klavi's productReportId.
type Report struct {
	ID             string // productReportId
	DeliveryID     int64  // set by the store: the delivery that brought it first
	RequestID      string
	ProductName    string
	ProductVersion string
	Code           int
	Message        string
	LinkID         string
	ConsentID      string    // first consent in links[], may be ""
	ReceivedAt     time.Time // the delivery's when zero
	Raw            []byte    // the report JSON; only Report(id) returns it
	BodySHA256     string
	Size           int // len(Raw) when zero
}

// RecordReportDelivery stores the delivery row and the report row in ONE transaction. A report whose ID is
// already stored is not replaced: inserted is false and the delivery is marked Duplicate. On any error nothing
// at all is written.
func (s *Store) RecordReportDelivery(ctx context.Context, d Delivery, r Report) (inserted bool, err error) {
	if r.ID == "" {
		return false, errors.New("store: record report delivery: empty product report id")
	}
	if d.Kind == "" {
		d.Kind = "report"
	}
	d.ReceivedAt = s.stamp(d.ReceivedAt)
	if r.ReceivedAt.IsZero() {
		r.ReceivedAt = d.ReceivedAt
	}
	if r.Size == 0 {
		r.Size = len(r.Raw)
	}
	err = s.tx(ctx, "record report delivery", func(tx *txn) error {
		id, err := insertDelivery(ctx, tx, d)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO reports (product_report_id, delivery_id, request_id,
			product_name, product_version, code, message, link_id, consent_id, received_at, raw, body_sha256, size)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (product_report_id) DO NOTHING`,
			r.ID, id, r.RequestID, r.ProductName, r.ProductVersion, r.Code, r.Message, r.LinkID, r.ConsentID,
			us(r.ReceivedAt), r.Raw, r.BodySHA256, r.Size)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		inserted = n == 1
		if !inserted {
			_, err = tx.ExecContext(ctx, `UPDATE webhook_deliveries SET duplicate = 1 WHERE id = ?`, id)
		}
		return err
	})
	if err != nil {
		return false, err
	}
	return inserted, nil
}

// HasReport reports whether a report with this productReportId is stored (without reading it).
func (s *Store) HasReport(ctx context.Context, id string) (bool, error) {
	var one int
	err := s.r.QueryRowContext(ctx, `SELECT 1 FROM reports WHERE product_report_id = ?`, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("store: has report: %w", err)
	}
	return true, nil
}

const reportColsNoRaw = `product_report_id, delivery_id, request_id, product_name, product_version, code, message,
	link_id, consent_id, received_at, body_sha256, size`

func scanReport(row interface{ Scan(...any) error }, withRaw bool) (Report, error) {
	var r Report
	var at int64
	dest := []any{&r.ID, &r.DeliveryID, &r.RequestID, &r.ProductName, &r.ProductVersion, &r.Code, &r.Message,
		&r.LinkID, &r.ConsentID, &at, &r.BodySHA256, &r.Size}
	if withRaw {
		dest = append(dest, &r.Raw)
	}
	if err := row.Scan(dest...); err != nil {
		return Report{}, err
	}
	r.ReceivedAt = fromUS(at)
	return r, nil
}

// Report returns the report with its Raw JSON. Returns ErrNotFound if there is none.
func (s *Store) Report(ctx context.Context, id string) (Report, error) {
	r, err := scanReport(s.r.QueryRowContext(ctx, `SELECT `+reportColsNoRaw+`, raw FROM reports
		WHERE product_report_id = ?`, id), true)
	if err != nil {
		return Report{}, fmt.Errorf("store: report: %w", notFound(err))
	}
	return r, nil
}

// ReportHead returns the report without its Raw JSON (BodySHA256 and Size are set): what a page needs to decide
// access and to find the report's decoded form in a cache, without reading megabytes. Returns ErrNotFound if there
// is none.
func (s *Store) ReportHead(ctx context.Context, id string) (Report, error) {
	r, err := scanReport(s.r.QueryRowContext(ctx, `SELECT `+reportColsNoRaw+` FROM reports
		WHERE product_report_id = ?`, id), false)
	if err != nil {
		return Report{}, fmt.Errorf("store: report head: %w", notFound(err))
	}
	return r, nil
}

func (s *Store) queryReports(ctx context.Context, query sqlText, args ...any) ([]Report, error) {
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Report
	for rows.Next() {
		r, err := scanReport(rows, false)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// ReportsForConsent returns, without Raw and in arrival order, the reports for the consent: those naming it,
// plus those naming no consent but the consent's link (reports requested at user level may list only the
// link). An unknown consent simply has no reports (no error).
func (s *Store) ReportsForConsent(ctx context.Context, consentID string) ([]Report, error) {
	if consentID == "" {
		return nil, nil // '' would otherwise match every report that names no consent
	}
	out, err := s.queryReports(ctx, `SELECT `+reportColsNoRaw+` FROM reports
		WHERE consent_id = ?1
		   OR (consent_id = '' AND link_id <> '' AND link_id = (SELECT link_id FROM consents WHERE id = ?1))
		ORDER BY received_at, product_report_id`, consentID)
	if err != nil {
		return nil, fmt.Errorf("store: reports for consent: %w", err)
	}
	return out, nil
}

// Reports returns up to limit (<= 0 means 100) reports without Raw, newest first.
func (s *Store) Reports(ctx context.Context, limit int) ([]Report, error) {
	out, err := s.queryReports(ctx, `SELECT `+reportColsNoRaw+` FROM reports
		ORDER BY received_at DESC, product_report_id DESC LIMIT ?`, limitOr(limit, 100, 1000))
	if err != nil {
		return nil, fmt.Errorf("store: reports: %w", err)
	}
	return out, nil
}
