package views

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/a-h/templ"
	"github.com/klavi-demo/portal/consent"
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
		d := renderDoc(t, ctx, Page(Meta{Title: "x", Path: "/", Step: StepIdentify, Refresh: true}, StartPage(vm)))
		hasIDs(t, d, "lang-en", "lang-pt", "nav-me", "nav-login", "start-form", "person-type-personal",
			"person-type-business", "tax-id", "representative-cpf", "email", "phone", "start-submit", "tax-id-error", "steps", "sandbox-hints")
		if d.Find(`[data-testid="nav-consents"]`).Length() != 0 {
			t.Error("a visitor is offered the operators' pages")
		}
		op := renderDoc(t, ctx, Page(Meta{Title: "x", Path: "/", Operator: "ana@example.com"}, StartPage(vm)))
		hasIDs(t, op, "nav-me", "nav-consents", "nav-webhooks", "nav-audit", "logout", "signed-in-as")
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
		Timeline: []TimelineItem{{Kind: "api", Title: consent.M(consent.TLConsentCreated), OK: true, At: time.Now()}},
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
	d := renderDoc(t, ctx, ConsentsPage(ConsentsVM{Statuses: consent.All, Rows: []ConsentRow{{ID: "c1", Status: "AUTHORISED"}}}))
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

// The error details written into the timeline read in Portuguese on pt-BR pages, and as written in English.
func TestTimelineTextTranslatesKlaviErrors(t *testing.T) {
	t.Parallel()
	pt, en := WithLang(context.Background(), PT), WithLang(context.Background(), EN)
	for _, c := range []struct {
		in     consent.Msg
		pt, en string
	}{
		{consent.M(consent.TLKlaviHTTPCode, "416", "4004"), "a Klavi respondeu HTTP 416 (código 4004)", "Klavi answered HTTP 416 (code 4004)"},
		{consent.M(consent.TLKlaviUnavailable), "Klavi indisponível (tempo esgotado ou falha de conexão)", "Klavi unavailable (timeout or connection error)"},
		{consent.M(consent.TLCallInterrupted), "chamada interrompida", "call interrupted"},
		{consent.M(consent.TLConfirmFailed), "api: GET /consents/{id} falhou; nova consulta em instantes", "api: GET /consents/{id} failed; will check again"},
		// Lines stored as English text before message keys.
		{consent.M(consent.TLLegacy, "Klavi answered HTTP 416 (code 4004)"), "a Klavi respondeu HTTP 416 (código 4004)", "Klavi answered HTTP 416 (code 4004)"},
		{consent.M(consent.TLLegacy, "api: GET /consents/{id} failed; will check again"), "api: GET /consents/{id} falhou; nova consulta em instantes", "api: GET /consents/{id} failed; will check again"},
	} {
		if got := TimelineText(pt, c.in); got != c.pt {
			t.Errorf("TimelineText(pt, %v) = %q, want %q", c.in, got, c.pt)
		}
		if got := TimelineText(en, c.in); got != c.en {
			t.Errorf("TimelineText(en, %v) = %q, want %q", c.in, got, c.en)
		}
	}
}

// TestTimelineCatalogue checks every timeline key of consent against the catalogue: an entry in both languages that
// places each of its arguments exactly (no missing or extra verb), and text that differs between the languages
// only where it should. An unknown key shows itself instead of vanishing.
func TestTimelineCatalogue(t *testing.T) {
	for key, n := range consent.TimelineArgs {
		v, ok := messages[key]
		if !ok {
			t.Errorf("%s: no catalogue entry", key)
			continue
		}
		args := make([]string, n)
		for i := range args {
			args[i] = fmt.Sprintf("ARG%d", i+1)
		}
		for li, lang := range []Lang{PT, EN} {
			if v[li] == "" {
				t.Errorf("%s: empty %s text", key, lang)
			}
			got := TimelineText(WithLang(context.Background(), lang), consent.M(key, args...))
			if strings.Contains(got, "%!") {
				t.Errorf("%s (%s): bad verbs: %q", key, lang, got)
			}
			for _, a := range args {
				if key != consent.TLLegacy && !strings.Contains(got, a) {
					t.Errorf("%s (%s): argument %s not shown: %q", key, lang, a, got)
				}
			}
		}
	}
	for key := range messages {
		if strings.HasPrefix(key, "tl.") {
			if _, ok := consent.TimelineArgs[key]; !ok {
				t.Errorf("%s: in the catalogue but not a timeline key of consent", key)
			}
		}
	}
	if got := TimelineText(context.Background(), consent.M("tl.unknown", "x")); got != "tl.unknown x" {
		t.Errorf("unknown key = %q", got)
	}
}

