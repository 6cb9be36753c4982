package simulate

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/klavi-demo/portal/consent"
)

// The events the simulate page offers, and the pseudo-event "report" (a product report for a chosen product).
const (
	ConsentAuthorised       = "consent_authorised"
	ConsentRejected         = "consent_rejected"
	ConsentRevoked          = "consent_revoked"
	ConsentExpired          = "consent_expired"
	ProductGeneratedSuccess = "product_generated_success"
	ProductGeneratedFailed  = "product_generated_failed"
	Report                  = "report"
)

// Choices is the simulate page's event list, in the order shown.
var Choices = []string{ConsentAuthorised, ConsentRejected, ConsentRevoked, ConsentExpired, ProductGeneratedSuccess,
	ProductGeneratedFailed, Report}

// Products are the products a simulated report or product event may name: the ones the portal requests
// (flow.Products) and renders as readable pages.
var Products = []string{"pf_checking_account", "pf_savings_account", "pf_credit_card", "pf_categorized_checking_l3",
	"pj_checking_account", "pj_credit_card"}

// Subject is the consent a simulated webhook is about: ids only, never a tax id.
type Subject struct {
	ConsentID, LinkID, InstitutionCode, RequestID string
}

// Body is one webhook body ready to send: Kind is "event" (POST to /webhooks/klavi/events) or "report" (to
// /webhooks/klavi/reports), Key the eventId or productReportId it carries.
type Body struct {
	Kind, Key, Name string // Name: the event name, or the product of a report
	Bytes           []byte
}

// eventWire is Klavi's API event envelope (docs/klavi.md#events); bodies are a JSON array holding one event, as in
// every documented example.
type eventWire struct {
	PartnerAppID string         `json:"partnerAppId"`
	EventID      string         `json:"eventId"`
	EventType    string         `json:"eventType"`
	EventName    string         `json:"eventName"`
	EventTime    string         `json:"eventTime"`
	Payload      any            `json:"payload"`
	ExternalInfo map[string]any `json:"externalInfo"`
}

// consentPayload is the payload of consent_* events: the tax ids are sent empty (a simulation carries no personal
// data; the portal matches events by consentId).
type consentPayload struct {
	PersonalTaxID string `json:"personalTaxId"`
	BusinessTaxID string `json:"businessTaxId"`
	LinkID        string `json:"linkId"`
	Consents      struct {
		ConsentID       string `json:"consentId"`
		ExternalTrackID string `json:"externalTrackId"`
		InstitutionCode string `json:"institutionCode"`
	} `json:"consents"`
}

// productPayload is the payload of product_* events as the portal assumes it (docs/klavi.md#events).
type productPayload struct {
	RequestID       string   `json:"requestId"`
	TaxID           string   `json:"taxId"`
	LinkID          string   `json:"linkId"`
	ConsentIDs      []string `json:"consentIds"`
	ProductName     string   `json:"productName"`
	ProductReportID string   `json:"productReportId,omitempty"`
	Code            int      `json:"code"`
	Message         string   `json:"message"`
}

// simulated marks every simulated body (externalInfo is the partner's own field, echoed by Klavi).
var simulated = map[string]any{"simulatedBy": "portal"}

const isoMillis = "2006-01-02T15:04:05.000Z"

// randomID is prefix-<unix ms>-<24 hex digits>, the shape of Klavi's eventIds with a prefix that says who made it.
func randomID(prefix string, now time.Time) string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return prefix + "-" + strconv.FormatInt(now.UnixMilli(), 10) + "-" + hex.EncodeToString(b)
}

func event(name string, payload any, now time.Time, idPrefix string) (Body, error) {
	ev := eventWire{PartnerAppID: "simulator", EventID: randomID(idPrefix, now), EventType: "api", EventName: name,
		EventTime: now.UTC().Format(isoMillis), Payload: payload, ExternalInfo: simulated}
	b, err := json.Marshal([]eventWire{ev})
	if err != nil {
		return Body{}, err
	}
	return Body{Kind: "event", Key: ev.EventID, Name: name, Bytes: b}, nil
}

