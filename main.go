// Command portal serves the Klavi Link "API Only" demo portal. Without KLAVI_BASE_URL it also starts the embedded,
// offline Klavi sandbox; with `sandbox` as the first argument it runs only the sandbox; `operator add|list|remove`
// manages the operator accounts in the database and exits.
//
// main only wires: everything happens in run, which tests can call and which returns instead of exiting.
package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/klavi-demo/portal/auth"
	"github.com/klavi-demo/portal/diag"
	"github.com/klavi-demo/portal/flow"
	"github.com/klavi-demo/portal/handlers"
	"github.com/klavi-demo/portal/klavi"
	"github.com/klavi-demo/portal/sandbox"
	"github.com/klavi-demo/portal/simulate"
)

func main() {
	if err := applyMemoryLimit(os.LookupEnv); err != nil {
		fmt.Fprintf(os.Stderr, "portal: %v\n", err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], osGetenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "portal: %v\n", err)
		os.Exit(1)
	}
}

// applyMemoryLimit gives the Go runtime the settings table's soft memory limit when GOMEMLIMIT is not set; when it
// is, the runtime has read it at start already. Without a limit the heap grows to twice what is live between
// collections, which under load is most of the portal's memory (docs/benchmarks.md#200-users-walking-the-flow).
func applyMemoryLimit(lookup func(string) (string, bool)) error {
	if v, set := lookup("GOMEMLIMIT"); set && strings.TrimSpace(v) != "" {
		return nil
	}
	n, err := parseByteSize(defaultOf("GOMEMLIMIT"))
	if err != nil {
		return fmt.Errorf("GOMEMLIMIT default: %w", err)
	}
	debug.SetMemoryLimit(n)
	return nil
}

