package klavi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
)

// Report is a product report webhook body (docs/klavi.md#reports): the common envelope plus the typed product
// bodies this package knows. CheckingAccounts is filled for pf_/pj_checking_account and the categorized
// checking variants, SavingsAccounts for *_savings_account, CreditCards for *_credit_card and the categorized
// credit card variants. Other products (loans, investments, ...) only have Raw. Code is the report status
// (200 OK, 204 partial, ...); a non-200 report is still a delivered report. ExternalInfo and Raw are raw JSON.
type Report struct {
	Code                                                             int
	Message, RequestID, ProductName, ProductVersion, ProductReportID string
	ProductReportTime, EnquiryCpf, EnquiryCnpj                       string
	Links                                                            []ReportLink
	ExternalInfo                                                     json.RawMessage
	CheckingAccounts, SavingsAccounts                                []Account
	CreditCards                                                      []CreditCard
	Raw                                                              json.RawMessage
}

// ReportLink is one element of a report's `links`.
type ReportLink struct {
	LinkID          string          `json:"linkId"`
	InstitutionCode string          `json:"institutionCode"`
	Consents        []ReportConsent `json:"consents"`
}

// ReportConsent is one consent in a report link; Permissions is keyed by group, e.g. "REGISTRATION_ALL".
type ReportConsent struct {
	ConsentID   string                `json:"consentId"`
	Permissions map[string]Permission `json:"permissions"`
}

// Permission is one permission group's state in a report.
type Permission struct {
	PermissionsGranted bool     `json:"permissionsGranted"`
	AccountIDs         []string `json:"accountIds"`
}

// Money is {"amount": "1000.0400", "currency": "BRL"}.
type Money struct {
	Amount   Amount `json:"amount"`
	Currency string `json:"currency"`
}

// Account is one element of checkingAccounts or savingsAccounts (docs/klavi.md#reports).
type Account struct {
	BrandName          string        `json:"brandName"`
	BacenName          string        `json:"bacenName"`
	CompeCode          string        `json:"compeCode"`
	CompanyCnpj        string        `json:"companyCnpj"`
	BranchCode         string        `json:"branchCode"`
	Number             string        `json:"number"`
	CheckDigit         string        `json:"checkDigit"`
	Subtype            string        `json:"subtype"`
	CivilName          string        `json:"civilName"`
	Balances           Balances      `json:"balances"`
	TransactionDetails []Transaction `json:"transactionDetails"`
}

// Balances of an account.
type Balances struct {
	AvailableAmount             Money `json:"availableAmount"`
	BlockedAmount               Money `json:"blockedAmount"`
	AutomaticallyInvestedAmount Money `json:"automaticallyInvestedAmount"`
}

// Transaction is one account transaction. TransactionAmount is always positive; the sign comes from CreditDebitType
// (CREDITO / DEBITO). Category, Subcategory, ThirdCategory, FAll, FAllMonth, FAllCmonth and SettlementType are only
// set by the categorized variants (docs/klavi.md#reports); the three integers are nil when absent, so that a 0 sent
// by Klavi stays distinguishable from "not sent" (their meaning is undocumented).
type Transaction struct {
	TransactionDate                string `json:"transactionDate"`
	TransactionDateTime            string `json:"transactionDateTime"`
	TransactionID                  string `json:"transactionId"`
	CompletedAuthorisedPaymentType string `json:"completedAuthorisedPaymentType"`
	CreditDebitType                string `json:"creditDebitType"`
	TransactionName                string `json:"transactionName"`
	Type                           string `json:"type"`
	PartieCnpjCpf                  string `json:"partieCnpjCpf"`
	PartiePersonType               string `json:"partiePersonType"`
	PartieCompeCode                string `json:"partieCompeCode"`
	PartieBranchCode               string `json:"partieBranchCode"`
	PartieNumber                   string `json:"partieNumber"`
	PartieCheckDigit               string `json:"partieCheckDigit"`
	TransactionAmount              Money  `json:"transactionAmount"`
	PostTransactionBalance         Amount `json:"postTransactionBalance"`
	Category                       string `json:"category"`
	Subcategory                    string `json:"subcategory"`
	ThirdCategory                  string `json:"thirdCategory"`
	FAll                           *int   `json:"fAll,omitempty"`
	FAllMonth                      *int   `json:"fAllMonth,omitempty"`
	FAllCmonth                     *int   `json:"fAllCmonth,omitempty"`
	SettlementType                 string `json:"settlementType"`
}

