package simulate

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/klavi-demo/portal/consent"
	"github.com/klavi-demo/portal/klavi"
	"github.com/klavi-demo/portal/klavi/taxid"
	"github.com/klavi-demo/portal/store"
)

const secret = "test-secret"

var now = time.Date(2026, 3, 4, 12, 0, 0, 0, time.UTC)

func subject() Subject {
	return Subject{ConsentID: "consent-9", LinkID: "link-9", InstitutionCode: "341", RequestID: "req-9"}
}

// Every body the simulate page can build is what the portal's own parsers accept, names the consent, and carries
// no valid CPF/CNPJ.
func TestBuildMakesKlaviShapedBodiesWithoutPersonalData(t *testing.T) {
	t.Parallel()
	for _, choice := range Choices {
		for _, product := range Products {
			b, err := Build(choice, subject(), product, now)
			if err != nil {
				t.Fatalf("%s/%s: %v", choice, product, err)
			}
			if taxid.MaskText(string(b.Bytes)) != string(b.Bytes) {
				t.Errorf("%s/%s: a valid CPF/CNPJ in the body", choice, product)
			}
			if choice == Report {
				rep, err := klavi.ParseReport(b.Bytes)
				if err != nil {
					t.Fatalf("%s: %v", product, err)
				}
				if b.Kind != "report" || rep.ProductReportID != b.Key || rep.ProductName != product ||
					rep.Links[0].Consents[0].ConsentID != "consent-9" || rep.Links[0].LinkID != "link-9" {
					t.Errorf("%s: report %+v", product, rep)
				}
				if len(rep.CheckingAccounts)+len(rep.SavingsAccounts)+len(rep.CreditCards) != 1 {
					t.Errorf("%s: product body missing", product)
				}
				continue
			}
			evs, err := klavi.ParseEvents(b.Bytes)
			if err != nil || len(evs) != 1 {
				t.Fatalf("%s: %v", choice, err)
			}
			ev := evs[0]
			if b.Kind != "event" || ev.EventID != b.Key || string(ev.EventName) != choice || ev.ConsentID() != "consent-9" {
				t.Errorf("%s: event %+v (consent %q)", choice, ev, ev.ConsentID())
			}
			if !strings.HasPrefix(ev.EventID, "sim-") || ev.EventTime != "2026-03-04T12:00:00.000Z" {
				t.Errorf("%s: id %q, time %q", choice, ev.EventID, ev.EventTime)
			}
		}
	}
	a, _ := Build(ConsentRevoked, subject(), "", now)
	b, _ := Build(ConsentRevoked, subject(), "", now)
	if a.Key == b.Key {
		t.Error("two simulated events share an eventId")
	}
	for _, bad := range []struct{ choice, consent, product string }{
		{"consent_deleted_by_user", "consent-9", ""}, {ConsentRevoked, "no/slash", ""}, {ConsentRevoked, "", ""},
		{Report, "consent-9", "pf_loans"}, {ProductGeneratedFailed, "consent-9", ""},
	} {
		s := subject()
		s.ConsentID = bad.consent
		if _, err := Build(bad.choice, s, bad.product, now); err == nil {
			t.Errorf("Build(%v) accepted", bad)
		}
	}
	p, err := Probe(now)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := klavi.ParseEvents(p.Bytes)
	if err != nil || string(evs[0].EventName) != consent.ProbeEvent || evs[0].ConsentID() != "" || !strings.HasPrefix(p.Key, "probe-") {
		t.Errorf("probe = %s, %v", p.Bytes, err)
	}
}

func openStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "p.db"), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// receiver is a stand-in for the portal's event receiver: it checks the request as the portal would and stores
// the delivery, or answers status without storing.
func receiver(t *testing.T, st *store.Store, status int) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.URL.Path != "/webhooks/klavi/events" ||
			r.Header.Get("Content-Type") != "application/json" ||
			!klavi.VerifySignature(secret, body, r.Header.Get(klavi.SignatureHeader)) {
			t.Errorf("request %s %s %q not signed like Klavi's", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
		}
		if ts, err := strconv.ParseInt(r.Header.Get(klavi.TimestampHeader), 10, 64); err != nil || ts != now.Unix() {
			t.Errorf("timestamp %q", r.Header.Get(klavi.TimestampHeader))
		}
		if status == http.StatusOK && st != nil {
			sum := sha256.Sum256(body)
			evs, _ := klavi.ParseEvents(body)
			d := store.Delivery{Kind: "event", SignatureValid: true, BodySHA256: hex.EncodeToString(sum[:]), Body: body,
				Result: consent.R(consent.RAccepted), Keys: []string{evs[0].EventID}}
			if _, err := st.RecordEventDelivery(r.Context(), d, []store.InboxItem{{Key: evs[0].EventID, Body: body}}); err != nil {
				t.Error(err)
			}
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// Send finds the delivery the receiver stored for its bytes and waits for the worker (here: Apply finishes it).
func TestSendFindsTheDeliveryAndTheWorkersResult(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	srv := receiver(t, st, http.StatusOK)
	apply := func(ctx context.Context) {
		items, _ := st.PendingInbox(ctx, 10)
		for _, it := range items {
			_ = st.FinishInbox(ctx, it.ID, consent.R(consent.RProbe))
			_ = st.SettleDeliveryResult(ctx, it.DeliveryID)
		}
	}
	o := RoundTrip(context.Background(), Target{PublicURL: srv.URL + "/", Secret: secret, Store: st, Apply: apply,
		Now: func() time.Time { return now }})
	if !o.OK() || o.Status != 200 || !o.Reached || !o.Applied || o.Delivery.Result != consent.R(consent.RProbe) ||
		o.URL != srv.URL+"/webhooks/klavi/events" || o.Kind != "event" || !strings.HasPrefix(o.Key, "probe-") {
		t.Errorf("RoundTrip = %s, %+v", o, o)
	}
	// Without a worker, and told not to wait: reached, not applied.
	o = RoundTrip(context.Background(), Target{PublicURL: srv.URL, Secret: secret, Store: st, Wait: -1,
		Now: func() time.Time { return now }})
	if !o.OK() || !o.Reached || o.Applied || o.Delivery.Result != consent.R(consent.RAccepted) {
		t.Errorf("RoundTrip without a worker = %s, %+v", o, o)
	}
}

// Every way a round trip can fail has its own Problem.
func TestSendNamesWhatWentWrong(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	at := func(u string) Target {
		return Target{PublicURL: u, Secret: secret, Store: st, Now: func() time.Time { return now }}
	}
	body, _ := Build(ConsentRevoked, subject(), "", now)

	l, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := "http://" + l.Addr().String()
	_ = l.Close()

	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(hang.Close)
	t.Cleanup(func() { close(release) }) // runs first: the handler returns, then the server closes
	redirect := httptest.NewServer(http.RedirectHandler("https://portal.example/webhooks/klavi/events", http.StatusMovedPermanently))
	t.Cleanup(redirect.Close)
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	t.Cleanup(tlsSrv.Close)

	dnsClient := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		return nil, &net.OpError{Op: "dial", Net: network, Err: &net.DNSError{Err: "no such host", Name: "portal.invalid", IsNotFound: true}}
	}}}
	timeoutTarget := at(hang.URL)
	timeoutTarget.Client = &http.Client{Timeout: 100 * time.Millisecond}
	dnsTarget := at("http://portal.invalid")
	dnsTarget.Client = dnsClient

	for _, tc := range []struct {
		name   string
		t      Target
		want   Problem
		status int
	}{
		{"not a URL", at("portal.example"), ProblemConfig, 0},
		{"ftp", at("ftp://portal.example"), ProblemConfig, 0},
		{"refused", at(closed), ProblemRefused, 0},
		{"dns", dnsTarget, ProblemDNS, 0},
		{"timeout", timeoutTarget, ProblemTimeout, 0},
		{"tls", at(tlsSrv.URL), ProblemTLS, 0},
		{"redirect", at(redirect.URL), ProblemRedirect, http.StatusMovedPermanently},
		{"error status", at(receiver(t, nil, http.StatusServiceUnavailable).URL), ProblemStatus, http.StatusServiceUnavailable},
		{"another portal", at(receiver(t, nil, http.StatusOK).URL), ProblemElsewhere, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := Send(context.Background(), tc.t, body)
			if o.Problem != tc.want || o.Status != tc.status || o.OK() || o.Reached {
				t.Errorf("Send = %s; want problem %q, status %d", o, tc.want, tc.status)
			}
			if tc.want == ProblemRedirect && o.Location != "https://portal.example/webhooks/klavi/events" {
				t.Errorf("Location = %q", o.Location)
			}
		})
	}
}
