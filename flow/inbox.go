package flow

import (
	"context"
	"errors"

	"github.com/klavi-demo/portal/consent"
	"github.com/klavi-demo/portal/klavi"
	"github.com/klavi-demo/portal/store"
)

// processInboxItem applies one stored event. It returns the result shown in the inbox; an error means
// "try again later" (the item stays pending).
func (s *Service) processInboxItem(ctx context.Context, it store.InboxItem) (string, error) {
	events, err := klavi.ParseEvents(it.Body)
	if err != nil || len(events) == 0 {
		return "ignored: unreadable", nil
	}
	ev := events[0]
	if kstatus, ok := ev.EventName.ConsentStatus(); ok {
		status := consent.Status(kstatus)
		p, err := ev.ConsentPayload()
		if err != nil || !consent.ValidID(p.Consents.ConsentID) {
			return "ignored: no consent id", nil
		}
		c, err := s.st.Consent(ctx, p.Consents.ConsentID)
		if errors.Is(err, store.ErrNotFound) {
			return "unmatched", nil
		}
		if err != nil {
			return "", err
		}
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
		// per eventId, so that an item taken over from a replica that died after applying it is not logged again.
		if seen, err := s.eventRecorded(ctx, c.ID, it.Key); err != nil {
			return "", err
		} else if !seen {
			s.Record(ctx, c.ID, "webhook", consent.M(consent.TLWebhook, string(ev.EventName)), detail, true)
		}
		if _, err := s.ApplyStatus(ctx, c, status, granted, expire, FromWebhook); err != nil {
			return "", err
		}
		if stale {
			return "ignored: the consent is already " + string(c.Status), nil
		}
		return "processed", nil
	}
	switch ev.EventName {
	case klavi.EventProductRequestReceived, klavi.EventProductGeneratedSuccess, klavi.EventProductGeneratedFailed:
		p, err := ev.ProductPayload()
		if err != nil {
			return "ignored: unreadable payload", nil
		}
		matched := false
		for _, id := range p.ConsentIDs {
			if !consent.ValidID(id) {
				continue
			}
			if _, err := s.st.Consent(ctx, id); err != nil {
				continue
			}
			matched = true
			failed := ev.EventName == klavi.EventProductGeneratedFailed
			detail := consent.M(consent.TLProduct, p.ProductName)
			if failed && p.Message != "" {
				detail = consent.M(consent.TLProductFailed, p.ProductName, consent.CleanText(p.Message, 200))
			}
			s.Record(ctx, id, "webhook", consent.M(consent.TLWebhook, string(ev.EventName)), detail, !failed)
		}
		if !matched {
			return "unmatched", nil
		}
		return "processed", nil
	case klavi.EventLinkCreated:
		return "ignored: link_created", nil
	default:
		return "ignored: " + consent.CleanText(string(ev.EventName), 64), nil
	}
}

// eventRecorded reports whether the consent's timeline already has the line of the consent event with this key.
func (s *Service) eventRecorded(ctx context.Context, consentID, key string) (bool, error) {
	tl, err := s.st.Timeline(ctx, consentID)
	if err != nil {
		return false, err
	}
	for _, e := range tl {
		if e.Title.Key == consent.TLWebhook && (e.Detail.Key == consent.TLEventID || e.Detail.Key == consent.TLEventIDStale) &&
			len(e.Detail.Args) > 0 && e.Detail.Args[0] == key {
			return true, nil
		}
	}
	return false, nil
}
