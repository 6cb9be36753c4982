// Package metrics defines the portal's Prometheus series and serves them, with Go's profiler, on a listener of
// their own (METRICS_ADDR), never on the public router.
//
// Everything is registered on a registry the caller builds (main: prometheus.NewRegistry, never the global default),
// so tests get fresh counters and nothing else in the process can add series behind our back. The packages that
// record do not import Prometheus: handlers calls the small handlers.Metrics interface, which *Metrics implements;
// the Klavi client reports through klavi.WithObserver(m.ObserveKlavi); the store and the breaker are read at scrape
// time by the collector of NewStateCollector. Label values are fixed words, chi route patterns or Klavi path
// templates: never a raw path, an id or a tax id (docs/architecture.md#metrics).
package metrics

import (
	"context"
	"errors"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/klavi-demo/portal/klavi"
)

// UnmatchedRoute is the route label of a request that no route matched (404s for unknown paths): the raw path is
// never a label.
const UnmatchedRoute = "unmatched"

// The result label of portal_webhook_deliveries_total.
const (
	WebhookAccepted     = "accepted"      // stored (at least one new event, or a new report)
	WebhookDuplicate    = "duplicate"     // valid, but everything in it was already stored
	WebhookBadSignature = "bad_signature" // X-Klavi-Signature missing or wrong: 401
	WebhookTooLarge     = "too_large"     // over the receiver's body limit: 413
	WebhookInvalid      = "invalid"       // signed but unusable (malformed JSON, legacy format) or not JSON: 400, 415
	WebhookForbidden    = "forbidden"     // source outside WEBHOOK_ALLOWLIST: 403
	WebhookError        = "error"         // could not be stored (database): 503, Klavi retries
)

// WebhookKinds and WebhookResults are every value of the kind and result labels; each pair is created at start
// with 0, so a dashboard shows a flat line instead of "no data" until the first delivery of that kind.
var (
	WebhookKinds   = []string{"event", "report"}
	WebhookResults = []string{WebhookAccepted, WebhookDuplicate, WebhookBadSignature, WebhookTooLarge,
		WebhookInvalid, WebhookForbidden, WebhookError}
)

// KlaviNoResponse is the code label of a Klavi attempt that got no HTTP response (network error, timeout).
const KlaviNoResponse = "error"

// klaviBuckets reach 30 s: a Klavi call may take up to the 15-second page budget (docs/reliability.md#klavi-calls).
var klaviBuckets = []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 15, 30}

// Metrics holds the series the portal records as things happen. Its methods are safe for concurrent use.
type Metrics struct {
	httpRequests  *prometheus.CounterVec
	httpDuration  *prometheus.HistogramVec
	webhooks      *prometheus.CounterVec
	webhookSeries map[[2]string]prometheus.Counter // kind, result → its pre-created counter
	klaviRequests *prometheus.CounterVec
	klaviDuration *prometheus.HistogramVec
}

// New creates the portal's series and registers them on reg, with the Go runtime and process collectors.
func New(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		httpRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portal_http_requests_total",
			Help: "HTTP requests answered by the portal, by chi route pattern and status code.",
		}, []string{"route", "code"}),
		httpDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "portal_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by chi route pattern.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route"}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portal_webhook_deliveries_total",
			Help: "Webhook deliveries received from Klavi, by kind (event, report) and result.",
		}, []string{"kind", "result"}),
		webhookSeries: map[[2]string]prometheus.Counter{},
		klaviRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portal_klavi_requests_total",
			Help: `HTTP attempts to Klavi (retries included), by endpoint ("METHOD /path/{template}") and status code ("error": no response).`,
		}, []string{"endpoint", "code"}),
		klaviDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "portal_klavi_request_duration_seconds",
			Help:    `Duration of HTTP attempts to Klavi, by endpoint ("METHOD /path/{template}").`,
			Buckets: klaviBuckets,
		}, []string{"endpoint"}),
	}
	for _, kind := range WebhookKinds {
		for _, result := range WebhookResults {
			m.webhookSeries[[2]string{kind, result}] = m.webhooks.WithLabelValues(kind, result)
		}
	}
	var errs []error
	for _, c := range []prometheus.Collector{m.httpRequests, m.httpDuration, m.webhooks, m.klaviRequests,
		m.klaviDuration, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		errs = append(errs, reg.Register(c))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return m, nil
}

// HTTPRoute returns the recorder of one route pattern, to be called once per answered request with its status
// code and duration. The route's series are bound here, once, so a request costs two atomic updates and no
// allocation: no label hashing, no map lookup.
func (m *Metrics) HTTPRoute(route string) func(code int, d time.Duration) {
	r := &routeSeries{
		duration: m.httpDuration.WithLabelValues(route),
		requests: m.httpRequests.MustCurryWith(prometheus.Labels{"route": route}),
	}
	return r.observe
}

type routeSeries struct {
	duration prometheus.Observer
	requests *prometheus.CounterVec // curried with the route
	// byCode caches the counter of each status code 100–599, made on the code's first request.
	byCode [500]atomic.Pointer[counter]
}

type counter struct{ prometheus.Counter }

func (r *routeSeries) observe(code int, d time.Duration) {
	r.duration.Observe(d.Seconds())
	if code < 100 || code > 599 {
		r.requests.WithLabelValues(strconv.Itoa(code)).Inc() // never sent by net/http's server; not worth a slot
		return
	}
	slot := &r.byCode[code-100]
	c := slot.Load()
	if c == nil {
		// Two first requests may race here: both get the vector's one child for this code, so either store is right.
		c = &counter{r.requests.WithLabelValues(strconv.Itoa(code))}
		slot.Store(c)
	}
	c.Inc()
}

// WebhookDelivery counts one webhook delivery of kind ("event" or "report") with its result (WebhookResults).
func (m *Metrics) WebhookDelivery(kind, result string) {
	if c, ok := m.webhookSeries[[2]string{kind, result}]; ok {
		c.Inc()
		return
	}
	m.webhooks.WithLabelValues(kind, result).Inc() // a word the lists above lack: still counted, not pre-created
}

// ObserveKlavi records one HTTP attempt to Klavi; pass it to klavi.WithObserver. The endpoint label is the method
// and the path template ("GET /consents/{consentId}"), never the concrete path.
func (m *Metrics) ObserveKlavi(_ context.Context, c klavi.Call) {
	endpoint := c.Method + " " + c.Endpoint
	code := KlaviNoResponse
	if c.Status > 0 {
		code = strconv.Itoa(c.Status)
	}
	m.klaviRequests.WithLabelValues(endpoint, code).Inc()
	m.klaviDuration.WithLabelValues(endpoint).Observe(c.Duration.Seconds())
}