// Build makes the body of a simulated webhook: one of Choices about s; product is used by the product events and
// "report" (one of Products).
func Build(choice string, s Subject, product string, now time.Time) (Body, error) {
	if !consent.ValidID(s.ConsentID) {
		return Body{}, fmt.Errorf("simulate: invalid consent id")
	}
	switch choice {
	case ConsentAuthorised, ConsentRejected, ConsentRevoked, ConsentExpired:
		var p consentPayload
		p.LinkID = s.LinkID
		p.Consents.ConsentID, p.Consents.InstitutionCode = s.ConsentID, s.InstitutionCode
		return event(choice, p, now, "sim")
	case ProductGeneratedSuccess, ProductGeneratedFailed:
		if !knownProduct(product) {
			return Body{}, fmt.Errorf("simulate: unknown product")
		}
		p := productPayload{RequestID: s.RequestID, LinkID: s.LinkID, ConsentIDs: []string{s.ConsentID},
			ProductName: product, Code: 200, Message: "OK"}
		if choice == ProductGeneratedFailed {
			p.Code, p.Message = 5000, "product generation failed (simulated)"
		}
		return event(choice, p, now, "sim")
	case Report:
		if !knownProduct(product) {
			return Body{}, fmt.Errorf("simulate: unknown product")
		}
		return report(product, s, now)
	}
	return Body{}, fmt.Errorf("simulate: unknown event")
}

// Probe is the body of the round-trip probe: an event named consent.ProbeEvent about no consent, which the inbox
// worker marks "probe" and which changes nothing.
func Probe(now time.Time) (Body, error) {
	return event(consent.ProbeEvent, map[string]any{}, now, "probe")
}

func knownProduct(p string) bool {
	for _, k := range Products {
		if k == p {
			return true
		}
	}
	return false
}

// money is {"amount": "1000.0400", "currency": "BRL"}: amounts are decimal strings with four places.
func money(cents int64) map[string]string {
	return map[string]string{"amount": fmt.Sprintf("%d.%02d00", cents/100, cents%100), "currency": "BRL"}
}

// report is a synthetic product report in Klavi's envelope (docs/klavi.md#reports): made-up names and numbers,
// all-zero tax ids (never valid ones), a few transactions dated around now.
func report(product string, s Subject, now time.Time) (Body, error) {
	id := randomID("sim-report", now)
	requestID := s.RequestID
	if requestID == "" {
		requestID = "sim-request"
	}
	version := "V1"
	if strings.HasSuffix(product, "credit_card") {
		version = "V1.1"
	}
	r := map[string]any{
		"code": 200, "message": "OK", "requestId": requestID, "productName": product, "productVersion": version,
		"productReportId": id, "productReportTime": now.UTC().Format("2006-01-02T15:04:05"),
		"enquiryCpf": "00000000000",
		"links": []any{map[string]any{"linkId": s.LinkID, "institutionCode": s.InstitutionCode,
			"consents": []any{map[string]any{"consentId": s.ConsentID, "permissions": map[string]any{
				"ACCOUNTS_ALL":     map[string]any{"permissionsGranted": true, "accountIds": []string{"0001-1"}},
				"CREDIT_CARDS_ALL": map[string]any{"permissionsGranted": true, "accountIds": []string{"0001-1"}},
			}}}}},
		"externalInfo": simulated,
	}
	if strings.HasPrefix(product, "pj_") {
		r["enquiryCnpj"] = "00000000000000"
	}
	day := func(d int) time.Time { return now.UTC().AddDate(0, 0, -d) }
	switch {
	case strings.HasSuffix(product, "credit_card"):
		r["creditCards"] = []any{creditCard(day)}
	case strings.HasSuffix(product, "savings_account"):
		r["savingsAccounts"] = []any{account(day, false)}
	default:
		r["checkingAccounts"] = []any{account(day, strings.Contains(product, "categorized"))}
	}
	b, err := json.Marshal(r)
	if err != nil {
		return Body{}, err
	}
	return Body{Kind: "report", Key: id, Name: product, Bytes: b}, nil
}

