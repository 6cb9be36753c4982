package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/klavi-demo/portal/consent"
)

// Store is what the scrape-time gauges read from the database (*store.Store implements it).
type Store interface {
	InboxPending(ctx context.Context) (pending int, oldest time.Time, err error)
	ConsentCountsByStatus(ctx context.Context) (map[consent.Status]int, error)
}

// Breaker is the Klavi client's circuit breaker as the gauge reads it (*klavi.Client implements it).
type Breaker interface {
	BreakerState() string // "closed", "open" or "half-open"
}

// DefaultStateTimeout bounds the database reads of one scrape.
const DefaultStateTimeout = 2 * time.Second

// StateOptions configure NewStateCollector.
type StateOptions struct {
	Store   Store            // required
	Breaker Breaker          // nil: no portal_klavi_breaker_open
	Now     func() time.Time // default time.Now
	Timeout time.Duration    // default DefaultStateTimeout
}

// stateCollector computes its gauges when Prometheus scrapes, from the store and the breaker, so they are never
// stale and nothing runs between scrapes.
type stateCollector struct {
	o                                   StateOptions
	inboxPending, inboxOldest, consents *prometheus.Desc
	breakerOpen                         *prometheus.Desc
}

// NewStateCollector returns the collector of the gauges read at scrape time:
//
//   - portal_inbox_pending and portal_inbox_oldest_pending_seconds: the webhook inbox's unprocessed items and the
//     age of the oldest (0 when none);
//   - portal_consents{status}: consents per status, every status of consent.All present (0 when none);
//   - portal_klavi_breaker_open: 1 while the circuit breaker refuses calls ("open"), else 0. "half-open" counts as
//     0: the cooldown is over and the next call goes out as the probe, so no call is being refused.
//
// A database read that fails or takes longer than the timeout drops its gauges from that scrape (the error is
// reported to the handler, which logs it and serves everything else).
func NewStateCollector(o StateOptions) prometheus.Collector {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultStateTimeout
	}
	return &stateCollector{
		o: o,
		inboxPending: prometheus.NewDesc("portal_inbox_pending",
			"Webhook inbox items not processed yet (claimed ones included).", nil, nil),
		inboxOldest: prometheus.NewDesc("portal_inbox_oldest_pending_seconds",
			"Age of the oldest unprocessed webhook inbox item; 0 when none is pending.", nil, nil),
		consents: prometheus.NewDesc("portal_consents",
			"Consents in the database, by status.", []string{"status"}, nil),
		breakerOpen: prometheus.NewDesc("portal_klavi_breaker_open",
			"1 while the Klavi client's circuit breaker refuses calls (open), 0 when closed or half-open.", nil, nil),
	}
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.inboxPending
	ch <- c.inboxOldest
	ch <- c.consents
	if c.o.Breaker != nil {
		ch <- c.breakerOpen
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.o.Timeout)
	defer cancel()

	if pending, oldest, err := c.o.Store.InboxPending(ctx); err != nil {
		ch <- prometheus.NewInvalidMetric(c.inboxPending, err)
	} else {
		age := 0.0
		if pending > 0 && !oldest.IsZero() {
			age = max(c.o.Now().Sub(oldest).Seconds(), 0)
		}
		ch <- prometheus.MustNewConstMetric(c.inboxPending, prometheus.GaugeValue, float64(pending))
		ch <- prometheus.MustNewConstMetric(c.inboxOldest, prometheus.GaugeValue, age)
	}

	if counts, err := c.o.Store.ConsentCountsByStatus(ctx); err != nil {
		ch <- prometheus.NewInvalidMetric(c.consents, err)
	} else {
		// Only the statuses of consent.All: a fixed set of series, whatever the database holds.
		for _, st := range consent.All {
			ch <- prometheus.MustNewConstMetric(c.consents, prometheus.GaugeValue, float64(counts[st]), string(st))
		}
	}

	if c.o.Breaker != nil {
		open := 0.0
		if c.o.Breaker.BreakerState() == "open" {
			open = 1
		}
		ch <- prometheus.MustNewConstMetric(c.breakerOpen, prometheus.GaugeValue, open)
	}
}
