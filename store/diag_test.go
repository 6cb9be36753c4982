package store

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/klavi-demo/portal/consent"
)

// TestKlaviCallLog: calls are kept per consent and per link, read back oldest first with every field; calls for
// nothing are skipped; each subject keeps its newest MaxKlaviCallsPerSubject rows; a purge of the link deletes its
// calls and its consents' calls, and no other link's.
func TestKlaviCallLog(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, be backend) {
		s, clk, _ := openTest(t, be)
		ctx := context.Background()
		seedPurge(t, s)

		first := KlaviCall{LinkID: "link-a", At: t0, Method: "POST", Endpoint: "/links", Status: 200, Attempt: 1,
			Duration: 120 * time.Millisecond, RequestID: "req-link"}
		err := s.AddKlaviCalls(ctx, []KlaviCall{
			first,
			{LinkID: "link-a", ConsentID: "consent-a1", Method: "GET", Endpoint: "/consents/{consentId}", Status: 503,
				Attempt: 1, Duration: 2 * time.Second, RequestID: "req-poll-1"},
			{LinkID: "link-a", ConsentID: "consent-a1", Method: "GET", Endpoint: "/consents/{consentId}", Attempt: 2,
				RequestID: "req-poll-2"},
			{Method: "POST", Endpoint: "/auth", Status: 200, RequestID: "req-nobody"},
			{LinkID: "link-b", ConsentID: "consent-b1", Method: "GET", Endpoint: "/consents/{consentId}", Status: 200,
				RequestID: "req-other"},
		})
		if err != nil {
			t.Fatalf("AddKlaviCalls: %v", err)
		}
		got, err := s.KlaviCallsFor(ctx, "consent-a1", "link-a", 0)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, c := range got {
			ids = append(ids, c.RequestID)
		}
		if !slices.Equal(ids, []string{"req-link", "req-poll-1", "req-poll-2"}) {
			t.Fatalf("calls for consent-a1/link-a: %v, want the link's and the consent's, oldest first", ids)
		}
		g := got[0]
		if g.LinkID != "link-a" || g.ConsentID != "" || !g.At.Equal(t0) || g.Method != "POST" || g.Endpoint != "/links" ||
			g.Status != 200 || g.Attempt != 1 || g.Duration != 120*time.Millisecond {
			t.Errorf("first call read back as %+v, want %+v", g, first)
		}
		if got[1].At.IsZero() || got[2].Status != 0 || got[2].Attempt != 2 {
			t.Errorf("defaults: %+v %+v", got[1], got[2])
		}
		if n := countRows(t, s, `SELECT count(*) FROM klavi_calls WHERE request_id = 'req-nobody'`); n != 0 {
			t.Errorf("a call for nothing was kept (%d rows)", n)
		}
		if only, _ := s.KlaviCallsFor(ctx, "", "link-b", 0); len(only) != 1 || only[0].RequestID != "req-other" {
			t.Errorf("calls for link-b: %+v", only)
		}
		if none, _ := s.KlaviCallsFor(ctx, "", "", 0); len(none) != 0 {
			t.Errorf("calls for no subject: %+v, want none", none)
		}

		// The cap: the oldest rows of a subject go, another subject's stay.
		var many []KlaviCall
		for i := range MaxKlaviCallsPerSubject + 5 {
			clk.Advance(time.Second)
			many = append(many, KlaviCall{LinkID: "link-a", ConsentID: "consent-a2", At: clk.Now(), Method: "GET",
				Endpoint: "/consents/{consentId}", Status: 200, RequestID: fmt.Sprintf("bulk-%03d", i)})
		}
		if err := s.AddKlaviCalls(ctx, many[:10]); err != nil {
			t.Fatal(err)
		}
		if err := s.AddKlaviCalls(ctx, many[10:]); err != nil {
			t.Fatal(err)
		}
		bulk, err := s.KlaviCallsFor(ctx, "consent-a2", "", 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(bulk) != MaxKlaviCallsPerSubject || bulk[0].RequestID != "bulk-005" ||
			bulk[len(bulk)-1].RequestID != fmt.Sprintf("bulk-%03d", MaxKlaviCallsPerSubject+4) {
			t.Errorf("capped log: %d rows from %s, want %d from bulk-005", len(bulk), bulk[0].RequestID, MaxKlaviCallsPerSubject)
		}
		if n := countRows(t, s, `SELECT count(*) FROM klavi_calls WHERE consent_id = 'consent-a1'`); n != 2 {
			t.Errorf("another consent's calls: %d rows, want 2", n)
		}

		if _, err := s.PurgeLink(ctx, "link-a"); err != nil {
			t.Fatal(err)
		}
		if left, _ := s.KlaviCallsFor(ctx, "consent-a2", "link-a", 0); len(left) != 0 {
			t.Errorf("after the purge, %d calls of link-a are left", len(left))
		}
		if n := countRows(t, s, `SELECT count(*) FROM klavi_calls WHERE consent_id = 'consent-a1'`); n != 0 {
			t.Errorf("after the purge, %d calls of consent-a1 are left", n)
		}
		if other, _ := s.KlaviCallsFor(ctx, "consent-b1", "link-b", 0); len(other) != 1 {
			t.Errorf("the purge of link-a took link-b's calls: %+v", other)
		}
	})
}

