package flow

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"

	"github.com/klavi-demo/portal/consent"
	"github.com/klavi-demo/portal/klavi"
	"github.com/klavi-demo/portal/store"
)

// Why a delivery cannot be replayed: message keys of the catalogue (views).
const (
	NotReplayableRejected = "replay.not.rejected" // refused on arrival (bad signature, not JSON, …): nothing was stored
	NotReplayableNoBody   = "replay.not.no_body"  // its body was erased (holder's deletion, retention) or discarded
	NotReplayablePending  = "replay.not.pending"  // the worker has not applied it yet
)

// NotReplayableError says why a delivery cannot be replayed; Reason is one of the NotReplayable* keys.
type NotReplayableError struct{ Reason string }

func (e *NotReplayableError) Error() string { return "flow: delivery not replayable: " + e.Reason }

// CheckReplay reports whether Replay would take the delivery: nil, or a *NotReplayableError saying why not.
func (s *Service) CheckReplay(ctx context.Context, d store.Delivery) error {
	if !d.SignatureValid || IsRejection(d.Result) {
		return &NotReplayableError{NotReplayableRejected}
	}
	if d.Kind == "report" {
		// A report's body is kept in its report row (once, whichever delivery brought it first).
		if len(d.Keys) == 0 {
			return &NotReplayableError{NotReplayableNoBody}
		}
		ok, err := s.st.HasReport(ctx, d.Keys[0])
		if err != nil {
			return err
		}
		if !ok {
			return &NotReplayableError{NotReplayableNoBody}
		}
		return nil
	}
	if len(d.Body) == 0 {
		return &NotReplayableError{NotReplayableNoBody}
	}
	events, err := klavi.ParseEvents(d.Body)
	if err != nil {
		return &NotReplayableError{NotReplayableRejected}
	}
	for _, ev := range events {
		it, err := s.st.InboxItem(ctx, "event", ev.EventID)
		if errors.Is(err, store.ErrNotFound) {
			continue // never queued (it cannot happen since the receivers store both at once): replay applies it
		}
		if err != nil {
			return err
		}
		if it.ProcessedAt == nil {
			return &NotReplayableError{NotReplayablePending}
		}
	}
	return nil
}

// IsRejection reports whether a delivery's result says the receiver refused it (nothing of it was stored).
func IsRejection(result string) bool {
	if strings.HasPrefix(result, "rejected: ") {
		return true // stored as English text before message keys
	}
	m, ok := consent.DecodeResult(result)
	if !ok {
		return false
	}
	switch m.Key {
	case consent.RBadSignature, consent.RNotJSON, consent.RMalformedEvents, consent.RMalformedBody,
		consent.RMalformedReport, consent.RLegacyReport, consent.RMediaType, consent.RTooLarge:
		return true
	}
	return false
}

