package store

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/klavi-demo/portal/consent"
)

// Consent is what the portal knows about one Klavi consent.
type Consent struct {
	ID                 string // Klavi consentId
	LinkID             string
	SessionID          string
	TrackIDHash        string // hex sha256 of externalTrackId; unique when not empty
	PersonType         string
	PersonalTaxID      string // normalised
	BusinessTaxID      string // normalised
	HolderRef          string // keyed pseudonym of the consent's tax id (set by the caller); "" when unknown or purged
	DeviceRef          string // keyed pseudonym of the device cookie of the browser that started it; "" when unknown
	InstitutionCode    string
	InstitutionName    string
	ValidityPeriod     int
	Status             consent.Status // "STARTED" when created empty
	PermissionsApply   []string
	PermissionsGranted []string
	ExpireAt           string // as Klavi sent it
	ErrorCode          string // from the callback (already sanitised by the caller)
	ErrorDescription   string
	CallbackAt         *time.Time // when the browser came back (track id consumed)
	ReportsRequestedAt *time.Time
	ReportRequestID    string
	NextPollAt         *time.Time // nil = due now
	PollAttempts       int
	CreatedAt          time.Time // set to now when zero
	UpdatedAt          time.Time // set to CreatedAt on create; moves when the status (or grant) changes
}

// terminalInSQL is the terminal statuses as an SQL list, spelled exactly as in the partial index consents_due_poll
// (migration 0001) so that DueForPoll can use it.
var terminalInSQL = consent.TerminalSQL()

// StatusTakesEffect reports whether SetStatus would leave a consent in status from in status to: the same status, or
// a forward move (consent.Status.TakesEffect).
func StatusTakesEffect(from, to consent.Status) bool { return from.TakesEffect(to) }

// CreateConsent stores a new consent. Returns ErrConflict when the ID or the (non-empty) TrackIDHash exists.
func (s *Store) CreateConsent(ctx context.Context, c Consent) error {
	if c.ID == "" {
		return fmt.Errorf("store: create consent: empty id")
	}
	if c.Status == "" {
		c.Status = consent.Started
	}
	c.CreatedAt = s.stamp(c.CreatedAt)
	if c.UpdatedAt.IsZero() {
		c.UpdatedAt = c.CreatedAt
	}
	return s.tx(ctx, "create consent", func(tx *txn) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO consents (id, link_id, session_id, track_id_hash,
			person_type, personal_tax_id, business_tax_id, institution_code, institution_name, validity_period,
			status, permissions_apply, permissions_granted, expire_at, error_code, error_description, callback_at,
			reports_requested_at, report_request_id, next_poll_at, poll_attempts, created_at, updated_at, holder_ref,
			device_ref)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			c.ID, c.LinkID, c.SessionID, c.TrackIDHash, c.PersonType, c.PersonalTaxID, c.BusinessTaxID,
			c.InstitutionCode, c.InstitutionName, c.ValidityPeriod, c.Status, encodeList(c.PermissionsApply),
			encodeList(c.PermissionsGranted), c.ExpireAt, c.ErrorCode, c.ErrorDescription, nullUS(c.CallbackAt),
			nullUS(c.ReportsRequestedAt), c.ReportRequestID, nullUS(c.NextPollAt), c.PollAttempts,
			us(c.CreatedAt), us(c.UpdatedAt), c.HolderRef, c.DeviceRef)
		if err != nil {
			return err
		}
		return conflictUnlessInserted(res)
	})
}

const consentCols = `id, link_id, session_id, track_id_hash, person_type, personal_tax_id, business_tax_id,
	institution_code, institution_name, validity_period, status, permissions_apply, permissions_granted, expire_at,
	error_code, error_description, callback_at, reports_requested_at, report_request_id, next_poll_at,
	poll_attempts, created_at, updated_at, holder_ref, device_ref`

