// Package simulate sends webhooks to the portal the way Klavi does: it builds a body in Klavi's wire format (no
// personal data), signs it with the webhook secret (X-Klavi-Signature, docs/klavi.md#signature), POSTs it over real
// HTTP to the portal's own public receiver (PUBLIC_URL + /webhooks/klavi/events or /webhooks/klavi/reports), and
// finds the delivery the receiver stored. The operators' simulate page uses Build and Send; RoundTrip is a harmless
// probe (an event that names no consent) for a diagnostics page. It is not HTTP serving: handlers call it.
package simulate

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/klavi-demo/portal/consent"
	"github.com/klavi-demo/portal/klavi"
	"github.com/klavi-demo/portal/store"
)

// Target is the portal a webhook is sent to and where its receiver writes.
type Target struct {
	PublicURL string       // PUBLIC_URL: the receivers are PublicURL + /webhooks/klavi/events and /reports
	Secret    string       // KLAVI_SECRET_KEY: the HMAC key of X-Klavi-Signature
	Store     *store.Store // the portal's database, where the delivery the receiver wrote is looked up
	// Client sends the POST; nil: one with Klavi's 10 s timeout (docs/klavi.md#webhooks) that follows no redirect
	// (a redirect is reported instead: Klavi's own retries would turn the POST into a GET).
	Client *http.Client
	// Apply, when set, is called after the receiver stored an event delivery and before waiting for the inbox
	// worker (handlers pass flow.Service.DrainInbox: the worker's own path, run at once).
	Apply func(ctx context.Context)
	// Wait bounds the wait for the inbox worker to finish an event delivery (default 5 s; negative: do not wait).
	Wait time.Duration
	Now  func() time.Time // default time.Now
}

// Problem says why a round trip did not end with a delivery stored in this portal; "" when it did.
type Problem string

// The problems Send tells apart; each has an explanation with what to do in the message catalogue
// ("simulate.problem.<name>").
const (
	ProblemNone      Problem = ""
	ProblemConfig    Problem = "config"    // PUBLIC_URL is not an absolute http(s) URL
	ProblemRefused   Problem = "refused"   // connection refused: nothing listens there
	ProblemDNS       Problem = "dns"       // the host name does not resolve from where the portal runs
	ProblemTimeout   Problem = "timeout"   // no answer in time (a firewall dropping packets, a hairpin NAT)
	ProblemTLS       Problem = "tls"       // the certificate is not trusted or does not match the host
	ProblemNetwork   Problem = "network"   // any other connection failure (reset, unreachable network)
	ProblemRedirect  Problem = "redirect"  // answered with a redirect: PUBLIC_URL is not the final address
	ProblemStatus    Problem = "status"    // answered with an error status
	ProblemElsewhere Problem = "elsewhere" // answered, but this portal's database has no such delivery
)

// Outcome is one round trip: what was sent, the answer, and the delivery the receiver stored.
type Outcome struct {
	URL      string        // where it was posted (PUBLIC_URL + the receiver's path)
	Kind     string        // "event" | "report"
	Key      string        // the eventId or productReportId sent
	Name     string        // the event name, or the report's product
	Status   int           // the HTTP status; 0 when no answer came
	Duration time.Duration // from sending the request to the answer (or the failure)
	Location string        // the redirect's target, for ProblemRedirect
	Problem  Problem
	// Delivery is the row the receiver stored for these bytes (ID 0 when none was found), re-read after the wait
	// for the worker; Reached says it was found in this portal's database, Applied that the worker finished it
	// (its result is no longer "accepted"; reports are final on arrival).
	Delivery store.Delivery
	Reached  bool
	Applied  bool
}

// OK reports whether the round trip ended with the delivery stored here and answered 2xx.
func (o Outcome) OK() bool { return o.Problem == ProblemNone }

// defaultClient follows no redirect and gives up after Klavi's own webhook timeout.
var defaultClient = &http.Client{
	Timeout: 10 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	},
}

// Path is the receiver's path for a body kind.
func Path(kind string) string {
	if kind == "report" {
		return "/webhooks/klavi/reports"
	}
	return "/webhooks/klavi/events"
}