// Replay applies a stored, signature-valid delivery again, through the inbox worker's own path (applyEvent; for a
// report, the receiver's ReportArrived), as actor. It is idempotent: a delivery already applied changes nothing,
// and the replay says so (store.Replay.Changed false). The replay is kept with the delivery and written on the
// timeline of every consent the delivery names. Returns a *NotReplayableError for a delivery it cannot take,
// store.ErrNotFound for none. Replays run one at a time in this process.
func (s *Service) Replay(ctx context.Context, deliveryID int64, actor string) (store.Replay, error) {
	s.replayMu.Lock()
	defer s.replayMu.Unlock()
	d, err := s.st.Delivery(ctx, deliveryID)
	if err != nil {
		return store.Replay{}, err
	}
	if err := s.CheckReplay(ctx, d); err != nil {
		return store.Replay{}, err
	}
	var (
		results []string
		what    []string // event names or products, for the timeline line
		touched []applied
	)
	if d.Kind == "report" {
		a, product, err := s.replayReport(ctx, d)
		if err != nil {
			return store.Replay{}, err
		}
		results, what, touched = []string{a.result}, []string{product}, []applied{a}
	} else {
		events, err := klavi.ParseEvents(d.Body)
		if err != nil {
			return store.Replay{}, &NotReplayableError{NotReplayableRejected}
		}
		for _, ev := range events {
			it := store.InboxItem{Kind: "event", Key: ev.EventID, EventName: string(ev.EventName), DeliveryID: d.ID}
			if stored, err := s.st.InboxItem(ctx, "event", ev.EventID); err == nil {
				it = stored
			}
			it.Body = ev.Raw // the delivery's own bytes: the item's copy may have been erased
			a, err := s.applyEvent(ctx, it, FromReplay)
			if err != nil {
				a.result, a.changed = consent.EncodeResult(consent.Msg{Key: consent.RFailed,
					Args: append([]string{KlaviErr(err).Key}, KlaviErr(err).Args...)}), false
			}
			results = append(results, a.result)
			what = append(what, consent.CleanText(string(ev.EventName), 64))
			touched = append(touched, a)
		}
	}
	r := store.Replay{DeliveryID: d.ID, Actor: actor, Result: joinResults(results)}
	for _, a := range touched {
		r.Changed = r.Changed || a.changed
		if r.ConsentID == "" && a.consent != "" {
			r.ConsentID, r.StatusBefore, r.StatusAfter = a.consent, a.before, a.after
		}
	}
	for i, a := range touched {
		if a.consent == "" {
			continue
		}
		detail := consent.M(consent.TLReplayUnchanged)
		if a.changed {
			detail = consent.M(consent.TLReplayApplied)
		}
		s.Record(ctx, a.consent, "webhook", consent.M(consent.TLReplayed, what[i], strconv.FormatInt(d.ID, 10)), detail, true)
	}
	return s.st.AddReplay(context.WithoutCancel(ctx), r)
}

// replayReport applies a stored report delivery again: the report's line on its consent's timeline, once.
func (s *Service) replayReport(ctx context.Context, d store.Delivery) (applied, string, error) {
	stored, err := s.st.Report(ctx, d.Keys[0]) // CheckReplay saw a key
	if errors.Is(err, store.ErrNotFound) {
		return applied{}, "", &NotReplayableError{NotReplayableNoBody}
	}
	if err != nil {
		return applied{}, "", err
	}
	rep, err := klavi.ParseReportEnvelope(stored.Raw) // what the receiver read of it
	if err != nil {
		return applied{}, "", &NotReplayableError{NotReplayableRejected}
	}
	key := stored.ID
	consentID, linkID := ReportNames(rep)
	c, ok := s.ReportOwner(ctx, consentID, linkID)
	if !ok {
		return applied{result: consent.R(consent.RUnmatched)}, rep.ProductName, nil
	}
	a := applied{consent: c.ID, before: c.Status, after: c.Status, result: consent.R(consent.RStored)}
	if c.Status == consent.DeletedByUser {
		a.result = consent.R(consent.RDiscarded)
		return a, rep.ProductName, nil
	}
	wrote, err := s.ReportArrived(ctx, c, key, rep.ProductName, len(stored.Raw), rep.Code)
	if err != nil {
		return a, rep.ProductName, err
	}
	a.changed = wrote
	return a, rep.ProductName, nil
}

// ReportKey is the key a report is stored under: its productReportId, or the SHA-256 of its body when that is not a
// usable key (1–128 printable ASCII characters).
func ReportKey(rep *klavi.Report, body []byte) string {
	k := rep.ProductReportID
	if k == "" || len(k) > 128 {
		return bodyKey(body)
	}
	for i := 0; i < len(k); i++ {
		if k[i] <= ' ' || k[i] > '~' {
			return bodyKey(body)
		}
	}
	return k
}

func bodyKey(body []byte) string {
	sum := sha256.Sum256(body)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// ReportNames is the consent and link a report names: the first of its links and that link's first consent.
func ReportNames(rep *klavi.Report) (consentID, linkID string) {
	if len(rep.Links) > 0 {
		linkID = rep.Links[0].LinkID
		if len(rep.Links[0].Consents) > 0 {
			consentID = rep.Links[0].Consents[0].ConsentID
		}
	}
	return consentID, linkID
}

// joinResults combines item results the way the store does for a delivery: distinct ones, in order, "; " apart.
func joinResults(rs []string) string {
	var out []string
	seen := map[string]bool{}
	for _, r := range rs {
		if r != "" && !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	return strings.Join(out, "; ")
}
