package main

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/klavi-demo/portal/auth"
	"github.com/klavi-demo/portal/brand"
	"github.com/klavi-demo/portal/sandbox"
	"github.com/klavi-demo/portal/store"
)

// Demo credentials shared by the portal and the embedded sandbox when none are configured. They are not secrets:
// the sandbox accepts exactly this pair, and real Klavi rejects it.
const (
	demoAccessKey = "demo-access-key"
	demoSecretKey = "demo-secret-key"
)

// setting is one environment variable. The table is the only place a default is written: loadConfig reads every
// variable through it, `portal help` prints it, and a test checks the README's table against it.
type setting struct {
	name, def, meaning string
	// shown replaces def in `portal help` when the default is worked out at start (def is then empty).
	shown string
}

var settings = []setting{
	{"ADDR", "127.0.0.1:8080", "portal listen address", ""},
	{"PUBLIC_URL", "", "how browsers and webhooks reach the portal (callback and webhook URLs are built from it)", "http:// + ADDR"},
	{"DATABASE_PATH", filepath.Join("data", "portal.db"), "SQLite file (its directory is created); unused when DATABASE_URL is set", ""},
	{"DATABASE_URL", "", "PostgreSQL instead of SQLite, e.g. postgres://portal:secret@db.internal:5432/portal (replicas may share it)", "empty: SQLite at DATABASE_PATH"},
	{"SESSION_KEY", "", "cookie signing/encryption key (at least 32 characters)", "generated once, kept beside the SQLite database; required with DATABASE_URL"},
	{"KLAVI_BASE_URL", "", "e.g. https://api-sandbox.klavi.ai/data/v1 for real Klavi", "empty: start the embedded sandbox"},
	{"KLAVI_ACCESS_KEY", demoAccessKey, "Klavi accessKey", ""},
	{"KLAVI_SECRET_KEY", demoSecretKey, "Klavi secretKey; also verifies webhook signatures", ""},
	{"SANDBOX_ADDR", "127.0.0.1:8090", "where the embedded sandbox listens (API under /data/v1)", ""},
	{"SANDBOX_PUBLIC_URL", "", "how browsers reach the sandbox's bank pages (another site than the portal, as in production)", "http://localhost:<sandbox port>"},
	{"SANDBOX_REDIRECT_TTL", "60s", "lifetime of a single-use consentRedirectURL", ""},
	{"SANDBOX_TOKEN_TTL", "30m", "lifetime of sandbox access and link tokens", ""},
	{"SANDBOX_IDLE_TIMEOUT", "30m", "an unfinished consent becomes EXPIRED after this", ""},
	{"SANDBOX_AUTO_REPORTS", "false", "send reports automatically after AUTHORISED", ""},
	{"SANDBOX_REPORT_DELAY", "300ms", "delay between a report request and the first report", ""},
	{"POLL_INTERVAL", "2s", "reconciler period for consents that are not final", ""},
	{"RETENTION_DAYS", "30", "personal data and reports of links older than this are erased (checked hourly); 0 keeps them", ""},
	{"WEBHOOK_ALLOWLIST", "", "comma-separated IPs/CIDRs allowed to post webhooks, e.g. Klavi's 18.231.92.86,18.230.43.17; checked on the client address (the TCP peer, or what TRUSTED_PROXIES forward)", "empty: any source (the signature decides)"},
	{"TRUSTED_PROXIES", "", "comma-separated IPs/CIDRs of the reverse proxies in front of the portal (a load balancer); from them the client is the X-Forwarded-For address, for rate limits, sign-in lockouts, the audit trail and WEBHOOK_ALLOWLIST", "empty: the TCP peer is the client"},
	{"LOG_LEVEL", "info", "debug, info, warn or error", ""},
	{"LOG_FORMAT", "text", "text (key=value lines) or json (one JSON object per line)", ""},
	{"GOMEMLIMIT", "48MiB", "the Go runtime's soft memory limit: nearing it, the garbage collector runs more often instead of letting the heap grow (read by the runtime itself; e.g. 256MiB, or off)", ""},
	{"METRICS_ADDR", "127.0.0.1:9091", "where /metrics (Prometheus) and /debug/pprof/ (Go's profiler) listen, apart from ADDR; keep it private. Empty or off: no such listener", ""},
	{"OIDC_ISSUER", "", "OpenID Connect provider for operators' single sign-on, e.g. https://accounts.google.com (http only for a loopback host); register PUBLIC_URL/login/oidc/callback there", "empty: single sign-on off"},
	{"OIDC_CLIENT_ID", "", "the portal's client id at that provider (required with OIDC_ISSUER)", "empty"},
	{"OIDC_CLIENT_SECRET", "", "its client secret (required with OIDC_ISSUER)", "empty"},
	{"OIDC_ALLOWED_EMAILS", "", "who may sign in by single sign-on: comma-separated addresses or @domain entries, case-insensitive (required with OIDC_ISSUER)", "empty"},
	// Brand (brandconfig.go).
	{"BRAND_NAME", brand.DefaultName, "name in the header and the tab title (at most 40 characters)", ""},
	{"BRAND_COLOR", brand.DefaultColor, "brand colour, #rrggbb or #rgb; white text on it must reach WCAG AA (4.5:1); the light and dark themes' shades are derived from it", ""},
	{"BRAND_LOGO", "", "header logo: a PNG, SVG, JPEG or WebP file (at most 512 KiB, read at start, served by the portal) or an https URL", "empty: a letter mark"},
	{"BRAND_SUPPORT_URL", "", "https URL of a help/support page, linked at the foot of every page", "empty: no link"},
}