func account(day func(int) time.Time, categorized bool) map[string]any {
	type tx struct {
		days   int
		cents  int64
		credit bool
		name   string
		kind   string
		cat    [3]string
	}
	txs := []tx{
		{1, 45090, true, "SALARIO SIMULADO", "TED", [3]string{"Renda", "Renda ativa", "Salário"}},
		{3, 8990, false, "MERCADO SIMULADO", "PIX", [3]string{"Alimentação", "Supermercado", "Mercado"}},
		{6, 12000, false, "CONTA DE LUZ SIMULADA", "BOLETO", [3]string{"Moradia", "Contas", "Energia"}},
	}
	var details []any
	for i, t := range txs {
		kind := "DEBITO"
		if t.credit {
			kind = "CREDITO"
		}
		d := map[string]any{
			"transactionDate": day(t.days).Format("2006-01-02"), "transactionDateTime": day(t.days).Format(isoMillis),
			"transactionId": fmt.Sprintf("SIMTX%04d", i+1), "completedAuthorisedPaymentType": "TRANSACAO_EFETIVADA",
			"creditDebitType": kind, "transactionAmount": money(t.cents), "transactionName": t.name, "type": t.kind,
		}
		if categorized {
			d["category"], d["subcategory"], d["thirdCategory"], d["settlementType"] = t.cat[0], t.cat[1], t.cat[2], t.kind
		}
		details = append(details, d)
	}
	return map[string]any{
		"brandName": "Banco Simulado", "bacenName": "Banco Simulado S.A.", "compeCode": "000",
		"companyCnpj": "00000000000000", "branchCode": "0001", "number": "00000001", "checkDigit": "0",
		"subtype": "INDIVIDUAL", "civilName": "Titular Simulado",
		"balances": map[string]any{"availableAmount": money(123456), "blockedAmount": money(0),
			"automaticallyInvestedAmount": money(0)},
		"transactionDetails": details,
	}
}

func creditCard(day func(int) time.Time) map[string]any {
	open := day(0)
	return map[string]any{
		"brandName": "Banco Simulado", "bacenName": "Banco Simulado S.A.", "companyCnpj": "00000000000000",
		"civilName": "Titular Simulado", "name": "Cartão Simulado", "productType": "OUTROS", "creditCardNetwork": "VISA",
		"paymentMethods": []any{map[string]any{"identificationNumber": "0000", "isMultipleCreditCard": false}},
		"limit": map[string]any{"isLimitFlexible": false, "limitAmount": money(500000), "usedAmount": money(15990),
			"availableAmount": money(484010)},
		"openStatement": map[string]any{"billMonth": open.Format("2006-01"), "billingDate": open.Format("2006-01-02"),
			"dueDate": open.AddDate(0, 0, 10).Format("2006-01-02"), "billTotalAmount": money(15990),
			"transactionDetails": []any{map[string]any{
				"transactionDate": day(2).Format("2006-01-02"), "transactionDateTime": day(2).Format(isoMillis),
				"brazilianAmount": money(15990), "transactionName": "LOJA SIMULADA", "identificationNumber": "0000",
				"transactionId": "SIMCARD0001", "transactionType": "OPERACOES_CREDITO_CONTRATADAS_CARTAO",
				"billPostDate": day(2).Format("2006-01-02"), "creditDebitType": "DEBITO", "feeType": "",
				"otherCreditsType": "", "payeeMCC": 5311, "paymentType": "A_VISTA", "chargeIdentificator": "1",
				"chargeNumber": 1}}},
		"closedStatements": []any{},
	}
}
