package handlers

import (
	"context"
	"fmt"
	"hash/fnv"
	"strings"
	"sync"

	"github.com/klavi-demo/portal/klavi"
	"github.com/klavi-demo/portal/store"
)

// applyStatus records a status observed by source ("callback", "webhook", "poll", "revoke"), adds a timeline
// entry when the status really changed, and, when the consent is (now) AUTHORISED, requests the reports
// (exactly once across every path, through store.ClaimReportRequest). It returns the consent as stored
// afterwards. Callers on every path may run concurrently: each step is idempotent.
func (s *Server) applyStatus(ctx context.Context, c store.Consent, status string, granted []string, expireAt, source string) (store.Consent, error) {
	after, err := s.setStatusLogged(ctx, c.ID, status, granted, expireAt, source)
	if err != nil {
		return c, err
	}
	if after.Status == string(klavi.StatusAuthorised) && after.ReportsRequestedAt == nil {
		// A failure is recorded on the timeline and retried by the reconciler; it is not the caller's error.
		_ = s.requestReports(ctx, after, source)
	}
	if after.Status == string(klavi.StatusDeletedByUser) && status == string(klavi.StatusDeletedByUser) {
		// The holder deleted the consent (LGPD art. 18): erase what we keep about the link. Every observation
		// purges again (idempotent, nothing left the second time), so a purge that failed is redone by the next
		// delivery of the event; on the webhook path the error keeps the inbox item pending for a retry.
		if err := s.purgeLink(ctx, after, source); err != nil {
			return after, err
		}
		if fresh, err := s.st.Consent(ctx, after.ID); err == nil {
			after = fresh
		}
	}
	return after, nil
}

// purgeLink erases the personal data of the consent's link (store.PurgeLink writes the PII-free audit entry).
func (s *Server) purgeLink(ctx context.Context, c store.Consent, source string) error {
	if c.LinkID == "" {
		s.log.WarnContext(ctx, "purge skipped: consent without link", "source", source)
		return nil
	}
	p, err := s.st.PurgeLink(context.WithoutCancel(ctx), c.LinkID)
	if err != nil {
		s.log.ErrorContext(ctx, "purge after consent_deleted_by_user failed", "source", source, "err", safeErr(err))
		return err
	}
	if !p.Empty() {
		s.log.InfoContext(ctx, "personal data purged after consent_deleted_by_user", "source", source,
			"reports", p.Reports, "consents", p.Consents, "links", p.Links, "bodies", p.Deliveries)
	}
	return nil
}

// setStatusLogged applies the status and writes one timeline entry per real change. The read-modify-read is
// serialised per consent (callback, worker and reconciler may observe the same change at once), so exactly
// one of them sees the transition and logs it.
func (s *Server) setStatusLogged(ctx context.Context, id, status string, granted []string, expireAt, source string) (store.Consent, error) {
	mu := s.consentLock(id)
	mu.Lock()
	defer mu.Unlock()
	before, err := s.st.Consent(ctx, id)
	if err != nil {
		return before, err
	}
	if _, err := s.st.SetStatus(ctx, id, status, granted, expireAt); err != nil {
		return before, err
	}
	after, err := s.st.Consent(ctx, id)
	if err != nil {
		return before, err
	}
	if after.Status != before.Status {
		if source == "poll" {
			// The reconciler's only trace: one entry per change, none for polls that saw nothing new.
			s.timeline(ctx, id, "poll", fmt.Sprintf("poll: GET /consents/{id}: %s → %s", before.Status, after.Status), "", true)
		} else {
			s.timeline(ctx, id, "status", fmt.Sprintf("status: %s → %s", before.Status, after.Status), "observed via "+source, true)
		}
	}
	return after, nil
}

// consentLock returns the mutex stripe for a consent id.
func (s *Server) consentLock(id string) *sync.Mutex {
	h := fnv.New32a()
	_, _ = h.Write([]byte(id))
	return &s.statusLocks[h.Sum32()%uint32(len(s.statusLocks))]
}

// requestReports asks Klavi for the person type's products at user level, once per consent. A failed call
// releases the claim so the reconciler tries again.
func (s *Server) requestReports(ctx context.Context, c store.Consent, source string) error {
	claimed, err := s.st.ClaimReportRequest(ctx, c.ID)
	if err != nil || !claimed {
		return err
	}
	req := klavi.ReportRequest{
		Kind:                klavi.Personal,
		Level:               klavi.UserLevel,
		TaxID:               c.PersonalTaxID,
		LinkID:              c.LinkID,
		ConsentIDs:          []string{c.ID},
		Products:            productsFor(c.PersonType),
		ProductsCallbackURL: map[string]string{"all": s.reportsWebhookURL()},
	}
	endpoint := "POST /personal/user-data"
	if c.PersonType == "business" {
		req.Kind, req.TaxID = klavi.Business, c.BusinessTaxID
		endpoint = "POST /business/user-data"
	}
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.klaviTimeout)
	defer cancel()
	res, err := s.kc.RequestReports(cctx, req)
	if err != nil {
		s.log.WarnContext(ctx, "report request failed", "source", source, "err", safeErr(err))
		if rerr := s.st.ReleaseReportRequest(context.WithoutCancel(ctx), c.ID); rerr != nil {
			s.log.ErrorContext(ctx, "release report request failed", "err", safeErr(rerr))
		}
		s.timeline(ctx, c.ID, "reports", "api: "+endpoint+" failed (will retry)", klaviErrText(err), false)
		return err
	}
	if res != nil && res.RequestID != "" {
		if err := s.st.SetReportRequestID(context.WithoutCancel(ctx), c.ID, res.RequestID); err != nil {
			s.log.WarnContext(ctx, "store report request id failed", "err", safeErr(err))
		}
	}
	detail := "products: " + strings.Join(req.Products, ", ")
	if res != nil && res.RequestID != "" {
		detail += "; requestId " + res.RequestID
	}
	s.timeline(ctx, c.ID, "reports", "api: "+endpoint+" (after "+source+")", detail, true)
	return nil
}
