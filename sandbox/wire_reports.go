package sandbox

// Wire types of the report documents the sandbox POSTs to the report webhook (docs/klavi.md#reports). They are
// the sandbox's own copy of the contract: the package never imports klavi/, so a wrong JSON name cannot hide on
// both sides of the wire at once. Every JSON name below is taken from Klavi's documented report samples; tests
// compare the key sets of a generated report against the samples in testdata/reports/.

// ReportWire is the report document POSTed to the report webhook (docs/klavi.md#reports). The core fills RequestID,
// ProductReportID, ProductReportTime, Links and ExternalInfo before sending; GenerateReport fills the rest. Exactly one
// of CheckingAccounts, SavingsAccounts and CreditCards is set, depending on the product.
type ReportWire struct {
	Code              int              `json:"code"`
	Message           string           `json:"message"`
	RequestID         string           `json:"requestId"`
	ProductName       string           `json:"productName"`
	ProductVersion    string           `json:"productVersion"`
	ProductReportID   string           `json:"productReportId"`
	ProductReportTime string           `json:"productReportTime"`
	EnquiryCpf        string           `json:"enquiryCpf,omitempty"`
	EnquiryCnpj       string           `json:"enquiryCnpj,omitempty"`
	Links             []ReportLinkWire `json:"links"`
	CheckingAccounts  []AccountWire    `json:"checkingAccounts,omitempty"`
	SavingsAccounts   []AccountWire    `json:"savingsAccounts,omitempty"`
	CreditCards       []CreditCardWire `json:"creditCards,omitempty"`
	ExternalInfo      map[string]any   `json:"externalInfo,omitempty"`
}

// ReportLinkWire is one element of the report's links[] (docs/klavi.md#reports).
type ReportLinkWire struct {
	LinkID          string              `json:"linkId"`
	InstitutionCode string              `json:"institutionCode"`
	Consents        []ReportConsentWire `json:"consents"`
}

// ReportConsentWire is one consent inside links[].consents[]; Permissions is keyed by permission group,
// e.g. "REGISTRATION_ALL".
type ReportConsentWire struct {
	ConsentID   string                    `json:"consentId"`
	Permissions map[string]PermissionWire `json:"permissions"`
}

// PermissionWire is the value of one permission group in ReportConsentWire.Permissions.
type PermissionWire struct {
	PermissionsGranted bool     `json:"permissionsGranted"`
	AccountIDs         []string `json:"accountIds,omitempty"`
}

// MoneyWire is an amount as Klavi sends it: a positive decimal string with exactly 4 decimals ("1000.0400")
// and the currency ("BRL"). The sign of a transaction comes from its creditDebitType.
type MoneyWire struct {
	Amount   string `json:"amount"`
	Currency string `json:"currency"`
}

// AccountWire is one element of checkingAccounts[] or savingsAccounts[] (docs/klavi.md#reports).
type AccountWire struct {
	BrandName          string            `json:"brandName"`
	BacenName          string            `json:"bacenName"`
	CompeCode          string            `json:"compeCode"`
	CompanyCnpj        string            `json:"companyCnpj"`
	BranchCode         string            `json:"branchCode,omitempty"`
	Number             string            `json:"number"`
	CheckDigit         string            `json:"checkDigit"`
	Subtype            string            `json:"subtype"` // INDIVIDUAL, CONJUNTA_SIMPLES, CONJUNTA_SOLIDARIA
	CivilName          string            `json:"civilName"`
	Balances           BalancesWire      `json:"balances"`
	TransactionDetails []TransactionWire `json:"transactionDetails"`
}

// BalancesWire is an account's balances (docs/klavi.md#reports). AvailableAmount equals the postTransactionBalance of
// the account's last transaction.
type BalancesWire struct {
	AvailableAmount             MoneyWire  `json:"availableAmount"`
	BlockedAmount               MoneyWire  `json:"blockedAmount"`
	AutomaticallyInvestedAmount *MoneyWire `json:"automaticallyInvestedAmount,omitempty"`
}

// TransactionWire is one element of an account's transactionDetails[] (docs/klavi.md#reports). The counterparty
// ("partie", as Klavi spells it) fields are omitted when there is no counterparty (fees, interest). The last group of
// fields is set only by the categorized products (*_categorized_checking_l3).
type TransactionWire struct {
	TransactionDate                string    `json:"transactionDate"`     // YYYY-MM-DD
	TransactionDateTime            string    `json:"transactionDateTime"` // RFC 3339, UTC, milliseconds
	TransactionID                  string    `json:"transactionId"`
	CompletedAuthorisedPaymentType string    `json:"completedAuthorisedPaymentType"` // TRANSACAO_EFETIVADA
	CreditDebitType                string    `json:"creditDebitType"`                // CREDITO or DEBITO
	TransactionName                string    `json:"transactionName"`
	Type                           string    `json:"type"` // PIX, TED, DOC, BOLETO, TARIFA_SERVICOS_AVULSOS, CARTAO, OUTROS
	TransactionAmount              MoneyWire `json:"transactionAmount"`
	PartieCnpjCpf                  string    `json:"partieCnpjCpf,omitempty"`
	PartiePersonType               string    `json:"partiePersonType,omitempty"` // PESSOA_NATURAL or PESSOA_JURIDICA
	PartieCompeCode                string    `json:"partieCompeCode,omitempty"`
	PartieBranchCode               string    `json:"partieBranchCode,omitempty"`
	PartieNumber                   string    `json:"partieNumber,omitempty"`
	PartieCheckDigit               string    `json:"partieCheckDigit,omitempty"`
	PostTransactionBalance         string    `json:"postTransactionBalance"` // 4 decimals; may be negative only in theory

	// Categorized variants only.
	Category       string `json:"category,omitempty"`
	Subcategory    string `json:"subcategory,omitempty"`
	ThirdCategory  string `json:"thirdCategory,omitempty"`
	FAll           int    `json:"fAll,omitempty"`
	FAllMonth      int    `json:"fAllMonth,omitempty"`
	FAllCmonth     int    `json:"fAllCmonth,omitempty"`
	SettlementType string `json:"settlementType,omitempty"`
}

