package handlers

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/klavi-demo/portal/consent"
	"github.com/klavi-demo/portal/klavi"
	"github.com/klavi-demo/portal/store"
)

// TestLiveLongPoll: the live fragment carries an ETag; a long poll naming it waits while nothing changes, answers
// as soon as the consent changes (a timeline line), and answers 304 when its wait runs out.
func TestLiveLongPoll(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *envOptions) { o.PollInterval = time.Hour })
	b := e.browser()
	id, _ := e.startFlow(b, "52998224725")
	e.kc.setStatus(id, klavi.StatusAwaitingAuthorisation)

	page := e.get(b, "/consents/"+id)
	wantStatus(t, page, http.StatusOK)
	first := e.get(b, "/consents/"+id+"/live")
	wantStatus(t, first, http.StatusOK)
	etag := first.header.Get("ETag")
	if etag == "" || first.header.Get("X-Live") != "on" {
		t.Fatalf("ETag %q, X-Live %q", etag, first.header.Get("X-Live"))
	}
	if got := page.doc(t).Find(`#live`).AttrOr("data-live-etag", ""); got != etag {
		t.Errorf("the page names its fragment %q, the fragment's ETag is %q", got, etag)
	}

	type answer struct {
		r   resp
		err error
	}
	done := make(chan answer, 1)
	go func() {
		r, err := longPoll(b, e.srv.URL+"/consents/"+id+"/live?wait=1", etag)
		done <- answer{r, err}
	}()
	select {
	case a := <-done:
		t.Fatalf("the long poll answered %d before anything changed", a.r.status)
	case <-time.After(1500 * time.Millisecond): // longer than a database recheck: nothing changed, still waiting
	}
	e.s.flow.Record(t.Context(), id, "webhook", consent.M(consent.TLWebhook, "consent_rejected"), consent.Msg{}, true)
	var a answer
	select {
	case a = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("the long poll did not answer after the change")
	}
	if a.err != nil {
		t.Fatal(a.err)
	}
	wantStatus(t, a.r, http.StatusOK)
	if a.r.header.Get("ETag") == etag || !strings.Contains(a.r.body, "consent_rejected") {
		t.Errorf("after the change: ETag %q (was %q), the new line shown: %v", a.r.header.Get("ETag"), etag,
			strings.Contains(a.r.body, "consent_rejected"))
	}

	// Nothing changes: 304 when the wait runs out, with the same ETag.
	e.s.liveWait = 300 * time.Millisecond
	etag = a.r.header.Get("ETag")
	r := e.do(b, http.MethodGet, "/consents/"+id+"/live?wait=1", nil, map[string]string{"If-None-Match": etag})
	wantStatus(t, r, http.StatusNotModified)
	if r.header.Get("ETag") != etag || r.header.Get("X-Live") != "on" {
		t.Errorf("304: ETag %q X-Live %q", r.header.Get("ETag"), r.header.Get("X-Live"))
	}

	// Another browser may not wait on it either.
	r = e.do(e.browser(), http.MethodGet, "/consents/"+id+"/live?wait=1", nil, map[string]string{"If-None-Match": etag})
	wantStatus(t, r, http.StatusNotFound)
}

// TestLiveLongPollSeesAnotherReplica: a change written by another replica (a second Store on the same database, so
// nothing in this process is woken) still ends a waiting long poll, through the periodic database read
// (docs/reliability.md#replicas, live pages).
func TestLiveLongPollSeesAnotherReplica(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *envOptions) { o.PollInterval = time.Hour })
	b := e.browser()
	id, _ := e.startFlow(b, "52998224725")
	e.kc.setStatus(id, klavi.StatusAwaitingAuthorisation)
	first := e.get(b, "/consents/"+id+"/live")
	wantStatus(t, first, http.StatusOK)
	etag := first.header.Get("ETag")

	other, err := store.Open(t.Context(), e.dbPath, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = other.Close() })
	type answer struct {
		r   resp
		err error
	}
	done := make(chan answer, 1)
	go func() {
		r, err := longPoll(b, e.srv.URL+"/consents/"+id+"/live?wait=1", etag)
		done <- answer{r, err}
	}()
	time.Sleep(200 * time.Millisecond) // the long poll is waiting
	if _, err := other.SetStatus(t.Context(), id, consent.Rejected, nil, ""); err != nil {
		t.Fatal(err)
	}
	if err := other.AddTimeline(t.Context(), store.TimelineEntry{ConsentID: id, Kind: "webhook", OK: true,
		Title: consent.M(consent.TLWebhook, "consent_rejected"), At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	var a answer
	select {
	case a = <-done:
	case <-time.After(10 * time.Second): // a database read every second; the wait itself would end only after 25 s
		t.Fatal("the long poll did not see the other replica's change")
	}
	if a.err != nil {
		t.Fatal(a.err)
	}
	wantStatus(t, a.r, http.StatusOK)
	if a.r.header.Get("ETag") == etag || !strings.Contains(a.r.body, "consent_rejected") ||
		!strings.Contains(a.r.body, string(consent.Rejected)) {
		t.Errorf("after the other replica's change: ETag %q (was %q), body shows the line %v and REJECTED %v",
			a.r.header.Get("ETag"), etag, strings.Contains(a.r.body, "consent_rejected"),
			strings.Contains(a.r.body, string(consent.Rejected)))
	}
}

// longPoll is a GET with If-None-Match that reports errors instead of failing the test (it runs in a goroutine).
func longPoll(c *http.Client, url, etag string) (resp, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return resp{}, err
	}
	req.Header.Set("If-None-Match", etag)
	res, err := c.Do(req)
	if err != nil {
		return resp{}, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return resp{status: res.StatusCode, header: res.Header, body: string(b)}, err
}
