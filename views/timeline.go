package views

import (
	"context"
	"fmt"
	"strings"

	"github.com/klavi-demo/portal/consent"
)

// The timeline's messages (consent.TL*). Event names, endpoints, statuses and ids stay as they are in both
// languages: they are what a developer searches for. Arguments are placed with %[n]s.
func init() {
	register(map[string][2]string{
		consent.TLLegacy: {"%[1]s", "%[1]s"}, // rendered by TimelineText, see legacyText
		consent.TLText:   {"%[1]s", "%[1]s"},

		consent.TLConsentCreated:      {"api: POST /consents", "api: POST /consents"},
		consent.TLCreatedAtIndefinite: {"consentimento criado em %[1]s (%[2]s), validade indeterminada", "consent created at %[1]s (%[2]s), validity indefinite"},
		consent.TLCreatedAtMonths:     {"consentimento criado em %[1]s (%[2]s), validade %[3]s meses", "consent created at %[1]s (%[2]s), validity %[3]s months"},
		consent.TLRedirect:            {"redirecionamento: navegador enviado à instituição (303)", "redirect: browser sent to the institution (303)"},
		consent.TLRetry:               {"nova tentativa: um novo consentimento foi criado para a mesma instituição", "retry: a new consent was created for the same institution"},
		consent.TLCallbackOK:          {"retorno: de volta da instituição (sucesso)", "callback: back from the bank (success)"},
		consent.TLCallbackError:       {"retorno: de volta da instituição com error=%[1]s", "callback: back from the bank with error=%[1]s"},
		consent.TLConfirm:             {"api: GET /consents/{id} → %[1]s", "api: GET /consents/{id} → %[1]s"},
		consent.TLConfirmFailed:       {"api: GET /consents/{id} falhou; nova consulta em instantes", "api: GET /consents/{id} failed; will check again"},
		consent.TLStatusChanged:       {"situação: %[1]s → %[2]s", "status: %[1]s → %[2]s"},
		consent.TLObservedVia:         {"observado via %[1]s", "observed via %[1]s"},
		consent.TLPollChanged:         {"consulta: GET /consents/{id}: %[1]s → %[2]s", "poll: GET /consents/{id}: %[1]s → %[2]s"},
		consent.TLPollUnchanged:       {"consulta: GET /consents/{id}: %[1]s (sem mudança)", "poll: GET /consents/{id}: %[1]s (unchanged)"},
		consent.TLPollFailed:          {"consulta: GET /consents/{id} falhou", "poll: GET /consents/{id} failed"},

		consent.TLReportsRequested:       {"api: %[1]s (após %[2]s)", "api: %[1]s (after %[2]s)"},
		consent.TLReportsRequestedAgain:  {"api: %[1]s (após a reconciliação)", "api: %[1]s (after reconciler)"},
		consent.TLReportsRequestFailed:   {"api: %[1]s falhou (nova tentativa em instantes)", "api: %[1]s failed (will retry)"},
		consent.TLReportsRequestedDetail: {"produtos: %[1]s", "products: %[1]s"},
		consent.TLReportsRequestedID:     {"produtos: %[1]s; requestId %[2]s", "products: %[1]s; requestId %[2]s"},
		consent.TLReportsMissing:         {"relatórios: nenhum chegou 10 min após o pedido; pedindo de novo à Klavi", "reports: none arrived 10 min after the request; asking Klavi again"},
		consent.TLReportReceived:         {"relatório %[1]s recebido", "report %[1]s received"},
		consent.TLReportReceivedDetail:   {"productReportId %[1]s, %[2]s", "productReportId %[1]s, %[2]s"},
		consent.TLReportReceivedCode:     {"productReportId %[1]s, %[2]s, código %[3]s", "productReportId %[1]s, %[2]s, code %[3]s"},

		consent.TLWebhook:            {"webhook %[1]s, assinatura válida", "webhook %[1]s, signature ok"},
		consent.TLEventID:            {"eventId %[1]s", "eventId %[1]s"},
		consent.TLEventIDStale:       {"eventId %[1]s; sem efeito: o consentimento já está %[2]s", "eventId %[1]s; no effect: the consent is already %[2]s"},
		consent.TLProduct:            {"%[1]s", "%[1]s"},
		consent.TLProductFailed:      {"%[1]s: %[2]s", "%[1]s: %[2]s"},
		consent.TLProductEvent:       {"%[1]s (eventId %[2]s)", "%[1]s (eventId %[2]s)"},
		consent.TLProductFailedEvent: {"%[1]s: %[2]s (eventId %[3]s)", "%[1]s: %[2]s (eventId %[3]s)"},
		consent.TLReplayed:           {"webhook %[1]s reaplicado por um operador (entrega #%[2]s)", "webhook %[1]s replayed by an operator (delivery #%[2]s)"},
		consent.TLReplayUnchanged:    {"nada mudou: já tinha sido aplicado", "nothing changed: it had been applied already"},
		consent.TLReplayApplied:      {"aplicado agora", "applied now"},
		consent.TLSimulated:          {"webhook %[1]s simulado por um operador (%[2]s)", "webhook %[1]s simulated by an operator (%[2]s)"},

		consent.TLRevoke:               {"api: DELETE /consents/{id}/revoke", "api: DELETE /consents/{id}/revoke"},
		consent.TLRevokeFailed:         {"api: DELETE /consents/{id}/revoke falhou", "api: DELETE /consents/{id}/revoke failed"},
		consent.TLRevokedByUser:        {"revogado pelo usuário no portal", "revoked by the user in the portal"},
		consent.TLPurgedByHolder:       {"dados apagados a pedido do titular", "data erased at the holder's request"},
		consent.TLPurgedRetention:      {"dados apagados: prazo de retenção vencido", "data erased: retention period over"},
		consent.TLPurgeHolderDetail:    {"consent_deleted_by_user: %[1]s relatório(s) apagado(s); CPF/CNPJ, e-mail, telefone e token do link apagados; %[2]s corpo(s) de webhook descartado(s)", "consent_deleted_by_user: %[1]s report(s) deleted; tax ids, email, phone and link token erased; %[2]s webhook body(ies) dropped"},
		consent.TLPurgeRetentionDetail: {"retenção: %[1]s relatório(s) apagado(s); CPF/CNPJ, e-mail, telefone e token do link apagados; %[2]s corpo(s) de webhook descartado(s)", "retention: %[1]s report(s) deleted; tax ids, email, phone and link token erased; %[2]s webhook body(ies) dropped"},

		consent.TLKlaviHTTP:        {"a Klavi respondeu HTTP %[1]s", "Klavi answered HTTP %[1]s"},
		consent.TLKlaviHTTPCode:    {"a Klavi respondeu HTTP %[1]s (código %[2]s)", "Klavi answered HTTP %[1]s (code %[2]s)"},
		consent.TLKlaviUnavailable: {"Klavi indisponível (tempo esgotado ou falha de conexão)", "Klavi unavailable (timeout or connection error)"},
		consent.TLCallInterrupted:  {"chamada interrompida", "call interrupted"},
		consent.TLUnexpectedError:  {"erro inesperado", "unexpected error"},
	})
}