// CreditCard is one element of creditCards (docs/klavi.md#reports). Limit is decoded from "limit" (pf_credit_card) or
// "limits" (categorized variant); when either is an array, its first element is used. IsActive is only sent by
// the categorized variant (nil when absent).
type CreditCard struct {
	BrandName         string          `json:"brandName"`
	BacenName         string          `json:"bacenName"`
	CompanyCnpj       string          `json:"companyCnpj"`
	CivilName         string          `json:"civilName"`
	Name              string          `json:"name"`
	ProductType       string          `json:"productType"`
	CreditCardNetwork string          `json:"creditCardNetwork"`
	IsActive          *bool           `json:"isActive,omitempty"`
	PaymentMethods    []PaymentMethod `json:"paymentMethods"`
	Limit             *CardLimit      `json:"limit,omitempty"`
	OpenStatement     *Statement      `json:"openStatement,omitempty"`
	ClosedStatements  []Statement     `json:"closedStatements"`
}

// PaymentMethod identifies one card of the account.
type PaymentMethod struct {
	IdentificationNumber string `json:"identificationNumber"`
	IsMultipleCreditCard bool   `json:"isMultipleCreditCard"`
}

// CardLimit is a card's limit.
type CardLimit struct {
	IsLimitFlexible bool  `json:"isLimitFlexible"`
	LimitAmount     Money `json:"limitAmount"`
	UsedAmount      Money `json:"usedAmount"`
	AvailableAmount Money `json:"availableAmount"`
}

// Statement is an open or closed bill. BillMinimumAmount is nil when absent.
type Statement struct {
	BillMonth          string            `json:"billMonth"`
	BillingDate        string            `json:"billingDate"`
	DueDate            string            `json:"dueDate"`
	BillTotalAmount    Money             `json:"billTotalAmount"`
	BillMinimumAmount  *Money            `json:"billMinimumAmount,omitempty"`
	TransactionDetails []CardTransaction `json:"transactionDetails"`
}

// CardTransaction is one credit card transaction. PayeeMCC and ChargeNumber are numbers on the wire (numeric
// strings are accepted too). Category, Subcategory, ThirdCategory, FAll, FAllMonth, FAllCmonth and Brand come from
// the categorized variant (docs/klavi.md#reports); the three integers are nil when absent, as in Transaction.
type CardTransaction struct {
	TransactionDate      string `json:"transactionDate"`
	TransactionDateTime  string `json:"transactionDateTime"`
	TransactionName      string `json:"transactionName"`
	IdentificationNumber string `json:"identificationNumber"`
	TransactionID        string `json:"transactionId"`
	TransactionType      string `json:"transactionType"`
	BillPostDate         string `json:"billPostDate"`
	CreditDebitType      string `json:"creditDebitType"`
	FeeType              string `json:"feeType"`
	OtherCreditsType     string `json:"otherCreditsType"`
	PaymentType          string `json:"paymentType"`
	ChargeIdentificator  string `json:"chargeIdentificator"`
	BrazilianAmount      Money  `json:"brazilianAmount"`
	PayeeMCC             int    `json:"payeeMCC"`
	ChargeNumber         int    `json:"chargeNumber"`
	Category             string `json:"category"`
	Subcategory          string `json:"subcategory"`
	ThirdCategory        string `json:"thirdCategory"`
	FAll                 *int   `json:"fAll,omitempty"`
	FAllMonth            *int   `json:"fAllMonth,omitempty"`
	FAllCmonth           *int   `json:"fAllCmonth,omitempty"`
	Brand                string `json:"brand"`
}

