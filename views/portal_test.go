package views

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/a-h/templ"
)

func renderDoc(t *testing.T, ctx context.Context, c templ.Component) *goquery.Document {
	t.Helper()
	var buf bytes.Buffer
	if err := c.Render(ctx, &buf); err != nil {
		t.Fatalf("render: %v", err)
	}
	d, err := goquery.NewDocumentFromReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func hasIDs(t *testing.T, d *goquery.Document, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if d.Find(`[data-testid="`+id+`"]`).Length() == 0 {
			t.Errorf("no data-testid=%q", id)
		}
	}
}

func TestLayoutAndStart(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		lang     Lang
		wantLang string
		submit   string
	}{{PT, "pt-BR", "Continuar"}, {EN, "en", "Continue"}} {
		ctx := WithLang(context.Background(), tc.lang)
		vm := StartVM{PersonType: "business", TaxID: "12.ABC", Errors: map[string]string{"tax_id": "err.cnpj.invalid"}, SandboxHints: true}
		d := renderDoc(t, ctx, Page(Meta{Title: "x", Path: "/", Step: 1, Refresh: true}, StartPage(vm)))
		hasIDs(t, d, "lang-en", "lang-pt", "nav-consents", "nav-webhooks", "start-form", "person-type-personal",
			"person-type-business", "tax-id", "representative-cpf", "email", "phone", "start-submit", "tax-id-error", "steps", "sandbox-hints")
		if got, _ := d.Find("html").Attr("lang"); got != tc.wantLang {
			t.Errorf("lang = %q", got)
		}
		if !strings.Contains(d.Find(`[data-testid="start-submit"]`).Text(), tc.submit) {
			t.Errorf("submit text in %s", tc.lang)
		}
		if _, ok := d.Find(`[data-testid="person-type-business"]`).Attr("checked"); !ok {
			t.Error("business not kept checked")
		}
		if href, _ := d.Find(`[data-testid="lang-en"]`).Attr("href"); href != "/lang/en?next=%2F" { // next is query-escaped: it may carry a query of its own
			t.Errorf("lang-en href = %q", href)
		}
		if d.Find(`noscript`).Length() == 0 {
			t.Error("no noscript refresh")
		}
	}
}

func TestEveryKeyHasBothLanguages(t *testing.T) {
	t.Parallel()
	for k, v := range messages {
		if v[0] == "" || v[1] == "" {
			t.Errorf("key %q lacks a translation", k)
		}
	}
}

func TestInstitutionsPage(t *testing.T) {
	t.Parallel()
	vm := InstitutionsVM{Kind: "openfinance", Person: "all", Visible: 1, Items: []InstitutionItem{
		{Code: "341", Name: "Itaú", Avatar: "https://x/341.svg", Initials: "I", Beta: true},
		{Code: "777", Name: "Fora", Outage: true},
		{Code: "od", Name: "OD", OpenData: true, Hidden: true},
	}}
	d := renderDoc(t, context.Background(), InstitutionsPage(vm))
	hasIDs(t, d, "institution-search", "filter-person", "filter-resource", "filter-kind", "institution-list",
		"institution-341", "choose-341", "badge-beta", "badge-outage", "institution-777", "institutions-empty")
	if d.Find(`[data-testid="choose-777"]`).Length() != 0 || d.Find(`[data-testid="choose-od"]`).Length() != 0 {
		t.Error("outage/open data institution choosable")
	}
	if _, hidden := d.Find(`[data-testid="institutions-empty"]`).Attr("hidden"); !hidden {
		t.Error("empty state shown with visible items")
	}
}

func TestConsentPage(t *testing.T) {
	t.Parallel()
	vm := ConsentVM{ID: "c1", Status: "REJECTED", InstitutionName: "Itaú", TaxIDMasked: "***.982.247-**",
		ErrorKey: "cerr.access_denied", ErrorCode: "access_denied", CanRetry: true, CanRevoke: false, Live: false,
		Timeline: []TimelineItem{{Kind: "api", Title: "api: POST /consents", OK: true, At: time.Now()}},
		Reports:  []ReportItem{{ID: "r1", Product: "pf_checking_account"}}}
	d := renderDoc(t, WithLang(context.Background(), EN), ConsentPage(vm))
	hasIDs(t, d, "consent-status", "consent-institution", "consent-taxid", "timeline", "timeline-entry", "permissions",
		"reports-section", "report-item", "consent-error", "try-again")
	if st, _ := d.Find(`[data-testid="consent-status"]`).Attr("data-status"); st != "REJECTED" {
		t.Errorf("data-status = %q", st)
	}
	if d.Find(`[data-testid="revoke-form"]`).Length() != 0 {
		t.Error("revoke offered on a terminal consent")
	}
	if live, _ := d.Find("#live").Attr("data-live"); live != "off" {
		t.Errorf("data-live = %q", live)
	}
}

