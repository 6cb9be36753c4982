package sandbox

import (
	"fmt"
	"net/http"
	"strings"

	"golang.org/x/text/language"
)

// The bank and LGPD pages speak the user's language: Portuguese (Brazil) by default, English when the browser
// arrives with ui_locales=en on the consentRedirectURL (OpenID Connect's hint, which the portal adds) or, without
// it, when Accept-Language prefers English. The language chosen when the link is opened stays with the consent
// for the following pages. The sandbox keeps its own small catalogue: it imports nothing of the portal.

// lang is a page language of the sandbox.
type lang string

const (
	langPT lang = "pt-BR"
	langEN lang = "en"
)

var langMatcher = language.NewMatcher([]language.Tag{language.BrazilianPortuguese, language.English})

// requestLang picks the page language of r: ui_locales (space-separated tags; in the query, or in a posted bank
// form, which carries it as a hidden field) first, then Accept-Language.
func requestLang(r *http.Request) lang {
	hint := r.URL.Query().Get("ui_locales")
	if hint == "" && r.PostForm != nil {
		hint = r.PostForm.Get("ui_locales")
	}
	hint = strings.Join(strings.Fields(hint), ",")
	tag, _ := language.MatchStrings(langMatcher, hint, r.Header.Get("Accept-Language"))
	if base, _ := tag.Base(); base.String() == "en" {
		return langEN
	}
	return langPT
}

// tr returns the text of key in l (Portuguese when English has none); an unknown key is shown as itself.
func tr(l lang, key string) string {
	v, ok := bankMessages[key]
	switch {
	case !ok:
		return key
	case l == langEN && v[1] != "":
		return v[1]
	default:
		return v[0]
	}
}

func trf(l lang, key string, args ...any) string { return fmt.Sprintf(tr(l, key), args...) }

// pendingReturn is the wait shown while the browser goes back to the partner at host ("" when unknown).
func pendingReturn(l lang, host string) string {
	if host == "" {
		return tr(l, "pending.return_site")
	}
	return trf(l, "pending.return", host)
}

