// Package sandbox is an offline simulator of Klavi's Open Finance "API Only"
// integration. It speaks the wire contract of docs/klavi.md (its own
// JSON structs; it never imports the portal's klavi package), keeps its state
// in memory, serves fake bank and LGPD pages and sends signed webhooks.
//
// A *Sandbox is an http.Handler serving:
//
//	/data/v1/...          the Klavi REST API (docs/klavi.md#endpoints)
//	/bank/...             the simulated bank and Klavi LGPD pages (and their script, /bank/static/bank.js)
//	/manage               the simulated Klavi management portal (DELETED_BY_USER)
//	/logos/{code}.svg     institution logos
//	/                     a small index page with the scenario table
package sandbox

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"
)

// Options configures a Sandbox. Zero values get the documented defaults.
type Options struct {
	// AccessKey and SecretKey are the only accepted key pair for POST /auth.
	// SecretKey also signs every webhook (X-Klavi-Signature).
	AccessKey, SecretKey string
	// PublicURL is how browsers reach the sandbox, e.g. "http://localhost:8090";
	// used for consentRedirectURL, linkURL and institution avatars.
	PublicURL string
	// EventsURL receives every event webhook (Klavi's Console setting). Empty
	// disables event delivery.
	EventsURL string
	// ReportsURL is the global report webhook, used when neither the report
	// request nor the link names a productsCallbackURL for the product.
	ReportsURL string
	// Now is the clock; default time.Now. Tests inject a fake clock.
	Now func() time.Time
	// Logger receives method, route pattern and status only; default discards.
	Logger *slog.Logger
	// HTTPClient sends webhooks; default a client following at most 3 redirects.
	HTTPClient *http.Client
	// TokenTTL is the lifetime of accessTokens and linkTokens (default 1800 s).
	TokenTTL time.Duration
	// RedirectTTL is how long a consentRedirectURL may be opened (default 60 s).
	RedirectTTL time.Duration
	// IdleTimeout turns inactive, unfinished consents into EXPIRED (default 30 min).
	IdleTimeout time.Duration
	// FlowTimeout is the 60-minute rule (docs/klavi.md#consents): a consent still
	// unfinished (STARTED or AWAITING_*) this long after its creation becomes
	// REJECTED, whatever its activity (default 60 min). When it and IdleTimeout
	// are both overdue, the earlier deadline decides.
	FlowTimeout time.Duration
	// EventsAsObject sends each event webhook as a single JSON object instead
	// of the documented one-element array (docs/klavi.md#webhooks: live
	// bodies may be either). Default false: array.
	EventsAsObject bool
	// AutoReports sends the person type's default reports after AUTHORISED.
	AutoReports bool
	// RetryBase is the first webhook retry delay, doubling on each of the up to 5
	// retries (default 250 ms). Each attempt times out after 10 s
	// (docs/klavi.md#webhooks).
	RetryBase time.Duration
	// ReportDelay is the pause between a report request and its first report
	// (default 300 ms).
	ReportDelay time.Duration
}

const (
	maxBodyBytes            = 1 << 20
	maxRetries              = 5
	defaultAttemptTimeout   = 10 * time.Second
	defaultWebhookFirstWait = 5 * time.Second
	slowReportDelay         = 5 * time.Second
	defaultHoldRelease      = 60 * time.Second
	defaultSweepEvery       = time.Second
	// maxSending bounds the webhook POSTs in flight at once, across links, as a sender's pool of workers does:
	// a receiver that answers slowly then has at most this many deliveries (bodies, connections, goroutines) in
	// hand instead of one per busy link (docs/benchmarks.md#200-users-walking-the-flow). Order within a link is
	// unchanged.
	maxSending = 64
)

// Sandbox is the simulator. Create it with New and release it with Close.
type Sandbox struct {
	o      Options
	now    func() time.Time
	log    *slog.Logger
	client *http.Client
	router chi.Router

	// slowDelay is the report delay of the "slow reports" scenario; tests shorten it.
	slowDelay time.Duration
	// attemptTimeout bounds each webhook POST (10 s, docs/klavi.md#webhooks);
	// tests shorten it.
	attemptTimeout time.Duration
	// webhookFirstWait caps how long the "webhook before the browser returns"
	// scenario holds the 302 while its consent event is being delivered
	// (default 5 s, well inside a server's WriteTimeout); tests shorten it.
	webhookFirstWait time.Duration
	// holdRelease bounds how long the "events out of order" scenario holds
	// consent_authorised back when no later consent event overtakes it
	// (default 60 s); tests shorten it.
	holdRelease time.Duration

	mu       sync.Mutex
	tokens   map[string]tokenInfo
	links    map[string]*link
	consents map[string]*consent
	order    []string          // consent ids in creation order
	trackIDs map[string]string // externalTrackId → consentId
	tickets  map[string]*redirectTicket
	steps    map[string]string // step ticket → consentId
	faults   map[string][]Fault

	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	out     outbox
	sending chan struct{} // one slot per webhook POST in flight (maxSending)
}

