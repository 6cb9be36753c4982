// Package handlers is the portal's HTTP surface: the API-Only consent flow pages, the Klavi webhook
// receivers, and the background inbox worker and reconciler that finish what the webhooks and the browser
// start. It talks to Klavi only through klavi/ and keeps every byte in store/.
package handlers

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/sessions"

	"github.com/klavi-demo/portal/klavi"
	"github.com/klavi-demo/portal/store"
)

// Options are the server's dependencies. Logger, Store, Klavi, PublicURL and SessionKey are required.
type Options struct {
	Logger        *slog.Logger
	Store         *store.Store
	Klavi         *klavi.Client
	WebhookSecret string // KLAVI_SECRET_KEY: verifies X-Klavi-Signature
	PublicURL     string // e.g. "http://127.0.0.1:8080": callback = PublicURL+"/callback"
	SessionKey    []byte // 64 bytes: [:32] hash key, [32:] block key for gorilla/sessions
	Now           func() time.Time
	PollInterval  time.Duration // reconciler base period (default 2s); backoff per consent up to 1 min
	SandboxHints  bool          // show the test CPF table on the start page
	// Retention, when positive, erases hourly the personal data and reports of links created longer ago
	// (store.PurgeExpired); 0 keeps them.
	Retention time.Duration
	// RateLimit caps POST /start, POST /consents and POST /consents/{id}/retry per client IP (r.RemoteAddr;
	// proxy headers are not trusted, IPv6 grouped by /64) to this many requests per RateWindow. 0 means the
	// default, 60; a negative value disables the limit. Over the limit: 429 with Retry-After.
	RateLimit int
	// RateWindow is the window of RateLimit (default one minute); httprate's sliding window counter estimates
	// the count over it.
	RateWindow time.Duration
	// ConsentMaxAge is how long after its creation a consent's callback is still accepted (default 60 minutes,
	// as Klavi rejects consents after 60 minutes); a later first callback is refused with 400.
	ConsentMaxAge time.Duration
	// WebhookAllowlist, when not empty, restricts both webhook receivers to these source networks (Klavi:
	// 18.231.92.86/32 sandbox, 18.230.43.17/32 production). The source is the TCP peer (r.RemoteAddr) only:
	// forwarded headers are never trusted. A delivery from elsewhere gets 403 and is not stored. Empty means off
	// (the embedded sandbox posts from loopback).
	WebhookAllowlist []netip.Prefix
}

// klaviAPI is the part of *klavi.Client the portal uses. It is declared here, next to its only consumer,
// so tests can drive error paths with a small fake; production passes *klavi.Client.
type klaviAPI interface {
	CreateLink(ctx context.Context, req klavi.LinkRequest) (*klavi.Link, error)
	Institutions(ctx context.Context, linkToken string) ([]klavi.Institution, error)
	CreateConsent(ctx context.Context, linkToken string, req klavi.ConsentRequest) (*klavi.CreatedConsent, error)
	Consent(ctx context.Context, consentID string) (*klavi.Consent, error)
	RevokeConsent(ctx context.Context, consentID string) error
	RequestReports(ctx context.Context, req klavi.ReportRequest) (*klavi.ReportRequestResult, error)
}

// Server is the portal: an http.Handler plus the background work started by Run.
type Server struct {
	log          *slog.Logger
	st           *store.Store
	kc           klaviAPI
	secret       string
	publicURL    string
	secure       bool
	cookieName   string
	sessions     *sessions.CookieStore
	holderKey    []byte // HMAC key of the consents' holder refs (holderref.go), derived from the session key
	now          func() time.Time
	pollInterval time.Duration
	retention    time.Duration
	sandboxHints bool
	router       http.Handler

	wake  chan struct{} // nudges the inbox worker right after a webhook was stored
	insts institutionCache
	// parsed keeps recently decoded reports (reports never change once stored).
	parsed parsedReports
	// klaviTimeout bounds Klavi calls made on behalf of a page (reliability.md §4: ≤ 15 s).
	klaviTimeout time.Duration
	// limiter caps the Klavi-calling form posts per client (nil when disabled).
	limiter *rateLimiter
	// consentMaxAge bounds the age of a consent whose first callback we still accept.
	consentMaxAge time.Duration
	// webhookAllow is Options.WebhookAllowlist (nil: every source may post, the HMAC decides).
	webhookAllow []netip.Prefix
	// statusLocks serialise status changes per consent (striped by id hash) so each transition is logged once.
	statusLocks [64]sync.Mutex
}

// NewServer validates the options and builds the router. The returned *Server serves HTTP at once; call Run
// in a goroutine for the webhook worker and the reconciler.
func NewServer(o Options) (*Server, error) {
	if o.Klavi == nil {
		return nil, errors.New("handlers: Options.Klavi is required")
	}
	return newServer(o, o.Klavi)
}

// newServer is NewServer with the Klavi client behind an interface (tests pass fakes).
func newServer(o Options, kc klaviAPI) (*Server, error) {
	if o.Store == nil {
		return nil, errors.New("handlers: Options.Store is required")
	}
	if kc == nil {
		return nil, errors.New("handlers: a Klavi client is required")
	}
	if len(o.SessionKey) != 64 {
		return nil, errors.New("handlers: Options.SessionKey must be 64 bytes")
	}
	pu, err := url.Parse(o.PublicURL)
	if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
		return nil, errors.New("handlers: Options.PublicURL must be an absolute http(s) URL")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 2 * time.Second
	}
	s := &Server{
		log:          o.Logger,
		st:           o.Store,
		kc:           kc,
		secret:       o.WebhookSecret,
		publicURL:    strings.TrimRight(o.PublicURL, "/"),
		secure:       pu.Scheme == "https",
		now:          o.Now,
		pollInterval: o.PollInterval,
		retention:    o.Retention,
		sandboxHints: o.SandboxHints,
		wake:         make(chan struct{}, 1),
		parsed:       parsedReports{max: 8},
		klaviTimeout: 15 * time.Second,
	}
	switch {
	case o.RateLimit == 0:
		o.RateLimit = defaultRateLimit
	case o.RateLimit < 0:
		o.RateLimit = 0
	}
	if o.RateWindow <= 0 {
		o.RateWindow = defaultRateWindow
	}
	if o.RateLimit > 0 {
		s.limiter = s.newRateLimiter(o.RateLimit, o.RateWindow)
	}
	s.consentMaxAge = o.ConsentMaxAge
	if s.consentMaxAge <= 0 {
		s.consentMaxAge = defaultConsentMaxAge
	}
	for _, p := range o.WebhookAllowlist {
		if !p.IsValid() {
			return nil, errors.New("handlers: Options.WebhookAllowlist holds an invalid prefix")
		}
		s.webhookAllow = append(s.webhookAllow, p.Masked())
	}
	s.insts.ttl = 5 * time.Minute
	s.insts.now = o.Now
	s.initSessions(o.SessionKey)
	s.holderKey = deriveHolderKey(o.SessionKey)
	s.router = s.routes()
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.router.ServeHTTP(w, r) }

// callbackURL is where Klavi sends the browser back after the bank and the LGPD page.
func (s *Server) callbackURL() string { return s.publicURL + "/callback" }

// reportsWebhookURL is the per-link and per-request productsCallbackURL ("all" products).
func (s *Server) reportsWebhookURL() string { return s.publicURL + "/webhooks/klavi/reports" }

// nudge wakes the inbox worker without blocking.
func (s *Server) nudge() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}