// CreditCardWire is one element of creditCards[] (docs/klavi.md#reports). The plain product (pf_credit_card V1.1) uses
// Limit ("limit"); the categorized product uses Limits ("limits") and IsActive instead, so exactly one of Limit and
// Limits is set.
type CreditCardWire struct {
	BrandName         string              `json:"brandName"`
	BacenName         string              `json:"bacenName"`
	CompanyCnpj       string              `json:"companyCnpj"`
	CivilName         string              `json:"civilName"`
	Name              string              `json:"name"`
	ProductType       string              `json:"productType"`
	CreditCardNetwork string              `json:"creditCardNetwork"`
	IsActive          *bool               `json:"isActive,omitempty"`
	PaymentMethods    []PaymentMethodWire `json:"paymentMethods"`
	Limit             *LimitWire          `json:"limit,omitempty"`
	Limits            *LimitWire          `json:"limits,omitempty"`
	OpenStatement     *StatementWire      `json:"openStatement,omitempty"`
	ClosedStatements  []StatementWire     `json:"closedStatements"`
}

// PaymentMethodWire identifies one card (last four digits) of a credit card account.
type PaymentMethodWire struct {
	IdentificationNumber string `json:"identificationNumber"`
	IsMultipleCreditCard bool   `json:"isMultipleCreditCard"`
}

// LimitWire is a card's limit: AvailableAmount = LimitAmount - UsedAmount, and UsedAmount is the open bill total.
type LimitWire struct {
	IsLimitFlexible bool            `json:"isLimitFlexible"`
	LimitAmount     LimitAmountWire `json:"limitAmount"`
	UsedAmount      MoneyWire       `json:"usedAmount"`
	AvailableAmount MoneyWire       `json:"availableAmount"`
}

// LimitAmountWire is MoneyWire plus the limitAmountReason that Klavi's credit card sample carries inside
// limitAmount (docs/klavi.md#reports).
type LimitAmountWire struct {
	Amount            string `json:"amount"`
	Currency          string `json:"currency"`
	LimitAmountReason string `json:"limitAmountReason"`
}

// StatementWire is a card bill. The open statement carries its transactions and BillTotalAmount = sum of its debits
// minus its credits; closed statements carry BillMinimumAmount and, as in Klavi's credit card sample, no transactions.
type StatementWire struct {
	BillMonth          string                `json:"billMonth"`   // YYYY-MM of BillingDate
	BillingDate        string                `json:"billingDate"` // closing date
	DueDate            string                `json:"dueDate"`
	BillTotalAmount    MoneyWire             `json:"billTotalAmount"`
	BillMinimumAmount  *MoneyWire            `json:"billMinimumAmount,omitempty"`
	TransactionDetails []CardTransactionWire `json:"transactionDetails,omitempty"`
}

// CardTransactionWire is one card transaction (docs/klavi.md#reports). PayeeMCC and ChargeNumber are JSON numbers while
// money is a string, as documented (docs/klavi.md#money). The last group of fields is set only by the categorized
// product.
type CardTransactionWire struct {
	TransactionDate      string    `json:"transactionDate"`
	TransactionDateTime  string    `json:"transactionDateTime"`
	BrazilianAmount      MoneyWire `json:"brazilianAmount"`
	TransactionName      string    `json:"transactionName"`
	IdentificationNumber string    `json:"identificationNumber"`
	TransactionID        string    `json:"transactionId"`
	TransactionType      string    `json:"transactionType"` // OUTROS (purchase), TARIFA, ESTORNO, CASHBACK, PAGAMENTO
	BillPostDate         string    `json:"billPostDate"`
	CreditDebitType      string    `json:"creditDebitType"`
	FeeType              string    `json:"feeType"`          // "" unless TARIFA (e.g. ANUIDADE)
	OtherCreditsType     string    `json:"otherCreditsType"` // "" in the sandbox
	PayeeMCC             int       `json:"payeeMCC"`         // 0 when there is no merchant
	PaymentType          string    `json:"paymentType"`      // A_VISTA or A_PRAZO
	ChargeIdentificator  string    `json:"chargeIdentificator"`
	ChargeNumber         int       `json:"chargeNumber"`

	// Categorized variant only.
	Category      string `json:"category,omitempty"`
	Subcategory   string `json:"subcategory,omitempty"`
	ThirdCategory string `json:"thirdCategory,omitempty"`
	FAll          int    `json:"fAll,omitempty"`
	FAllMonth     int    `json:"fAllMonth,omitempty"`
	FAllCmonth    int    `json:"fAllCmonth,omitempty"`
	Brand         string `json:"brand,omitempty"`
}
