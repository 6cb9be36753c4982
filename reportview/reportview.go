// Package reportview turns a Klavi report into what people read: the report page's view model
// (views.ReportVM) and a CSV of its transactions. Everything here is pure: the HTTP handlers load the stored
// report, parse it with klavi.ParseReport and call Build (or Prepare once, then Prepared.Build per page) or
// WriteTransactionsCSV.
package reportview

import (
	"bytes"
	"cmp"
	"encoding/csv"
	"encoding/json"
	"io"
	"math"
	"math/big"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/klavi-demo/portal/klavi"
	"github.com/klavi-demo/portal/klavi/taxid"
	"github.com/klavi-demo/portal/views"
)

const (
	reportPerPageDefault = 50
	reportPerPageMin     = 10
	reportPerPageMax     = 200
	// reportMaxPage bounds ?page= so that offsets stay far from overflow; bigger values show the last page anyway.
	reportMaxPage = 1_000_000
	// rawDisplayMax caps the pretty-printed JSON embedded in the page: a 10,000-transaction report is several MB
	// once indented, too much for a <pre>. The download carries everything.
	rawDisplayMax = 256 << 10
)

// reportJSONURL and reportCSVURL are the download routes linked from the report page (served by handlers).
func reportJSONURL(id string) string { return "/reports/" + url.PathEscape(id) + "/report.json" }
func reportCSVURL(id string) string  { return "/reports/" + url.PathEscape(id) + "/transactions.csv" }
func reportCSVBRURL(id string) string {
	return "/reports/" + url.PathEscape(id) + "/transactions-br.csv"
}
func reportXLSXURL(id string) string { return "/reports/" + url.PathEscape(id) + "/transactions.xlsx" }

// Query is the report page's query string: which account's statement is paginated (1-based position in the
// page's account list, checking accounts first; 0 = none), which page of it (1-based) is shown and how many
// transactions a page holds.
type Query struct {
	Account int
	Page    int
	PerPage int
}

// ParseQuery reads ?account=K&page=N&per_page=P. It never fails: missing, malformed, negative or absurd values
// fall back to account 0 (none), page 1 and 50 per page; per_page is clamped to [10, 200] and page to 1,000,000
// (Build clamps it again to the account's last page). A nil v gives the defaults.
func ParseQuery(v url.Values) Query {
	q := Query{Account: 0, Page: 1, PerPage: reportPerPageDefault}
	if n, err := strconv.Atoi(strings.TrimSpace(v.Get("account"))); err == nil && n > 0 && n <= math.MaxInt32 {
		q.Account = n
	}
	if n, err := strconv.Atoi(strings.TrimSpace(v.Get("page"))); err == nil && n > 0 {
		q.Page = min(n, reportMaxPage)
	}
	if s := strings.TrimSpace(v.Get("per_page")); s != "" {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			q.PerPage = min(max(n, reportPerPageMin), reportPerPageMax)
		}
	}
	return q
}

// reportKnownProducts are the products whose body layout the page knows (accounts and credit cards). Anything
// else shows the envelope and the raw JSON only.
var reportKnownProducts = map[string]bool{
	"pf_checking_account": true, "pf_savings_account": true, "pf_credit_card": true,
	"pf_categorized_checking_l3": true, "pf_categorized_creditcard_l3": true,
	"pj_checking_account": true, "pj_savings_account": true, "pj_credit_card": true,
	"pj_categorized_checking_l3": true, "pj_categorized_creditcard_l3": true,
}

// Stored is a report as the portal keeps it: the envelope received with the webhook and the raw body. Empty
// envelope fields are filled from the parsed body.
type Stored struct {
	ID             string // productReportId (or the portal's fallback key); used in the download links
	ProductName    string
	ProductVersion string
	Code           int
	Message        string
	RequestID      string
	ReceivedAt     time.Time
	Raw            []byte // the body exactly as received
}

// Build returns the report page's view model. rep is the parsed body, nil when it could not be parsed (the page
// then shows the envelope and the raw body, marked unreadable). q selects the statement page of one account;
// other accounts show their first page, and a page past the end shows the last one. The raw body is shown
// pretty-printed, with every CPF/CNPJ masked and cut at about 256 KiB; transaction descriptions are masked too.
// It is Prepare(r, rep).Build(q).
func Build(r Stored, rep *klavi.Report, q Query) views.ReportVM {
	return Prepare(r, rep).Build(q)
}

