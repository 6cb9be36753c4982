package diag

import (
	"cmp"
	"context"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klavi-demo/portal/klavi"
	"github.com/klavi-demo/portal/klavi/taxid"
	"github.com/klavi-demo/portal/store"
)

// Window is how far back the diagnostics page looks at the Klavi calls this replica made.
const Window = 15 * time.Minute

// RingSize bounds the calls the window remembers: the newest RingSize attempts, whatever their age. At Klavi's
// pace for this portal (a few calls per consent, polls every few seconds) that is far more than 15 minutes; when
// it is not, the page says the figures cover the newest RingSize attempts only.
const RingSize = 4096

// callLogQueue bounds the call-log rows waiting to be written; beyond it rows are dropped (and counted), so a slow
// database never slows a Klavi call down.
const callLogQueue = 1024

// Recorder watches every HTTP attempt the Klavi client makes (pass Observe to klavi.WithObserver): it keeps a
// bounded window of recent attempts for the page's per-endpoint figures, the last clock skew seen in Klavi's Date
// header, and queues the attempts made for a link or consent (klavi.WithSubject) for the call log in the store,
// which WriteCallLog writes. Everything but the call log is in memory, per replica.
type Recorder struct {
	now func() time.Time

	mu     sync.Mutex
	ring   []sample // circular, RingSize long once full
	next   int      // where the next sample goes
	skew   time.Duration
	skewPM time.Duration // the estimate's uncertainty, ±
	skewAt time.Time     // zero: no Date header seen yet

	queue   chan store.KlaviCall
	dropped atomic.Int64
}

// sample is one attempt as the window keeps it.
type sample struct {
	method, endpoint string
	start            time.Time
	took             time.Duration
	failed           bool
}

// NewRecorder returns an empty recorder; now is the clock of the window (nil: time.Now).
func NewRecorder(now func() time.Time) *Recorder {
	if now == nil {
		now = time.Now
	}
	return &Recorder{now: now, queue: make(chan store.KlaviCall, callLogQueue)}
}

// Observe records one attempt. It is quick and never blocks: the Klavi client calls it synchronously.
func (r *Recorder) Observe(ctx context.Context, c klavi.Call) {
	s := sample{method: c.Method, endpoint: c.Endpoint, start: c.Start, took: c.Duration, failed: c.Failed()}
	r.mu.Lock()
	if len(r.ring) < RingSize {
		r.ring = append(r.ring, s)
	} else {
		r.ring[r.next] = s
	}
	r.next = (r.next + 1) % RingSize
	if !c.Date.IsZero() {
		r.skew, r.skewPM, r.skewAt = skewOf(c), skewUncertainty(c), c.Start.Add(c.Duration)
	}
	r.mu.Unlock()

	klavi.Attribute(ctx, func(sub klavi.Subject) {
		row := store.KlaviCall{ConsentID: sub.ConsentID, LinkID: sub.LinkID, At: c.Start, Method: c.Method,
			Endpoint: c.Endpoint, Status: c.Status, Attempt: c.Attempt, Duration: c.Duration, RequestID: c.RequestID}
		select {
		case r.queue <- row:
		default:
			r.dropped.Add(1)
		}
	})
}

// skewOf estimates how far Klavi's clock is ahead of ours (negative: behind) from one answer. The Date header has
// whole seconds, so Klavi's time when it answered lies in [Date, Date+1s): its middle is taken; ours is the
// middle of the attempt. The estimate is good to about half a second plus half the attempt's duration.
func skewOf(c klavi.Call) time.Duration {
	theirs := c.Date.Add(500 * time.Millisecond)
	ours := c.Start.Add(c.Duration / 2)
	return theirs.Sub(ours)
}

// skewUncertainty is how far skewOf may be off: half a second of the Date header's rounding, plus half the attempt
// (Klavi answered at some instant within it).
func skewUncertainty(c klavi.Call) time.Duration { return 500*time.Millisecond + c.Duration/2 }