// parseByteSize reads a size as GOMEMLIMIT writes it: a whole number of bytes with an optional B, KiB, MiB, GiB or
// TiB suffix.
func parseByteSize(s string) (int64, error) {
	num, unit := s, int64(1)
	for i, suffix := range []string{"TiB", "GiB", "MiB", "KiB", "B"} {
		if n, ok := strings.CutSuffix(s, suffix); ok {
			num, unit = n, int64(1)<<(10*(4-i))
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/unit {
		return 0, fmt.Errorf("%q is not a size such as 48MiB", s)
	}
	return n * unit, nil
}

// version, commit and buildTime (RFC 3339) are stamped by `make build` (-ldflags "-X main.version=..."); empty for a
// plain go build, where the diagnostics page shows what Go's build information has.
var version, commit, buildTime string

// started is when the process started, for the uptime on the diagnostics page.
var started = time.Now()

// shutdownGrace bounds how long in-flight requests may take once a stop signal arrives.
const shutdownGrace = 20 * time.Second

// run starts the portal (and the embedded sandbox unless KLAVI_BASE_URL is set) and blocks until ctx is cancelled
// or a server fails. Bound URLs are printed to stdout, one per line, so callers can use port 0. With `operator`
// as the first argument it manages operator accounts instead (operator.go), reading passwords from stdin.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	cmd := ""
	if len(args) > 0 {
		cmd = args[0]
	}
	switch cmd {
	case "":
	case "help", "-h", "--help", "-help":
		return printHelp(stdout)
	case "sandbox", "operator":
	default:
		return fmt.Errorf("unknown command %q (try: portal help)", cmd)
	}

	cfg, err := loadConfig(getenv)
	if err != nil {
		return err
	}
	if cmd == "operator" {
		return runOperator(ctx, args[1:], cfg, stdin, stdout, stderr)
	}
	log := newLogger(stderr, cfg.LogLevel, cfg.LogFormat)

	if cmd == "sandbox" {
		return runSandboxAlone(ctx, cfg, log, stdout)
	}
	return runPortal(ctx, cfg, log, stdout)
}

func runPortal(ctx context.Context, cfg config, log *slog.Logger, stdout io.Writer) error {
	var lc net.ListenConfig
	portalLn, err := lc.Listen(ctx, "tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("ADDR %s: cannot listen: %w", cfg.Addr, unwrapNetErr(err))
	}
	defer portalLn.Close()
	publicURL := cfg.PublicURL
	if publicURL == "" {
		publicURL = "http://" + portalLn.Addr().String()
	}
	obs, err := listenMetrics(ctx, lc, cfg, log) // observability.go
	if err != nil {
		return err
	}
	defer obs.close()

	// The embedded sandbox gets its own listener so that the portal reaches it over real HTTP, exactly as it would
	// reach Klavi; only the base URL differs.
	var sb *sandbox.Sandbox
	var sandboxLn net.Listener
	baseURL, accessKey, secretKey := cfg.KlaviBaseURL, cfg.AccessKey, cfg.SecretKey
	if baseURL == "" {
		sandboxLn, err = lc.Listen(ctx, "tcp", cfg.SandboxAddr)
		if err != nil {
			return fmt.Errorf("SANDBOX_ADDR %s: cannot listen: %w", cfg.SandboxAddr, unwrapNetErr(err))
		}
		defer sandboxLn.Close()
		sbPublic := cfg.sandboxPublicURL(sandboxLn.Addr())
		sb = sandbox.New(cfg.sandboxOptions(log, sbPublic,
			publicURL+"/webhooks/klavi/events", publicURL+"/webhooks/klavi/reports"))
		defer sb.Close()
		baseURL = "http://" + sandboxLn.Addr().String() + "/data/v1"
	}

	st, err := cfg.openStore(ctx)
	if err != nil {
		return err
	}
	log.InfoContext(ctx, "database open", "backend", st.Backend())
	defer func() {
		if err := st.Close(); err != nil {
			log.WarnContext(ctx, "closing the store", "err", err)
		}
	}()

	sessionKey, generated, err := cfg.sessionKey()
	if err != nil {
		return err
	}
	if generated {
		log.InfoContext(ctx, "SESSION_KEY not set: generated one and kept it beside the database", "file", cfg.sessionKeyFile())
	}

	// Observers compose: klavi.WithObserver may be given several times, each sees every attempt. The diagnostics
	// recorder keeps recent figures for /diagnostics and writes the call log.
	calls := diag.NewRecorder(time.Now)
	kopts := []klavi.Option{klavi.WithCredentials(accessKey, secretKey), klavi.WithLogger(log.With("component", "klavi")),
		klavi.WithObserver(calls.Observe)}
	kopts = append(kopts, obs.klaviObservers()...)
	kc, err := klavi.New(baseURL, kopts...)
	if err != nil {
		return fmt.Errorf("KLAVI_BASE_URL: %w", err)
	}
	if err := obs.watch(st, kc); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	var lifecycle *flow.Service // built below; the round trip runs its inbox pass
	diagnostics, err := diag.New(diag.Options{Klavi: kc, Store: st, Recorder: calls, BaseURL: cfg.KlaviBaseURL,
		Version: version, Commit: commit, BuildTime: buildTime, Now: time.Now, Started: started,
		RoundTrip: func(ctx context.Context) (diag.RoundTripResult, error) {
			o := simulate.RoundTrip(ctx, simulate.Target{PublicURL: publicURL, Secret: secretKey, Store: st,
				Apply: lifecycle.DrainInbox})
			if !o.OK() {
				return diag.RoundTripResult{}, fmt.Errorf("%s: HTTP %d from %s", cmp.Or(string(o.Problem), "not applied"), o.Status, o.URL)
			}
			return diag.RoundTripResult{Took: o.Duration, Detail: o.Key}, nil
		}})
	if err != nil {
		return fmt.Errorf("portal: %w", err)
	}

	sso, err := newSSO(ctx, cfg, publicURL, log)
	if err != nil {
		return err
	}

	lifecycle, err = flow.New(flow.Options{
		Logger:       log,
		Store:        st,
		Klavi:        kc,
		PublicURL:    publicURL,
		HolderKey:    sessionKey,
		Now:          time.Now,
		PollInterval: cfg.PollInterval,
		Retention:    cfg.Retention,
	})
	if err != nil {
		return fmt.Errorf("portal: %w", err)
	}
	srv, err := handlers.NewServer(handlers.Options{
		Logger:        log,
		Store:         st,
		Klavi:         kc,
		Flow:          lifecycle,
		WebhookSecret: secretKey,
		PublicURL:     publicURL,
		SessionKey:    sessionKey,
		Now:           time.Now,
		SandboxHints:  sb != nil,

		WebhookAllowlist: cfg.WebhookAllowlist,
		TrustedProxies:   cfg.TrustedProxies,
		OIDC:             sso,
		Metrics:          obs.handlerMetrics(),
		Diagnostics:      diagnostics,
		Brand:            cfg.Brand,
	})
	if err != nil {
		return fmt.Errorf("portal: %w", err)
	}

	// First run: with no operator yet, a one-time link creates the first one (docs/reliability.md#access-model).
	if setup, err := srv.SetupURL(ctx); err != nil {
		return fmt.Errorf("portal: first-run setup: %w", err)
	} else if setup != "" {
		log.WarnContext(ctx, "no operator yet: open this link within 15 minutes to create the first one (single use), or run 'portal operator add'", "url", setup)
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 3)
	serve := func(name string, ln net.Listener, h http.Handler) *http.Server {
		hs := newHTTPServer(h, log.With("server", name))
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("%s: %w", name, err)
			}
		}()
		return hs
	}
	var portalHandler http.Handler = srv
	if benchWrap != nil {
		portalHandler = benchWrap(srv, publicURL, log)
	}
	servers := []*http.Server{serve("portal", portalLn, portalHandler)}
	if sb != nil {
		servers = append(servers, serve("sandbox", sandboxLn, sb))
	}
	if obs.ln != nil {
		servers = append(servers, serve("metrics", obs.ln, obs.handler(log)))
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		lifecycle.Run(ctx)
	}()
	wg.Add(1)
	go func() {
		defer wg.Done()
		calls.WriteCallLog(ctx, st, log)
	}()

	banner := fmt.Sprintf("portal listening on http://%s\n", portalLn.Addr())
	if publicURL != "http://"+portalLn.Addr().String() {
		banner = fmt.Sprintf("portal listening on http://%s (public URL %s)\n", portalLn.Addr(), publicURL)
	}
	if sb != nil {
		banner += fmt.Sprintf("sandbox listening on %s (API %s)\n", cfg.sandboxPublicURL(sandboxLn.Addr()), baseURL)
	} else {
		banner += fmt.Sprintf("using Klavi at %s\n", baseURL)
	}
	banner += obs.banner()
	printBanner(stdout, log, banner)

	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	log.InfoContext(ctx, "shutting down")
	shutdownCtx, done := context.WithTimeout(context.Background(), shutdownGrace)
	defer done()
	for _, hs := range servers {
		if err := hs.Shutdown(shutdownCtx); err != nil {
			log.WarnContext(shutdownCtx, "shutdown", "err", err)
		}
	}
	cancel()
	if sb != nil {
		sb.Close()
	}
	wg.Wait()
	return runErr
}

