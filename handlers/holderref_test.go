package handlers

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/klavi-demo/portal/flow"
	"github.com/klavi-demo/portal/store"
)

// Two holders: Ana (CPF 529.982.247-25) with two consents, Bia (CPF 111.444.777-35) with one.
const (
	cpfAna = "52998224725"
	cpfBia = "11144477735"
)

// cpfFragments are pieces of Ana's CPF, in every format, that must never appear in a URL.
var cpfFragments = []string{cpfAna, "529.982.247-25", "529982", "982247", "982.247", "247-25", "24725"}

// noCPFIn fails when s (a URL) carries any piece of Ana's CPF or a tax_id parameter.
func noCPFIn(t *testing.T, what, s string) {
	t.Helper()
	if strings.Contains(s, "tax_id") {
		t.Errorf("%s %q has a tax_id parameter", what, s)
	}
	for _, f := range cpfFragments {
		if strings.Contains(s, f) {
			t.Errorf("%s %q carries the CPF (%s)", what, s, f)
		}
	}
}

var holderURLRE = regexp.MustCompile(`^/consents\?holder=[0-9a-f]{32}(&status=[A-Z_]+)?$`)

// seedHolders creates, through the flow, two consents for Ana (the second REJECTED) and one for Bia.
func seedHolders(t *testing.T, e *env) (ana1, ana2, bia string) {
	t.Helper()
	ana1, _ = e.startFlow(e.browser(), "529.982.247-25")
	ana2, _ = e.startFlow(e.browser(), cpfAna)
	bia, _ = e.startFlow(e.browser(), cpfBia)
	if _, err := e.st.SetStatus(context.Background(), ana2, "REJECTED", nil, ""); err != nil {
		t.Fatal(err)
	}
	return ana1, ana2, bia
}

func search(t *testing.T, e *env, c *http.Client, form url.Values) string {
	t.Helper()
	r := e.post(c, "/consents/search", form)
	wantStatus(t, r, http.StatusSeeOther)
	loc := r.header.Get("Location")
	noCPFIn(t, "Location", loc)
	if r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q", r.header.Get("Cache-Control"))
	}
	return loc
}

func TestHolderRef(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ref := e.flow.HolderRef(cpfAna)
	if !validHolderRef(ref) {
		t.Fatalf("holderRef = %q, want 32 lowercase hex", ref)
	}
	for _, v := range []string{"529.982.247-25", " 529 982 247 25 "} {
		if got := e.flow.HolderRef(v); got != ref {
			t.Errorf("holderRef(%q) = %q, want the normalised id's %q", v, got, ref)
		}
	}
	if e.flow.HolderRef("12.abc.345/01de-35") != e.flow.HolderRef("12ABC34501DE35") {
		t.Error("an alphanumeric CNPJ's ref depends on its case or format")
	}
	if e.flow.HolderRef(cpfBia) == ref || e.flow.HolderRef("") != "" || e.flow.HolderRef("５２９") != "" {
		t.Error("refs are not per tax id")
	}
	// Stable across restarts (same session key), different under another key.
	same := newEnv(t)
	other := newEnv(t, func(o *envOptions) { o.SessionKey = bytes.Repeat([]byte("x"), 64) })
	if same.flow.HolderRef(cpfAna) != ref || other.flow.HolderRef(cpfAna) == ref {
		t.Error("the ref does not follow the session key")
	}
	for _, bad := range []string{"", ref[:31], ref + "0", strings.ToUpper(ref), "g" + ref[1:], cpfAna, "../" + ref[3:]} {
		if validHolderRef(bad) {
			t.Errorf("validHolderRef(%q) = true", bad)
		}
	}
}