// Prepared is everything of a report page that does not depend on the query: the envelope, the raw body as shown,
// each account's statement in display order with its running balance and insights, the cards. Preparing a
// 10,000-transaction report costs milliseconds (the sort, the insights, the masking of the shown JSON); paging
// through it then costs only the rows of one page, so a caller may keep it for a stored report, which never
// changes (docs/benchmarks.md#report-path). A Prepared is never modified after Prepare and is safe for concurrent
// use. It keeps rep (not r.Raw).
type Prepared struct {
	vm       views.ReportVM // the envelope, raw JSON, links and cards; Accounts is built per query
	rep      *klavi.Report
	accounts []preparedAccount
}

// preparedAccount is one account's header (no rows, no page) and its whole statement, newest first.
type preparedAccount struct {
	head   views.AccountVM
	ledger []ledgerEntry
}

// Prepare does the query-independent work of Build once (see Prepared).
func Prepare(r Stored, rep *klavi.Report) *Prepared {
	vm := views.ReportVM{
		ID:             r.ID,
		ProductName:    r.ProductName,
		ProductVersion: r.ProductVersion,
		Code:           r.Code,
		Message:        r.Message,
		RequestID:      r.RequestID,
		ReceivedAt:     r.ReceivedAt,
		Unreadable:     rep == nil,
	}
	if rep != nil {
		vm.ID = cmp.Or(vm.ID, rep.ProductReportID)
		vm.ProductName = cmp.Or(vm.ProductName, rep.ProductName)
		vm.ProductVersion = cmp.Or(vm.ProductVersion, rep.ProductVersion)
		vm.RequestID = cmp.Or(vm.RequestID, rep.RequestID)
		vm.Message = cmp.Or(vm.Message, rep.Message)
		if vm.Code == 0 {
			vm.Code = rep.Code
		}
		vm.ReportTime = rep.ProductReportTime
	}
	switch vm.Code {
	case 200:
		vm.Status = views.ReportOK
	case 204:
		vm.Status = views.ReportPartial
	default:
		vm.Status = views.ReportFailed
	}
	vm.Known = reportKnownProducts[vm.ProductName]
	vm.RawJSON, vm.RawTruncated = rawForDisplay(r.Raw, rep != nil)
	if vm.ID != "" {
		vm.JSONURL = reportJSONURL(vm.ID)
		vm.CSVURL = reportCSVURL(vm.ID)
		vm.CSVBRURL = reportCSVBRURL(vm.ID)
		vm.XLSXURL = reportXLSXURL(vm.ID)
	}
	p := &Prepared{rep: rep}
	if rep != nil && vm.Known {
		k := 0
		addAccounts := func(list []klavi.Account, savings bool) {
			for i := range list {
				k++
				p.accounts = append(p.accounts, prepareAccount(k, &list[i], savings))
			}
		}
		addAccounts(rep.CheckingAccounts, false)
		addAccounts(rep.SavingsAccounts, true)
		for i := range rep.CreditCards {
			vm.Cards = append(vm.Cards, buildCardVM(i+1, &rep.CreditCards[i]))
		}
	}
	p.vm = vm
	return p
}

// Report is the parsed report the page was prepared from (nil when it could not be parsed).
func (p *Prepared) Report() *klavi.Report { return p.rep }

// Build returns the page's view model for q: every account with one page of its statement (see Build). The
// returned model shares the prepared, read-only parts (cards, insights) with every other call.
func (p *Prepared) Build(q Query) views.ReportVM {
	if q.PerPage <= 0 {
		q.PerPage = reportPerPageDefault
	}
	vm := p.vm
	if len(p.accounts) > 0 {
		vm.Accounts = make([]views.AccountVM, len(p.accounts))
		for i := range p.accounts {
			vm.Accounts[i] = p.accounts[i].page(vm.ID, i+1, q)
		}
	}
	return vm
}