// metricsOff turns the metrics listener off: METRICS_ADDR=off, or METRICS_ADDR set to the empty string, which
// osGetenv reads as off (an unset METRICS_ADDR takes the default).
const metricsOff = "off"

// osGetenv is the environment as run reads it: os.Getenv, except that METRICS_ADDR set to the empty string reads
// as "off". os.Getenv cannot tell empty from unset, and every other setting treats both as "use the default".
func osGetenv(name string) string {
	v, set := os.LookupEnv(name)
	if name == "METRICS_ADDR" && set && strings.TrimSpace(v) == "" {
		return metricsOff
	}
	return v
}

// defaultOf returns a variable's default from settings. A name missing from the table is a programming error,
// caught by any test that loads the configuration.
func defaultOf(name string) string {
	for _, s := range settings {
		if s.name == name {
			return s.def
		}
	}
	panic("config: " + name + " is not in the settings table")
}

// printHelp writes the usage text and the settings table to w and returns the first write error.
func printHelp(w io.Writer) error {
	if _, err := io.WriteString(w, "Klavi Link API Only demo portal.\n\nUsage:\n"); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range [][2]string{
		{"portal", "serve the portal (with the embedded Klavi sandbox unless KLAVI_BASE_URL is set)"},
		{"portal sandbox", "run only the Klavi sandbox"},
		{"portal operator add --email EMAIL", "add an operator; the password is read from stdin (asked twice on a terminal)"},
		{"portal operator list", "list the operators and when each was added"},
		{"portal operator passwd --email EMAIL", "set a new password (from stdin) and end the operator's sessions"},
		{"portal operator remove --email EMAIL", "remove an operator and end its sessions"},
		{"portal help", "print this text"},
	} {
		fmt.Fprintf(tw, "  %s\t%s\n", c[0], c[1])
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if _, err := io.WriteString(w, "\nThe operator commands use the database of DATABASE_URL, or else DATABASE_PATH, and start no server.\n"+
		"\nConfiguration (environment variables):\n"); err != nil {
		return err
	}
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  VARIABLE\tDEFAULT\tMEANING")
	for _, s := range settings {
		def := s.def
		if s.shown != "" {
			def = s.shown
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", s.name, def, s.meaning)
	}
	return tw.Flush()
}

// config is loaded once from the environment and passed down; nothing reads the environment later.
type config struct {
	Addr, PublicURL, DatabasePath, SessionKey string
	DatabaseURL                               string // "": SQLite at DatabasePath
	KlaviBaseURL, AccessKey, SecretKey        string
	SandboxAddr, SandboxPublicURL             string
	RedirectTTL, TokenTTL, IdleTimeout        time.Duration
	ReportDelay, PollInterval                 time.Duration
	Retention                                 time.Duration // 0: keep forever
	AutoReports                               bool
	LogLevel                                  slog.Level
	LogFormat                                 string // "text" or "json"
	MetricsAddr                               string // "": no metrics listener
	WebhookAllowlist                          []netip.Prefix
	TrustedProxies                            []netip.Prefix
	// Single sign-on: all set, or OIDCIssuer empty (off).
	OIDCIssuer, OIDCClientID, OIDCClientSecret string
	OIDCAllowed                                auth.AllowList
	Brand                                      brand.Brand // BRAND_* (brandconfig.go)
}

// loadConfig applies defaults, reads the environment and validates; every error names its variable.
func loadConfig(getenv func(string) string) (config, error) {
	env := func(name string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return defaultOf(name)
	}
	c := config{
		Addr:             env("ADDR"),
		PublicURL:        strings.TrimRight(env("PUBLIC_URL"), "/"),
		DatabasePath:     env("DATABASE_PATH"),
		DatabaseURL:      env("DATABASE_URL"),
		SessionKey:       getenv("SESSION_KEY"),
		KlaviBaseURL:     strings.TrimRight(env("KLAVI_BASE_URL"), "/"),
		AccessKey:        env("KLAVI_ACCESS_KEY"),
		SecretKey:        env("KLAVI_SECRET_KEY"),
		SandboxAddr:      env("SANDBOX_ADDR"),
		SandboxPublicURL: strings.TrimRight(env("SANDBOX_PUBLIC_URL"), "/"),
	}
	var errs []error
	check := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	check(validAddr("ADDR", c.Addr))
	check(validAddr("SANDBOX_ADDR", c.SandboxAddr))
	check(validURL("PUBLIC_URL", c.PublicURL))
	check(validURL("KLAVI_BASE_URL", c.KlaviBaseURL))
	check(validURL("SANDBOX_PUBLIC_URL", c.SandboxPublicURL))
	check(validDatabaseURL(c.DatabaseURL))
	if c.SessionKey != "" && len(c.SessionKey) < 32 {
		check(errors.New("SESSION_KEY: must be at least 32 characters"))
	}
	if c.KlaviBaseURL != "" && (getenv("KLAVI_ACCESS_KEY") == "" || getenv("KLAVI_SECRET_KEY") == "") {
		check(errors.New("KLAVI_ACCESS_KEY and KLAVI_SECRET_KEY: required when KLAVI_BASE_URL is set"))
	}
	dur := func(name string, dst *time.Duration) {
		d, err := time.ParseDuration(env(name))
		if err != nil || d <= 0 {
			check(fmt.Errorf("%s: want a positive duration such as %s", name, defaultOf(name)))
			return
		}
		*dst = d
	}
	dur("SANDBOX_REDIRECT_TTL", &c.RedirectTTL)
	dur("SANDBOX_TOKEN_TTL", &c.TokenTTL)
	dur("SANDBOX_IDLE_TIMEOUT", &c.IdleTimeout)
	dur("SANDBOX_REPORT_DELAY", &c.ReportDelay)
	dur("POLL_INTERVAL", &c.PollInterval)
	if days, err := strconv.Atoi(env("RETENTION_DAYS")); err != nil || days < 0 || days > 36500 {
		check(errors.New("RETENTION_DAYS: want a whole number of days (0 keeps data forever)"))
	} else {
		c.Retention = time.Duration(days) * 24 * time.Hour
	}
	if v := env("SANDBOX_AUTO_REPORTS"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			check(errors.New("SANDBOX_AUTO_REPORTS: want true or false"))
		}
		c.AutoReports = b
	}
	for _, list := range []struct {
		name string
		to   *[]netip.Prefix
	}{{"WEBHOOK_ALLOWLIST", &c.WebhookAllowlist}, {"TRUSTED_PROXIES", &c.TrustedProxies}} {
		for _, item := range strings.Split(env(list.name), ",") {
			item = strings.TrimSpace(item)
			if item == "" {
				continue
			}
			p, err := netip.ParsePrefix(item)
			if err != nil {
				a, aerr := netip.ParseAddr(item)
				if aerr != nil {
					check(fmt.Errorf("%s: %q is neither an IP nor a CIDR", list.name, item))
					continue
				}
				p = netip.PrefixFrom(a, a.BitLen())
			}
			*list.to = append(*list.to, p.Masked())
		}
	}
	if err := c.LogLevel.UnmarshalText([]byte(env("LOG_LEVEL"))); err != nil {
		check(errors.New("LOG_LEVEL: want debug, info, warn or error"))
	}
	if c.LogFormat = strings.ToLower(env("LOG_FORMAT")); c.LogFormat != "text" && c.LogFormat != "json" {
		check(errors.New("LOG_FORMAT: want text or json"))
	}
	if v := env("METRICS_ADDR"); !strings.EqualFold(v, metricsOff) {
		c.MetricsAddr = v
		check(validAddr("METRICS_ADDR", v))
	}
	c.OIDCIssuer, c.OIDCClientID, c.OIDCClientSecret = env("OIDC_ISSUER"), env("OIDC_CLIENT_ID"), env("OIDC_CLIENT_SECRET")
	if allowed := env("OIDC_ALLOWED_EMAILS"); c.OIDCIssuer != "" || c.OIDCClientID != "" || c.OIDCClientSecret != "" || allowed != "" {
		// Half a configuration would quietly leave single sign-on off (or open to nobody): refuse to start.
		for _, v := range [][2]string{{"OIDC_ISSUER", c.OIDCIssuer}, {"OIDC_CLIENT_ID", c.OIDCClientID}, {"OIDC_CLIENT_SECRET", c.OIDCClientSecret}} {
			if v[1] == "" {
				check(fmt.Errorf("%s: required for single sign-on (set OIDC_ISSUER, OIDC_CLIENT_ID, OIDC_CLIENT_SECRET and OIDC_ALLOWED_EMAILS, or none)", v[0]))
			}
		}
		check(validIssuer(c.OIDCIssuer))
		list, err := auth.ParseAllowList(allowed)
		switch {
		case err != nil:
			check(fmt.Errorf("OIDC_ALLOWED_EMAILS: %w", err))
		case list.Empty():
			check(errors.New("OIDC_ALLOWED_EMAILS: required for single sign-on: the addresses or @domain entries that may sign in"))
		}
		c.OIDCAllowed = list
	}
	c.Brand, errs = loadBrand(env, errs)
	if len(errs) == 0 {
		return c, nil
	}
	// One line, so a bad start prints exactly one clear line.
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return c, errors.New(strings.Join(msgs, "; "))
}

func validAddr(name, v string) error {
	if _, port, err := net.SplitHostPort(v); err != nil || port == "" {
		return fmt.Errorf("%s: want host:port, got %q", name, v)
	}
	return nil
}

func validURL(name, v string) error {
	if v == "" {
		return nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%s: want an absolute http(s) URL without query, got %q", name, v)
	}
	return nil
}

// validIssuer accepts an https URL, or http for a loopback host (a provider on the same machine, as in tests):
// ID tokens and the client secret must not cross a network in clear.
func validIssuer(v string) error {
	if v == "" {
		return nil
	}
	u, err := url.Parse(v)
	if err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("OIDC_ISSUER: want the provider's https issuer URL, got %q", v)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if h := u.Hostname(); h == "localhost" || isLoopbackIP(h) {
			return nil
		}
		return fmt.Errorf("OIDC_ISSUER: must be https (http only for localhost), got %q", v)
	default:
		return fmt.Errorf("OIDC_ISSUER: want the provider's https issuer URL, got %q", v)
	}
}