func TestConsentSearch(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *envOptions) { o.PollInterval = time.Hour; o.RateLimit = -1 })
	ana1, ana2, bia := seedHolders(t, e)
	c := e.operator()

	t.Run("created consents carry their holder ref", func(t *testing.T) {
		for id, cpf := range map[string]string{ana1: cpfAna, ana2: cpfAna, bia: cpfBia} {
			if got, _ := e.st.Consent(context.Background(), id); got.HolderRef != e.flow.HolderRef(cpf) {
				t.Errorf("%s HolderRef = %q", id, got.HolderRef)
			}
		}
	})
	t.Run("a valid CPF redirects to its holder URL and lists only that holder", func(t *testing.T) {
		loc := search(t, e, c, url.Values{"tax_id": {"529.982.247-25"}})
		if !holderURLRE.MatchString(loc) || loc != "/consents?holder="+e.flow.HolderRef(cpfAna) {
			t.Fatalf("Location = %q", loc)
		}
		r := e.get(c, loc)
		wantStatus(t, r, http.StatusOK)
		if ids := consentRowIDs(t, r); strings.Join(ids, ",") != ana2+","+ana1 {
			t.Errorf("rows = %v, want Ana's two consents", ids)
		}
		d := r.doc(t)
		if got := strings.Join(strings.Fields(d.Find(`[data-testid="consents-filtered-by"]`).Text()), " "); !strings.Contains(got, "Filtrado por ***.982.247-**") {
			t.Errorf("filtered-by = %q", got)
		}
		if v, _ := d.Find(`[data-testid="filter-taxid"]`).Attr("value"); v != "" {
			t.Errorf("the tax id input is prefilled with %q", v)
		}
		if v, _ := d.Find(`input[name="holder"]`).Attr("value"); v != e.flow.HolderRef(cpfAna) {
			t.Errorf("hidden holder = %q", v)
		}
		if m, _ := d.Find(`[data-testid="consents-filter"]`).Attr("method"); m != "post" {
			t.Errorf("filter form method = %q", m)
		}
		if strings.Contains(r.body, cpfAna) || strings.Contains(r.body, "529.982.247-25") {
			t.Error("the filtered page shows the CPF unmasked")
		}
		d.Find("a[href]").Each(func(_ int, s *goqSel) {
			href, _ := s.Attr("href")
			noCPFIn(t, "link", href)
		})
	})
	t.Run("the status select is part of the same form", func(t *testing.T) {
		loc := search(t, e, c, url.Values{"tax_id": {cpfAna}, "status": {"REJECTED"}})
		if want := "/consents?holder=" + e.flow.HolderRef(cpfAna) + "&status=REJECTED"; loc != want {
			t.Fatalf("Location = %q, want %q", loc, want)
		}
		r := e.get(c, loc)
		if ids := consentRowIDs(t, r); len(ids) != 1 || ids[0] != ana2 {
			t.Errorf("rows = %v, want %s", ids, ana2)
		}
		if v, _ := r.doc(t).Find(`#status option[selected]`).Attr("value"); v != "REJECTED" {
			t.Errorf("selected status = %q", v)
		}
		// An unknown status is dropped, not echoed.
		if loc := search(t, e, c, url.Values{"tax_id": {cpfAna}, "status": {"<x>"}}); loc != "/consents?holder="+e.flow.HolderRef(cpfAna) {
			t.Errorf("unknown status: Location = %q", loc)
		}
	})
	t.Run("an empty tax id keeps the holder filter and applies the status", func(t *testing.T) {
		ref := e.flow.HolderRef(cpfAna)
		if loc := search(t, e, c, url.Values{"tax_id": {" "}, "holder": {ref}, "status": {"AUTHORISED"}}); loc != "/consents?holder="+ref+"&status=AUTHORISED" {
			t.Errorf("Location = %q", loc)
		}
		if loc := search(t, e, c, url.Values{"status": {"AUTHORISED"}}); loc != "/consents?status=AUTHORISED" {
			t.Errorf("status only: Location = %q", loc)
		}
		if loc := search(t, e, c, url.Values{"holder": {"not-a-ref"}}); loc != "/consents" {
			t.Errorf("bad hidden holder: Location = %q", loc)
		}
		// A new tax id replaces the holder the page was filtered by.
		if loc := search(t, e, c, url.Values{"tax_id": {cpfBia}, "holder": {ref}}); loc != "/consents?holder="+e.flow.HolderRef(cpfBia) {
			t.Errorf("new tax id: Location = %q", loc)
		}
	})
	t.Run("an invalid tax id is a 422 with the message next to the field", func(t *testing.T) {
		for _, bad := range []string{"529.982", "abc!", strings.Repeat("9", 200)} {
			r := e.post(c, "/consents/search", url.Values{"tax_id": {bad}, "status": {"AUTHORISED"}})
			wantStatus(t, r, http.StatusUnprocessableEntity)
			d := r.doc(t)
			field := d.Find(`.field.has-error`)
			if got := field.Find(`#filter_taxid_error`).Text(); got != "Documento inválido: use CPF (11 dígitos) ou CNPJ (14 caracteres)." {
				t.Errorf("%.10q: message = %q", bad, got)
			}
			want := bad
			if len(want) > 64 {
				want = want[:64]
			}
			if v, _ := field.Find(`[data-testid="filter-taxid"]`).Attr("value"); v != want {
				t.Errorf("%.10q: input value = %q, want what was typed", bad, v)
			}
			if v, _ := d.Find(`#status option[selected]`).Attr("value"); v != "AUTHORISED" {
				t.Errorf("%.10q: selected status = %q", bad, v)
			}
			if n := d.Find(`[data-testid="consent-row"]`).Length(); n != 0 {
				t.Errorf("%.10q: %d rows listed", bad, n)
			}
			if href, _ := d.Find(`[data-testid="lang-en"]`).Attr("href"); href != "/lang/en?next=%2Fconsents" {
				t.Errorf("%.10q: language link = %q", bad, href)
			}
		}
		// The page to go back to after a failed search is the list.
		r := e.get(c, "/consents/search")
		wantStatus(t, r, http.StatusSeeOther)
		if r.header.Get("Location") != "/consents" {
			t.Errorf("GET /consents/search → %q", r.header.Get("Location"))
		}
	})
	t.Run("a legacy tax_id link redirects to the holder URL", func(t *testing.T) {
		for _, q := range []string{"tax_id=529.982.247-25&status=AUTHORISED", "status=AUTHORISED&tax_id=" + cpfAna} {
			r := e.get(c, "/consents?"+q)
			wantStatus(t, r, http.StatusSeeOther)
			loc := r.header.Get("Location")
			noCPFIn(t, "Location", loc)
			if want := "/consents?holder=" + e.flow.HolderRef(cpfAna) + "&status=AUTHORISED"; loc != want {
				t.Errorf("%s → %q, want %q", q, loc, want)
			}
			if strings.Contains(r.body, "982") {
				t.Errorf("%s: the redirect body echoes the CPF", q)
			}
		}
		// The cursor is kept.
		cur := store.ConsentCursor{CreatedAt: time.Now(), ID: ana1}.String()
		r := e.get(c, "/consents?tax_id="+cpfAna+"&before="+cur)
		if want := "/consents?before=" + cur + "&holder=" + e.flow.HolderRef(cpfAna); r.header.Get("Location") != want {
			t.Errorf("with a cursor → %q, want %q", r.header.Get("Location"), want)
		}
		// An empty one just goes away; an invalid one too, with the reason as a flash message.
		r = e.get(c, "/consents?tax_id=&status=REJECTED")
		if r.status != http.StatusSeeOther || r.header.Get("Location") != "/consents?status=REJECTED" {
			t.Errorf("empty tax_id → %d %q", r.status, r.header.Get("Location"))
		}
		r = e.get(c, "/consents?tax_id=98224")
		if r.status != http.StatusSeeOther || r.header.Get("Location") != "/consents" {
			t.Fatalf("invalid tax_id → %d %q", r.status, r.header.Get("Location"))
		}
		r = e.get(c, "/consents")
		if got := r.doc(t).Find(`[data-testid="flash"]`).Text(); !strings.Contains(got, "Documento inválido") {
			t.Errorf("flash = %q", got)
		}
		if strings.Contains(r.body, "98224") {
			t.Error("the invalid tax id is echoed")
		}
	})
	t.Run("a bad holder value shows the unfiltered first page", func(t *testing.T) {
		ref := e.flow.HolderRef(cpfAna)
		for _, bad := range []string{cpfAna, strings.ToUpper(ref), ref[:31], ref + "a", "<script>", ""} {
			r := e.get(c, "/consents?holder="+url.QueryEscape(bad))
			wantStatus(t, r, http.StatusOK)
			d := r.doc(t)
			if ids := consentRowIDs(t, r); len(ids) != 3 || ids[0] != bia {
				t.Errorf("holder=%q: rows = %v, want all three", bad, ids)
			}
			if d.Find(`[data-testid="consents-filtered-by"], [data-testid="consents-holder-none"], input[name="holder"]`).Length() != 0 {
				t.Errorf("holder=%q: the page says it is filtered", bad)
			}
		}
	})
	t.Run("a holder without consents says so, with a link to clear it", func(t *testing.T) {
		r := e.get(c, search(t, e, c, url.Values{"tax_id": {"11222333000181"}, "status": {"AUTHORISED"}}))
		wantStatus(t, r, http.StatusOK)
		d := r.doc(t)
		none := d.Find(`[data-testid="consents-holder-none"]`)
		if got := none.Text(); !strings.Contains(got, "Nenhum consentimento para este CPF/CNPJ") {
			t.Errorf("holder-none = %q", got)
		}
		if href, _ := none.Find(`[data-testid="consents-clear-holder"]`).Attr("href"); href != "/consents?status=AUTHORISED" {
			t.Errorf("clear link = %q", href)
		}
		if d.Find(`[data-testid="consent-row"], [data-testid="consents-filtered-by"], [data-testid="consents-empty"]`).Length() != 0 {
			t.Error("holder-none page lists rows or a second empty message")
		}
	})
	t.Run("a holder whose consents the status hides is still named", func(t *testing.T) {
		r := e.get(c, search(t, e, c, url.Values{"tax_id": {cpfBia}, "status": {"REJECTED"}}))
		d := r.doc(t)
		if got := d.Find(`[data-testid="consents-filtered-by"]`).Text(); !strings.Contains(got, "***.444.777-**") {
			t.Errorf("filtered-by = %q", got)
		}
		if d.Find(`[data-testid="consents-empty"]`).Length() != 1 || d.Find(`[data-testid="consents-holder-none"]`).Length() != 0 {
			t.Error("want the ordinary empty-filter message")
		}
	})
	t.Run("English", func(t *testing.T) {
		en := e.operator()
		wantStatus(t, e.get(en, "/lang/en?next=/"), http.StatusSeeOther)
		d := e.get(en, search(t, e, en, url.Values{"tax_id": {cpfAna}})).doc(t)
		by := d.Find(`[data-testid="consents-filtered-by"]`)
		if got := strings.Join(strings.Fields(by.Text()), " "); !strings.Contains(got, "Filtered by ***.982.247-**") ||
			!strings.Contains(got, "Clear the CPF/CNPJ filter") {
			t.Errorf("filtered-by = %q", got)
		}
		d = e.get(en, search(t, e, en, url.Values{"tax_id": {"11222333000181"}})).doc(t)
		if got := d.Find(`[data-testid="consents-holder-none"]`).Text(); !strings.Contains(got, "No consent for this CPF/CNPJ.") {
			t.Errorf("holder-none = %q", got)
		}
		r := e.post(en, "/consents/search", url.Values{"tax_id": {"123"}})
		wantStatus(t, r, http.StatusUnprocessableEntity)
		if got := r.doc(t).Find(`#filter_taxid_error`).Text(); got != "Invalid tax id: use a CPF (11 digits) or a CNPJ (14 characters)." {
			t.Errorf("English message = %q", got)
		}
	})
	if strings.Contains(e.logs.String(), "982.247") {
		t.Error("the CPF was logged")
	}
}