func TestListsAndMisc(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d := renderDoc(t, ctx, ConsentsPage(ConsentsVM{Statuses: Statuses, Rows: []ConsentRow{{ID: "c1", Status: "AUTHORISED"}}}))
	hasIDs(t, d, "consents-table", "consent-row", "filter-status", "filter-taxid")
	d = renderDoc(t, ctx, WebhooksPage(WebhooksVM{Rows: []WebhookRow{{ID: 1, Kind: "event", SignatureValid: false, Duplicate: true}}}))
	hasIDs(t, d, "webhook-row", "webhook-kind")
	row := d.Find(`[data-testid="webhook-row"]`)
	if s, _ := row.Attr("data-signature"); s != "invalid" {
		t.Errorf("data-signature = %q", s)
	}
	if s, _ := row.Attr("data-duplicate"); s != "true" {
		t.Errorf("data-duplicate = %q", s)
	}
	d = renderDoc(t, ctx, RevokeConfirmPage(RevokeVM{ID: "c1"}))
	hasIDs(t, d, "revoke-confirm")
	d = renderDoc(t, ctx, ErrorPage(ErrorVM{Status: 404, TitleKey: "error.404.title", MsgKey: "error.404.msg"}))
	hasIDs(t, d, "error-page")
	d = renderDoc(t, ctx, CallbackNeutralPage())
	hasIDs(t, d, "callback-neutral")
	d = renderDoc(t, ctx, CallbackRejectedPage(CallbackVM{Status: 403}))
	hasIDs(t, d, "callback-rejected")
}

func TestFoldAndInitials(t *testing.T) {
	t.Parallel()
	if got := Fold("São Paulo ÇÃO"); got != "sao paulo cao" {
		t.Errorf("Fold = %q", got)
	}
	for in, want := range map[string]string{"Banco do Brasil": "BB", "Itaú": "I", "Nubank": "N", "Caixa Econômica Federal": "CE"} {
		if got := Initials(in); got != want {
			t.Errorf("Initials(%q) = %q, want %q", in, got, want)
		}
	}
}

// The error details handlers write into the timeline read in Portuguese on pt-BR pages.
func TestTimelineTextTranslatesKlaviErrors(t *testing.T) {
	t.Parallel()
	ctx := WithLang(context.Background(), PT)
	for in, want := range map[string]string{
		"Klavi answered HTTP 416 (code 4004)":              "a Klavi respondeu HTTP 416 (código 4004)",
		"Klavi unavailable (timeout or connection error)":  "Klavi indisponível (tempo esgotado ou falha de conexão)",
		"call interrupted":                                 "chamada interrompida",
		"api: GET /consents/{id} failed; will check again": "api: GET /consents/{id} falhou; nova consulta em instantes",
	} {
		if got := TimelineText(ctx, in); got != want {
			t.Errorf("TimelineText(%q) = %q, want %q", in, got, want)
		}
	}
	if got := TimelineText(WithLang(context.Background(), EN), "call interrupted"); got != "call interrupted" {
		t.Errorf("English changed: %q", got)
	}
}

func TestResultLabelOfCombinedAndGivenUpResults(t *testing.T) {
	t.Parallel()
	ctx := WithLang(context.Background(), PT)
	for in, want := range map[string]string{
		"processed":                              "Processado",
		"processed; unmatched":                   "Processado; Sem consentimento correspondente (guardado)",
		"dead: retry: call interrupted":          "Desistimos após várias tentativas: chamada interrompida",
		"ignored: consent_authorised; processed": "Ignorado: consent_authorised; Processado",
	} {
		if got := ResultLabel(ctx, in); got != want {
			t.Errorf("ResultLabel(%q) = %q, want %q", in, got, want)
		}
	}
}