// TimelineText renders a timeline title or detail in the context's language. A line stored by a version before
// message keys (consent.TLLegacy) is shown as stored in English and through legacyText in Portuguese. A key the
// catalogue does not know is shown as its key and arguments, so that the gap is visible.
func TimelineText(ctx context.Context, m consent.Msg) string {
	if m.Key == consent.TLLegacy && len(m.Args) == 1 {
		return legacyText(ctx, m.Args[0])
	}
	if _, ok := messages[m.Key]; !ok {
		return strings.TrimSpace(m.Key + " " + strings.Join(m.Args, " "))
	}
	args := make([]any, len(m.Args))
	for i, a := range m.Args {
		args[i] = a
	}
	return fmt.Sprintf(T(ctx, m.Key), args...)
}

// timelineRaw is the English text of a timeline line, kept in the page as data-raw: what a developer greps logs
// and tests for, whatever the page's language.
func timelineRaw(m consent.Msg) string { return TimelineText(WithLang(context.Background(), EN), m) }

// legacyPT translates the fixed English fragments that versions before message keys wrote into timeline lines,
// and that webhook results still hold ("retry: Klavi answered HTTP 502"). Only old rows and results go through
// it: new timeline lines are keys. Order matters: longer fragments first.
var legacyPT = strings.NewReplacer(
	"redirect: browser sent to the institution (303)", "redirecionamento: navegador enviado à instituição (303)",
	"Klavi unavailable (timeout or connection error)", "Klavi indisponível (tempo esgotado ou falha de conexão)",
	"Klavi answered HTTP ", "a Klavi respondeu HTTP ",
	"call interrupted", "chamada interrompida",
	"unexpected error", "erro inesperado",
	" (code ", " (código ",
	"callback: back from the bank (success)", "retorno: de volta da instituição (sucesso)",
	"callback: back from the bank with error=", "retorno: de volta da instituição com error=",
	"; will check again", "; nova consulta em instantes",
	"retry: a new consent was created for the same institution", "nova tentativa: um novo consentimento foi criado para a mesma instituição",
	"revoked by the user in the portal", "revogado pelo usuário no portal",
	" failed (will retry)", " falhou (nova tentativa em instantes)",
	"/revoke failed", "/revoke falhou",
	"} failed", "} falhou",
	"consent created at ", "consentimento criado em ",
	", validity indefinite", ", validade indeterminada",
	", validity ", ", validade ",
	" months", " meses",
	", signature ok", ", assinatura válida",
	"observed via ", "observado via ",
	"(after reconciler)", "(após a reconciliação)",
	"(after ", "(após ",
	"reports: none arrived 10 min after the request; asking Klavi again", "relatórios: nenhum chegou 10 min após o pedido; pedindo de novo à Klavi",
	" report(s) deleted; tax ids, email, phone and link token erased; ", " relatório(s) apagado(s); CPF/CNPJ, e-mail, telefone e token do link apagados; ",
	" webhook body(ies) dropped", " corpo(s) de webhook descartado(s)",
	"data erased: retention period over", "dados apagados: prazo de retenção vencido",
	"retention: ", "retenção: ",
	"; no effect: the consent is already ", "; sem efeito: o consentimento já está ",
	"the consent is already ", "o consentimento já está ",
	"poll: ", "consulta: ",
	" (unchanged)", " (sem mudança)",
	"status: ", "situação: ",
	"products: ", "produtos: ",
	"report ", "relatório ",
	" received", " recebido",
)