// rawForDisplay pretty-prints the stored body and masks every CPF/CNPJ in it. The indented text is cut at a line
// break before masking: a tax id never spans lines, so no id is cut in half and left partly visible. A body that
// is not valid JSON is masked whole and then cut. parsed says the body already decoded as a report (so it is
// valid JSON): then only the part that will be shown is indented, which keeps a 10,000-transaction report's page
// from pretty-printing megabytes it throws away.
func rawForDisplay(raw []byte, parsed bool) (string, bool) {
	if len(raw) == 0 {
		return "", false
	}
	if parsed {
		s, truncated := cutAtLine(string(indentPrefix(raw, rawDisplayMax+1)))
		s = taxid.MaskText(s)
		if len(s) > rawDisplayMax {
			s, _ = cutAtLine(s)
			truncated = true
		}
		return s, truncated
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		s := taxid.MaskText(strings.ToValidUTF8(string(raw), "\uFFFD"))
		if len(s) <= rawDisplayMax {
			return s, false
		}
		cut := rawDisplayMax
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		return s[:cut], true
	}
	s, truncated := cutAtLine(buf.String())
	// Masks are longer than the ids they replace, so cut again after masking (at a line break: never inside a mask).
	s = taxid.MaskText(s)
	if len(s) > rawDisplayMax {
		s, _ = cutAtLine(s)
		truncated = true
	}
	return s, truncated
}

// indentPrefix indents valid JSON exactly as json.Indent(dst, raw, "", "  ") would, but stops once the output
// holds more than limit bytes. It must only be given valid JSON.
func indentPrefix(raw []byte, limit int) []byte {
	out := make([]byte, 0, min(limit+512, 2*len(raw)))
	depth := 0
	newline := func() {
		out = append(out, '\n')
		for range depth {
			out = append(out, ' ', ' ')
		}
	}
	inString, escaped := false, false
	for i := 0; i < len(raw) && len(out) <= limit; i++ {
		c := raw[i]
		if inString {
			out = append(out, c)
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case ' ', '\t', '\n', '\r':
		case '"':
			inString = true
			out = append(out, c)
		case '{', '[':
			out = append(out, c)
			j := i + 1
			for j < len(raw) && (raw[j] == ' ' || raw[j] == '\t' || raw[j] == '\n' || raw[j] == '\r') {
				j++
			}
			if j < len(raw) && (raw[j] == '}' || raw[j] == ']') {
				out = append(out, raw[j]) // empty object or array stays on one line, as json.Indent does
				i = j
				continue
			}
			depth++
			newline()
		case '}', ']':
			depth--
			newline()
			out = append(out, c)
		case ',':
			out = append(out, c)
			newline()
		case ':':
			out = append(out, c, ' ')
		default:
			out = append(out, c)
		}
	}
	return out
}

// cutAtLine shortens s to at most rawDisplayMax bytes, ending at a line break.
func cutAtLine(s string) (string, bool) {
	if len(s) <= rawDisplayMax {
		return s, false
	}
	return s[:max(strings.LastIndexByte(s[:rawDisplayMax], '\n'), 0)], true
}

// reportMoney formats a Money as BRL, or "—" when the amount is missing or malformed.
func reportMoney(m klavi.Money) (string, int64, bool) {
	u, err := m.Amount.Units()
	if err != nil {
		return "—", 0, false
	}
	return views.BRL(u), u, true
}

// ledgerEntry is an account transaction with its signed amount and the balance after it.
type ledgerEntry struct {
	tx        *klavi.Transaction
	signed    int64
	amountOK  bool
	balance   int64
	balanceOK bool
	future    bool
}