// bankMessages: key → {pt-BR, en}.
var bankMessages = map[string][2]string{
	"banner":             {"Ambiente de simulação Klavi (sandbox) — nenhum dado real", "Klavi simulation environment (sandbox) — no real data"},
	"login.title":        {"Entrar — %s", "Sign in — %s"},
	"login.h1":           {"Acesse sua conta", "Sign in to your account"},
	"login.lead":         {"Você foi direcionado pela Klavi para autorizar o compartilhamento dos seus dados via Open Finance.", "Klavi sent you here to authorise sharing your data through Open Finance."},
	"login.password":     {"Senha", "Password"},
	"login.placeholder":  {"Qualquer senha (simulação)", "Any password (simulation)"},
	"login.submit":       {"Entrar", "Sign in"},
	"login.note":         {"Simulação: nenhuma senha é verificada nem enviada.", "Simulation: no password is checked or sent."},
	"perms.title":        {"Autorizar compartilhamento — %s", "Authorise sharing — %s"},
	"perms.h1":           {"Autorizar compartilhamento de dados", "Authorise data sharing"},
	"perms.lead":         {"A Klavi solicita acesso aos seguintes dados da sua conta no %s:", "Klavi asks for access to the following data of your account at %s:"},
	"perms.deny":         {"Recusar", "Decline"},
	"perms.authorise":    {"Autorizar", "Authorise"},
	"lgpd.title":         {"Termo de compartilhamento — Klavi", "Data sharing terms — Klavi"},
	"lgpd.bar":           {"Termo de consentimento (LGPD)", "Consent terms (LGPD)"},
	"lgpd.h1":            {"Compartilhamento autorizado no %s", "Sharing authorised at %s"},
	"lgpd.p1":            {"Para concluir, aceite o termo de tratamento de dados pessoais da Klavi, conforme a Lei Geral de Proteção de Dados (Lei nº 13.709/2018).", "To finish, accept Klavi's terms for processing your personal data, under Brazil's General Data Protection Law (LGPD, Law 13,709/2018)."},
	"lgpd.p2":            {"Seus dados serão usados apenas para gerar os relatórios solicitados pela empresa parceira, pelo prazo do consentimento, e você pode revogá-lo a qualquer momento.", "Your data will be used only to produce the reports the partner company asked for, for the term of the consent, and you can revoke it at any time."},
	"lgpd.decline":       {"Recusar", "Decline"},
	"lgpd.accept":        {"Aceitar e continuar", "Accept and continue"},
	"back":               {"Voltar ao site de origem", "Back to the site you came from"},
	"scenarios.h2":       {"Cenários de teste", "Test scenarios"},
	"scenarios.behavior": {"Comportamento", "Behaviour"},

	// The wait of a pressed button (static/bank.js); pending.return names the partner's host.
	"pending.login":       {"Entrando…", "Signing in…"},
	"pending.authorise":   {"Autorizando…", "Authorising…"},
	"pending.send":        {"Enviando…", "Sending…"},
	"pending.return":      {"Voltando para %s…", "Returning to %s…"},
	"pending.return_site": {"Voltando ao site de origem…", "Returning to the site you came from…"},

	"err.bad_link.title":     {"Link inválido", "Invalid link"},
	"err.bad_link.msg":       {"Este link de autorização não existe. Volte ao site de origem e comece novamente.", "This authorisation link does not exist. Go back to the site you came from and start again."},
	"err.used_link.title":    {"Link já utilizado", "Link already used"},
	"err.used_link.msg":      {"Este link de autorização só pode ser aberto uma vez. Volte ao site de origem e comece novamente.", "This authorisation link can be opened only once. Go back to the site you came from and start again."},
	"err.expired_link.title": {"Link expirado", "Link expired"},
	"err.expired_link.msg":   {"Este link de autorização expirou (ele vale por poucos segundos). O consentimento foi recusado; volte ao site de origem e tente novamente.", "This authorisation link has expired (it is valid for a few seconds). The consent was declined; go back to the site you came from and try again."},
	"err.step.title":         {"Etapa inválida", "Invalid step"},
	"err.step.msg":           {"Esta etapa já foi concluída, expirou ou foi aberta em outro navegador. Volte ao site de origem e comece novamente.", "This step was already completed, has expired or was opened in another browser. Go back to the site you came from and start again."},
	"err.lgpd_never.title":   {"Termo não aceito (simulação)", "Terms not accepted (simulation)"},
	"err.lgpd_never.msg":     {"Neste cenário de teste o termo LGPD nunca é aceito: o consentimento continua aguardando e expira após o tempo de inatividade.", "In this test scenario the LGPD terms are never accepted: the consent keeps waiting and expires after the idle timeout."},
	"err.whitelabel.title":   {"WhiteLabel não simulado", "WhiteLabel not simulated"},
	"err.whitelabel.msg":     {"Este sandbox simula apenas a integração API Only (consentRedirectURL).", "This sandbox simulates only the API Only integration (consentRedirectURL)."},

	"perm.REGISTRATION_ALL":      {"Dados cadastrais (nome, documentos, endereço e contatos)", "Registration data (name, documents, address and contacts)"},
	"perm.ACCOUNTS_ALL":          {"Contas: saldos, limites e extratos", "Accounts: balances, limits and statements"},
	"perm.CREDIT_CARDS_ALL":      {"Cartões de crédito: limites, faturas e transações", "Credit cards: limits, bills and transactions"},
	"perm.CREDIT_OPERATIONS_ALL": {"Operações de crédito: empréstimos, financiamentos e adiantamentos", "Credit operations: loans, financing and advances"},
	"perm.INVESTMENTS_ALL":       {"Investimentos: renda fixa, renda variável, títulos e fundos", "Investments: fixed income, equities, bonds and funds"},
}

// scenarioEN is the English description of each scenario row, by tax id (Scenarios() holds the Portuguese).
var scenarioEN = map[string]string{
	"529.982.247-25":     "Approves (so does any other valid CPF/CNPJ)",
	"111.444.777-35":     "The bank refuses (REJECTED, error=access_denied)",
	"222.333.444-05":     "Error at the bank (ERROR, error=server_error)",
	"333.444.555-08":     "The LGPD terms are never accepted: stays AWAITING_LGPD_AUTHORISATION, then EXPIRED",
	"444.555.666-19":     "Every webhook delivered twice (same eventId / productReportId)",
	"555.666.777-20":     "The consent webhook arrives before the browser returns (the return waits at most 5 s)",
	"666.777.888-30":     "consent_* webhooks never sent (only polling reveals AUTHORISED)",
	"777.888.999-41":     "The first delivery of each consent webhook has a bad signature",
	"888.999.000-78":     "Slow reports (~5 s after the request)",
	"123.123.123-87":     "pf_credit_card fails (product_generated_failed)",
	"321.321.321-78":     "Large report: pf_checking_account with 10,000 transactions",
	"258.258.258-19":     "Events out of order: consent_authorised is held back and arrives right after consent_revoked (or consent_deleted_by_user), with the earlier eventTime; without a revocation it is delivered after 60 s",
	"11.222.333/0001-81": "Business approves (pj_* reports)",
	"12.ABC.345/01DE-35": "Business with an alphanumeric CNPJ approves",
	"33.444.555/0001-81": "The bank refuses (business)",
}

// describe is a scenario row's description in l.
func (r ScenarioRow) describe(l lang) string {
	if l == langEN && scenarioEN[r.TaxID] != "" {
		return scenarioEN[r.TaxID]
	}
	return r.Description
}