// TestInboxBacklogAndPollBacklog: the pending inbox items and the oldest; the consents the reconciler watches and
// how overdue the most overdue poll is (a consent never scheduled is due since its creation; terminal consents and
// future polls do not count).
func TestInboxBacklogAndPollBacklog(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, be backend) {
		s, clk, _ := openTest(t, be)
		ctx := context.Background()

		b, err := s.InboxBacklog(ctx)
		if err != nil || b.Pending != 0 || !b.Oldest.IsZero() {
			t.Fatalf("empty inbox: %+v, %v", b, err)
		}
		for i, at := range []time.Time{t0.Add(-10 * time.Minute), t0.Add(-time.Minute), t0} {
			key := fmt.Sprintf("ev-%d", i)
			if _, err := s.RecordEventDelivery(ctx, Delivery{Kind: "event", SignatureValid: true, ReceivedAt: at,
				Keys: []string{key}}, []InboxItem{{Key: key, Body: []byte(`{}`)}}); err != nil {
				t.Fatal(err)
			}
		}
		items, _ := s.PendingInbox(ctx, 0)
		if err := s.FinishInbox(ctx, items[0].ID, "ok"); err != nil {
			t.Fatal(err)
		}
		if b, err = s.InboxBacklog(ctx); err != nil || b.Pending != 2 || !b.Oldest.Equal(t0.Add(-time.Minute)) {
			t.Errorf("backlog = %+v, %v; want 2 pending, the oldest received a minute before t0", b, err)
		}

		p, err := s.PollBacklog(ctx, t0)
		if err != nil || p != (PollBacklog{}) {
			t.Fatalf("no consents: %+v, %v", p, err)
		}
		for _, c := range []Consent{
			{ID: "never-scheduled", Status: consent.Started},
			{ID: "overdue", Status: consent.AwaitingAuthorisation},
			{ID: "later", Status: consent.Authorised},
			{ID: "done", Status: consent.Rejected},
		} {
			if err := s.CreateConsent(ctx, c); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.SchedulePoll(ctx, "overdue", t0.Add(-3*time.Minute), 4); err != nil {
			t.Fatal(err)
		}
		if err := s.SchedulePoll(ctx, "later", t0.Add(time.Minute), 1); err != nil {
			t.Fatal(err)
		}
		if err := s.SchedulePoll(ctx, "done", t0.Add(-time.Hour), 1); err != nil {
			t.Fatal(err)
		}
		clk.Advance(time.Second)
		p, err = s.PollBacklog(ctx, clk.Now())
		if err != nil {
			t.Fatal(err)
		}
		if want := (PollBacklog{Open: 3, Due: 2, OldestDue: t0.Add(-3 * time.Minute)}); p != want {
			t.Errorf("poll backlog = %+v, want %+v", p, want)
		}
	})
}

// TestDBStats: the backend, a size, the WAL on SQLite (and -1 on PostgreSQL), a ping time.
func TestDBStats(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, be backend) {
		s, _, _ := openTest(t, be)
		st, err := s.DBStats(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if st.Backend != string(be) || st.SizeBytes <= 0 || st.PingTook <= 0 {
			t.Errorf("stats = %+v", st)
		}
		if be == postgresBackend && st.WALBytes != -1 {
			t.Errorf("PostgreSQL WALBytes = %d, want -1", st.WALBytes)
		}
		if be == sqliteBackend && st.WALBytes < 0 {
			t.Errorf("SQLite WALBytes = %d", st.WALBytes)
		}
	})
}

// TestDeliveriesFor: a delivery matches when its body names the id as a JSON string, or when it carried one of the
// keys (which survives the purge of the bodies); an id inside a longer one and other deliveries do not match.
func TestDeliveriesFor(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, be backend) {
		s, _, _ := openTest(t, be)
		ctx := context.Background()
		seedPurge(t, s)
		// A key with LIKE's wildcards matches itself only.
		if _, err := s.RecordEventDelivery(ctx, Delivery{Kind: "event", SignatureValid: true, Keys: []string{"ev_%x"}},
			[]InboxItem{{Key: "ev_%x", Body: []byte(`{}`)}}); err != nil {
			t.Fatal(err)
		}
		keysOf := func(ds []Delivery) []string {
			var out []string
			for _, d := range ds {
				if d.Body != nil {
					t.Errorf("delivery %d came with its body", d.ID)
				}
				out = append(out, d.Keys...)
			}
			slices.Sort(out)
			return out
		}
		got, err := s.DeliveriesFor(ctx, []string{"consent-a1", "link-a"}, []string{"rep-a1"}, 0)
		if err != nil {
			t.Fatal(err)
		}
		if k := keysOf(got); !slices.Equal(k, []string{"ev-a", "rep-a1"}) {
			t.Errorf("deliveries for consent-a1: %v, want ev-a and rep-a1", k)
		}
		if _, err := s.PurgeLink(ctx, "link-a"); err != nil {
			t.Fatal(err)
		}
		got, _ = s.DeliveriesFor(ctx, []string{"consent-a1", "link-a"}, nil, 0)
		if len(got) != 0 {
			t.Errorf("after the purge the bodies are gone, yet %v matched", keysOf(got))
		}
		got, _ = s.DeliveriesFor(ctx, nil, []string{"ev-a", "ev_%"}, 0)
		if k := keysOf(got); !slices.Equal(k, []string{"ev-a"}) {
			t.Errorf("by key after the purge: %v, want ev-a alone", k)
		}
		if got, err := s.DeliveriesFor(ctx, nil, nil, 0); err != nil || len(got) != 0 {
			t.Errorf("nothing to match: %v, %v", got, err)
		}
	})
}