// Send signs b as Klavi does, POSTs it to t's public receiver for its kind and reports the round trip: the answer,
// then the delivery stored for these exact bytes (found by their SHA-256) and, for events, the inbox worker's
// result once it finished (within t.Wait). It never returns an error: a failure is an Outcome's Problem.
func Send(ctx context.Context, t Target, b Body) Outcome {
	o := Outcome{Kind: b.Kind, Key: b.Key, Name: b.Name}
	base, err := url.Parse(strings.TrimRight(t.PublicURL, "/"))
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" {
		o.Problem = ProblemConfig
		return o
	}
	o.URL = base.String() + Path(b.Kind)
	now := time.Now
	if t.Now != nil {
		now = t.Now
	}
	client := t.Client
	if client == nil {
		client = defaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.URL, bytes.NewReader(b.Bytes))
	if err != nil {
		o.Problem = ProblemConfig
		return o
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "klavi-demo-portal/simulate")
	req.Header.Set(klavi.SignatureHeader, klavi.Sign(t.Secret, b.Bytes))
	req.Header.Set(klavi.TimestampHeader, strconv.FormatInt(now().Unix(), 10))
	start := time.Now()
	resp, err := client.Do(req)
	o.Duration = time.Since(start)
	if err != nil {
		o.Problem = classify(err)
		return o
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	o.Status = resp.StatusCode
	switch {
	case resp.StatusCode >= 300 && resp.StatusCode < 400:
		o.Problem, o.Location = ProblemRedirect, resp.Header.Get("Location")
	case resp.StatusCode >= 400:
		o.Problem = ProblemStatus
	}
	// The receiver records refused deliveries too (without their body): look the row up whatever the status.
	sum := sha256.Sum256(b.Bytes)
	d, err := t.Store.DeliveryByBodySHA256(ctx, hex.EncodeToString(sum[:]))
	if err != nil {
		if o.Problem == ProblemNone {
			o.Problem = ProblemElsewhere
		}
		return o
	}
	o.Delivery, o.Reached = d, true
	if o.Problem != ProblemNone {
		return o
	}
	o.Delivery, o.Applied = awaitWorker(ctx, t, d)
	return o
}

// awaitWorker waits (within t.Wait) until the inbox worker finished an event delivery, and returns it re-read.
func awaitWorker(ctx context.Context, t Target, d store.Delivery) (store.Delivery, bool) {
	if !pending(d) {
		return d, true
	}
	if t.Apply != nil {
		t.Apply(ctx)
	}
	wait := t.Wait
	if wait == 0 {
		wait = 5 * time.Second
	}
	if wait < 0 {
		return d, false
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	// Polling by hand: the worker may run in another replica, so the database is the only place to watch.
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if fresh, err := t.Store.Delivery(ctx, d.ID); err == nil {
			d = fresh
			if !pending(d) {
				return d, true
			}
		}
		select {
		case <-ctx.Done():
			return d, false
		case <-tick.C:
		}
	}
}

// pending reports whether the worker has yet to apply a delivery's events.
func pending(d store.Delivery) bool {
	return d.Kind == "event" && !d.Duplicate && (d.Result == consent.R(consent.RAccepted) || d.Result == "accepted")
}

// RoundTrip sends the probe (Probe) to t's event receiver and reports the answer's status, the time it took, and
// whether the delivery reached this portal's inbox (Outcome.Reached) and its worker (Outcome.Applied: the delivery's
// result is then "probe"). The probe names no consent and changes nothing; it stays listed at /webhooks, marked as
// a probe. Outcome.OK() is the one-word verdict; Outcome.Problem says what went wrong (views explains each).
func RoundTrip(ctx context.Context, t Target) Outcome {
	now := time.Now
	if t.Now != nil {
		now = t.Now
	}
	b, err := Probe(now())
	if err != nil {
		return Outcome{Kind: "event", Problem: ProblemConfig}
	}
	return Send(ctx, t, b)
}

// classify names a failed request's cause.
func classify(err error) Problem {
	var dnsErr *net.DNSError
	var certErr *tls.CertificateVerificationError
	var unknownCA x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var recordErr tls.RecordHeaderError
	var netErr net.Error
	switch {
	case errors.As(err, &dnsErr):
		return ProblemDNS
	case errors.Is(err, syscall.ECONNREFUSED):
		return ProblemRefused
	case errors.As(err, &certErr), errors.As(err, &unknownCA), errors.As(err, &hostErr), errors.As(err, &recordErr):
		return ProblemTLS
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return ProblemTimeout
	default:
		return ProblemNetwork
	}
}

// String is a short English description of an outcome for logs (no body, no secret).
func (o Outcome) String() string {
	return fmt.Sprintf("%s %s: status %d in %s, problem %q, delivery %d", o.Kind, o.URL, o.Status,
		o.Duration.Round(time.Millisecond), o.Problem, o.Delivery.ID)
}