func isLoopbackIP(h string) bool {
	a, err := netip.ParseAddr(h)
	return err == nil && a.IsLoopback()
}

// validDatabaseURL checks DATABASE_URL's form; whether the server answers is known when the store opens. The value
// is never repeated in the message: it may hold a password.
func validDatabaseURL(v string) error {
	if v == "" {
		return nil
	}
	const want = "DATABASE_URL: want postgres://user:password@host:port/database"
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Opaque != "" {
		return errors.New(want + " (the value is not shown: it may hold a password)")
	}
	if err := store.CheckPostgresURL(v); err != nil {
		return fmt.Errorf("%s: %w", want, err)
	}
	return nil
}

// openStore opens the database the configuration names: PostgreSQL at DATABASE_URL when it is set, else the SQLite
// file at DATABASE_PATH. Its error names the variable (never the password).
func (c config) openStore(ctx context.Context) (*store.Store, error) {
	if c.DatabaseURL != "" {
		st, err := store.OpenPostgres(ctx, c.DatabaseURL, time.Now)
		if err != nil {
			return nil, errors.New("DATABASE_URL: " + oneLine(err.Error()))
		}
		return st, nil
	}
	st, err := store.Open(ctx, c.DatabasePath, time.Now)
	if err != nil {
		return nil, fmt.Errorf("DATABASE_PATH %s: %w", c.DatabasePath, err)
	}
	return st, nil
}

