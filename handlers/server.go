// Package handlers is the portal's HTTP surface: the API-Only consent flow pages, the Klavi webhook receivers
// and the inbox pages. It serves HTTP only: what a status change means, and the background work that finishes
// what webhooks and browsers start, belong to flow/. It talks to Klavi only through klavi/ and keeps every byte
// in store/.
package handlers

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/go-chi/chi/v5/middleware"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/klavi-demo/portal/auth"
	"github.com/klavi-demo/portal/brand"
	"github.com/klavi-demo/portal/diag"
	"github.com/klavi-demo/portal/flow"
	"github.com/klavi-demo/portal/internal/pagecache"
	"github.com/klavi-demo/portal/klavi"
	"github.com/klavi-demo/portal/store"
)

// Options are the server's dependencies. Store, Klavi, Flow, PublicURL and SessionKey are required.
type Options struct {
	Logger        *slog.Logger // wrapped with LogRequestID: lines logged with a request's context carry its id
	Store         *store.Store
	Klavi         *klavi.Client
	Flow          *flow.Service // the consent lifecycle (main starts its loops with Run)
	WebhookSecret string        // KLAVI_SECRET_KEY: verifies X-Klavi-Signature
	PublicURL     string        // e.g. "http://127.0.0.1:8080": callback = PublicURL+"/callback"
	SessionKey    []byte        // 64 bytes: [:32] hash key, [32:] block key for gorilla/sessions
	Now           func() time.Time
	SandboxHints  bool // show the test CPF table on the start page
	// RateLimit caps POST /start, POST /consents and POST /consents/{id}/retry per client IP (clientAddr: the TCP
	// peer, or behind TrustedProxies the address they forwarded; IPv6 grouped by /64) to this many requests per
	// RateWindow. 0 means the default, 60; a negative value disables the limit. Over the limit: 429 with
	// Retry-After.
	RateLimit int
	// RateWindow is the window of RateLimit (default one minute); httprate's sliding window counter estimates
	// the count over it.
	RateWindow time.Duration
	// ConsentMaxAge is how long after its creation a consent's callback is still accepted (default 60 minutes,
	// as Klavi rejects consents after 60 minutes); a later first callback is refused with 400.
	ConsentMaxAge time.Duration
	// WebhookAllowlist, when not empty, restricts both webhook receivers to these source networks (Klavi:
	// 18.231.92.86/32 sandbox, 18.230.43.17/32 production). The source is the client address (clientAddr):
	// forwarded headers count only from TrustedProxies. A delivery from elsewhere gets 403 and is not stored.
	// Empty means off (the embedded sandbox posts from loopback).
	WebhookAllowlist []netip.Prefix
	// TrustedProxies are the reverse proxies in front of the portal (a load balancer: docs/reliability.md#replicas).
	// A request whose TCP peer is one of them comes from the rightmost X-Forwarded-For address outside them (chi's
	// middleware.ClientIPFromXFF); from anyone else X-Forwarded-For is ignored. Empty: the TCP peer is the client.
	// The rate limit, the sign-in lockout per address, the audit trail and WebhookAllowlist use that address.
	TrustedProxies []netip.Prefix
	// PasswordParams are argon2id's costs for new operator passwords (zero: auth.DefaultParams). Tests lower them.
	PasswordParams auth.Params
	// OIDC is single sign-on for operators (auth.NewOIDC, redirect URL PublicURL+OIDCCallbackPath); nil: off,
	// and the sign-in page offers only email and password.
	OIDC *auth.OIDC
	// Metrics receives request and webhook counts (*metrics.Metrics; middleware.go); nil: nothing is counted.
	Metrics Metrics
	// Diagnostics runs the checks of /diagnostics and names the environment each page's banner shows; nil: no
	// banner, and /diagnostics answers 404.
	Diagnostics *diag.Service
	// Brand is the configured name, palette, logo and help link; the zero value is brand.Default().
	Brand brand.Brand
}

// klaviAPI is the part of *klavi.Client the portal uses. It is declared here, next to its only consumer,
// so tests can drive error paths with a small fake; production passes *klavi.Client.
type klaviAPI interface {
	CreateLink(ctx context.Context, req klavi.LinkRequest) (*klavi.Link, error)
	Institutions(ctx context.Context, linkToken string) ([]klavi.Institution, error)
	InstitutionStatuses(ctx context.Context, linkToken string) ([]klavi.InstitutionStatus, error)
	CreateConsent(ctx context.Context, linkToken string, req klavi.ConsentRequest) (*klavi.CreatedConsent, error)
	Consent(ctx context.Context, consentID string) (*klavi.Consent, error)
	RevokeConsent(ctx context.Context, consentID string) error
}

