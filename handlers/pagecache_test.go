package handlers

import (
	"context"
	"database/sql"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/klavi-demo/portal/consent"
)

// rename changes a consent's institution name behind the server's back (no change is announced), so a test can
// tell a cached page (the old name) from a fresh one (the new name).
func rename(t *testing.T, db *sql.DB, id, name string) {
	t.Helper()
	if _, err := db.Exec(`UPDATE consents SET institution_name = ? WHERE id = ?`, name, id); err != nil {
		t.Fatal(err)
	}
}

// TestConsentPageCache: a visitor's consent page asked for again is written from the cache; a change the flow
// announces shows at once, a write behind the server's back once the entry's second is over; another device still
// gets 404, and an operator always gets a fresh page.
func TestConsentPageCache(t *testing.T) {
	t.Parallel()
	clk := &testClock{}
	e := newEnv(t, func(o *envOptions) { o.PollInterval = time.Hour; o.Now = clk.Now })
	b := e.browser()
	id, _ := e.startFlow(b, "52998224725")
	path := "/consents/" + id
	db := rawDB(t, e)

	first := e.get(b, path)
	wantStatus(t, first, http.StatusOK)
	rename(t, db, id, "Banco Renomeado")
	if again := e.get(b, path); again.body != first.body {
		t.Fatal("the page asked for again within a second was rendered again")
	}

	// Another device: 404, from the cache as from the database.
	if r := e.get(e.browser(), path); r.status != http.StatusNotFound {
		t.Fatalf("another device got %d for a cached consent page", r.status)
	}
	// An operator's page is always read: the rename shows.
	if r := e.get(e.operator(), path); !strings.Contains(r.body, "Banco Renomeado") {
		t.Error("an operator was served a cached page")
	}

	// A change announced by the flow (every status change, webhook and report writes a timeline line) shows at once.
	e.flow.Record(context.Background(), id, "api", consent.M(consent.TLRedirect), consent.Msg{}, true)
	fresh := e.get(b, path)
	if !strings.Contains(fresh.body, "Banco Renomeado") {
		t.Fatal("the page was served from the cache after the flow announced a change")
	}

	// Behind the server's back (another replica): shown once the second is over.
	rename(t, db, id, "Banco Outra Vez")
	if r := e.get(b, path); strings.Contains(r.body, "Banco Outra Vez") {
		t.Fatal("not served from the cache within its second")
	}
	clk.Advance(pageCacheTTL)
	if r := e.get(b, path); !strings.Contains(r.body, "Banco Outra Vez") {
		t.Fatal("a cached page outlived its second")
	}

	// The language and the theme are part of the key.
	wantStatus(t, e.get(b, "/lang/en?next=/"), http.StatusSeeOther)
	if r := e.get(b, path); !strings.Contains(r.body, `lang="en"`) {
		t.Error("the Portuguese page was served after the switch to English")
	}
	wantStatus(t, e.get(b, "/theme/dark?next=/"), http.StatusSeeOther)
	if r := e.get(b, path); !strings.Contains(r.body, `data-theme="dark"`) {
		t.Error("the light page was served after the switch to dark")
	}
}

// TestPickerCacheFollowsTheFlow: the picker is kept per flow; a flash message waiting is shown (that page is not
// served from the cache nor kept), a new flow (POST /start rotates the session) never sees the old one's picker.
func TestPickerCacheFollowsTheFlow(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *envOptions) { o.PollInterval = time.Hour })
	b := e.browser()
	e.startFlow(b, "52998224725")
	first := e.get(b, "/institutions")
	wantStatus(t, first, http.StatusOK)
	if again := e.get(b, "/institutions"); again.body != first.body {
		t.Fatal("the picker asked for again was rendered again")
	}

	// A flash waits: it is shown once, and the page after it is the plain picker again.
	wantStatus(t, e.get(b, "/institutions/handoff/done"), http.StatusSeeOther)
	r := e.get(b, "/institutions")
	if r.doc(t).Find(`[data-testid="flash"]`).Length() != 1 {
		t.Fatal("the flash message was not shown: the cached picker was served")
	}
	if e.get(b, "/institutions").doc(t).Find(`[data-testid="flash"]`).Length() != 0 {
		t.Fatal("the page with the flash message was kept")
	}

	// Another person's flow in the same browser: a new session, a new link, a new picker.
	before := first.doc(t).Find(`[data-testid="handoff-url"]`).Text()
	e.startFlow(b, "11144477735")
	after := e.get(b, "/institutions").doc(t).Find(`[data-testid="handoff-url"]`).Text()
	if before == "" || before == after {
		t.Errorf("the new flow's picker shows the old hand-off code (%q, %q)", before, after)
	}
}

// TestRotatedSessionNotReadFromTheCache: the token a session had before it was renewed stops working at once, although
// its row was read a moment before.
func TestRotatedSessionNotReadFromTheCache(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *envOptions) { o.PollInterval = time.Hour })
	b := e.browser()
	e.startFlow(b, "52998224725")
	wantStatus(t, e.get(b, "/institutions"), http.StatusOK)
	u, _ := url.Parse(e.srv.URL)
	thief := e.browser()
	thief.Jar.SetCookies(u, b.Jar.Cookies(u)) // the session and device cookies as they were
	e.startFlow(b, "11144477735")             // rotates the session token
	if r := e.get(thief, "/institutions"); r.status == http.StatusOK {
		t.Fatal("the session token replaced by POST /start still opens the picker")
	}
}