// UnmarshalJSON accepts "limit" or "limits", each an object or an array of objects.
func (c *CreditCard) UnmarshalJSON(b []byte) error {
	type plain CreditCard
	var w struct {
		plain
		Limit  json.RawMessage `json:"limit"`
		Limits json.RawMessage `json:"limits"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*c = CreditCard(w.plain)
	c.Limit = nil
	for _, raw := range []json.RawMessage{w.Limit, w.Limits} {
		raw = nonNull(bytes.TrimSpace(raw))
		if raw == nil {
			continue
		}
		if raw[0] == '[' {
			var list []CardLimit
			if err := json.Unmarshal(raw, &list); err != nil {
				return err
			}
			if len(list) > 0 {
				c.Limit = &list[0]
			}
		} else {
			var l CardLimit
			if err := json.Unmarshal(raw, &l); err != nil {
				return err
			}
			c.Limit = &l
		}
		if c.Limit != nil {
			break
		}
	}
	return nil
}

// UnmarshalJSON accepts payeeMCC, chargeNumber, fAll, fAllMonth and fAllCmonth as numbers or numeric strings.
func (t *CardTransaction) UnmarshalJSON(b []byte) error {
	type plain CardTransaction
	var w struct {
		plain
		PayeeMCC     flexInt  `json:"payeeMCC"`
		ChargeNumber flexInt  `json:"chargeNumber"`
		FAll         *flexInt `json:"fAll"`
		FAllMonth    *flexInt `json:"fAllMonth"`
		FAllCmonth   *flexInt `json:"fAllCmonth"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*t = CardTransaction(w.plain)
	t.PayeeMCC = int(w.PayeeMCC)
	t.ChargeNumber = int(w.ChargeNumber)
	t.FAll, t.FAllMonth, t.FAllCmonth = w.FAll.intPtr(), w.FAllMonth.intPtr(), w.FAllCmonth.intPtr()
	return nil
}

// UnmarshalJSON accepts fAll, fAllMonth and fAllCmonth as numbers or numeric strings, like the card
// transaction's integers.
func (t *Transaction) UnmarshalJSON(b []byte) error {
	type plain Transaction
	var w struct {
		plain
		FAll       *flexInt `json:"fAll"`
		FAllMonth  *flexInt `json:"fAllMonth"`
		FAllCmonth *flexInt `json:"fAllCmonth"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return err
	}
	*t = Transaction(w.plain)
	t.FAll, t.FAllMonth, t.FAllCmonth = w.FAll.intPtr(), w.FAllMonth.intPtr(), w.FAllCmonth.intPtr()
	return nil
}

// intPtr returns nil for a field that was absent or null, else the value as an *int.
func (f *flexInt) intPtr() *int {
	if f == nil {
		return nil
	}
	n := int(*f)
	return &n
}

// reportWireOf is a report body: the envelope, the product part (A for the accounts, C for the cards) and marks of
// the legacy format's keys. reportWire decodes the product part; reportEnvelopeWire only skips it.
type reportWireOf[A, C any] struct {
	Code              flexInt         `json:"code"`
	Message           string          `json:"message"`
	RequestID         flexString      `json:"requestId"`
	ProductName       string          `json:"productName"`
	ProductVersion    string          `json:"productVersion"`
	ProductReportID   flexString      `json:"productReportId"`
	ProductReportTime string          `json:"productReportTime"`
	EnquiryCpf        string          `json:"enquiryCpf"`
	EnquiryCnpj       string          `json:"enquiryCnpj"`
	Links             []ReportLink    `json:"links"`
	ExternalInfo      json.RawMessage `json:"externalInfo"`
	CheckingAccounts  A               `json:"checkingAccounts"`
	SavingsAccounts   A               `json:"savingsAccounts"`
	CreditCards       C               `json:"creditCards"`

	// Set when one of legacyKeys, or `data`, is present in any letter case (encoding/json matches names without
	// case); parseReport then confirms on the exact keys, as isLegacy always did.
	LegacyMsg        presence `json:"msg"`
	LegacyReportType presence `json:"report_type"`
	LegacyEnquiryCpf presence `json:"enquiry_cpf"`
	LegacyReportTime presence `json:"report_time"`
	LegacyData       presence `json:"data"`
}

type (
	reportWire         = reportWireOf[[]Account, []CreditCard]
	reportEnvelopeWire = reportWireOf[presence, presence]
)

func (w *reportWireOf[A, C]) mayBeLegacy() bool {
	return bool(w.LegacyMsg || w.LegacyReportType || w.LegacyEnquiryCpf || w.LegacyReportTime || w.LegacyData)
}

func (w *reportWireOf[A, C]) productReportID() string { return string(w.ProductReportID) }

// envelope is the report without its product part and without Raw.
func (w *reportWireOf[A, C]) envelope() *Report {
	return &Report{
		Code: int(w.Code), Message: w.Message, RequestID: string(w.RequestID), ProductName: w.ProductName,
		ProductVersion: w.ProductVersion, ProductReportID: string(w.ProductReportID),
		ProductReportTime: w.ProductReportTime, EnquiryCpf: w.EnquiryCpf, EnquiryCnpj: w.EnquiryCnpj,
		Links: w.Links, ExternalInfo: nonNull(w.ExternalInfo),
	}
}

// presence records that a key was there, whatever its value; the value is skipped (checked to be JSON), not decoded.
type presence bool

func (p *presence) UnmarshalJSON([]byte) error {
	*p = true
	return nil
}

// legacyKeys mark Klavi's pre-Open-Finance report format (docs/klavi.md#legacy-format), at the top level or in `data`.
var legacyKeys = []string{"msg", "report_type", "enquiry_cpf", "report_time"}

// ParseReport parses a report webhook body. The body must be a JSON object with a productReportId (the storage key); a
// body in the legacy format (msg / report_type / enquiry_cpf, docs/klavi.md#legacy-format) returns ErrLegacyReport;
// other failures wrap ErrMalformedWebhook. Raw is a copy of the body. Error texts never quote the body.
func ParseReport(body []byte) (*Report, error) {
	var w reportWire
	if err := parseReport(body, &w); err != nil {
		return nil, err
	}
	r := w.envelope()
	r.CheckingAccounts, r.SavingsAccounts, r.CreditCards = w.CheckingAccounts, w.SavingsAccounts, w.CreditCards
	r.Raw = append(json.RawMessage(nil), body...)
	return r, nil
}

// ParseReportEnvelope is ParseReport without the product part: the same checks, errors and envelope fields, but
// checkingAccounts, savingsAccounts and creditCards are skipped (still checked to be valid JSON), not decoded, so
// the result has none of them and a body whose product part does not decode is accepted. It is what a receiver
// needs to store a report (its key and the consent it names) at a fraction of the cost for a large statement
// (docs/benchmarks.md#report-path). Raw is nil: the caller has the body.
func ParseReportEnvelope(body []byte) (*Report, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) > 0 && trimmed[0] == '{' && json.Valid(trimmed) {
		// Decoding would scan the product part twice more (validity, then skipping it); it is valid JSON, so the
		// same object without it decodes to the same envelope, errors included.
		body = withoutMembers(trimmed, productKeys)
	}
	var w reportEnvelopeWire
	if err := parseReport(body, &w); err != nil {
		return nil, err
	}
	return w.envelope(), nil
}

// productKeys are the members of a report body that hold its product part, spelled as Klavi sends them.
var productKeys = []string{"checkingAccounts", "savingsAccounts", "creditCards"}

// withoutMembers returns obj, a valid JSON object, without the members whose key is written exactly as one of names
// (a key spelled otherwise, escapes included, is kept). The other members keep their order and their bytes.
func withoutMembers(obj []byte, names []string) []byte {
	out := make([]byte, 0, 4096)
	out = append(out, '{')
	i := 1
	for {
		i = skipJSONSpace(obj, i)
		switch obj[i] {
		case '}':
			return append(out, '}')
		case ',':
			i = skipJSONSpace(obj, i+1)
		}
		start := i
		i = skipJSONString(obj, i)
		key := obj[start+1 : i-1]
		i = skipJSONSpace(obj, i) + 1 // the colon
		i = skipJSONValue(obj, skipJSONSpace(obj, i))
		if !slices.Contains(names, string(key)) {
			if len(out) > 1 {
				out = append(out, ',')
			}
			out = append(out, obj[start:i]...)
		}
	}
}

func skipJSONSpace(b []byte, i int) int {
	for b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r' {
		i++
	}
	return i
}

// skipJSONString returns the index after the string that starts at b[i] (its opening quote).
func skipJSONString(b []byte, i int) int {
	for i++; ; i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
}

// skipJSONValue returns the index after the valid JSON value that starts at b[i].
func skipJSONValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return skipJSONString(b, i)
	case '{', '[':
		depth := 0
		for ; ; i++ {
			switch b[i] {
			case '"':
				i = skipJSONString(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
	}
	for i < len(b) && !strings.ContainsRune(",}] \t\n\r", rune(b[i])) { // a number, true, false or null
		i++
	}
	return i
}

// parseReport decodes body into w in one pass. Only a body that failed to decode or that carries a legacy mark is
// read a second time, as a map, to tell the legacy format apart on its exact keys; so the errors come in the order
// of reading the map first: invalid JSON, then the legacy format, then a field of the wrong type, then a missing
// productReportId.
func parseReport[W interface {
	mayBeLegacy() bool
	productReportID() string
}](body []byte, w W) error {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return malformed("report is not a JSON object")
	}
	err := json.Unmarshal(trimmed, w)
	if err != nil || w.mayBeLegacy() {
		var top map[string]json.RawMessage
		if err := json.Unmarshal(trimmed, &top); err != nil {
			return malformed(jsonErrKind(err))
		}
		if isLegacy(top) {
			return ErrLegacyReport
		}
	}
	if err != nil {
		return malformed(jsonErrKind(err))
	}
	if w.productReportID() == "" {
		return malformed("missing productReportId")
	}
	return nil
}

func isLegacy(top map[string]json.RawMessage) bool {
	if hasAny(top) {
		return true
	}
	if data, ok := top["data"]; ok && isObject(data) {
		var inner map[string]json.RawMessage
		if json.Unmarshal(data, &inner) == nil && hasAny(inner) {
			return true
		}
	}
	return false
}

func hasAny(m map[string]json.RawMessage) bool {
	for _, k := range legacyKeys {
		if _, ok := m[k]; ok {
			return true
		}
	}
	return false
}

// Signed returns the transaction amount in units (1/10000) with the sign taken from CreditDebitType:
// DEBITO is negative, anything else positive.
func (t Transaction) Signed() (int64, error) {
	u, err := t.TransactionAmount.Amount.Units()
	if err != nil {
		return 0, fmt.Errorf("klavi: transaction amount: %w", err)
	}
	if u < 0 {
		if u == math.MinInt64 {
			return 0, fmt.Errorf("klavi: transaction amount out of range")
		}
		u = -u
	}
	if t.CreditDebitType == "DEBITO" {
		u = -u
	}
	return u, nil
}
