package flow

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klavi-demo/portal/consent"
	"github.com/klavi-demo/portal/klavi"
	"github.com/klavi-demo/portal/store"
)

// fakeKlavi answers Consent with a set status and counts report requests.
type fakeKlavi struct {
	mu      sync.Mutex
	status  klavi.ConsentStatus
	err     error
	reports atomic.Int32
}

func (f *fakeKlavi) Consent(_ context.Context, id string) (*klavi.Consent, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	return &klavi.Consent{ConsentID: id, Status: f.status}, nil
}

func (f *fakeKlavi) RequestReports(context.Context, klavi.ReportRequest) (*klavi.ReportRequestResult, error) {
	f.reports.Add(1)
	time.Sleep(5 * time.Millisecond) // widen the race window
	return &klavi.ReportRequestResult{RequestID: "req-1"}, nil
}

func newTestService(t *testing.T) (*Service, *store.Store, *fakeKlavi) {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "flow.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	kc := &fakeKlavi{status: klavi.StatusAwaitingAuthorisation}
	s, err := New(Options{Store: st, Klavi: kc, PublicURL: "http://127.0.0.1:8080", HolderKey: []byte("k"),
		PollInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.CreateConsent(context.Background(), store.Consent{ID: "c1", LinkID: "l1", PersonType: "personal",
		PersonalTaxID: "52998224725"}); err != nil {
		t.Fatal(err)
	}
	return s, st, kc
}

// Callback, webhook and poll may all see AUTHORISED at once: one status line, one report request.
func TestApplyStatusConcurrentlyRequestsReportsOnce(t *testing.T) {
	t.Parallel()
	s, st, kc := newTestService(t)
	ctx := context.Background()
	c, _ := st.Consent(ctx, "c1")
	var wg sync.WaitGroup
	for _, src := range []Source{FromCallback, FromWebhook, FromPoll, FromCallback, FromWebhook} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.ApplyStatus(ctx, c, consent.Authorised, []string{"ACCOUNTS_ALL"}, "", src); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := kc.reports.Load(); n != 1 {
		t.Errorf("report requests = %d, want 1", n)
	}
	tl, _ := st.Timeline(ctx, "c1")
	changes, requests := 0, 0
	for _, e := range tl {
		switch e.Title.Key {
		case consent.TLStatusChanged, consent.TLPollChanged:
			changes++
			if e.Title.Args[0] != "STARTED" || e.Title.Args[1] != "AUTHORISED" {
				t.Errorf("change line = %v", e.Title)
			}
		case consent.TLReportsRequested:
			requests++
			if e.Detail.Key != consent.TLReportsRequestedID || e.Detail.Args[1] != "req-1" {
				t.Errorf("request detail = %v", e.Detail)
			}
		}
	}
	if changes != 1 || requests != 1 {
		t.Errorf("timeline: %d status lines, %d request lines; want 1 and 1: %+v", changes, requests, tl)
	}
	// A late, older status changes nothing and writes nothing.
	before := len(tl)
	if after, _ := s.ApplyStatus(ctx, c, consent.AwaitingAuthorisation, nil, "", FromWebhook); after.Status != consent.Authorised {
		t.Errorf("status after a stale observation = %s", after.Status)
	}
	if tl, _ = st.Timeline(ctx, "c1"); len(tl) != before {
		t.Errorf("a stale observation wrote %d lines", len(tl)-before)
	}
}

// Polls that see nothing new share one coalesced line and back off; a failing poll says why.
func TestPollCoalescesAndBacksOff(t *testing.T) {
	t.Parallel()
	s, st, kc := newTestService(t)
	ctx := context.Background()
	var nexts []time.Duration
	for range 3 {
		c, _ := st.Consent(ctx, "c1")
		start := time.Now()
		s.Poll(ctx, c)
		c, _ = st.Consent(ctx, "c1")
		nexts = append(nexts, c.NextPollAt.Sub(start).Round(time.Second))
	}
	// The first poll moves STARTED → AWAITING_AUTHORISATION (attempts back to 1), then 2 s, 4 s.
	if nexts[0] != time.Second || nexts[1] != 2*time.Second || nexts[2] != 4*time.Second {
		t.Errorf("backoff = %v, want [1s 2s 4s]", nexts)
	}
	tl, _ := st.Timeline(ctx, "c1")
	if len(tl) != 2 || tl[0].Title.Key != consent.TLPollChanged || tl[1].Title.Key != consent.TLPollUnchanged || tl[1].Repeats != 2 {
		t.Errorf("timeline = %+v", tl)
	}
	kc.mu.Lock()
	kc.err = &klavi.APIError{HTTPStatus: 502, Code: 4001}
	kc.mu.Unlock()
	c, _ := st.Consent(ctx, "c1")
	s.Poll(ctx, c)
	tl, _ = st.Timeline(ctx, "c1")
	last := tl[len(tl)-1]
	if last.Title.Key != consent.TLPollFailed || last.OK || last.Detail.Key != consent.TLKlaviHTTPCode {
		t.Errorf("failed poll line = %+v", last)
	}
}

func TestKlaviErr(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		err   error
		want  consent.Msg
		retry string // the inbox result of a failed attempt
	}{
		{&klavi.APIError{HTTPStatus: 416, Code: 4004}, consent.M(consent.TLKlaviHTTPCode, "416", "4004"), "wh.retry|tl.klavi_http_code|416|4004"},
		{&klavi.APIError{HTTPStatus: 500, Code: 500}, consent.M(consent.TLKlaviHTTP, "500"), "wh.retry|tl.klavi_http|500"},
		{klavi.ErrUnavailable, consent.M(consent.TLKlaviUnavailable), "wh.retry|tl.klavi_unavailable"},
		{context.DeadlineExceeded, consent.M(consent.TLCallInterrupted), "wh.retry|tl.call_interrupted"},
		{errors.New("boom 529.982.247-25"), consent.M(consent.TLUnexpectedError), "wh.retry|tl.unexpected_error"},
	} {
		if got := KlaviErr(c.err); !got.Equal(c.want) {
			t.Errorf("KlaviErr(%v) = %v, want %v", c.err, got, c.want)
		}
		if got := consent.RetryResult(KlaviErr(c.err)); got != c.retry {
			t.Errorf("RetryResult(KlaviErr(%v)) = %q, want %q", c.err, got, c.retry)
		}
	}
}

// Timeline arguments are masked: a CPF in a bank's message never reaches the page.
func TestRecordMasksArguments(t *testing.T) {
	t.Parallel()
	s, st, _ := newTestService(t)
	s.Record(context.Background(), "c1", "callback", consent.M(consent.TLCallbackError, "access_denied"),
		consent.M(consent.TLText, "cpf 529.982.247-25 negado"), false)
	tl, _ := st.Timeline(context.Background(), "c1")
	if len(tl) != 1 || tl[0].Detail.Args[0] == "cpf 529.982.247-25 negado" {
		t.Errorf("detail = %+v, want the CPF masked", tl)
	}
}

// An inbox item applied again (taken over from a replica that died after applying it, before marking it
// processed) changes nothing and writes no second timeline line.
func TestConsentEventAppliedAgainIsLoggedOnce(t *testing.T) {
	t.Parallel()
	s, st, _ := newTestService(t)
	ctx := context.Background()
	body := []byte(`[{"eventId":"ev-1","eventName":"consent_rejected","payload":{"consents":{"consentId":"c1"}}}]`)
	it := store.InboxItem{ID: 1, Kind: "event", Key: "ev-1", EventName: "consent_rejected", Body: body}
	for range 2 {
		if res, err := s.processInboxItem(ctx, it); err != nil || res != consent.R(consent.RProcessed) {
			t.Fatalf("processInboxItem = %q, %v", res, err)
		}
	}
	tl, _ := st.Timeline(ctx, "c1")
	webhookLines, statusLines := 0, 0
	for _, e := range tl {
		switch e.Title.Key {
		case consent.TLWebhook:
			webhookLines++
		case consent.TLStatusChanged:
			statusLines++
		}
	}
	if webhookLines != 1 || statusLines != 1 {
		t.Errorf("timeline after applying twice: %d webhook lines, %d status lines; want 1 and 1", webhookLines, statusLines)
	}
}

// Run sweeps the access rows that can no longer be used as it starts (then every sweepEvery): an expired session's
// row is deleted, a live one kept.
func TestRunSweepsExpiredSessions(t *testing.T) {
	t.Parallel()
	dbPath := filepath.Join(t.TempDir(), "sweep.db")
	st, err := store.Open(context.Background(), dbPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	s, err := New(Options{Store: st, Klavi: &fakeKlavi{status: klavi.StatusAwaitingAuthorisation},
		PublicURL: "http://127.0.0.1:8080", HolderKey: []byte("k"), PollInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for id, expires := range map[string]time.Time{"expired": now.Add(-time.Minute), "live": now.Add(time.Hour)} {
		if err := st.SaveSession(context.Background(), store.Session{IDHash: id, CreatedAt: now.Add(-time.Hour),
			SeenAt: now.Add(-time.Hour), ExpiresAt: expires}); err != nil {
			t.Fatal(err)
		}
	}
	// Session hides an expired row whether it is stored or not, so the table itself is read.
	db, err := sql.Open("sqlite", "file:"+dbPath+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	rows := func() []string {
		r, err := db.Query(`SELECT id_hash FROM sessions ORDER BY id_hash`)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		var ids []string
		for r.Next() {
			var id string
			if err := r.Scan(&id); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
		if err := r.Err(); err != nil {
			t.Fatal(err)
		}
		return ids
	}
	if got := rows(); len(got) != 2 {
		t.Fatalf("sessions before Run = %v", got)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	deadline := time.Now().Add(10 * time.Second)
	for got := rows(); len(got) != 1 || got[0] != "live"; got = rows() {
		if time.Now().After(deadline) {
			t.Fatalf("sessions after Run started = %v, want only the live one", got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