// Skew returns the last clock skew observed, its uncertainty (±) and when; ok is false before any answer with a
// Date header.
func (r *Recorder) Skew() (skew, uncertainty time.Duration, at time.Time, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.skew, r.skewPM, r.skewAt, !r.skewAt.IsZero()
}

// EndpointStats are the figures of one endpoint (method and path template) over the window.
type EndpointStats struct {
	Method, Endpoint string
	Calls            int           // attempts
	Failures         int           // attempts without an answer, or answered 5xx or 429 (klavi.Call.Failed)
	P95              time.Duration // 95th percentile of the attempts' durations (nearest rank)
}

// FailureRate is Failures / Calls (0 without calls).
func (e EndpointStats) FailureRate() float64 {
	if e.Calls == 0 {
		return 0
	}
	return float64(e.Failures) / float64(e.Calls)
}

// Stats returns the figures per endpoint over the Window before now, busiest first; truncated is true when the ring
// was full and its oldest attempt is inside the window (older attempts of the window were forgotten).
func (r *Recorder) Stats(now time.Time) (stats []EndpointStats, truncated bool) {
	from := now.Add(-Window)
	type key struct{ method, endpoint string }
	durations := map[key][]time.Duration{}
	failures := map[key]int{}
	r.mu.Lock()
	oldest := time.Time{}
	for _, s := range r.ring {
		if oldest.IsZero() || s.start.Before(oldest) {
			oldest = s.start
		}
		if s.start.Before(from) || s.start.After(now) {
			continue
		}
		k := key{s.method, s.endpoint}
		durations[k] = append(durations[k], s.took)
		if s.failed {
			failures[k]++
		}
	}
	truncated = len(r.ring) == RingSize && !oldest.Before(from)
	r.mu.Unlock()
	for k, ds := range durations {
		stats = append(stats, EndpointStats{Method: k.method, Endpoint: k.endpoint, Calls: len(ds),
			Failures: failures[k], P95: percentile(ds, 95)})
	}
	slices.SortFunc(stats, func(a, b EndpointStats) int {
		return cmp.Or(cmp.Compare(b.Calls, a.Calls), cmp.Compare(a.Endpoint, b.Endpoint), cmp.Compare(a.Method, b.Method))
	})
	return stats, truncated
}

// percentile is the nearest-rank p-th percentile of ds (which it sorts).
func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	rank := (p*len(ds) + 99) / 100 // ceil(p/100 · n), at least 1
	return ds[max(rank, 1)-1]
}

// Dropped is how many call-log rows were dropped because the queue was full.
func (r *Recorder) Dropped() int64 { return r.dropped.Load() }

// callLogBatch is how many rows one store transaction writes at most.
const callLogBatch = 100

// WriteCallLog writes the queued call-log rows to st, in batches, until ctx ends; then it writes what is still
// queued (within a few seconds) and returns. main runs it beside the lifecycle's loops.
func (r *Recorder) WriteCallLog(ctx context.Context, st *store.Store, log *slog.Logger) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	write := func(batch []store.KlaviCall) {
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := st.AddKlaviCalls(wctx, batch); err != nil {
			log.WarnContext(ctx, "klavi call log write failed", "rows", len(batch), "err", taxid.MaskErr(err))
		}
	}
	// more adds what is queued, without waiting, until the batch is full.
	more := func(batch []store.KlaviCall) []store.KlaviCall {
		for len(batch) < callLogBatch {
			select {
			case row := <-r.queue:
				batch = append(batch, row)
			default:
				return batch
			}
		}
		return batch
	}
	batch := make([]store.KlaviCall, 0, callLogBatch)
	for {
		select {
		case <-ctx.Done():
			for {
				if batch = more(batch[:0]); len(batch) == 0 {
					return
				}
				write(batch)
			}
		case row := <-r.queue:
			write(more(append(batch[:0], row)))
		}
	}
}