// Results stored before message keys (English text) and encoded ones read the same, combined and given-up ones
// included.
func TestResultLabelOfCombinedAndGivenUpResults(t *testing.T) {
	t.Parallel()
	pt, en := WithLang(context.Background(), PT), WithLang(context.Background(), EN)
	for in, want := range map[string][2]string{
		"processed":                     {"Processado", "Processed"},
		consent.R(consent.RProcessed):   {"Processado", "Processed"},
		"processed; unmatched":          {"Processado; Sem consentimento correspondente (guardado)", "Processed; No matching consent (kept)"},
		"dead: retry: call interrupted": {"Desistimos após várias tentativas: chamada interrompida", "Given up after several tries: call interrupted"},
		"dead: " + consent.RetryResult(consent.M(consent.TLKlaviHTTP, "502")): {"Desistimos após várias tentativas: a Klavi respondeu HTTP 502", "Given up after several tries: Klavi answered HTTP 502"},
		"retry: Klavi answered HTTP 502":                                      {"Falhou, nova tentativa em instantes: a Klavi respondeu HTTP 502", "Failed, trying again shortly: Klavi answered HTTP 502"},
		"ignored: some_future_event; processed":                               {"Ignorado: evento desconhecido some_future_event; Processado", "Ignored: unknown event some_future_event; Processed"},
		"ignored: the consent is already REVOKED":                             {"Sem efeito: o consentimento já está REVOKED", "No effect: the consent is already REVOKED"},
		consent.R(consent.RStale, "REVOKED"):                                  {"Sem efeito: o consentimento já está REVOKED", "No effect: the consent is already REVOKED"},
		consent.R(consent.RUnknownEvent, "a b;c"):                             {"Ignorado: evento desconhecido a b;c", "Ignored: unknown event a b;c"},
		"rejected: invalid signature":                                         {"Rejeitado: assinatura inválida", "Rejected: invalid signature"},
		consent.R(consent.RTooLarge, "1.0 MiB"):                               {"Rejeitado: corpo grande demais (limite 1.0 MiB)", "Rejected: body too large (limit 1.0 MiB)"},
		"":                                                                    {"Sem resultado registrado", "No result recorded"},
		"something we never wrote":                                            {"something we never wrote", "something we never wrote"},
	} {
		if got := ResultLabel(pt, in); got != want[0] {
			t.Errorf("ResultLabel(pt, %q) = %q, want %q", in, got, want[0])
		}
		if got := ResultLabel(en, in); got != want[1] {
			t.Errorf("ResultLabel(en, %q) = %q, want %q", in, got, want[1])
		}
	}
	// Every part of a combined result is explained.
	ex := ResultExplained(pt, consent.R(consent.RProcessed)+"; "+consent.R(consent.RStale, "REVOKED"))
	if len(ex) != 2 || ex[0].Why == "" || ex[1].Why == "" || !strings.Contains(ex[1].Label, "REVOKED") {
		t.Errorf("ResultExplained = %+v", ex)
	}
}

// TestResultCatalogue checks every result key of consent against the catalogue: a label in both languages that
// places each of its arguments, and an explanation in both languages that takes none. Every rejection the receivers
// write (and the legacy texts) has an explanation.
func TestResultCatalogue(t *testing.T) {
	t.Parallel()
	for key, n := range consent.ResultArgs {
		for _, k := range []string{key, key + ".why"} {
			v, ok := messages[k]
			if !ok || v[0] == "" || v[1] == "" {
				t.Errorf("%s: missing in a language", k)
			}
		}
		if n < 0 {
			continue // RRetry, RFailed: the reason is a timeline message (TestResultLabelOfCombinedAndGivenUpResults)
		}
		args := make([]string, n)
		for i := range args {
			args[i] = fmt.Sprintf("ARG%d", i+1)
		}
		for _, lang := range []Lang{PT, EN} {
			ctx := WithLang(context.Background(), lang)
			ex := ResultExplained(ctx, consent.R(key, args...))
			if len(ex) != 1 || ex[0].Why == "" || strings.Contains(ex[0].Label+ex[0].Why, "%") {
				t.Errorf("%s (%s): %+v", key, lang, ex)
				continue
			}
			for _, a := range args {
				if !strings.Contains(ex[0].Label, a) {
					t.Errorf("%s (%s): argument %s not shown: %q", key, lang, a, ex[0].Label)
				}
			}
		}
	}
	for key := range messages {
		if strings.HasPrefix(key, consent.ResultPrefix) && !strings.HasSuffix(key, ".why") {
			if _, ok := consent.ResultArgs[key]; !ok {
				t.Errorf("%s: in the catalogue but not a result key of consent", key)
			}
		}
	}
	for _, legacy := range []string{"accepted", "stored", "duplicate", "rejected: invalid signature", "rejected: malformed body",
		"rejected: malformed report", "rejected: legacy report format", "rejected: unsupported content type",
		"discarded: data deleted by the holder", "ignored: link_created", "ignored: no consent id",
		"ignored: unreadable payload", "ignored: unreadable"} {
		if ex := ResultExplained(context.Background(), legacy); len(ex) != 1 || ex[0].Why == "" {
			t.Errorf("legacy %q: %+v", legacy, ex)
		}
	}
}
