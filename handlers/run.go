package handlers

import (
	"context"
	"errors"
	"runtime/debug"
	"sync"
	"time"

	"github.com/klavi-demo/portal/klavi"
	"github.com/klavi-demo/portal/klavi/taxid"
	"github.com/klavi-demo/portal/store"
)

// Run processes the webhook inbox and reconciles pending consents until ctx is done, after starting the
// one-off fill of missing holder refs. It blocks; a panic in one unit of work is recovered and logged (the item
// is retried later), so it never kills the process.
func (s *Server) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(4)
	go func() { defer wg.Done(); s.safely(ctx, "holder refs", func() { s.backfillHolderRefs(ctx) }) }()
	go func() { defer wg.Done(); s.runWorker(ctx) }()
	go func() { defer wg.Done(); s.runReconciler(ctx) }()
	go func() { defer wg.Done(); s.runRetention(ctx) }()
	wg.Wait()
}

// retentionEvery is how often the retention purge runs (and once at start).
const retentionEvery = time.Hour

// runRetention erases, at start and then hourly, what is older than the retention period (LGPD art. 6 III:
// a demo keeps personal data only for a while). Off when the retention is 0.
func (s *Server) runRetention(ctx context.Context) {
	if s.retention <= 0 {
		return
	}
	tick := time.NewTicker(retentionEvery)
	defer tick.Stop()
	for {
		s.safely(ctx, "retention", func() { s.purgeExpired(ctx) })
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// purgeExpired runs one retention pass and logs what it erased (counts only).
func (s *Server) purgeExpired(ctx context.Context) {
	n, err := s.st.PurgeExpired(ctx, s.now().Add(-s.retention))
	switch {
	case err != nil && ctx.Err() == nil:
		s.log.ErrorContext(ctx, "retention purge failed", "err", safeErr(err))
	case n > 0:
		s.log.InfoContext(ctx, "retention purge", "links", n, "retention_days", int(s.retention/(24*time.Hour)))
	}
}

// runWorker drains the inbox when nudged by a receiver, and every second as a backstop.
func (s *Server) runWorker(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		s.safely(ctx, "inbox", func() { s.drainInbox(ctx) })
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
		case <-tick.C:
		}
	}
}