// accountLedger returns the account's transactions newest first, each with its signed amount (DEBITO negative)
// and the running balance after it: postTransactionBalance when the bank sent it, otherwise computed backwards from
// the available balance (the balance after the newest transaction), re-anchoring on every postTransactionBalance
// seen. Scheduled entries (LANCAMENTO_FUTURO) are not in the balance yet: they get no running balance and do not
// move it. All arithmetic is on int64 units; a malformed amount or an overflow stops the computation for older
// rows instead of showing a wrong number.
func accountLedger(a *klavi.Account) []ledgerEntry {
	txs := a.TransactionDetails
	idx := make([]int, len(txs))
	for i := range idx {
		idx[i] = i
	}
	// Oldest first by booking date then timestamp, keeping the report's order for ties; reversed below.
	sort.SliceStable(idx, func(i, j int) bool {
		ti, tj := &txs[idx[i]], &txs[idx[j]]
		di, dj := txDate(ti), txDate(tj)
		if di != dj {
			return di < dj
		}
		return ti.TransactionDateTime < tj.TransactionDateTime
	})
	out := make([]ledgerEntry, len(txs))
	for n, i := range idx {
		tx := &txs[i]
		e := ledgerEntry{tx: tx, future: tx.CompletedAuthorisedPaymentType == "LANCAMENTO_FUTURO"}
		if s, err := tx.Signed(); err == nil {
			e.signed, e.amountOK = s, true
		}
		out[len(txs)-1-n] = e
	}

	cur, err := a.Balances.AvailableAmount.Amount.Units()
	known := err == nil
	for i := range out {
		e := &out[i]
		if e.future {
			continue
		}
		if e.tx.PostTransactionBalance != "" {
			if p, err := e.tx.PostTransactionBalance.Units(); err == nil {
				cur, known = p, true
			}
		}
		e.balance, e.balanceOK = cur, known
		if !known {
			continue
		}
		if !e.amountOK {
			known = false
			continue
		}
		// The balance before this transaction is the balance after the previous (older) one.
		next := cur - e.signed
		if (e.signed > 0 && next > cur) || (e.signed < 0 && next < cur) {
			known = false
			continue
		}
		cur = next
	}
	return out
}

func txDate(t *klavi.Transaction) string {
	if t.TransactionDate != "" {
		return t.TransactionDate
	}
	if len(t.TransactionDateTime) >= 10 {
		return t.TransactionDateTime[:10]
	}
	return t.TransactionDateTime
}

func txDirection(creditDebit string) views.Direction {
	switch creditDebit {
	case "CREDITO":
		return views.Credit
	case "DEBITO":
		return views.Debit
	default:
		return views.Neutral
	}
}

func accountNumber(a *klavi.Account) string {
	if a.CheckDigit == "" {
		return a.Number
	}
	return a.Number + "-" + a.CheckDigit
}

func categoryPath(parts ...string) string {
	var nonEmpty []string
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			nonEmpty = append(nonEmpty, p)
		}
	}
	return strings.Join(nonEmpty, " › ")
}

func prepareAccount(k int, a *klavi.Account, savings bool) preparedAccount {
	vm := views.AccountVM{
		Anchor:  "account-" + strconv.Itoa(k),
		Savings: savings,
		Bank:    cmp.Or(a.BrandName, a.BacenName),
		Branch:  a.BranchCode,
		Number:  accountNumber(a),
		Subtype: a.Subtype,
		Holder:  a.CivilName,
	}
	vm.Available, _, _ = reportMoney(a.Balances.AvailableAmount)
	vm.Blocked, _, _ = reportMoney(a.Balances.BlockedAmount)
	if a.Balances.AutomaticallyInvestedAmount.Amount != "" {
		vm.Invested, _, _ = reportMoney(a.Balances.AutomaticallyInvestedAmount)
	}
	for i := range a.TransactionDetails {
		t := &a.TransactionDetails[i]
		if t.Category != "" || t.Subcategory != "" || t.ThirdCategory != "" {
			vm.Categorized = true
			break
		}
	}
	ledger := accountLedger(a)
	vm.Insights = accountInsights(ledger, vm.Categorized)
	return preparedAccount{head: vm, ledger: ledger}
}

// page is the account k (1-based) with the page of its statement that q selects (its first page unless q names k).
func (pa *preparedAccount) page(reportID string, k int, q Query) views.AccountVM {
	vm := pa.head
	anchor := vm.Anchor
	ledger := pa.ledger
	total := len(ledger)
	pages := max(1, (total+q.PerPage-1)/q.PerPage)
	page := 1
	if q.Account == k {
		page = min(max(q.Page, 1), pages)
	}
	from := (page - 1) * q.PerPage
	to := min(from+q.PerPage, total)
	vm.Page = views.PageVM{Page: page, Pages: pages, Total: total}
	if total > 0 {
		vm.Page.From, vm.Page.To = from+1, to
	}
	if page > 1 {
		vm.Page.PrevURL = reportPageURL(reportID, k, page-1, q.PerPage, anchor)
	}
	if page < pages {
		vm.Page.NextURL = reportPageURL(reportID, k, page+1, q.PerPage, anchor)
	}
	vm.Rows = make([]views.TransactionRowVM, 0, to-from)
	for _, e := range ledger[from:to] {
		row := views.TransactionRowVM{
			Date:        txDate(e.tx),
			Description: taxid.MaskText(e.tx.TransactionName),
			Type:        cmp.Or(e.tx.Type, e.tx.SettlementType),
			Kind:        accountKind(e.tx.Type, e.tx.TransactionName, e.tx.CreditDebitType),
			Direction:   txDirection(e.tx.CreditDebitType),
			Category:    categoryPath(e.tx.Category, e.tx.Subcategory, e.tx.ThirdCategory),
			Future:      e.future,
			Amount:      "—",
		}
		if e.amountOK {
			row.Amount = views.BRLSigned(e.signed)
		}
		if e.balanceOK {
			row.Balance = views.BRL(e.balance)
		}
		vm.Rows = append(vm.Rows, row)
	}
	return vm
}

