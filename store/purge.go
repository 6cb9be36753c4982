package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/klavi-demo/portal/consent"
)

// Purged counts what PurgeLink erased.
type Purged struct {
	Reports    int // report rows deleted
	Consents   int // consents whose tax ids (and holder ref) were blanked
	Links      int // link rows whose tax ids, email, phone and token were blanked (0 or 1)
	Deliveries int // webhook delivery and inbox bodies dropped because they mentioned the link or its consents
}

// Empty reports whether nothing was left to erase (the link was already purged or is unknown).
func (p Purged) Empty() bool { return p == Purged{} }

// PurgeLink erases the personal data kept for one Klavi link, in ONE transaction, when its holder deleted the
// consent (consent_deleted_by_user, LGPD art. 18): it deletes the reports of the link (by link id or by one of
// its consents), blanks the tax ids, email, phone and link token on the link and the tax ids and holder refs (their
// pseudonym) on its consents, and drops the raw bodies of webhook deliveries and inbox items that mention the link
// or one of its consents (event payloads carry personalTaxId/businessTaxId), and deletes the Klavi call log of the
// link and its consents. Consents keep their status, ids and
// timeline, and each gets one PII-free audit entry (consent.TLPurgedByHolder) when something was erased. It is idempotent: a
// second call erases nothing and writes no new entry. The link row itself need not exist.
func (s *Store) PurgeLink(ctx context.Context, linkID string) (Purged, error) {
	return s.purgeLink(ctx, linkID, consent.TLPurgedByHolder, consent.TLPurgeHolderDetail)
}

// PurgeExpired erases, as PurgeLink does, the personal data of every link created before the cutoff that still
// has some (tax ids, contact, token or reports), each link in its own transaction; the audit entry says the
// retention period is over. It returns how many links it purged. Consents keep their status, ids and timeline.
func (s *Store) PurgeExpired(ctx context.Context, before time.Time) (int, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id FROM links l WHERE l.created_at < ?1 AND (
		l.personal_tax_id <> '' OR l.business_tax_id <> '' OR l.email <> '' OR l.phone <> '' OR l.link_token <> ''
		OR EXISTS (SELECT 1 FROM reports r WHERE r.link_id = l.id)
		OR EXISTS (SELECT 1 FROM consents c WHERE c.link_id = l.id AND (c.personal_tax_id <> '' OR c.business_tax_id <> ''
			OR c.holder_ref <> '')))
		ORDER BY l.created_at`, us(before))
	if err != nil {
		return 0, fmt.Errorf("store: purge expired: %w", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, fmt.Errorf("store: purge expired: %w", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("store: purge expired: %w", err)
	}
	n := 0
	for _, id := range ids {
		p, err := s.purgeLink(ctx, id, consent.TLPurgedRetention, consent.TLPurgeRetentionDetail)
		if err != nil {
			return n, err
		}
		if !p.Empty() {
			n++
		}
	}
	return n, nil
}

// purgeLink is PurgeLink with the message keys of the audit entry's title and detail.
func (s *Store) purgeLink(ctx context.Context, linkID, titleKey, detailKey string) (Purged, error) {
	if linkID == "" {
		return Purged{}, errors.New("store: purge link: empty link id")
	}
	var p Purged
	at := us(s.now())
	err := s.tx(ctx, "purge link", func(tx *txn) error {
		p = Purged{}
		rows, err := tx.QueryContext(ctx, `SELECT id FROM consents WHERE link_id = ? ORDER BY created_at, id`, linkID)
		if err != nil {
			return err
		}
		var consentIDs []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			consentIDs = append(consentIDs, id)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}

		n, err := execCount(ctx, tx, `DELETE FROM reports WHERE link_id = ?
			OR (consent_id <> '' AND consent_id IN (SELECT id FROM consents WHERE link_id = ?))`, linkID, linkID)
		if err != nil {
			return err
		}
		p.Reports = n
		if p.Consents, err = execCount(ctx, tx, `UPDATE consents SET personal_tax_id = '', business_tax_id = '',
			holder_ref = '' WHERE link_id = ? AND (personal_tax_id <> '' OR business_tax_id <> '' OR holder_ref <> '')`,
			linkID); err != nil {
			return err
		}
		if p.Links, err = execCount(ctx, tx, `UPDATE links SET personal_tax_id = '', business_tax_id = '',
			email = '', phone = '', link_token = '' WHERE id = ? AND (personal_tax_id <> '' OR
			business_tax_id <> '' OR email <> '' OR phone <> '' OR link_token <> '')`, linkID); err != nil {
			return err
		}
		// Raw bodies that mention the link or one of its consents. Ids are matched as JSON string values
		// ("<id>") so that one id cannot match inside a longer one.
		for _, id := range append([]string{linkID}, consentIDs...) {
			needle := `"` + id + `"`
			d, err := execCount(ctx, tx, `UPDATE webhook_deliveries SET body = NULL
				WHERE body IS NOT NULL AND {bodyHas}`, needle)
			if err != nil {
				return err
			}
			i, err := execCount(ctx, tx, `UPDATE inbox SET body = NULL WHERE body IS NOT NULL AND {bodyHas}`, needle)
			if err != nil {
				return err
			}
			p.Deliveries += d + i
		}
		// The Klavi call log of the link and its consents goes too (it holds no personal data, but it is kept no
		// longer than what it explains). It is not counted: a purge that found only calls erased nothing personal.
		if _, err := tx.ExecContext(ctx, `DELETE FROM klavi_calls WHERE link_id = ?
			OR (consent_id <> '' AND consent_id IN (SELECT id FROM consents WHERE link_id = ?))`, linkID, linkID); err != nil {
			return err
		}
		if p.Empty() {
			return nil
		}
		e := TimelineEntry{Kind: "status", OK: true, Title: consent.M(titleKey),
			Detail: consent.M(detailKey, strconv.Itoa(p.Reports), strconv.Itoa(p.Deliveries))}
		for _, id := range consentIDs {
			e.ConsentID = id
			if err := insertTimelineTx(ctx, tx, e, at); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return Purged{}, err
	}
	return p, nil
}

// execCount runs a statement and returns the number of rows it changed.
func execCount(ctx context.Context, tx *txn, query sqlText, args ...any) (int, error) {
	res, err := tx.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}
