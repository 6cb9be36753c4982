package flow

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/klavi-demo/portal/consent"
	"github.com/klavi-demo/portal/klavi"
	"github.com/klavi-demo/portal/store"
)

// applied is what applying one stored event (or report) did.
type applied struct {
	result  string // encoded result (consent.R), shown in the inbox
	changed bool   // a status moved or a timeline line was written: false means it had been applied already
	// consent is the (first) stored consent it names, when there is one; before and after are its status around
	// the application.
	consent       string
	before, after consent.Status
}

// processInboxItem applies one stored event. It returns the result shown in the inbox; an error means
// "try again later" (the item stays pending).
func (s *Service) processInboxItem(ctx context.Context, it store.InboxItem) (string, error) {
	a, err := s.applyEvent(ctx, it, FromWebhook)
	return a.result, err
}

// applyEvent is the inbox worker's one path for an event, used by the worker and by Replay alike. Each step is
// idempotent: the status only moves forward, and a timeline line is written once per eventId, so applying an event
// again changes nothing (applied.changed is false).
func (s *Service) applyEvent(ctx context.Context, it store.InboxItem, source Source) (applied, error) {
	events, err := klavi.ParseEvents(it.Body)
	if err != nil || len(events) == 0 {
		return applied{result: consent.R(consent.RUnreadable)}, nil
	}
	ev := events[0]
	if ev.EventName == consent.ProbeEvent {
		// The portal's own round trip (package simulate): it reached the inbox and the worker, and that is all.
		return applied{result: consent.R(consent.RProbe)}, nil
	}
	if kstatus, ok := ev.EventName.ConsentStatus(); ok {
		return s.applyConsentEvent(ctx, it, ev, consent.Status(kstatus), source)
	}
	switch ev.EventName {
	case klavi.EventProductRequestReceived, klavi.EventProductGeneratedSuccess, klavi.EventProductGeneratedFailed:
		return s.applyProductEvent(ctx, it, ev)
	case klavi.EventLinkCreated:
		return applied{result: consent.R(consent.RLinkCreated)}, nil
	default:
		return applied{result: consent.R(consent.RUnknownEvent, consent.CleanText(string(ev.EventName), 64))}, nil
	}
}

// applyConsentEvent applies a consent_* event through the status path every observation takes.
func (s *Service) applyConsentEvent(ctx context.Context, it store.InboxItem, ev klavi.Event, status consent.Status, source Source) (applied, error) {
	p, err := ev.ConsentPayload()
	if err != nil || !consent.ValidID(p.Consents.ConsentID) {
		return applied{result: consent.R(consent.RNoConsentID)}, nil
	}
	c, err := s.st.Consent(ctx, p.Consents.ConsentID)
	if errors.Is(err, store.ErrNotFound) {
		return applied{result: consent.R(consent.RUnmatched)}, nil
	}
	if err != nil {
		return applied{}, err
	}
	a := applied{consent: c.ID, before: c.Status, after: c.Status}
	var granted []string
	expire := ""
	if status == consent.Authorised {
		// The event carries no permissions: ask Klavi (best effort; the reconciler fills gaps).
		cctx, cancel := context.WithTimeout(ForConsent(ctx, c), s.klaviTimeout)
		if kc, err := s.kc.Consent(cctx, c.ID); err == nil && kc.Status == klavi.StatusAuthorised {
			granted, expire = kc.PermissionsGranted, kc.ExpireAt
		}
		cancel()
	}
	// A late or reordered event (consent_authorised after consent_revoked) is shown, and changes nothing.
	stale := !c.Status.TakesEffect(status)
	detail := consent.M(consent.TLEventID, it.Key)
	if stale {
		detail = consent.M(consent.TLEventIDStale, it.Key, string(c.Status))
	}
	// Written after the only call that may fail or panic, so a retried item does not log twice; and only once
	// per eventId, so that an item taken over from a replica that died after applying it (or replayed) is not
	// logged again.
	if seen, err := s.eventRecorded(ctx, c.ID, it.Key); err != nil {
		return a, err
	} else if !seen {
		s.Record(ctx, c.ID, "webhook", consent.M(consent.TLWebhook, string(ev.EventName)), detail, true)
		a.changed = true
	}
	after, err := s.ApplyStatus(ctx, c, status, granted, expire, source)
	if err != nil {
		return a, err
	}
	a.after = after.Status
	if after.Status != c.Status {
		a.changed = true
	}
	if stale {
		a.result = consent.R(consent.RStale, string(c.Status))
	} else {
		a.result = consent.R(consent.RProcessed)
	}
	return a, nil
}