// Server is the portal's http.Handler.
type Server struct {
	log          *slog.Logger
	st           *store.Store
	kc           klaviAPI
	flow         *flow.Service
	secret       string
	publicURL    string
	secure       bool
	cookieName   string
	sessions     *dbSessions
	deviceKey    []byte // HMAC key of the device refs, derived from the session key
	handoffKey   []byte // HMAC key of the hand-off tokens, derived from the session key (handoff.go)
	hashParams   auth.Params
	now          func() time.Time
	sandboxHints bool
	router       http.Handler

	insts institutionCache
	// strips keeps Klavi's GET /links/institutions/status answers briefly for the live consent page (linkstrip.go).
	strips statusCache
	// prepared keeps recently shown report pages' decoded, sorted form (reports never change once stored).
	prepared *preparedReports
	// liveWait overrides liveWaitMax (tests).
	liveWait time.Duration
	// qrCodes keeps the drawn QR codes of the hand-off codes being shown (handoff.go).
	qrCodes *lru.Cache[string, qrDrawing]
	// pages keeps visitors' pages rendered for pageCacheTTL (pagecache.go).
	pages *pagecache.Cache
	// figures keeps the consent page's report key figures (consents.go).
	figures reportFigures
	// klaviTimeout bounds Klavi calls made on behalf of a page (docs/reliability.md#klavi-calls: at most 15 s).
	klaviTimeout time.Duration
	// limiter caps the Klavi-calling form posts per client (nil when disabled).
	limiter *rateLimiter
	// consentMaxAge bounds the age of a consent whose first callback we still accept.
	consentMaxAge time.Duration
	// webhookAllow is Options.WebhookAllowlist (nil: every source may post, the HMAC decides).
	webhookAllow []netip.Prefix
	// clientIP finds the client's address for clientAddr (Options.TrustedProxies).
	clientIP func(http.Handler) http.Handler
	// sso is Options.OIDC (nil: single sign-on off).
	sso *auth.OIDC
	// metrics is Options.Metrics (nil: nothing counted); routeMetrics holds a recorder per route pattern, bound
	// once when the router is built (bindRouteMetrics), and unmatched the one for requests no route matched.
	metrics      Metrics
	routeMetrics map[string]func(code int, d time.Duration)
	unmatched    func(code int, d time.Duration)
	// diag is Options.Diagnostics (nil: no banner, no diagnostics page).
	diag *diag.Service
	// brand is Options.Brand with its generated stylesheet and logo (brand.go).
	brand brandAssets
}

// NewServer validates the options and builds the router. The returned *Server serves HTTP at once.
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
	if o.Flow == nil {
		return nil, errors.New("handlers: Options.Flow is required")
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
	o.Logger = slog.New(LogRequestID(o.Logger.Handler()))
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Server{
		log:          o.Logger,
		st:           o.Store,
		kc:           kc,
		flow:         o.Flow,
		secret:       o.WebhookSecret,
		publicURL:    strings.TrimRight(o.PublicURL, "/"),
		secure:       pu.Scheme == "https",
		now:          o.Now,
		sandboxHints: o.SandboxHints,
		prepared:     newPreparedReports(preparedReportsMax, preparedReportsBytes),
		klaviTimeout: 15 * time.Second,
		sso:          o.OIDC,
		metrics:      o.Metrics,
		diag:         o.Diagnostics,
		brand:        newBrandAssets(o.Brand),
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
	s.clientIP = middleware.ClientIPFromRemoteAddr
	if len(o.TrustedProxies) > 0 {
		proxies := make([]string, 0, len(o.TrustedProxies))
		for _, p := range o.TrustedProxies {
			if !p.IsValid() {
				return nil, errors.New("handlers: Options.TrustedProxies holds an invalid prefix")
			}
			proxies = append(proxies, p.Masked().String())
		}
		s.clientIP = middleware.ClientIPFromXFF(proxies...)
	}
	s.insts.ttl = 5 * time.Minute
	s.insts.now = o.Now
	s.initSessions()
	s.deviceKey = deriveKey(o.SessionKey, "portal device ref v1")
	s.handoffKey = deriveKey(o.SessionKey, "portal handoff token v1")
	if s.qrCodes, err = lru.New[string, qrDrawing](qrCacheSize); err != nil {
		return nil, err
	}
	s.pages = pagecache.New(pagecache.Options{TTL: pageCacheTTL, MaxBytes: pageCacheBytes, Now: s.now})
	s.flow.OnChange(func(id string) { s.pages.Changed(consentTag(id)) })
	s.hashParams = o.PasswordParams
	if s.hashParams == (auth.Params{}) {
		s.hashParams = auth.DefaultParams
	}
	s.router = s.routes()
	s.bindRouteMetrics()
	return s, nil
}

// deriveKey is HMAC-SHA256(key, purpose): one secret, a separate key for each use.
func deriveKey(key []byte, purpose string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(purpose))
	return m.Sum(nil)
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.router.ServeHTTP(w, r) }

// callbackURL is where Klavi sends the browser back after the bank and the LGPD page.
func (s *Server) callbackURL() string { return s.publicURL + "/callback" }

// reportsWebhookURL is the per-link and per-request productsCallbackURL ("all" products).
func (s *Server) reportsWebhookURL() string { return s.publicURL + "/webhooks/klavi/reports" }
