package sandbox

// scenario selects how the simulated bank, Klavi's LGPD step and the webhook
// sender behave for one consent. It is chosen by the consent's tax id: the
// CNPJ when businessTaxId is set, else the CPF (see sandbox/README.md).
type scenario int

const (
	scenarioApprove scenario = iota
	scenarioDeny
	scenarioBankError
	scenarioLGPDNever
	scenarioDuplicate
	scenarioWebhookFirst
	scenarioNoConsentWebhook
	scenarioBadSignature
	scenarioSlowReports
	scenarioProductFails
	scenarioLargeReport
	scenarioOutOfOrder
)

// ScenarioRow is one line of the sandbox's test-user table: a formatted tax
// id and what the sandbox does for it. The table is shown on the bank login
// page and the sandbox index page.
type ScenarioRow struct {
	TaxID       string
	Description string
	scenario    scenario
	normalized  string
}

// Scenarios returns the scenario catalogue, in display order. Any other valid
// CPF or CNPJ behaves like the first row (approve).
func Scenarios() []ScenarioRow {
	rows := []ScenarioRow{
		{TaxID: "529.982.247-25", Description: "Aprova (qualquer outro CPF/CNPJ válido também)", scenario: scenarioApprove},
		{TaxID: "111.444.777-35", Description: "Banco recusa (REJECTED, error=access_denied)", scenario: scenarioDeny},
		{TaxID: "222.333.444-05", Description: "Erro no banco (ERROR, error=server_error)", scenario: scenarioBankError},
		{TaxID: "333.444.555-08", Description: "Termo LGPD nunca aceito: fica AWAITING_LGPD_AUTHORISATION e depois EXPIRED", scenario: scenarioLGPDNever},
		{TaxID: "444.555.666-19", Description: "Todo webhook entregue duas vezes (mesmo eventId / productReportId)", scenario: scenarioDuplicate},
		{TaxID: "555.666.777-20", Description: "Webhook do consentimento chega antes do retorno do navegador (o retorno espera no máximo 5 s)", scenario: scenarioWebhookFirst},
		{TaxID: "666.777.888-30", Description: "Webhooks consent_* nunca enviados (só a consulta revela AUTHORISED)", scenario: scenarioNoConsentWebhook},
		{TaxID: "777.888.999-41", Description: "Primeira entrega de cada webhook de consentimento com assinatura inválida", scenario: scenarioBadSignature},
		{TaxID: "888.999.000-78", Description: "Relatórios lentos (~5 s após o pedido)", scenario: scenarioSlowReports},
		{TaxID: "123.123.123-87", Description: "pf_credit_card falha (product_generated_failed)", scenario: scenarioProductFails},
		{TaxID: "321.321.321-78", Description: "Relatório grande: pf_checking_account com 10.000 transações", scenario: scenarioLargeReport},
		{TaxID: "258.258.258-19", Description: "Eventos fora de ordem: consent_authorised fica retido e só chega logo depois do consent_revoked (ou consent_deleted_by_user), com o eventTime anterior; sem revogação, é entregue após 60 s", scenario: scenarioOutOfOrder},
		{TaxID: "11.222.333/0001-81", Description: "Empresa aprova (relatórios pj_*)", scenario: scenarioApprove},
		{TaxID: "12.ABC.345/01DE-35", Description: "Empresa com CNPJ alfanumérico aprova", scenario: scenarioApprove},
		{TaxID: "33.444.555/0001-81", Description: "Banco recusa (empresa)", scenario: scenarioDeny},
	}
	for i := range rows {
		n, _ := normalizeTaxID(rows[i].TaxID)
		rows[i].normalized = n
	}
	return rows
}

var scenarioByTaxID = func() map[string]scenario {
	m := make(map[string]scenario)
	for _, r := range Scenarios() {
		m[r.normalized] = r.scenario
	}
	return m
}()

// scenarioFor picks the scenario for a consent's normalised tax ids.
func scenarioFor(personalTaxID, businessTaxID string) scenario {
	id := personalTaxID
	if businessTaxID != "" {
		id = businessTaxID
	}
	return scenarioByTaxID[id] // zero value: approve
}