// New builds a Sandbox and starts its background sweeper (idle expiry).
func New(o Options) *Sandbox {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.TokenTTL <= 0 {
		o.TokenTTL = 1800 * time.Second
	}
	if o.RedirectTTL <= 0 {
		o.RedirectTTL = 60 * time.Second
	}
	if o.IdleTimeout <= 0 {
		o.IdleTimeout = 30 * time.Minute
	}
	if o.FlowTimeout <= 0 {
		o.FlowTimeout = 60 * time.Minute
	}
	if o.RetryBase <= 0 {
		o.RetryBase = 250 * time.Millisecond
	}
	if o.ReportDelay <= 0 {
		o.ReportDelay = 300 * time.Millisecond
	}
	client := o.HTTPClient
	if client == nil {
		// Keep a connection for each sending slot: with the default two idle connections per host, most
		// deliveries to a busy receiver would dial anew.
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = maxSending
		client = &http.Client{Transport: t, CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > 3 { // Klavi follows at most 3 redirects (docs/klavi.md#webhooks)
				return http.ErrUseLastResponse
			}
			return nil
		}}
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Sandbox{
		o:                o,
		now:              func() time.Time { return o.Now().UTC() },
		log:              o.Logger,
		client:           client,
		slowDelay:        slowReportDelay,
		attemptTimeout:   defaultAttemptTimeout,
		webhookFirstWait: defaultWebhookFirstWait,
		holdRelease:      defaultHoldRelease,
		tokens:           make(map[string]tokenInfo),
		links:            make(map[string]*link),
		consents:         make(map[string]*consent),
		trackIDs:         make(map[string]string),
		tickets:          make(map[string]*redirectTicket),
		steps:            make(map[string]string),
		ctx:              ctx,
		cancel:           cancel,
		sending:          make(chan struct{}, maxSending),
	}
	s.out.queues = make(map[string][]*delivery)
	s.routes()
	s.wg.Add(1)
	go s.sweeper(defaultSweepEvery)
	return s
}

// ServeHTTP implements http.Handler.
func (s *Sandbox) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.router.ServeHTTP(w, r)
}

// Close stops the sweeper, cancels pending report timers and in-flight
// webhook deliveries, and waits for every goroutine to return. The handler
// keeps answering API calls afterwards but sends no more webhooks.
func (s *Sandbox) Close() {
	s.out.mu.Lock()
	s.out.closed = true
	s.out.mu.Unlock()
	s.cancel()
	s.wg.Wait()
}

func (s *Sandbox) routes() {
	r := chi.NewRouter()
	r.Use(s.logRequests)
	r.Get("/", s.handleIndex)
	r.Get("/logos/{file}", s.handleLogo)
	r.Get("/whitelabel", s.handleWhiteLabel)
	r.Get("/manage", s.handleManage)
	r.Post("/manage/consents/{consentID}/delete", s.handleManageDelete)
	r.Route("/bank", func(r chi.Router) {
		r.Get("/authorize", s.handleBankOpen)
		r.Get("/static/bank.js", s.handleBankScript)
		r.Post("/login", s.handleBankLogin)
		r.Post("/authorise", s.handleBankAuthorise)
		r.Post("/lgpd", s.handleBankLGPD)
	})
	r.Route("/data/v1", func(r chi.Router) {
		r.Use(limitBody, s.applyFaults)
		r.Post("/auth", s.handleAuth)
		r.Group(func(r chi.Router) {
			r.Use(s.requireToken(accessKind))
			r.Get("/refresh", s.handleRefresh)
			r.Post("/links", s.handleCreateLink)
			r.Get("/consents/{consentID}", s.handleGetConsent)
			r.Get("/consents", s.handleListConsents)
			r.Delete("/consents/{consentID}/revoke", s.handleRevoke)
			r.Post("/personal/institution-data", s.handleReportRequest(personType, institutionLevel))
			r.Post("/personal/user-data", s.handleReportRequest(personType, userLevel))
			r.Post("/business/institution-data", s.handleReportRequest(businessType, institutionLevel))
			r.Post("/business/user-data", s.handleReportRequest(businessType, userLevel))
		})
		r.Group(func(r chi.Router) {
			r.Use(s.requireToken(linkKind))
			r.Get("/links/institutions", s.handleInstitutions)
			r.Get("/links/institutions/status", s.handleInstitutionStatus)
			r.Post("/consents", s.handleCreateConsent)
		})
		r.NotFound(func(w http.ResponseWriter, r *http.Request) {
			writeError(w, http.StatusNotFound, http.StatusNotFound, "Not Found", "route not found")
		})
		r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
			writeError(w, http.StatusMethodNotAllowed, http.StatusMethodNotAllowed, "Method Not Allowed", "method not allowed")
		})
	})
	s.router = r
}

// statusRecorder captures the status code for the request log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (w *statusRecorder) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// logRequests logs method, route pattern and status only: query strings
// carry tax ids and bank tickets, bodies carry keys, so neither is logged.
func (s *Sandbox) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		pattern := ""
		if rc := chi.RouteContext(r.Context()); rc != nil {
			pattern = rc.RoutePattern()
		}
		if pattern == "" {
			pattern = "unmatched"
		}
		if rec.status == 0 {
			rec.status = http.StatusOK
		}
		s.log.InfoContext(r.Context(), "sandbox request", "method", r.Method, "route", pattern, "status", rec.status,
			"duration_ms", time.Since(start).Milliseconds())
	})
}

func limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
		next.ServeHTTP(w, r)
	})
}

// randomHex returns n random bytes as lowercase hex.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return hex.EncodeToString(b)
}

// newUUID returns a random (version 4) UUID string.
func newUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// Time formats used on the wire.
const (
	isoMillis = "2006-01-02T15:04:05.000Z"
	isoSecs   = "2006-01-02T15:04:05Z"
	localTime = "2006-01-02T15:04:05" // productReportTime has no zone in Klavi's examples
)