// benchWrap is nil in the portal: only a build with the benchharness tag sets it (bench_harness.go), to let the
// load kit reach pages that belong to one browser (docs/benchmarks.md#pages).
var benchWrap func(h http.Handler, publicURL string, log *slog.Logger) http.Handler

// ssoDiscoveryTimeout bounds the provider discovery at start.
const ssoDiscoveryTimeout = 15 * time.Second

// newSSO builds the single sign-on client when OIDC_ISSUER is set (nil otherwise). The provider's discovery
// document is fetched now: an unreachable or misconfigured provider stops the start with one line, as any other
// bad setting does, rather than failing on the first operator's click.
func newSSO(ctx context.Context, cfg config, publicURL string, log *slog.Logger) (*auth.OIDC, error) {
	if cfg.OIDCIssuer == "" {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, ssoDiscoveryTimeout)
	defer cancel()
	sso, err := auth.NewOIDC(ctx, auth.OIDCConfig{
		Issuer:       cfg.OIDCIssuer,
		ClientID:     cfg.OIDCClientID,
		ClientSecret: cfg.OIDCClientSecret,
		RedirectURL:  publicURL + handlers.OIDCCallbackPath,
		Allowed:      cfg.OIDCAllowed,
		Now:          time.Now,
	})
	if err != nil {
		return nil, fmt.Errorf("OIDC_ISSUER %s: %w", cfg.OIDCIssuer, err)
	}
	log.InfoContext(ctx, "single sign-on for operators", "issuer", cfg.OIDCIssuer, "redirect_uri", publicURL+handlers.OIDCCallbackPath)
	return sso, nil
}

func runSandboxAlone(ctx context.Context, cfg config, log *slog.Logger, stdout io.Writer) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", cfg.SandboxAddr)
	if err != nil {
		return fmt.Errorf("SANDBOX_ADDR %s: cannot listen: %w", cfg.SandboxAddr, unwrapNetErr(err))
	}
	defer ln.Close()
	portal := cfg.PublicURL
	if portal == "" {
		portal = "http://" + cfg.Addr
	}
	sb := sandbox.New(cfg.sandboxOptions(log, cfg.sandboxPublicURL(ln.Addr()),
		portal+"/webhooks/klavi/events", portal+"/webhooks/klavi/reports"))
	defer sb.Close()
	hs := newHTTPServer(sb, log.With("server", "sandbox"))
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	printBanner(stdout, log, fmt.Sprintf("sandbox listening on %s (API http://%s/data/v1; webhooks to %s)\n",
		cfg.sandboxPublicURL(ln.Addr()), ln.Addr(), portal))
	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("sandbox: %w", err)
		}
	}
	shutdownCtx, done := context.WithTimeout(context.Background(), shutdownGrace)
	defer done()
	return hs.Shutdown(shutdownCtx)
}

// newHTTPServer sets every timeout explicitly: zero values mean "wait forever" (docs/reliability.md#server-timeouts).
func newHTTPServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      35 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// unwrapNetErr drops the "listen tcp ...:" prefix so the message names the problem once.
func unwrapNetErr(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}

// printBanner writes the bound URLs to stdout; the servers keep running if that fails, so the log says why the
// lines are missing.
func printBanner(stdout io.Writer, log *slog.Logger, banner string) {
	if _, err := io.WriteString(stdout, banner); err != nil {
		log.Warn("cannot print the listening addresses", "err", err)
	}
}
