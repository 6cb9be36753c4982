package klavi

import (
	"context"
	"net/http"
	"sync"
	"testing"
)

// TestAttributeNamesTheSubjectOfEachCall: a call made with WithSubject is attributed to its subject (the token fetch
// it triggers included); a call made for a link being created is attributed once Resolve names the link, and never
// when the creation fails; a call without a tag is attributed to nothing.
func TestAttributeNamesTheSubjectOfEachCall(t *testing.T) {
	t.Parallel()
	fail := false
	var mu sync.Mutex
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case fail:
			w.WriteHeader(http.StatusBadRequest)
		case r.URL.Path == "/data/v1/links":
			writeJSON(w, http.StatusOK, golden(t, "link.json"))
		default:
			writeJSON(w, http.StatusOK, golden(t, "consent.json"))
		}
	})
	type seen struct {
		endpoint string
		subject  Subject
	}
	var got []seen
	c := f.client(t, WithObserver(func(ctx context.Context, c Call) {
		Attribute(ctx, func(s Subject) {
			mu.Lock()
			defer mu.Unlock()
			got = append(got, seen{c.Endpoint, s})
		})
	}))
	take := func() []seen {
		mu.Lock()
		defer mu.Unlock()
		out := got
		got = nil
		return out
	}

	consentSubject := Subject{LinkID: "link-1", ConsentID: "consent-1"}
	if _, err := c.Consent(WithSubject(context.Background(), consentSubject), "consent-1"); err != nil {
		t.Fatal(err)
	}
	if g := take(); len(g) != 2 || g[0] != (seen{"/auth", consentSubject}) || g[1] != (seen{"/consents/{consentId}", consentSubject}) {
		t.Errorf("tagged call: attributed %+v, want POST /auth and GET /consents/{consentId} to %+v", g, consentSubject)
	}

	if _, err := c.Consent(context.Background(), "consent-1"); err != nil {
		t.Fatal(err)
	}
	if g := take(); len(g) != 0 {
		t.Errorf("untagged call: attributed %+v, want nothing", g)
	}
	if _, err := c.Consent(WithSubject(context.Background(), Subject{}), "consent-1"); err != nil {
		t.Fatal(err)
	}
	if g := take(); len(g) != 0 {
		t.Errorf("zero subject: attributed %+v, want nothing", g)
	}

	ctx, pending := WithPendingSubject(context.Background())
	l, err := c.CreateLink(ctx, LinkRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if g := take(); len(g) != 0 {
		t.Errorf("before Resolve: attributed %+v, want nothing yet", g)
	}
	pending.Resolve(Subject{LinkID: l.LinkID})
	pending.Resolve(Subject{LinkID: "another"}) // only the first counts
	if g := take(); len(g) != 1 || g[0] != (seen{"/links", Subject{LinkID: l.LinkID}}) {
		t.Errorf("after Resolve: attributed %+v, want POST /links to link %s", g, l.LinkID)
	}
	// Once resolved, later calls with the same context are attributed at once.
	if _, err := c.Consent(ctx, "consent-1"); err != nil {
		t.Fatal(err)
	}
	if g := take(); len(g) != 1 || g[0].subject.LinkID != l.LinkID {
		t.Errorf("after Resolve, a later call: attributed %+v, want it to link %s", g, l.LinkID)
	}

	mu.Lock()
	fail = true
	mu.Unlock()
	ctx, pending = WithPendingSubject(context.Background())
	if _, err := c.CreateLink(ctx, LinkRequest{}); err == nil {
		t.Fatal("want the 400")
	}
	_ = pending // a failed creation names no link: Resolve is never called
	if g := take(); len(g) != 0 {
		t.Errorf("failed creation: attributed %+v, want nothing", g)
	}
}
