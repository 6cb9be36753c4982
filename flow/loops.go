package flow

import (
	"context"
	"errors"
	"runtime/debug"
	"sync"
	"time"

	"github.com/klavi-demo/portal/consent"
	"github.com/klavi-demo/portal/klavi"
	"github.com/klavi-demo/portal/klavi/taxid"
	"github.com/klavi-demo/portal/store"
)

// Run processes the webhook inbox, reconciles pending consents and applies the retention period until ctx is
// done, after starting the one-off fill of missing holder refs. It blocks; a panic in one unit of work is
// recovered and logged (the item is retried later), so it never kills the process. Every loop lives here, so
// that running several replicas needs changing this one place.
func (s *Service) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(5)
	go func() { defer wg.Done(); s.safely(ctx, "holder refs", func() { s.BackfillHolderRefs(ctx) }) }()
	go func() { defer wg.Done(); s.runSweep(ctx) }()
	go func() { defer wg.Done(); s.runWorker(ctx) }()
	go func() { defer wg.Done(); s.runReconciler(ctx) }()
	go func() { defer wg.Done(); s.runRetention(ctx) }()
	wg.Wait()
}

// sweepEvery is how often expired sessions, spent setup tokens and stale sign-in failures are deleted.
const sweepEvery = 10 * time.Minute