func scanConsent(row interface{ Scan(...any) error }) (Consent, error) {
	var c Consent
	var apply, granted string
	var callback, requested, nextPoll sql.NullInt64
	var created, updated int64
	err := row.Scan(&c.ID, &c.LinkID, &c.SessionID, &c.TrackIDHash, &c.PersonType, &c.PersonalTaxID,
		&c.BusinessTaxID, &c.InstitutionCode, &c.InstitutionName, &c.ValidityPeriod, &c.Status, &apply, &granted,
		&c.ExpireAt, &c.ErrorCode, &c.ErrorDescription, &callback, &requested, &c.ReportRequestID, &nextPoll,
		&c.PollAttempts, &created, &updated, &c.HolderRef, &c.DeviceRef)
	if err != nil {
		return Consent{}, err
	}
	if c.PermissionsApply, err = decodeList(apply); err != nil {
		return Consent{}, err
	}
	if c.PermissionsGranted, err = decodeList(granted); err != nil {
		return Consent{}, err
	}
	c.CallbackAt, c.ReportsRequestedAt, c.NextPollAt = fromNullUS(callback), fromNullUS(requested), fromNullUS(nextPoll)
	c.CreatedAt, c.UpdatedAt = fromUS(created), fromUS(updated)
	return c, nil
}

func (s *Store) queryConsents(ctx context.Context, query sqlText, args ...any) ([]Consent, error) {
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Consent
	for rows.Next() {
		c, err := scanConsent(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// Consent returns the consent by its Klavi consentId. Returns ErrNotFound if there is none.
func (s *Store) Consent(ctx context.Context, id string) (Consent, error) {
	c, err := scanConsent(s.r.QueryRowContext(ctx, `SELECT `+consentCols+` FROM consents WHERE id = ?`, id))
	if err != nil {
		return Consent{}, fmt.Errorf("store: consent: %w", notFound(err))
	}
	return c, nil
}

// ConsentsForSession returns the session's consents, newest first (empty, not an error, when none).
func (s *Store) ConsentsForSession(ctx context.Context, sessionID string) ([]Consent, error) {
	out, err := s.queryConsents(ctx, `SELECT `+consentCols+` FROM consents WHERE session_id = ?
		ORDER BY created_at DESC, rowid DESC`, sessionID)
	if err != nil {
		return nil, fmt.Errorf("store: consents for session: %w", err)
	}
	return out, nil
}

// ConsentFilter selects consents for ListConsents and ListConsentPage. Empty fields match everything.
type ConsentFilter struct {
	Status    consent.Status
	HolderRef string         // exact match on Consent.HolderRef (the pseudonym of the consent's tax id)
	DeviceRef string         // Consent.DeviceRef (the browser that started it), or a phone it handed off to on that link
	Before    *ConsentCursor // only consents older than this one (the previous page's Next); nil = first page
	Limit     int            // <= 0 means 100; at most 1000
}

// ConsentCursor is a position in the consents list, which is ordered by (CreatedAt, ID) newest first. String
// gives its opaque form for a URL; ParseConsentCursor reads it back.
type ConsentCursor struct {
	CreatedAt time.Time // microsecond precision, like the stored value
	ID        string
}

// maxCursorID bounds the consent id a cursor may carry (Klavi ids are far shorter).
const maxCursorID = 200

// String encodes the cursor as base64url (no padding) of "<created_at unix µs>.<id>".
func (c ConsentCursor) String() string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(us(c.CreatedAt), 10) + "." + c.ID))
}

// ParseConsentCursor reads a cursor made by ConsentCursor.String. Anything else (wrong alphabet, padding,
// a negative or non-decimal time, an empty, oversized or non-printable id, a non-canonical encoding) is
// ErrBadCursor.
func ParseConsentCursor(s string) (ConsentCursor, error) {
	if s == "" || len(s) > 2*maxCursorID {
		return ConsentCursor{}, ErrBadCursor
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil {
		return ConsentCursor{}, ErrBadCursor
	}
	at, id, ok := strings.Cut(string(b), ".")
	if !ok || at == "" || len(at) > 18 || id == "" || len(id) > maxCursorID {
		return ConsentCursor{}, ErrBadCursor
	}
	for i := 0; i < len(at); i++ {
		if at[i] < '0' || at[i] > '9' {
			return ConsentCursor{}, ErrBadCursor
		}
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' {
			return ConsentCursor{}, ErrBadCursor
		}
	}
	n, err := strconv.ParseInt(at, 10, 64)
	if err != nil {
		return ConsentCursor{}, ErrBadCursor
	}
	c := ConsentCursor{CreatedAt: fromUS(n), ID: id}
	if c.String() != s {
		return ConsentCursor{}, ErrBadCursor // e.g. leading zeros in the time
	}
	return c, nil
}

