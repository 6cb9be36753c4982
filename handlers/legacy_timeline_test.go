package handlers

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klavi-demo/portal/store"
)

// TestTimelineOfAnOlderDatabaseRendersInBothLanguages serves store/testdata/portal-v3.db, a database written by
// the version that stored timeline lines as English sentences (every kind of line it wrote, gathered from this
// package's tests), and reads every consent page in Portuguese and in English: each stored line is shown, in the
// reader's language.
func TestTimelineOfAnOlderDatabaseRendersInBothLanguages(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile(filepath.Join("..", "store", "testdata", "portal-v3.db"))
	if err != nil {
		t.Fatal(err)
	}
	dbPath := filepath.Join(t.TempDir(), "portal.db")
	if err := os.WriteFile(dbPath, src, 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), dbPath, time.Now)
	if err != nil {
		t.Fatalf("open the v3 database: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	o := envOptions{Options: Options{Store: st, WebhookSecret: testSecret, PublicURL: "http://127.0.0.1:8080",
		SessionKey: bytes.Repeat([]byte("k"), 64), RateLimit: -1}, PollInterval: time.Hour}
	kc := newFakeKlavi()
	o.Flow = newFlow(t, o, kc)
	s, err := newServer(o.Options, kc)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	e := &env{t: t, s: s, flow: o.Flow, st: st, kc: kc, srv: srv, dbPath: dbPath}

	page, err := st.ListConsentPage(context.Background(), store.ConsentFilter{Limit: 1000})
	if err != nil || len(page.Rows) < 20 {
		t.Fatalf("fixture consents = %d, %v", len(page.Rows), err)
	}
	pt, en := e.operator(), e.operator() // the fixture's consents belong to no browser of this test
	wantStatus(t, e.get(en, "/lang/en?next=/"), http.StatusSeeOther)
	var ptAll, enAll strings.Builder
	for _, row := range page.Rows {
		id := row.ID
		tl, _ := st.Timeline(context.Background(), id)
		for lang, b := range map[string]*strings.Builder{"pt": &ptAll, "en": &enAll} {
			c := pt
			if lang == "en" {
				c = en
			}
			r := e.get(c, "/consents/"+id)
			wantStatus(t, r, http.StatusOK)
			if n := r.doc(t).Find(`[data-testid="timeline-entry"]`).Length(); n != len(tl) {
				t.Errorf("%s (%s): %d timeline entries shown, %d stored", id, lang, n, len(tl))
			}
			r.doc(t).Find(`[data-testid="timeline"]`).Each(func(_ int, sel *goqSel) { b.WriteString(sel.Text()) })
		}
	}
	for _, want := range []string{"situação: STARTED → AUTHORISED", "observado via callback",
		"redirecionamento: navegador enviado à instituição (303)", "webhook consent_authorised, assinatura válida",
		"relatório pf_checking_account recebido", "dados apagados a pedido do titular",
		"consulta: GET /consents/{id}: AWAITING_AUTHORISATION (sem mudança)",
		"Klavi indisponível (tempo esgotado ou falha de conexão)"} {
		if !strings.Contains(ptAll.String(), want) {
			t.Errorf("Portuguese pages lack %q", want)
		}
	}
	for _, unwanted := range []string{"observed via", "signature ok", "(unchanged)", "browser sent to"} {
		if strings.Contains(ptAll.String(), unwanted) {
			t.Errorf("Portuguese pages show the English %q", unwanted)
		}
	}
	for _, want := range []string{"status: STARTED → AUTHORISED", "observed via callback",
		"redirect: browser sent to the institution (303)", "webhook consent_authorised, signature ok",
		"report pf_checking_account received", "poll: GET /consents/{id}: AWAITING_AUTHORISATION (unchanged)"} {
		if !strings.Contains(enAll.String(), want) {
			t.Errorf("English pages lack %q", want)
		}
	}
}