// Consents stored before the holder_ref column get theirs when the server starts.
func TestHolderRefBackfill(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *envOptions) { o.PollInterval = time.Hour })
	ctx := context.Background()
	old := []store.Consent{
		{ID: "old-personal", PersonType: "personal", PersonalTaxID: cpfAna, Status: "AUTHORISED"},
		{ID: "old-business", PersonType: "business", PersonalTaxID: cpfBia, BusinessTaxID: "11222333000181", Status: "AUTHORISED"},
		{ID: "old-purged", PersonType: "personal", Status: "DELETED_BY_USER"},
		{ID: "old-cnpj-only", PersonType: "personal", BusinessTaxID: "11222333000181", Status: "REJECTED"},
		{ID: "already", PersonType: "personal", PersonalTaxID: cpfAna, HolderRef: e.flow.HolderRef(cpfAna), Status: "REJECTED"},
	}
	for _, c := range old {
		if err := e.st.CreateConsent(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	// Before the backfill the old consents cannot be found by their holder.
	c := e.operator()
	if ids := consentRowIDs(t, e.get(c, "/consents?holder="+e.flow.HolderRef(cpfAna))); len(ids) != 1 {
		t.Fatalf("before the backfill: %v", ids)
	}
	e.runBackground()
	eventually(t, "the backfill", func() bool {
		got, _ := e.st.Consent(ctx, "old-business")
		return got.HolderRef != ""
	})
	want := map[string]string{
		"old-personal":  e.flow.HolderRef(cpfAna),
		"old-business":  e.flow.HolderRef("11222333000181"), // the CNPJ, as consentTaxID says
		"old-purged":    "",
		"old-cnpj-only": "", // a personal consent without a CPF has nothing to be found by
		"already":       e.flow.HolderRef(cpfAna),
	}
	eventually(t, "every old consent filled", func() bool {
		for id, ref := range want {
			if got, _ := e.st.Consent(ctx, id); got.HolderRef != ref {
				return false
			}
		}
		return true
	})
	if ids := consentRowIDs(t, e.get(c, search(t, e, c, url.Values{"tax_id": {"529.982.247-25"}}))); strings.Join(ids, ",") != "old-personal,already" &&
		strings.Join(ids, ",") != "already,old-personal" {
		t.Errorf("after the backfill, Ana's rows = %v", ids)
	}
	if ids := consentRowIDs(t, e.get(c, search(t, e, c, url.Values{"tax_id": {"11.222.333/0001-81"}}))); len(ids) != 1 || ids[0] != "old-business" {
		t.Errorf("after the backfill, the company's rows = %v", ids)
	}
	eventually(t, "the backfill log line", func() bool { return strings.Contains(e.logs.String(), "holder refs backfilled") })

	t.Run("more rows than one batch", func(t *testing.T) {
		for i := 0; i < flow.HolderRefBatch+30; i++ {
			if err := e.st.CreateConsent(ctx, store.Consent{ID: fmt.Sprintf("bulk-%03d", i), PersonType: "personal",
				PersonalTaxID: cpfBia, Status: "REJECTED"}); err != nil {
				t.Fatal(err)
			}
		}
		if n := e.flow.BackfillHolderRefs(ctx); n != flow.HolderRefBatch+30 {
			t.Errorf("backfill set %d refs, want %d", n, flow.HolderRefBatch+30)
		}
		if left, _ := e.st.ConsentsMissingHolderRef(ctx, "", 1000); len(left) != 1 || left[0].ID != "old-cnpj-only" {
			t.Errorf("left without a ref: %d", len(left))
		}
		if n := e.flow.BackfillHolderRefs(ctx); n != 0 {
			t.Errorf("second backfill set %d", n)
		}
	})
}

// The purge that follows consent_deleted_by_user blanks the holder ref with the tax ids (the webhook path is
// covered in TestConsentDeletedByUserPurges); a consent purged while the backfill runs gets no ref back.
func TestPurgeBlanksHolderRef(t *testing.T) {
	t.Parallel()
	e := newEnv(t, func(o *envOptions) { o.PollInterval = time.Hour })
	ctx := context.Background()
	id, _ := e.startFlow(e.browser(), cpfAna)
	c, _ := e.st.Consent(ctx, id)
	if c.HolderRef == "" {
		t.Fatal("no holder ref at creation")
	}
	if err := e.flow.Purge(ctx, c, "test"); err != nil {
		t.Fatal(err)
	}
	c, _ = e.st.Consent(ctx, id)
	if c.HolderRef != "" || c.PersonalTaxID != "" {
		t.Errorf("after purge: holder ref %q, CPF %q", c.HolderRef, c.PersonalTaxID)
	}
	if set, err := e.st.SetHolderRef(ctx, id, e.flow.HolderRef(cpfAna)); err != nil || set {
		t.Errorf("SetHolderRef on a purged consent = %v, %v", set, err)
	}
	if n := e.flow.BackfillHolderRefs(ctx); n != 0 {
		t.Errorf("backfill gave %d purged consents a ref", n)
	}
}