// ErrBadCursor: a pagination cursor that this store did not make. Callers show the first page instead.
var ErrBadCursor = errors.New("store: bad cursor")

// ConsentListRow is one consent of the list page with the number of reports ReportsForConsent would return.
type ConsentListRow struct {
	Consent
	Reports int
}

// ConsentPage is one page of ListConsentPage.
type ConsentPage struct {
	Rows []ConsentListRow
	Next *ConsentCursor // Before for the next (older) page; nil when this is the last page
}

// consentReportCount counts, like ReportsForConsent, the reports naming the consent plus those naming no
// consent but its link. The two sets are disjoint (a consent id is never empty); each count uses an index.
const consentReportCount = `(SELECT count(*) FROM reports r WHERE r.consent_id = consents.id)
	+ CASE WHEN consents.link_id <> '' THEN (SELECT count(*) FROM reports r
		WHERE r.consent_id = '' AND r.link_id = consents.link_id) ELSE 0 END`

// ListConsentPage returns one page of the consents matching f, newest first (by CreatedAt, then ID), each with
// its report count, in one query. Keyset pagination: pass the returned Next as f.Before for the next page.
func (s *Store) ListConsentPage(ctx context.Context, f ConsentFilter) (ConsentPage, error) {
	var where []string
	var args []any
	if f.Status != "" {
		where = append(where, "status = ?")
		args = append(args, f.Status)
	}
	if f.DeviceRef != "" {
		// The browser's own consents, and those a phone it handed off to started on that link (store/handoff.go).
		where = append(where, `(device_ref = ? OR (device_ref <> '' AND EXISTS (SELECT 1 FROM handoffs h
			WHERE h.device_ref = ? AND h.link_id = consents.link_id AND h.used_at IS NOT NULL
			AND h.phone_device_ref = consents.device_ref)))`)
		args = append(args, f.DeviceRef, f.DeviceRef)
	}
	if f.HolderRef != "" {
		where = append(where, "holder_ref = ?")
		args = append(args, f.HolderRef)
	}
	if f.Before != nil {
		at := us(f.Before.CreatedAt)
		// (created_at, id) < (at, id), written so that the created_at indexes bound the range.
		where = append(where, "created_at <= ? AND (created_at < ? OR id < ?)")
		args = append(args, at, at, f.Before.ID)
	}
	var q sqlText = `SELECT ` + consentCols + `, ` + consentReportCount + ` FROM consents`
	if len(where) > 0 {
		q += sqlText(" WHERE " + strings.Join(where, " AND ")) // constant fragments; values are bound with ?
	}
	limit := limitOr(f.Limit, 100, 1000)
	q += " ORDER BY created_at DESC, id DESC LIMIT ?"
	args = append(args, limit+1) // one more tells whether there is a next page
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return ConsentPage{}, fmt.Errorf("store: list consents: %w", err)
	}
	defer rows.Close()
	var page ConsentPage
	for rows.Next() {
		var row ConsentListRow
		c, err := scanConsent(withExtra{rows, &row.Reports})
		if err != nil {
			return ConsentPage{}, fmt.Errorf("store: list consents: %w", err)
		}
		row.Consent = c
		page.Rows = append(page.Rows, row)
	}
	if err := rows.Err(); err != nil {
		return ConsentPage{}, fmt.Errorf("store: list consents: %w", err)
	}
	if len(page.Rows) > limit {
		page.Rows = page.Rows[:limit]
		last := page.Rows[limit-1].Consent
		page.Next = &ConsentCursor{CreatedAt: last.CreatedAt, ID: last.ID}
	}
	return page, nil
}