// runSweep deletes, at start and then every sweepEvery, the access rows that can no longer be used.
func (s *Service) runSweep(ctx context.Context) {
	tick := time.NewTicker(sweepEvery)
	defer tick.Stop()
	for {
		s.safely(ctx, "sweep", func() {
			if _, err := s.st.SweepAccess(ctx, time.Hour); err != nil && ctx.Err() == nil {
				s.log.ErrorContext(ctx, "sweep expired sessions failed", "err", taxid.MaskErr(err))
			}
		})
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// retentionEvery is how often the retention purge runs (and once at start).
const retentionEvery = time.Hour

// runRetention erases, at start and then hourly, what is older than the retention period (LGPD art. 6 III:
// a demo keeps personal data only for a while). Off when the retention is 0.
func (s *Service) runRetention(ctx context.Context) {
	if s.retention <= 0 {
		return
	}
	tick := time.NewTicker(retentionEvery)
	defer tick.Stop()
	for {
		s.safely(ctx, "retention", func() { s.PurgeExpired(ctx) })
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// PurgeExpired runs one retention pass and logs what it erased (counts only).
func (s *Service) PurgeExpired(ctx context.Context) {
	n, err := s.st.PurgeExpired(ctx, s.now().Add(-s.retention))
	switch {
	case err != nil && ctx.Err() == nil:
		s.log.ErrorContext(ctx, "retention purge failed", "err", taxid.MaskErr(err))
	case n > 0:
		s.log.InfoContext(ctx, "retention purge", "links", n, "retention_days", int(s.retention/(24*time.Hour)))
	}
}

// runWorker drains the inbox when nudged by a receiver, and every second as a backstop.
func (s *Service) runWorker(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		s.safely(ctx, "inbox", func() { s.DrainInbox(ctx) })
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-tick.C:
		}
	}
}

// inboxLease is how long a replica holds the inbox items it claimed: past it, another replica may take over the
// items of one that died. It is far longer than processing an item takes (one Klavi call, 15 s at most).
const inboxLease = time.Minute

// DrainInbox processes pending inbox items until none is left (or ctx ends, or a whole batch failed).
func (s *Service) DrainInbox(ctx context.Context) {
	for ctx.Err() == nil {
		items, err := s.st.ClaimInbox(ctx, s.replica, inboxLease, 50)
		if err != nil {
			if ctx.Err() == nil {
				s.log.ErrorContext(ctx, "read inbox failed", "err", taxid.MaskErr(err))
			}
			return
		}
		if len(items) == 0 {
			return
		}
		progressed := false
		for _, it := range items {
			if ctx.Err() != nil {
				return
			}
			if s.processOne(ctx, it) {
				progressed = true
			}
		}
		if !progressed {
			return // everything failed: wait for the next tick instead of spinning
		}
	}
}

// processOne handles one inbox item with panic recovery; it reports whether the item was finished.
func (s *Service) processOne(ctx context.Context, it store.InboxItem) (finished bool) {
	var result string
	var err error
	func() {
		defer func() {
			if rec := recover(); rec != nil {
				s.log.ErrorContext(ctx, "panic processing inbox item", "inbox_id", it.ID,
					"panic", taxid.MaskPanic(rec), "stack", taxid.MaskText(string(debug.Stack())))
				result, err = "", errPanic
			}
		}()
		result, err = s.processInboxItem(ctx, it)
	}()
	bg := context.WithoutCancel(ctx)
	defer func() {
		// The delivery's result combines its items' (several events, or one given up after its last try).
		if it.DeliveryID != 0 {
			if serr := s.st.SettleDeliveryResult(bg, it.DeliveryID); serr != nil {
				s.log.WarnContext(ctx, "settle delivery result failed", "inbox_id", it.ID, "err", taxid.MaskErr(serr))
			}
		}
	}()
	if err != nil {
		if rerr := s.st.RetryInbox(bg, it.ID, consent.RetryResult(KlaviErr(err))); rerr != nil {
			s.log.ErrorContext(ctx, "retry inbox failed", "inbox_id", it.ID, "err", taxid.MaskErr(rerr))
		}
		return false
	}
	if ferr := s.st.FinishInbox(bg, it.ID, result); ferr != nil {
		s.log.ErrorContext(ctx, "finish inbox failed", "inbox_id", it.ID, "err", taxid.MaskErr(ferr))
		return false
	}
	return true
}

type panicError struct{}

func (panicError) Error() string { return "panic" }

var errPanic error = panicError{}

// runReconciler polls Klavi for consents that are not terminal, so a lost webhook never leaves a page stuck.
func (s *Service) runReconciler(ctx context.Context) {
	tick := time.NewTicker(s.pollInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		s.safely(ctx, "reconciler", func() { s.reconcileOnce(ctx) })
	}
}

// pollHold is how long a claimed poll keeps other replicas away from the consent; Poll then schedules the real
// next poll.
const pollHold = time.Minute

// reconcileOnce claims the consents that are due and polls them (one replica per consent, whatever their number).
func (s *Service) reconcileOnce(ctx context.Context) {
	due, err := s.st.ClaimDuePolls(ctx, s.now(), pollHold, 20)
	if err != nil {
		if ctx.Err() == nil {
			s.log.ErrorContext(ctx, "due for poll failed", "err", taxid.MaskErr(err))
		}
		return
	}
	for _, c := range due {
		if ctx.Err() != nil {
			return
		}
		s.safely(ctx, "poll", func() { s.Poll(ctx, c) })
	}
}

// Poll checks one consent at Klavi, as the reconciler does when it is due, and schedules the next check with
// backoff (base, 2×base, … 60 s).
func (s *Service) Poll(ctx context.Context, c store.Consent) {
	attempts := c.PollAttempts + 1
	cctx, cancel := context.WithTimeout(ForConsent(ctx, c), s.klaviTimeout)
	kc, err := s.kc.Consent(cctx, c.ID)
	cancel()
	changed := false
	if err == nil && kc.Status.Known() {
		after, aerr := s.ApplyStatus(ctx, c, consent.Status(kc.Status), kc.PermissionsGranted, kc.ExpireAt, FromPoll)
		if aerr == nil {
			if after.Status != c.Status {
				attempts = 1   // something moved: look again soon
				changed = true // setStatusLogged wrote the "A → B" entry
			}
			c = after
		}
	}
	switch {
	case err != nil && ctx.Err() == nil:
		s.pollEntry(ctx, c.ID, consent.M(consent.TLPollFailed), KlaviErr(err), false)
	case err == nil && !changed:
		s.pollEntry(ctx, c.ID, consent.M(consent.TLPollUnchanged, string(kc.Status)), consent.Msg{}, true)
	}
	s.askAgainForMissingReports(ctx, c)
	next := s.backoff(attempts)
	switch {
	case errors.Is(err, klavi.ErrNotFound):
		// Klavi does not know it (e.g. an embedded sandbox restarted with an older database): look rarely.
		next = time.Hour
	case c.Status == consent.Authorised && c.ReportsRequestedAt != nil:
		// Nothing left to do but notice a revocation made at the bank (which may send no event).
		next = 5 * time.Minute
	}
	if err := s.st.SchedulePoll(context.WithoutCancel(ctx), c.ID, s.now().Add(next), attempts); err != nil {
		s.log.WarnContext(ctx, "schedule poll failed", "err", taxid.MaskErr(err))
	}
}

// missingReportsAfter is how long after the report request the reconciler waits for a first report before asking
// Klavi once more: Klavi's own webhook retries are over well within it (docs/klavi.md#webhooks).
const missingReportsAfter = 10 * time.Minute

// askAgainForMissingReports requests an AUTHORISED consent's reports a second time, once, when none has arrived
// missingReportsAfter after the first request (a lost report webhook).
func (s *Service) askAgainForMissingReports(ctx context.Context, c store.Consent) {
	if c.Status != consent.Authorised || c.ReportsRequestedAt == nil ||
		s.now().Sub(*c.ReportsRequestedAt) < missingReportsAfter {
		return
	}
	released, err := s.st.ReleaseMissingReports(context.WithoutCancel(ctx), c.ID, s.now().Add(-missingReportsAfter))
	if err != nil || !released {
		return
	}
	s.Record(ctx, c.ID, "reports", consent.M(consent.TLReportsMissing), consent.Msg{}, false)
	_ = s.RequestReports(ctx, c, FromReconciler)
}

// pollEntry records a poll on the consent's timeline; polls that keep seeing the same thing share one entry.
func (s *Service) pollEntry(ctx context.Context, consentID string, title, detail consent.Msg, ok bool) {
	err := s.st.AddTimelineCoalesced(context.WithoutCancel(ctx), store.TimelineEntry{
		ConsentID: consentID, Kind: "poll", Title: title, Detail: detail, OK: ok, At: s.now(),
	})
	if err != nil {
		s.log.WarnContext(ctx, "timeline write failed", "kind", "poll", "err", taxid.MaskErr(err))
	}
}

// backoff is pollInterval·2^(attempts-1), capped at one minute.
func (s *Service) backoff(attempts int) time.Duration {
	d := s.pollInterval
	for i := 1; i < attempts && d < time.Minute; i++ {
		d *= 2
	}
	return min(d, time.Minute)
}

// safely runs fn, recovering and logging a panic.
func (s *Service) safely(ctx context.Context, what string, fn func()) {
	defer func() {
		if rec := recover(); rec != nil {
			s.log.ErrorContext(ctx, "panic in background work", "what", what,
				"panic", taxid.MaskPanic(rec), "stack", taxid.MaskText(string(debug.Stack())))
		}
	}()
	fn()
}

// HolderRefBatch is how many consents BackfillHolderRefs reads at a time.
const HolderRefBatch = 200

// BackfillHolderRefs gives a holder ref to every consent that has a tax id but none yet (rows stored before the
// column existed). Run calls it once at start, next to the request handlers: each row is one UPDATE that the store
// skips if the consent was purged meanwhile, so it is safe alongside everything else. It returns how many it set.
func (s *Service) BackfillHolderRefs(ctx context.Context) int {
	n, after := 0, ""
	for ctx.Err() == nil {
		batch, err := s.st.ConsentsMissingHolderRef(ctx, after, HolderRefBatch)
		if err != nil {
			if ctx.Err() == nil {
				s.log.ErrorContext(ctx, "holder ref backfill failed", "err", taxid.MaskErr(err))
			}
			break
		}
		for _, c := range batch {
			after = c.ID
			ref := s.ConsentHolderRef(c)
			if ref == "" {
				continue // e.g. a personal consent holding only a CNPJ: it is listed, just not searchable
			}
			set, err := s.st.SetHolderRef(ctx, c.ID, ref)
			if err != nil {
				if ctx.Err() == nil {
					s.log.ErrorContext(ctx, "holder ref backfill failed", "err", taxid.MaskErr(err))
				}
				return n
			}
			if set {
				n++
			}
		}
		if len(batch) < HolderRefBatch {
			break
		}
	}
	if n > 0 {
		s.log.InfoContext(ctx, "holder refs backfilled", "consents", n)
	}
	return n
}