// legacyText shows English text stored by the portal (an old timeline line, a webhook result) in the context's
// language.
func legacyText(ctx context.Context, s string) string {
	if LangFrom(ctx) == EN {
		return s
	}
	return legacyPT.Replace(s)
}

// FailedProducts reads, from a consent's timeline, the products Klavi said it could not generate: the lines written
// for product_generated_failed (consent.TLWebhook with that event name), whose detail names the product first.
// Lines stored before message keys are read as they were written ("<product>[: message]").
func FailedProducts(tl []TimelineItem) map[string]bool {
	failed := map[string]bool{}
	for _, e := range tl {
		if e.OK {
			continue
		}
		switch {
		case e.Title.Key == consent.TLWebhook && len(e.Title.Args) == 1 && e.Title.Args[0] == "product_generated_failed":
			if len(e.Detail.Args) > 0 {
				failed[e.Detail.Args[0]] = true
			}
		case e.Title.Key == consent.TLLegacy && len(e.Title.Args) == 1 && strings.Contains(e.Title.Args[0], "product_generated_failed"):
			if len(e.Detail.Args) == 1 {
				p, _, _ := strings.Cut(e.Detail.Args[0], ":")
				failed[strings.TrimSpace(p)] = true
			}
		}
	}
	return failed
}