// drainInbox processes pending items until none is left (or ctx ends).
func (s *Server) drainInbox(ctx context.Context) {
	for ctx.Err() == nil {
		items, err := s.st.PendingInbox(ctx, 50)
		if err != nil {
			if ctx.Err() == nil {
				s.log.ErrorContext(ctx, "read inbox failed", "err", safeErr(err))
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
func (s *Server) processOne(ctx context.Context, it store.InboxItem) (finished bool) {
	var result string
	var err error
	func() {
		defer func() {
			if rec := recover(); rec != nil {
				s.log.ErrorContext(ctx, "panic processing inbox item", "inbox_id", it.ID,
					"panic", taxid.MaskText(panicText(rec)), "stack", taxid.MaskText(string(debug.Stack())))
				result, err = "panic", errPanic
			}
		}()
		result, err = s.processInboxItem(ctx, it)
	}()
	bg := context.WithoutCancel(ctx)
	defer func() {
		// The delivery's result combines its items' (several events, or one given up after its last try).
		if it.DeliveryID != 0 {
			if serr := s.st.SettleDeliveryResult(bg, it.DeliveryID); serr != nil {
				s.log.WarnContext(ctx, "settle delivery result failed", "inbox_id", it.ID, "err", safeErr(serr))
			}
		}
	}()
	if err != nil {
		if rerr := s.st.RetryInbox(bg, it.ID, "retry: "+klaviErrText(err)); rerr != nil {
			s.log.ErrorContext(ctx, "retry inbox failed", "inbox_id", it.ID, "err", safeErr(rerr))
		}
		return false
	}
	if ferr := s.st.FinishInbox(bg, it.ID, result); ferr != nil {
		s.log.ErrorContext(ctx, "finish inbox failed", "inbox_id", it.ID, "err", safeErr(ferr))
		return false
	}
	return true
}

type panicError struct{}

func (panicError) Error() string { return "panic" }

var errPanic error = panicError{}

// runReconciler polls Klavi for consents that are not terminal, so a lost webhook never leaves a page stuck.
func (s *Server) runReconciler(ctx context.Context) {
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

// reconcileOnce polls every consent that is due.
func (s *Server) reconcileOnce(ctx context.Context) {
	due, err := s.st.DueForPoll(ctx, s.now(), 20)
	if err != nil {
		if ctx.Err() == nil {
			s.log.ErrorContext(ctx, "due for poll failed", "err", safeErr(err))
		}
		return
	}
	for _, c := range due {
		if ctx.Err() != nil {
			return
		}
		s.safely(ctx, "poll", func() { s.pollConsent(ctx, c) })
	}
}

// pollConsent checks one consent at Klavi and schedules the next check with backoff (base, 2×base, … 60 s).
func (s *Server) pollConsent(ctx context.Context, c store.Consent) {
	attempts := c.PollAttempts + 1
	cctx, cancel := context.WithTimeout(ctx, s.klaviTimeout)
	kc, err := s.kc.Consent(cctx, c.ID)
	cancel()
	changed := false
	if err == nil && kc.Status.Known() {
		after, aerr := s.applyStatus(ctx, c, string(kc.Status), kc.PermissionsGranted, kc.ExpireAt, "poll")
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
		s.pollEntry(ctx, c.ID, "poll: GET /consents/{id} failed", klaviErrText(err), false)
	case err == nil && !changed:
		s.pollEntry(ctx, c.ID, "poll: GET /consents/{id}: "+string(kc.Status)+" (unchanged)", "", true)
	}
	s.askAgainForMissingReports(ctx, c)
	next := s.backoff(attempts)
	switch {
	case errors.Is(err, klavi.ErrNotFound):
		// Klavi does not know it (e.g. an embedded sandbox restarted with an older database): look rarely.
		next = time.Hour
	case c.Status == string(klavi.StatusAuthorised) && c.ReportsRequestedAt != nil:
		// Nothing left to do but notice a revocation made at the bank (which may send no event).
		next = 5 * time.Minute
	}
	if err := s.st.SchedulePoll(context.WithoutCancel(ctx), c.ID, s.now().Add(next), attempts); err != nil {
		s.log.WarnContext(ctx, "schedule poll failed", "err", safeErr(err))
	}
}

// missingReportsAfter is how long after the report request the reconciler waits for a first report before asking
// Klavi once more (its webhook retries are over within about a minute: reliability.md §0.3).
const missingReportsAfter = 10 * time.Minute

// askAgainForMissingReports requests an AUTHORISED consent's reports a second time, once, when none has arrived
// missingReportsAfter after the first request (a lost report webhook).
func (s *Server) askAgainForMissingReports(ctx context.Context, c store.Consent) {
	if c.Status != string(klavi.StatusAuthorised) || c.ReportsRequestedAt == nil ||
		s.now().Sub(*c.ReportsRequestedAt) < missingReportsAfter {
		return
	}
	released, err := s.st.ReleaseMissingReports(context.WithoutCancel(ctx), c.ID, s.now().Add(-missingReportsAfter))
	if err != nil || !released {
		return
	}
	s.timeline(ctx, c.ID, "reports", "reports: none arrived 10 min after the request; asking Klavi again", "", false)
	_ = s.requestReports(ctx, c, "reconciler")
}

// pollEntry records a poll on the consent's timeline; polls that keep seeing the same thing share one entry.
func (s *Server) pollEntry(ctx context.Context, consentID, title, detail string, ok bool) {
	err := s.st.AddTimelineCoalesced(context.WithoutCancel(ctx), store.TimelineEntry{
		ConsentID: consentID, Kind: "poll", Title: title, Detail: detail, OK: ok, At: s.now(),
	})
	if err != nil {
		s.log.WarnContext(ctx, "timeline write failed", "kind", "poll", "err", safeErr(err))
	}
}

// backoff is pollInterval·2^(attempts-1), capped at one minute.
func (s *Server) backoff(attempts int) time.Duration {
	d := s.pollInterval
	for i := 1; i < attempts && d < time.Minute; i++ {
		d *= 2
	}
	return min(d, time.Minute)
}

// safely runs fn, recovering and logging a panic.
func (s *Server) safely(ctx context.Context, what string, fn func()) {
	defer func() {
		if rec := recover(); rec != nil {
			s.log.ErrorContext(ctx, "panic in background work", "what", what,
				"panic", taxid.MaskText(panicText(rec)), "stack", taxid.MaskText(string(debug.Stack())))
		}
	}()
	fn()
}