// applyProductEvent adds the event's line, once per eventId, to the timeline of every stored consent it names.
func (s *Service) applyProductEvent(ctx context.Context, it store.InboxItem, ev klavi.Event) (applied, error) {
	p, err := ev.ProductPayload()
	if err != nil {
		return applied{result: consent.R(consent.RUnreadablePayload)}, nil
	}
	var a applied
	for _, id := range p.ConsentIDs {
		if !consent.ValidID(id) {
			continue
		}
		c, err := s.st.Consent(ctx, id)
		if err != nil {
			continue
		}
		if a.consent == "" {
			a.consent, a.before, a.after = c.ID, c.Status, c.Status
		}
		seen, err := s.eventRecorded(ctx, id, it.Key)
		if err != nil {
			return a, err
		}
		if seen {
			continue
		}
		failed := ev.EventName == klavi.EventProductGeneratedFailed
		detail := consent.M(consent.TLProductEvent, p.ProductName, it.Key)
		if failed && p.Message != "" {
			detail = consent.M(consent.TLProductFailedEvent, p.ProductName, consent.CleanText(p.Message, 200), it.Key)
		}
		s.Record(ctx, id, "webhook", consent.M(consent.TLWebhook, string(ev.EventName)), detail, !failed)
		a.changed = true
	}
	if a.consent == "" {
		a.result = consent.R(consent.RUnmatched)
		return a, nil
	}
	a.result = consent.R(consent.RProcessed)
	return a, nil
}

// eventRecorded reports whether the consent's timeline already has the line of the event with this key (a consent
// event's, or a product event's written since product lines carry their eventId).
func (s *Service) eventRecorded(ctx context.Context, consentID, key string) (bool, error) {
	tl, err := s.st.Timeline(ctx, consentID)
	if err != nil {
		return false, err
	}
	for _, e := range tl {
		if e.Title.Key != consent.TLWebhook {
			continue
		}
		if len(e.Detail.Args) == 0 {
			continue
		}
		var id string
		switch e.Detail.Key {
		case consent.TLEventID, consent.TLEventIDStale:
			id = e.Detail.Args[0]
		case consent.TLProductEvent, consent.TLProductFailedEvent:
			id = e.Detail.Args[len(e.Detail.Args)-1]
		default:
			continue
		}
		if id == key {
			return true, nil
		}
	}
	return false, nil
}

// ReportOwner is the stored consent a report belongs to: the consent it names, else (a report requested at user
// level may name only its link) the latest consent of its link.
func (s *Service) ReportOwner(ctx context.Context, consentID, linkID string) (store.Consent, bool) {
	if consentID != "" {
		if c, err := s.st.Consent(ctx, consentID); err == nil {
			return c, true
		}
		return store.Consent{}, false
	}
	if linkID != "" {
		if c, err := s.st.LatestConsentForLink(ctx, linkID); err == nil {
			return c, true
		}
	}
	return store.Consent{}, false
}

// ReportArrived writes the "report received" line on the consent's timeline, once per productReportId (key); it
// reports whether it wrote it. size is the body's size in bytes, code the report's status (0 or 200: OK).
func (s *Service) ReportArrived(ctx context.Context, c store.Consent, key, product string, size, code int) (bool, error) {
	tl, err := s.st.Timeline(ctx, c.ID)
	if err != nil {
		return false, err
	}
	for _, e := range tl {
		if e.Title.Key == consent.TLReportReceived && (e.Detail.Key == consent.TLReportReceivedDetail ||
			e.Detail.Key == consent.TLReportReceivedCode) && len(e.Detail.Args) > 0 && e.Detail.Args[0] == key {
			return false, nil
		}
	}
	detail := consent.M(consent.TLReportReceivedDetail, key, HumanSize(size))
	if code != 0 && code != 200 {
		detail = consent.M(consent.TLReportReceivedCode, key, HumanSize(size), strconv.Itoa(code))
	}
	s.Record(ctx, c.ID, "reports", consent.M(consent.TLReportReceived, product), detail, true)
	return true, nil
}

// HumanSize is a byte count as people read it: "512 bytes", "3.2 KiB", "1.5 MiB".
func HumanSize(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	default:
		return strconv.Itoa(n) + " bytes"
	}
}
