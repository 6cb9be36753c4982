package flow

import (
	"context"
	"strings"

	"github.com/klavi-demo/portal/consent"
	"github.com/klavi-demo/portal/klavi"
	"github.com/klavi-demo/portal/klavi/taxid"
	"github.com/klavi-demo/portal/store"
)

// ApplyStatus records a status observed by source, adds a timeline entry when the status really changed, and,
// when the consent is (now) AUTHORISED, requests the reports (exactly once across every path, through
// store.ClaimReportRequest). It returns the consent as stored afterwards. Callers on every path may run
// concurrently: each step is idempotent (docs/reliability.md#forward-only-status,
// docs/reliability.md#reports-once).
func (s *Service) ApplyStatus(ctx context.Context, c store.Consent, status consent.Status, granted []string, expireAt string, source Source) (store.Consent, error) {
	after, err := s.setStatusLogged(ctx, c.ID, status, granted, expireAt, source)
	if err != nil {
		return c, err
	}
	if after.Status == consent.Authorised && after.ReportsRequestedAt == nil {
		// A failure is recorded on the timeline and retried by the reconciler; it is not the caller's error.
		_ = s.RequestReports(ctx, after, source)
	}
	if after.Status == consent.DeletedByUser && status == consent.DeletedByUser {
		// The holder deleted the consent (LGPD art. 18): erase what we keep about the link. Every observation
		// purges again (idempotent, nothing left the second time), so a purge that failed is redone by the next
		// delivery of the event; on the webhook path the error keeps the inbox item pending for a retry.
		if err := s.Purge(ctx, after, source); err != nil {
			return after, err
		}
		if fresh, err := s.st.Consent(ctx, after.ID); err == nil {
			after = fresh
		}
	}
	return after, nil
}

// Purge erases the personal data of the consent's link (store.PurgeLink writes the PII-free audit entry).
func (s *Service) Purge(ctx context.Context, c store.Consent, source Source) error {
	if c.LinkID == "" {
		s.log.WarnContext(ctx, "purge skipped: consent without link", "source", source)
		return nil
	}
	p, err := s.st.PurgeLink(context.WithoutCancel(ctx), c.LinkID)
	s.Changed(c.ID) // its pages now answer 404
	if err != nil {
		s.log.ErrorContext(ctx, "purge after consent_deleted_by_user failed", "source", source, "err", taxid.MaskErr(err))
		return err
	}
	if !p.Empty() {
		s.log.InfoContext(ctx, "personal data purged after consent_deleted_by_user", "source", source,
			"reports", p.Reports, "consents", p.Consents, "links", p.Links, "bodies", p.Deliveries)
	}
	return nil
}

// setStatusLogged applies the status and writes one timeline entry per real change. Callback, worker and
// reconciler, on any replica, may observe the same change at once: store.Transition reads the previous status
// under the row's lock, so exactly one of them sees the move and logs it.
func (s *Service) setStatusLogged(ctx context.Context, id string, status consent.Status, granted []string, expireAt string, source Source) (store.Consent, error) {
	from, changed, err := s.st.Transition(ctx, id, status, granted, expireAt)
	if err != nil {
		return store.Consent{}, err
	}
	after, err := s.st.Consent(ctx, id)
	if err != nil {
		return after, err
	}
	if changed && from != status {
		if source == FromPoll {
			// The reconciler's only trace: one entry per change, none for polls that saw nothing new.
			s.Record(ctx, id, "poll", consent.M(consent.TLPollChanged, string(from), string(status)), consent.Msg{}, true)
		} else {
			s.Record(ctx, id, "status", consent.M(consent.TLStatusChanged, string(from), string(status)),
				consent.M(consent.TLObservedVia, string(source)), true)
		}
	}
	return after, nil
}

// RequestReports asks Klavi for the person type's products at user level, once per consent. A failed call
// releases the claim so the reconciler tries again.
func (s *Service) RequestReports(ctx context.Context, c store.Consent, source Source) error {
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
		Products:            Products(c.PersonType),
		ProductsCallbackURL: map[string]string{"all": s.reportsURL},
	}
	endpoint := "POST /personal/user-data"
	if c.PersonType == "business" {
		req.Kind, req.TaxID = klavi.Business, c.BusinessTaxID
		endpoint = "POST /business/user-data"
	}
	cctx, cancel := context.WithTimeout(ForConsent(context.WithoutCancel(ctx), c), s.klaviTimeout)
	defer cancel()
	res, err := s.kc.RequestReports(cctx, req)
	if err != nil {
		s.log.WarnContext(ctx, "report request failed", "source", source, "err", taxid.MaskErr(err))
		if rerr := s.st.ReleaseReportRequest(context.WithoutCancel(ctx), c.ID); rerr != nil {
			s.log.ErrorContext(ctx, "release report request failed", "err", taxid.MaskErr(rerr))
		}
		s.Record(ctx, c.ID, "reports", consent.M(consent.TLReportsRequestFailed, endpoint), KlaviErr(err), false)
		return err
	}
	if res != nil && res.RequestID != "" {
		if err := s.st.SetReportRequestID(context.WithoutCancel(ctx), c.ID, res.RequestID); err != nil {
			s.log.WarnContext(ctx, "store report request id failed", "err", taxid.MaskErr(err))
		}
	}
	products := strings.Join(req.Products, ", ")
	detail := consent.M(consent.TLReportsRequestedDetail, products)
	if res != nil && res.RequestID != "" {
		detail = consent.M(consent.TLReportsRequestedID, products, res.RequestID)
	}
	title := consent.M(consent.TLReportsRequested, endpoint, string(source))
	if source == FromReconciler {
		title = consent.M(consent.TLReportsRequestedAgain, endpoint)
	}
	s.Record(ctx, c.ID, "reports", title, detail, true)
	return nil
}
