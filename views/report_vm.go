package views

import (
	"context"
	"strconv"
	"strings"
	"time"
)

// ReportStatus summarises a report's `code` for display.
type ReportStatus int

const (
	// ReportOK is code 200: complete data.
	ReportOK ReportStatus = iota
	// ReportPartial is code 204: the bank left some APIs unavailable; what arrived is still shown.
	ReportPartial
	// ReportFailed is any other code: the report carries an error status and is shown with a warning.
	ReportFailed
)

// ReportVM is everything the report page shows. Money is already formatted (BRL/BRLSigned); dates stay ISO
// ("2021-05-01", bill months "2021-05") because their format depends on the UI language, which only the component
// knows (DateFor/MonthFor); labels that need translating are carried as the raw Klavi codes and translated by the
// component. Builders fill it from a stored report; the component never sees Klavi or store types.
type ReportVM struct {
	ID             string // productReportId; also used in the download links
	ProductName    string // as sent, e.g. "pf_checking_account"
	ProductVersion string
	// Known is true when ProductName is a product whose body the portal renders (checking, savings, credit card and
	// their categorised and PJ variants). When false only the envelope and the raw JSON are shown.
	Known bool
	// Unreadable is true when the stored body could not be parsed as a report; the raw body is still shown.
	Unreadable bool

	Code       int
	Message    string
	Status     ReportStatus
	RequestID  string
	ReportTime string    // productReportTime as sent (no zone), shown via LocalDateTimeFor
	ReceivedAt time.Time // when the portal received the webhook

	Accounts []AccountVM
	Cards    []CardVM

	// RawJSON is the stored body, pretty-printed and with every CPF/CNPJ masked. RawTruncated says the page shows
	// only its beginning (the download has all of it).
	RawJSON      string
	RawTruncated bool
	JSONURL      string // download of the body, e.g. /reports/{id}/report.json
	CSVURL       string // download of the transactions, e.g. /reports/{id}/transactions.csv
	CSVBRURL     string // the same in the "Excel (Brasil)" dialect: /reports/{id}/transactions-br.csv
	XLSXURL      string // the same as an Excel workbook: /reports/{id}/transactions.xlsx
}

// HasData reports whether there is anything to show besides the envelope.
func (vm ReportVM) HasData() bool { return len(vm.Accounts) > 0 || len(vm.Cards) > 0 }

// AccountVM is one checking or savings account.
type AccountVM struct {
	Anchor  string // HTML id, e.g. "account-1" (pagination links jump back to it)
	Savings bool   // from savingsAccounts (else checkingAccounts)
	Bank    string // brandName (bacenName when brandName is empty)
	Branch  string // branchCode
	Number  string // "12345-6"
	Subtype string // INDIVIDUAL, CONJUNTA_SIMPLES, CONJUNTA_SOLIDARIA (translated by the component)
	Holder  string

	Available string // BRL
	Blocked   string // BRL
	Invested  string // BRL, "" when the bank did not send it

	Categorized bool        // some transaction has a category: show the category column
	Insights    *InsightsVM // nil when there is nothing to summarise
	Rows        []TransactionRowVM
	Page        PageVM
}

// Direction is how an amount affects the balance.
type Direction string

const (
	Credit  Direction = "credit"
	Debit   Direction = "debit"
	Neutral Direction = ""
)

// TransactionRowVM is one line of an account statement.
type TransactionRowVM struct {
	Date        string // ISO date
	Description string
	Type        string // Klavi `type`, e.g. PIX, TED, BOLETO, TARIFA_SERVICOS_AVULSOS (translated by the component)
	Kind        string // catalogue key worked out when Type is OUTROS or empty (e.g. "rpt.kind.withdrawal"); shown instead
	Amount      string // BRLSigned
	Direction   Direction
	Balance     string // running balance (BRL) after this transaction; "" when it cannot be known
	Category    string // "Renda › Renda ativa › Salário"; "" when not categorised
	Future      bool   // LANCAMENTO_FUTURO: scheduled, not yet in the balance
}

// PageVM is the pagination state of one account's statement. Pages are 1-based.
type PageVM struct {
	Page, Pages     int
	From, To, Total int    // 1-based positions shown ("showing From–To of Total"); From=To=0 when Total=0
	PrevURL         string // "" on the first page
	NextURL         string // "" on the last page
}

// CardVM is one credit card.
type CardVM struct {
	Anchor      string
	Name        string
	Network     string // VISA, MASTERCARD…
	Bank        string
	Holder      string
	ProductType string
	LastDigits  string // paymentMethods identification numbers, "4453, 1234"

	HasLimit  bool
	Flexible  bool
	Limit     string // BRL
	Used      string // BRL
	Available string // BRL
	UsagePct  int    // 0..100 (clamped), used/limit
	// UsageClass is a CSS class "usage-0" … "usage-100" in steps of 10 (CSP forbids inline widths).
	UsageClass string

	Insights *CardInsightsVM // nil when there is nothing to chart
	Open     *BillVM
	Closed   []BillVM
}

// BillVM is a credit card statement (fatura).
type BillVM struct {
	Month       string // "2021-05"
	BillingDate string // ISO
	DueDate     string // ISO
	Total       string // BRL
	Minimum     string // BRL, "" when absent
	Rows        []CardTransactionRowVM
}

// CardTransactionRowVM is one line of a credit card bill.
type CardTransactionRowVM struct {
	Date        string // ISO
	Description string
	Type        string // transactionType, e.g. PAGAMENTO, TARIFA, CASHBACK (translated by the component)
	Kind        string // catalogue key worked out when Type is OUTROS (e.g. "rpt.kind.purchase"); shown instead
	PaymentType string // A_VISTA, A_PRAZO
	Installment string // "2/12" when chargeIdentificator/chargeNumber describe an installment; "" otherwise
	MCC         string
	MCCName     string // catalogue key of the MCC's category ("mcc.groceries"); "" when unknown
	Brand       string // merchant brand (categorised variant)
	Category    string
	Amount      string // BRLSigned
	Direction   Direction
}

// UsageClass returns the CSS class for a usage percentage: "usage-0" … "usage-100", rounded down to a multiple of
// 10 and clamped.
func UsageClass(pct int) string {
	pct = min(max(pct, 0), 100)
	return "usage-" + strconv.Itoa(pct/10*10)
}

// codeLabel returns the translation registered under prefix+code, or a readable form of code itself ("SOME_CODE" →
// "Some code") when the code is not one the portal knows: banks add values, and showing them beats hiding them.
// typeLabel is the text of a transaction's type column: the worked-out kind when there is one, else the bank's type.
func typeLabel(ctx context.Context, kind, prefix, code string) string {
	if kind != "" {
		return T(ctx, kind)
	}
	return codeLabel(ctx, prefix, code)
}

func codeLabel(ctx context.Context, prefix, code string) string {
	if code == "" {
		return ""
	}
	if _, ok := messages[prefix+code]; ok {
		return T(ctx, prefix+code)
	}
	s := strings.ToLower(strings.ReplaceAll(code, "_", " "))
	if s == "" {
		return code
	}
	r := []rune(s)
	return strings.ToUpper(string(r[0])) + string(r[1:])
}

// ProductLabel is the human name of a Klavi product ("pf_checking_account" → "Conta corrente (PF)"), or the
// product name itself when it is unknown.
func ProductLabel(ctx context.Context, product string) string {
	if _, ok := messages["rpt.product."+product]; ok {
		return T(ctx, "rpt.product."+product)
	}
	return product
}