// oneLine joins the lines of a multi-line error message (pgx lists every address and TLS mode it tried, one per
// line) with "; ", dropping repeats, so that a failed start prints one line.
func oneLine(msg string) string {
	var b strings.Builder
	last := ""
	for _, p := range strings.Split(msg, "\n") {
		p = strings.TrimSpace(p)
		if p == "" || p == last {
			continue
		}
		switch {
		case b.Len() == 0:
		case strings.HasSuffix(last, ":"):
			b.WriteString(" ")
		default:
			b.WriteString("; ")
		}
		b.WriteString(p)
		last = p
	}
	return b.String()
}

func (c config) sessionKeyFile() string {
	return filepath.Join(filepath.Dir(c.DatabasePath), "session.key")
}

// sessionKey returns 64 bytes for gorilla/sessions (hash key, then block key), derived from SESSION_KEY or from a
// random secret generated once and kept beside the database, so sessions survive restarts.
func (c config) sessionKey() (key []byte, generated bool, err error) {
	secret := c.SessionKey
	if secret == "" && c.DatabaseURL != "" {
		// Replicas sharing a database must share the key too: a cookie signed by one replica is read by another,
		// and holder refs derived from it are compared across replicas.
		return nil, false, errors.New("SESSION_KEY: required when DATABASE_URL is set (every replica needs the same key)")
	}
	if secret == "" {
		path := c.sessionKeyFile()
		b, err := os.ReadFile(path) //nolint:gosec // G304: a file beside the operator's DATABASE_PATH
		switch {
		case err == nil && len(strings.TrimSpace(string(b))) >= 32:
			secret = strings.TrimSpace(string(b))
		case err == nil || errors.Is(err, fs.ErrNotExist):
			raw := make([]byte, 32)
			if _, err := rand.Read(raw); err != nil {
				return nil, false, fmt.Errorf("SESSION_KEY: %w", err)
			}
			secret = hex.EncodeToString(raw)
			if err := os.WriteFile(path, []byte(secret+"\n"), 0o600); err != nil { //nolint:gosec // G703: as above
				return nil, false, fmt.Errorf("SESSION_KEY: cannot keep a generated key in %s: %w", path, err)
			}
			generated = true
		default:
			return nil, false, fmt.Errorf("SESSION_KEY: cannot read %s: %w", path, err)
		}
	}
	derive := func(label string) []byte {
		m := hmac.New(sha256.New, []byte(secret))
		m.Write([]byte(label))
		return m.Sum(nil)
	}
	return append(derive("portal session hash key"), derive("portal session block key")...), generated, nil
}

// sandboxPublicURL is how browsers reach the sandbox. By default it uses the host name "localhost" while the
// portal uses 127.0.0.1, so the return from the "bank" is a cross-site navigation, as it is in production.
func (c config) sandboxPublicURL(addr net.Addr) string {
	if c.SandboxPublicURL != "" {
		return c.SandboxPublicURL
	}
	_, port, _ := net.SplitHostPort(addr.String())
	return "http://localhost:" + port
}

func (c config) sandboxOptions(log *slog.Logger, publicURL, eventsURL, reportsURL string) sandbox.Options {
	return sandbox.Options{
		AccessKey:   c.AccessKey,
		SecretKey:   c.SecretKey,
		PublicURL:   publicURL,
		EventsURL:   eventsURL,
		ReportsURL:  reportsURL,
		Now:         time.Now,
		Logger:      log.With("component", "sandbox"),
		TokenTTL:    c.TokenTTL,
		RedirectTTL: c.RedirectTTL,
		IdleTimeout: c.IdleTimeout,
		AutoReports: c.AutoReports,
		ReportDelay: c.ReportDelay,
	}
}