// withExtra lets scanConsent read a row that has more columns after consentCols.
type withExtra struct {
	row   interface{ Scan(...any) error }
	extra any
}

func (w withExtra) Scan(dest ...any) error { return w.row.Scan(append(dest, w.extra)...) }

// ListConsents returns the consents matching f, newest first (one page: see ListConsentPage).
func (s *Store) ListConsents(ctx context.Context, f ConsentFilter) ([]Consent, error) {
	page, err := s.ListConsentPage(ctx, f)
	if err != nil {
		return nil, err
	}
	var out []Consent
	for _, r := range page.Rows {
		out = append(out, r.Consent)
	}
	return out, nil
}

// ConsentsMissingHolderRef returns up to limit consents (<= 0 means 100; at most 1000) that have a tax id but no
// HolderRef yet (rows stored before the column existed), ordered by id and starting after the id after ("" = from
// the start), so a caller that cannot compute a ref for some row still moves on.
func (s *Store) ConsentsMissingHolderRef(ctx context.Context, after string, limit int) ([]Consent, error) {
	out, err := s.queryConsents(ctx, `SELECT `+consentCols+` FROM consents
		WHERE holder_ref = '' AND (personal_tax_id <> '' OR business_tax_id <> '') AND id > ?
		ORDER BY id LIMIT ?`, after, limitOr(limit, 100, 1000))
	if err != nil {
		return nil, fmt.Errorf("store: consents missing holder ref: %w", err)
	}
	return out, nil
}

// SetHolderRef stores the consent's HolderRef and reports whether it did. A consent that no longer holds a tax id
// (purged meanwhile) or does not exist is left alone (false, no error): a pseudonym never outlives the tax id.
func (s *Store) SetHolderRef(ctx context.Context, id, ref string) (bool, error) {
	var set bool
	err := s.tx(ctx, "set holder ref", func(tx *txn) error {
		n, err := execCount(ctx, tx, `UPDATE consents SET holder_ref = ?
			WHERE id = ? AND (personal_tax_id <> '' OR business_tax_id <> '')`, ref, id)
		set = n == 1
		return err
	})
	return set, err
}

// MarkCallback records that the browser came back for this consent (so its track id is consumed), with the
// error the bank reported, if any. Only the first call writes: first is true then, false afterwards.
// Returns ErrNotFound if the consent does not exist.
func (s *Store) MarkCallback(ctx context.Context, id, errCode, errDesc string) (first bool, err error) {
	err = s.tx(ctx, "mark callback", func(tx *txn) error {
		first = false
		now := us(s.now())
		res, err := tx.ExecContext(ctx, `UPDATE consents SET callback_at = ?, error_code = ?, error_description = ?,
			updated_at = ? WHERE id = ? AND callback_at IS NULL`, now, errCode, errDesc, now, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			first = n == 1
			return err
		}
		return exists(ctx, tx, id)
	})
	return first, err
}

// exists returns ErrNotFound unless the consent exists (used after an UPDATE that matched nothing, to tell
// "already done" from "no such consent").
func exists(ctx context.Context, tx *txn, id string) error {
	var one int
	return notFound(tx.QueryRowContext(ctx, `SELECT 1 FROM consents WHERE id = ?`, id).Scan(&one))
}

// SetStatus applies a status observed from any source (poll, webhook, callback, revoke) and reports whether
// anything changed. The status only moves forward: STARTED → AWAITING_AUTHORISATION →
// AWAITING_LGPD_AUTHORISATION → AUTHORISED, and any of these → a terminal status; terminal statuses (REJECTED
// ERROR EXPIRED REVOKED DELETED_BY_USER) never change again, and AUTHORISED only moves to REVOKED, EXPIRED or
// DELETED_BY_USER. A status that is not allowed, or unknown (Klavi: "pending, check again later"), is ignored
// with changed=false and no error, because late or reordered observations are normal.
//
// granted (when not nil) and expireAt (when not empty) are stored together with an allowed change, or on their
// own when status equals the current one and they differ. UpdatedAt moves only when something changed.
// Returns ErrNotFound if the consent does not exist.
func (s *Store) SetStatus(ctx context.Context, id string, status consent.Status, granted []string, expireAt string) (changed bool, err error) {
	_, changed, err = s.Transition(ctx, id, status, granted, expireAt)
	return changed, err
}