func reportPageURL(reportID string, account, page, perPage int, anchor string) string {
	v := url.Values{}
	v.Set("account", strconv.Itoa(account))
	v.Set("page", strconv.Itoa(page))
	if perPage != reportPerPageDefault {
		v.Set("per_page", strconv.Itoa(perPage))
	}
	return "/reports/" + url.PathEscape(reportID) + "?" + v.Encode() + "#" + anchor
}

func cardLastDigits(c *klavi.CreditCard) []string {
	var out []string
	seen := map[string]bool{}
	for _, pm := range c.PaymentMethods {
		if n := strings.TrimSpace(pm.IdentificationNumber); n != "" && !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

// usagePercent is used*100/limit rounded down and clamped to [0, 100], computed exactly on big integers (units
// can be large enough for used*100 to overflow int64).
func usagePercent(used, limit int64) int {
	if limit <= 0 {
		if used > 0 {
			return 100
		}
		return 0
	}
	if used <= 0 {
		return 0
	}
	p := new(big.Int).Mul(big.NewInt(used), big.NewInt(100))
	p.Quo(p, big.NewInt(limit))
	if !p.IsInt64() || p.Int64() > 100 {
		return 100
	}
	return int(p.Int64())
}

func buildCardVM(k int, c *klavi.CreditCard) views.CardVM {
	vm := views.CardVM{
		Anchor:      "card-" + strconv.Itoa(k),
		Name:        cmp.Or(c.Name, c.ProductType),
		Network:     c.CreditCardNetwork,
		Bank:        cmp.Or(c.BrandName, c.BacenName),
		Holder:      c.CivilName,
		ProductType: c.ProductType,
		LastDigits:  strings.Join(cardLastDigits(c), ", "),
	}
	if c.Limit != nil {
		var lim, used int64
		var okL, okU bool
		vm.HasLimit = true
		vm.Flexible = c.Limit.IsLimitFlexible
		vm.Limit, lim, okL = reportMoney(c.Limit.LimitAmount)
		vm.Used, used, okU = reportMoney(c.Limit.UsedAmount)
		vm.Available, _, _ = reportMoney(c.Limit.AvailableAmount)
		if okL && okU {
			vm.UsagePct = usagePercent(used, lim)
		}
		vm.UsageClass = views.UsageClass(vm.UsagePct)
	}
	vm.Insights = cardInsights(c)
	if c.OpenStatement != nil {
		b := buildBillVM(c.OpenStatement)
		vm.Open = &b
	}
	for i := range c.ClosedStatements {
		vm.Closed = append(vm.Closed, buildBillVM(&c.ClosedStatements[i]))
	}
	// Newest bill first, whatever order the bank sent them in: by month, then due date (ISO strings sort by time).
	slices.SortStableFunc(vm.Closed, func(a, b views.BillVM) int {
		return cmp.Or(cmp.Compare(b.Month, a.Month), cmp.Compare(b.DueDate, a.DueDate))
	})
	return vm
}

// cardSigned is a card transaction's amount with the same sign rule as accounts: DEBITO negative, anything else
// positive.
func cardSigned(t *klavi.CardTransaction) (int64, bool) {
	u, err := t.BrazilianAmount.Amount.Units()
	if err != nil {
		return 0, false
	}
	if u < 0 {
		if u == math.MinInt64 {
			return 0, false
		}
		u = -u
	}
	if t.CreditDebitType == "DEBITO" {
		u = -u
	}
	return u, true
}

func buildBillVM(s *klavi.Statement) views.BillVM {
	b := views.BillVM{Month: s.BillMonth, BillingDate: s.BillingDate, DueDate: s.DueDate}
	b.Total, _, _ = reportMoney(s.BillTotalAmount)
	if s.BillMinimumAmount != nil {
		b.Minimum, _, _ = reportMoney(*s.BillMinimumAmount)
	}
	for i := range s.TransactionDetails {
		t := &s.TransactionDetails[i]
		row := views.CardTransactionRowVM{
			Date:        cmp.Or(t.TransactionDate, t.BillPostDate),
			Description: taxid.MaskText(t.TransactionName),
			Type:        t.TransactionType,
			Kind:        cardKind(t.TransactionType, t.TransactionName, t.CreditDebitType, t.PayeeMCC),
			PaymentType: t.PaymentType,
			Brand:       t.Brand,
			Category:    categoryPath(t.Category, t.Subcategory, t.ThirdCategory),
			Direction:   txDirection(t.CreditDebitType),
			Amount:      "—",
		}
		if row.Date == "" && len(t.TransactionDateTime) >= 10 {
			row.Date = t.TransactionDateTime[:10]
		}
		if t.PayeeMCC > 0 {
			row.MCC = strconv.Itoa(t.PayeeMCC)
			row.MCCName = mccGroup(t.PayeeMCC)
		}
		if t.PaymentType == "A_PRAZO" && t.ChargeNumber > 0 && t.ChargeIdentificator != "" {
			row.Installment = t.ChargeIdentificator + "/" + strconv.Itoa(t.ChargeNumber)
		}
		if u, ok := cardSigned(t); ok {
			row.Amount = views.BRLSigned(u)
		}
		b.Rows = append(b.Rows, row)
	}
	// Newest charge first, like an account statement.
	slices.SortStableFunc(b.Rows, func(x, y views.CardTransactionRowVM) int { return cmp.Compare(y.Date, x.Date) })
	return b
}

// csvHeader is the first line of the transactions CSV.
var csvHeader = []string{"product", "account", "date", "description", "type", "credit_debit", "amount", "running_balance"}

// txRow is one transaction as the exports write it: text already masked (CPF/CNPJ) but not yet protected against
// formula injection (each writer applies spreadsheetText to its text cells), money in units (1/10000).
type txRow struct {
	product, account, date, description, kind, creditDebit string
	amount, balance                                        int64
	amountOK, balanceOK                                    bool
}

// transactionRows lists every account transaction (checking then savings, newest first, with the running balance
// of the page) and every credit card transaction (open bill, then closed bills). Amounts are signed: DEBITO
// negative. A nil rep gives none.
func transactionRows(rep *klavi.Report) []txRow {
	if rep == nil {
		return nil
	}
	var rows []txRow
	accounts := func(list []klavi.Account) {
		for i := range list {
			a := &list[i]
			name := strings.TrimSpace(cmp.Or(a.BrandName, a.BacenName) + " " + accountRef(a))
			for _, e := range accountLedger(a) {
				rows = append(rows, txRow{product: rep.ProductName, account: name, date: txDate(e.tx),
					description: taxid.MaskText(e.tx.TransactionName), kind: cmp.Or(e.tx.Type, e.tx.SettlementType),
					creditDebit: e.tx.CreditDebitType, amount: e.signed, amountOK: e.amountOK,
					balance: e.balance, balanceOK: e.balanceOK})
			}
		}
	}
	accounts(rep.CheckingAccounts)
	accounts(rep.SavingsAccounts)
	for i := range rep.CreditCards {
		c := &rep.CreditCards[i]
		name := cmp.Or(c.Name, c.ProductType)
		if d := cardLastDigits(c); len(d) > 0 {
			name += " ****" + d[0]
		}
		var stmts []*klavi.Statement
		if c.OpenStatement != nil {
			stmts = append(stmts, c.OpenStatement)
		}
		for j := range c.ClosedStatements {
			stmts = append(stmts, &c.ClosedStatements[j])
		}
		for _, st := range stmts {
			for j := range st.TransactionDetails {
				t := &st.TransactionDetails[j]
				r := txRow{product: rep.ProductName, account: name, date: cmp.Or(t.TransactionDate, t.BillPostDate),
					description: taxid.MaskText(t.TransactionName), kind: t.TransactionType,
					creditDebit: t.CreditDebitType}
				r.amount, r.amountOK = cardSigned(t)
				rows = append(rows, r)
			}
		}
	}
	return rows
}

// WriteTransactionsCSV writes the transactions of rep (see transactionRows) as RFC 4180 CSV for programs: comma
// separated, ISO dates, amounts as signed decimals with '.' (DEBITO negative), at least 2 decimals and up to
// Klavi's 4, so nothing is rounded away. Text cells are protected against spreadsheet formula injection; amounts
// are not (they are numbers and must stay numbers). Descriptions have CPF/CNPJ masked, like the page. A nil rep
// gives the header only. It returns the first error of w.
func WriteTransactionsCSV(w io.Writer, rep *klavi.Report) error {
	return writeCSV(w, rep, ',', csvHeader, csvDecimal, func(d string) string { return d })
}

// csvHeaderBR is the header of the "Excel (Brasil)" dialect, in Portuguese like the spreadsheet it opens in.
var csvHeaderBR = []string{"produto", "conta", "data", "descrição", "tipo", "crédito/débito", "valor", "saldo"}

// WriteTransactionsCSVBR writes the same rows in the dialect a spreadsheet set to Portuguese (Brazil) opens
// without an import dialog: a UTF-8 byte order mark (so accents survive), ';' as separator, decimal comma with no
// thousands separator (so cells are numbers), dates as dd/mm/aaaa.
func WriteTransactionsCSVBR(w io.Writer, rep *klavi.Report) error {
	if _, err := io.WriteString(w, "\ufeff"); err != nil {
		return err
	}
	return writeCSV(w, rep, ';', csvHeaderBR,
		func(u int64) string { return strings.Replace(csvDecimal(u), ".", ",", 1) }, views.DateBR)
}

func writeCSV(w io.Writer, rep *klavi.Report, comma rune, header []string, money func(int64) string,
	date func(string) string) error {
	cw := csv.NewWriter(w)
	cw.Comma = comma
	if err := cw.Write(header); err != nil {
		return err
	}
	for _, r := range transactionRows(rep) {
		rec := []string{spreadsheetText(r.product), spreadsheetText(r.account), spreadsheetText(date(r.date)), spreadsheetText(r.description),
			spreadsheetText(r.kind), spreadsheetText(r.creditDebit), "", ""}
		if r.amountOK {
			rec[6] = money(r.amount)
		}
		if r.balanceOK {
			rec[7] = money(r.balance)
		}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// isoDate reads the date part of "2026-03-14" or "2026-03-14T10:00:00Z".
func isoDate(s string) (time.Time, bool) {
	if len(s) < 10 {
		return time.Time{}, false
	}
	t, err := time.Parse(time.DateOnly, s[:10])
	return t, err == nil
}

// accountRef is "0001/12345-6" (branch/number-digit).
func accountRef(a *klavi.Account) string {
	n := accountNumber(a)
	if a.BranchCode == "" {
		return n
	}
	return a.BranchCode + "/" + n
}

// spreadsheetText neutralises a text cell that a spreadsheet would read as a formula (OWASP "CSV injection"). A
// formula can start a cell, or any piece of it that a spreadsheet splits off: pt-BR spreadsheets split on ';',
// others on ',', tab or '|', and encoding/csv quotes none of ';', tab or '|'; in a workbook, "Text to Columns"
// splits a text cell the same way and reads each piece afresh. So every piece that starts (after spaces) with
// = + - @, or with tab or carriage return (which some spreadsheets skip before one), gets a ' in front:
// "PIX;=cmd|' /C calc'!A0" becomes "PIX;'=cmd|' /C calc'!A0". All three exports use it, so they hold the same text.
func spreadsheetText(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	start := true // at the start of the cell or of a piece after a separator
	for _, r := range s {
		if start && strings.ContainsRune("=+-@\t\r", r) {
			b.WriteByte('\'')
		}
		b.WriteRune(r)
		start = strings.ContainsRune(",;\t|\n", r) || start && r == ' '
	}
	return b.String()
}

// csvDecimal formats units (1/10000) as a plain signed decimal with '.', keeping 2 to 4 decimals: 10000400 →
// "1000.04", -5 → "-0.0005", 0 → "0.00".
func csvDecimal(u int64) string {
	s := string(klavi.FormatUnits(u))
	for strings.HasSuffix(s, "0") && len(s)-strings.IndexByte(s, '.') > 3 {
		s = s[:len(s)-1]
	}
	return s
}