// Transition is SetStatus that also returns the status the consent had just before, read in the same transaction
// (under the row's lock on PostgreSQL): of several callers observing one change at once, on any replica, exactly
// one sees from != status with changed true.
func (s *Store) Transition(ctx context.Context, id string, status consent.Status, granted []string, expireAt string) (from consent.Status, changed bool, err error) {
	err = s.tx(ctx, "set status", func(tx *txn) error {
		changed = false
		var cur consent.Status
		defer func() { from = cur }()
		var curGranted, curExpire string
		// FOR UPDATE: on PostgreSQL a concurrent SetStatus waits here and then decides on this one's result.
		err := tx.QueryRowContext(ctx, `SELECT status, permissions_granted, expire_at FROM consents WHERE id = ?
			{forUpdate}`, id).Scan(&cur, &curGranted, &curExpire)
		if err != nil {
			return notFound(err)
		}
		if !cur.TakesEffect(status) {
			return nil
		}
		if cur == status && cur.Terminal() {
			return nil // frozen, details included
		}
		newGranted, newExpire := curGranted, curExpire
		if granted != nil {
			newGranted = encodeList(granted)
		}
		if expireAt != "" {
			newExpire = expireAt
		}
		if cur == status && newGranted == curGranted && newExpire == curExpire {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE consents SET status = ?, permissions_granted = ?, expire_at = ?,
			updated_at = ? WHERE id = ?`, status, newGranted, newExpire, us(s.now()), id); err != nil {
			return err
		}
		changed = true
		return nil
	})
	return from, changed, err
}

// ClaimReportRequest marks the consent's reports as requested, exactly once: of any number of concurrent
// callers (webhook worker, reconciler, callback), only one gets claimed=true and should call Klavi. A caller
// whose call fails should ReleaseReportRequest so a later attempt can claim again.
// Returns ErrNotFound if the consent does not exist.
func (s *Store) ClaimReportRequest(ctx context.Context, id string) (claimed bool, err error) {
	err = s.tx(ctx, "claim report request", func(tx *txn) error {
		claimed = false
		// One conditional UPDATE: on PostgreSQL a concurrent claim waits for this row and then finds it set.
		res, err := tx.ExecContext(ctx, `UPDATE consents SET reports_requested_at = ?
			WHERE id = ? AND reports_requested_at IS NULL`, us(s.now()), id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			claimed = n == 1
			return err
		}
		return exists(ctx, tx, id)
	})
	return claimed, err
}

// SetReportRequestID stores the requestId Klavi returned for the report request.
// Returns ErrNotFound if the consent does not exist.
func (s *Store) SetReportRequestID(ctx context.Context, id, requestID string) error {
	return s.tx(ctx, "set report request id", func(tx *txn) error {
		res, err := tx.ExecContext(ctx, `UPDATE consents SET report_request_id = ? WHERE id = ?`, requestID, id)
		if err != nil {
			return err
		}
		return mustAffect(res)
	})
}

// ReleaseReportRequest clears ReportsRequestedAt after a failed request so the next ClaimReportRequest
// succeeds. Returns ErrNotFound if the consent does not exist.
func (s *Store) ReleaseReportRequest(ctx context.Context, id string) error {
	return s.tx(ctx, "release report request", func(tx *txn) error {
		res, err := tx.ExecContext(ctx, `UPDATE consents SET reports_requested_at = NULL WHERE id = ?`, id)
		if err != nil {
			return err
		}
		return mustAffect(res)
	})
}

// DueForPoll returns up to limit (<= 0 means 50) consents that are not terminal and whose NextPollAt is nil or
// not after now, those never scheduled first, then the most overdue.
func (s *Store) DueForPoll(ctx context.Context, now time.Time, limit int) ([]Consent, error) {
	out, err := s.queryConsents(ctx, sqlText(`SELECT `+consentCols+` FROM consents
		WHERE status NOT IN `+terminalInSQL+` AND (next_poll_at IS NULL OR next_poll_at <= ?)
		ORDER BY next_poll_at NULLS FIRST, created_at LIMIT ?`), us(now), limitOr(limit, 50, 1000)) // the statuses: constants of package consent
	if err != nil {
		return nil, fmt.Errorf("store: due for poll: %w", err)
	}
	return out, nil
}

// ClaimDuePolls takes up to limit (<= 0 means 20; at most 1000) consents due for a poll, as DueForPoll orders
// them, and pushes their next poll to now+hold in the same statement, so that no other replica polls them
// meanwhile; the caller then schedules the real next poll (SchedulePoll). N replicas thus poll a consent no more
// often than one would.
func (s *Store) ClaimDuePolls(ctx context.Context, now time.Time, hold time.Duration, limit int) ([]Consent, error) {
	var out []Consent
	err := s.tx(ctx, "claim due polls", func(tx *txn) error {
		out = out[:0]
		rows, err := tx.QueryContext(ctx, sqlText(`UPDATE consents SET next_poll_at = ?
			WHERE id IN (SELECT id FROM consents
				WHERE status NOT IN `+terminalInSQL+` AND (next_poll_at IS NULL OR next_poll_at <= ?)
				ORDER BY next_poll_at NULLS FIRST, created_at LIMIT ? {skipLocked})
			RETURNING `+consentCols), us(now.Add(hold)), us(now), limitOr(limit, 20, 1000)) // the statuses: constants of package consent
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			c, err := scanConsent(rows)
			if err != nil {
				return err
			}
			out = append(out, c)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("store: claim due polls: %w", err)
	}
	slices.SortFunc(out, func(a, b Consent) int { return cmp.Compare(a.CreatedAt.UnixMicro(), b.CreatedAt.UnixMicro()) })
	return out, nil
}

// SchedulePoll sets when the consent is next due for a poll and how many polls were made. It is bookkeeping,
// so UpdatedAt does not move. Returns ErrNotFound if the consent does not exist.
func (s *Store) SchedulePoll(ctx context.Context, id string, next time.Time, attempts int) error {
	return s.tx(ctx, "schedule poll", func(tx *txn) error {
		res, err := tx.ExecContext(ctx, `UPDATE consents SET next_poll_at = ?, poll_attempts = ? WHERE id = ?`,
			us(next), attempts, id)
		if err != nil {
			return err
		}
		return mustAffect(res)
	})
}

// ReleaseMissingReports makes the consent's reports claimable again, once in its life, when they were requested
// at or before requestedBefore and not one report has arrived (none naming it, none naming only its link): a lost
// report webhook must not leave the page empty for good. It reports whether it released them; the caller then
// claims and requests as usual. Returns ErrNotFound if the consent does not exist.
func (s *Store) ReleaseMissingReports(ctx context.Context, id string, requestedBefore time.Time) (released bool, err error) {
	err = s.tx(ctx, "release missing reports", func(tx *txn) error {
		released = false
		res, err := tx.ExecContext(ctx, `UPDATE consents SET reports_requested_at = NULL, reports_rerequested = 1
			WHERE id = ?1 AND reports_rerequested = 0 AND reports_requested_at IS NOT NULL AND reports_requested_at <= ?2
			  AND NOT EXISTS (SELECT 1 FROM reports r WHERE r.consent_id = ?1
			                  OR (r.consent_id = '' AND r.link_id <> '' AND r.link_id = consents.link_id))`,
			id, us(requestedBefore))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			released = n == 1
			return err
		}
		return exists(ctx, tx, id)
	})
	return released, err
}
