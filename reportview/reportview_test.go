package reportview

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/klavi-demo/portal/klavi"
	"github.com/klavi-demo/portal/views"
)

var reportReceivedAt = time.Date(2026, 11, 25, 10, 20, 5, 0, time.UTC)

// loadReportFixture reads testdata/<name>.json and returns it as the store would keep it plus its parsed form.
func loadReportFixture(t *testing.T, name string) (Stored, *klavi.Report) {
	t.Helper()
	body, err := os.ReadFile(filepath.Join("testdata", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	rep, err := klavi.ParseReport(body)
	if err != nil {
		t.Fatalf("ParseReport(%s): %v", name, err)
	}
	return Stored{
		ID: rep.ProductReportID, RequestID: rep.RequestID, ProductName: rep.ProductName,
		ProductVersion: rep.ProductVersion, Code: rep.Code, Message: rep.Message,
		ReceivedAt: reportReceivedAt, Raw: body,
	}, rep
}

func defaultReportQuery() Query { return ParseQuery(url.Values{}) }

func TestParseReportQuery(t *testing.T) {
	tests := []struct {
		query string
		want  Query
	}{
		{"", Query{0, 1, 50}},
		{"account=2&page=3", Query{2, 3, 50}},
		{"account=abc&page=xyz", Query{0, 1, 50}},
		{"account=-1&page=-5", Query{0, 1, 50}},
		{"account=0&page=0", Query{0, 1, 50}},
		{"account=99999999999999999999&page=99999999999999999999", Query{0, 1, 50}},
		{"account=3&page=2000000000", Query{3, reportMaxPage, 50}},
		{"account=1.5&page=2e3", Query{0, 1, 50}},
		{"account=+4&page=%20%207%20", Query{4, 7, 50}},
		{"per_page=20", Query{0, 1, 20}},
		{"per_page=1", Query{0, 1, reportPerPageMin}},
		{"per_page=100000", Query{0, 1, reportPerPageMax}},
		{"per_page=-3", Query{0, 1, 50}},
		{"per_page=x", Query{0, 1, 50}},
		{"account=1&account=2&page=2&page=9", Query{1, 2, 50}}, // first value wins
	}
	for _, tt := range tests {
		v, err := url.ParseQuery(tt.query)
		if err != nil {
			t.Fatal(err)
		}
		if got := ParseQuery(v); got != tt.want {
			t.Errorf("ParseQuery(%q) = %+v, want %+v", tt.query, got, tt.want)
		}
	}
	if got := ParseQuery(nil); got != (Query{0, 1, 50}) {
		t.Errorf("ParseQuery(nil) = %+v", got)
	}
}

func TestBuildReportVMChecking(t *testing.T) {
	r, rep := loadReportFixture(t, "report_pf_checking_account")
	vm := Build(r, rep, defaultReportQuery())

	if !vm.Known || vm.Unreadable || vm.Status != views.ReportOK {
		t.Fatalf("Known=%v Unreadable=%v Status=%v", vm.Known, vm.Unreadable, vm.Status)
	}
	if vm.ID != "3f1c8a52-7d4e-4b8f-9a61-0c2d5e6f7a81" || vm.ProductName != "pf_checking_account" ||
		vm.ProductVersion != "V1" || vm.RequestID != "xxxsssaa" || vm.ReportTime != "2019-12-23T06:10:43" {
		t.Errorf("envelope = %+v", vm)
	}
	if vm.JSONURL != "/reports/3f1c8a52-7d4e-4b8f-9a61-0c2d5e6f7a81/report.json" ||
		vm.CSVURL != "/reports/3f1c8a52-7d4e-4b8f-9a61-0c2d5e6f7a81/transactions.csv" {
		t.Errorf("urls = %q %q", vm.JSONURL, vm.CSVURL)
	}
	if len(vm.Accounts) != 1 || len(vm.Cards) != 0 {
		t.Fatalf("accounts=%d cards=%d", len(vm.Accounts), len(vm.Cards))
	}
	a := vm.Accounts[0]
	if a.Bank != "Organização A" || a.Branch != "6272" || a.Number != "94088392-4" || a.Subtype != "INDIVIDUAL" ||
		a.Holder != "Mike" || a.Savings || a.Categorized || a.Anchor != "account-1" {
		t.Errorf("account = %+v", a)
	}
	if a.Available != "R$ 1.000,04" || a.Blocked != "R$ 0,00" || a.Invested != "R$ 1.000,04" {
		t.Errorf("balances = %q %q %q", a.Available, a.Blocked, a.Invested)
	}
	if a.Page != (views.PageVM{Page: 1, Pages: 1, From: 1, To: 2, Total: 2}) {
		t.Errorf("page = %+v", a.Page)
	}
	want := []views.TransactionRowVM{
		// newest first; no postTransactionBalance: the newest row ends at the available balance …
		{Date: "2021-01-07", Description: "TRANSFCWAMGQGWKDSOAJHNRHBOMRYEYWTWY", Type: "PIX", Amount: "-R$ 1.000,04",
			Direction: views.Debit, Balance: "R$ 1.000,04"},
		// … and the older one is computed backwards: 1000.04 + 1000.04. The CPF in the description is masked.
		{Date: "2021-01-05", Description: "PIX RECEBIDO ***.982.247-**", Type: "TED", Amount: "+R$ 500,00",
			Direction: views.Credit, Balance: "R$ 2.000,08"},
	}
	if len(a.Rows) != len(want) {
		t.Fatalf("rows = %+v", a.Rows)
	}
	for i := range want {
		if a.Rows[i] != want[i] {
			t.Errorf("row %d = %+v, want %+v", i, a.Rows[i], want[i])
		}
	}

	// Raw JSON: pretty-printed and masked (enquiryCpf 76109277673 and the partie CPF are valid CPFs).
	for _, leak := range []string{"76109277673", "52998224725", "529.982.247-25"} {
		if strings.Contains(vm.RawJSON, leak) {
			t.Errorf("raw JSON leaks %s", leak)
		}
	}
	if !strings.Contains(vm.RawJSON, "\n  \"productName\": \"pf_checking_account\"") || vm.RawTruncated {
		t.Errorf("raw JSON not indented or truncated: %.200s", vm.RawJSON)
	}
}

func TestBuildReportVMCategorized(t *testing.T) {
	r, rep := loadReportFixture(t, "report_pf_categorized_checking_l3")
	vm := Build(r, rep, defaultReportQuery())
	if !vm.Known || len(vm.Accounts) != 1 {
		t.Fatalf("vm = %+v", vm)
	}
	a := vm.Accounts[0]
	if !a.Categorized || a.Number != "12345-6" || a.Blocked != "R$ 10,50" || a.Invested != "R$ 0,00" {
		t.Errorf("account = %+v", a)
	}
	type row struct{ date, amount, balance, category, typ string }
	want := []row{
		// no postTransactionBalance: from the available balance 3550.00
		{"2021-02-02", "-R$ 50,00", "R$ 3.550,00", "Alimentação › Supermercado › Mercado", "BOLETO"},
		// postTransactionBalance "3600.00"
		{"2021-02-01", "+R$ 3.500,00", "R$ 3.600,00", "Renda › Renda ativa › Salário", "PIX"},
		// postTransactionBalance "100.00" wins over the backwards computation (3600 - 3500 = 100 anyway)
		{"2021-01-31", "-R$ 20,00", "R$ 100,00", "Tarifas › Bancárias › Pacote", "TARIFA_SERVICOS_AVULSOS"},
	}
	if len(a.Rows) != len(want) {
		t.Fatalf("rows = %+v", a.Rows)
	}
	for i, w := range want {
		got := a.Rows[i]
		if got.Date != w.date || got.Amount != w.amount || got.Balance != w.balance || got.Category != w.category ||
			got.Type != w.typ {
			t.Errorf("row %d = %+v, want %+v", i, got, w)
		}
	}
}

func TestAccountLedgerReanchorsOnPostBalance(t *testing.T) {
	// The bank's postTransactionBalance is trusted over our arithmetic, and older rows continue from it.
	a := &klavi.Account{
		Balances: klavi.Balances{AvailableAmount: klavi.Money{Amount: "100.0000"}},
		TransactionDetails: []klavi.Transaction{
			{TransactionDate: "2021-01-01", CreditDebitType: "CREDITO", TransactionAmount: klavi.Money{Amount: "10.00"}},
			{TransactionDate: "2021-01-02", CreditDebitType: "DEBITO", TransactionAmount: klavi.Money{Amount: "5.00"},
				PostTransactionBalance: "70.00"},
			{TransactionDate: "2021-01-03", CreditDebitType: "CREDITO", TransactionAmount: klavi.Money{Amount: "bad"}},
			{TransactionDate: "2021-01-04", CreditDebitType: "DEBITO", TransactionAmount: klavi.Money{Amount: "1.00"}},
		},
	}
	l := accountLedger(a)
	type got struct {
		date    string
		balance int64
		ok      bool
	}
	want := []got{
		{"2021-01-04", 1000000, true}, // available
		{"2021-01-03", 1010000, true}, // 100 + 1
		{"2021-01-02", 700000, true},  // malformed amount above breaks the chain; post balance re-anchors
		{"2021-01-01", 750000, true},  // 70 + 5
	}
	for i, w := range want {
		e := l[i]
		if e.tx.TransactionDate != w.date || e.balance != w.balance || e.balanceOK != w.ok {
			t.Errorf("entry %d = %s %d %v, want %+v", i, e.tx.TransactionDate, e.balance, e.balanceOK, w)
		}
	}

	// Without any anchor (available balance malformed) no balance is invented.
	a.Balances.AvailableAmount.Amount = ""
	a.TransactionDetails[1].PostTransactionBalance = ""
	for i, e := range accountLedger(a) {
		if e.balanceOK {
			t.Errorf("entry %d has a balance %d without an anchor", i, e.balance)
		}
	}
}

func TestBuildReportVMCreditCard(t *testing.T) {
	r, rep := loadReportFixture(t, "report_pf_credit_card")
	vm := Build(r, rep, defaultReportQuery())
	if !vm.Known || len(vm.Accounts) != 0 || len(vm.Cards) != 1 {
		t.Fatalf("vm = %+v", vm)
	}
	c := vm.Cards[0]
	if c.Name != "Cartão Universitário" || c.Network != "VISA" || c.LastDigits != "4453" || c.Bank != "Organização A" ||
		c.Holder != "Mike" || c.Anchor != "card-1" {
		t.Errorf("card = %+v", c)
	}
	if !c.HasLimit || !c.Flexible || c.Limit != "R$ 1.000,04" || c.Used != "R$ 1.000,04" ||
		c.Available != "R$ 1.000,04" || c.UsagePct != 100 || c.UsageClass != "usage-100" {
		t.Errorf("limit = %+v", c)
	}
	if c.Open == nil {
		t.Fatal("no open bill")
	}
	o := c.Open
	if o.Month != "2021-05" || o.BillingDate != "2021-05-10" || o.DueDate != "2021-05-21" || o.Total != "R$ 1.000,04" ||
		o.Minimum != "" || len(o.Rows) != 1 {
		t.Errorf("open bill = %+v", o)
	}
	wantRow := views.CardTransactionRowVM{Date: "2021-05-01", Description: "PGTO", Type: "CASHBACK", PaymentType: "A_VISTA",
		MCC: "5137", MCCName: "mcc.shopping", Amount: "-R$ 1.000,04", Direction: views.Debit}
	if o.Rows[0] != wantRow {
		t.Errorf("open bill row = %+v, want %+v", o.Rows[0], wantRow)
	}
	if len(c.Closed) != 1 || c.Closed[0].Month != "2021-04" || c.Closed[0].DueDate != "2021-04-21" ||
		c.Closed[0].Total != "R$ 1.000,04" || c.Closed[0].Minimum != "R$ 1.000,04" {
		t.Errorf("closed = %+v", c.Closed)
	}
}

func TestUsagePercent(t *testing.T) {
	tests := []struct {
		used, limit int64
		want        int
	}{
		{0, 0, 0}, {1, 0, 100}, {0, 100, 0}, {-5, 100, 0}, {25, 100, 25}, {999, 1000, 99}, {2000, 1000, 100},
		{9_000_000_000_000_000_000, 9_100_000_000_000_000_000, 98}, // used*100 overflows int64
	}
	for _, tt := range tests {
		if got := usagePercent(tt.used, tt.limit); got != tt.want {
			t.Errorf("usagePercent(%d, %d) = %d, want %d", tt.used, tt.limit, got, tt.want)
		}
	}
}

func TestBuildReportVMPagination(t *testing.T) {
	r, rep := loadReportFixture(t, "report_large_checking")
	id := r.ID
	tests := []struct {
		name           string
		q              Query
		page, from, to int
		prev, next     string
	}{
		{"default", defaultReportQuery(), 1, 1, 50, "", "/reports/" + id + "?account=1&page=2#account-1"},
		{"page 2", Query{1, 2, 50}, 2, 51, 100,
			"/reports/" + id + "?account=1&page=1#account-1", "/reports/" + id + "?account=1&page=3#account-1"},
		{"last page", Query{1, 3, 50}, 3, 101, 121, "/reports/" + id + "?account=1&page=2#account-1", ""},
		{"beyond the end", Query{1, 99, 50}, 3, 101, 121, "/reports/" + id + "?account=1&page=2#account-1", ""},
		{"other account", Query{2, 3, 50}, 1, 1, 50, "", "/reports/" + id + "?account=1&page=2#account-1"},
		{"per page 20", Query{1, 2, 20}, 2, 21, 40,
			"/reports/" + id + "?account=1&page=1&per_page=20#account-1", "/reports/" + id + "?account=1&page=3&per_page=20#account-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vm := Build(r, rep, tt.q)
			if len(vm.Accounts) != 2 {
				t.Fatalf("accounts = %d", len(vm.Accounts))
			}
			a := vm.Accounts[0]
			p := a.Page
			if p.Total != 121 || p.Page != tt.page || p.From != tt.from || p.To != tt.to || p.PrevURL != tt.prev ||
				p.NextURL != tt.next {
				t.Errorf("page = %+v, want page %d %d–%d prev %q next %q", p, tt.page, tt.from, tt.to, tt.prev, tt.next)
			}
			if len(a.Rows) != tt.to-tt.from+1 {
				t.Errorf("rows = %d", len(a.Rows))
			}
			s := vm.Accounts[1]
			if !s.Savings || s.Anchor != "account-2" || s.Page.Total != 1 || s.Page.Pages != 1 || s.Page.NextURL != "" ||
				s.Rows[0].Amount != "+R$ 12,35" || s.Rows[0].Balance != "R$ 50.000,00" {
				t.Errorf("savings = %+v", s)
			}
		})
	}

	vm := Build(r, rep, defaultReportQuery())
	rows := vm.Accounts[0].Rows
	if rows[0].Date != "2021-06-15" || !rows[0].Future || rows[0].Balance != "" {
		t.Errorf("scheduled entry first, without balance: %+v", rows[0])
	}
	// Newest real transaction (2021-04-30, i=119, DEBITO 10.00+119*1.37=173.03) ends at the available balance.
	if rows[1].Date != "2021-04-30" || rows[1].Amount != "-R$ 173,03" || rows[1].Balance != "R$ 1.234,56" {
		t.Errorf("newest row = %+v", rows[1])
	}
	if rows[2].Balance != "R$ 1.407,59" { // 1234.56 + 173.03
		t.Errorf("second row balance = %+v", rows[2])
	}
}

func TestBuildReportVMStatesAndUnknown(t *testing.T) {
	r, rep := loadReportFixture(t, "report_pf_checking_account")

	partial := r
	partial.Code = 204
	if vm := Build(partial, rep, defaultReportQuery()); vm.Status != views.ReportPartial || !vm.HasData() {
		t.Errorf("204: status %v data %v", vm.Status, vm.HasData())
	}

	failed, failedRep := r, *rep
	failed.Code, failed.Message = 5001, "erro no banco"
	failedRep.CheckingAccounts = nil
	vm := Build(failed, &failedRep, defaultReportQuery())
	if vm.Status != views.ReportFailed || vm.HasData() || vm.Message != "erro no banco" || vm.Code != 5001 {
		t.Errorf("failed: %+v", vm)
	}

	unknown, unknownRep := r, *rep
	unknown.ProductName, unknownRep.ProductName = "pj_loans", "pj_loans"
	vm = Build(unknown, &unknownRep, defaultReportQuery())
	if vm.Known || vm.HasData() || vm.RawJSON == "" || vm.Unreadable {
		t.Errorf("unknown product: Known=%v data=%v raw=%d", vm.Known, vm.HasData(), len(vm.RawJSON))
	}

	bad := Stored{ID: "x/y", ProductName: "pf_checking_account", Code: 200, Raw: []byte("not json 52998224725")}
	vm = Build(bad, nil, defaultReportQuery())
	if !vm.Unreadable || vm.HasData() || vm.RawJSON != "not json ***.982.247-**" {
		t.Errorf("unreadable: %+v", vm)
	}
	if vm.JSONURL != "/reports/x%2Fy/report.json" {
		t.Errorf("id not escaped in url: %q", vm.JSONURL)
	}
}

func TestRawForDisplayTruncates(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"ids":[`)
	for i := 0; b.Len() < rawDisplayMax+1000; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`"52998224725"`)
	}
	b.WriteString("]}")
	s, truncated := rawForDisplay([]byte(b.String()), false)
	if !truncated || len(s) > rawDisplayMax || strings.Contains(s, "52998224725") || strings.Contains(s, "4725") {
		t.Errorf("truncated=%v len=%d leak=%v", truncated, len(s), strings.Contains(s, "4725"))
	}
	if s, truncated := rawForDisplay(nil, false); s != "" || truncated {
		t.Errorf("empty body: %q %v", s, truncated)
	}
}

func TestDecimal(t *testing.T) {
	for u, want := range map[int64]string{0: "0.00", 10000400: "1000.04", -10000400: "-1000.04", -5: "-0.0005",
		123456: "12.3456", 10: "0.001", 100: "0.01", -1000000: "-100.00"} {
		if got := csvDecimal(u); got != want {
			t.Errorf("csvDecimal(%d) = %q, want %q", u, got, want)
		}
	}
}

func TestCSVText(t *testing.T) {
	for in, want := range map[string]string{"": "", "PIX": "PIX", "=1+1": "'=1+1", "+SUM(A1)": "'+SUM(A1)",
		"-2+3": "'-2+3", "@cmd": "'@cmd", "\tx": "'\tx", "\rx": "'\rx", "a=b": "a=b",
		// Pieces a spreadsheet splits off at ; , tab or | are guarded too, after any spaces.
		"PIX;=cmd|' /C calc'!A0": "PIX;'=cmd|' /C calc'!A0", "a, +1": "a, '+1", "a|@x": "a|'@x",
		"a\t=1": "a\t'=1", "  =1": "  '=1", "a - b": "a - b", "R$ -5,00": "R$ -5,00"} {
		if got := spreadsheetText(in); got != want {
			t.Errorf("spreadsheetText(%q) = %q, want %q", in, got, want)
		}
	}
}

func readTransactionsCSV(t *testing.T, rep *klavi.Report) [][]string {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteTransactionsCSV(&buf, rep); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatalf("CSV does not parse back: %v", err)
	}
	if strings.Join(recs[0], ",") != "product,account,date,description,type,credit_debit,amount,running_balance" {
		t.Fatalf("header = %v", recs[0])
	}
	return recs
}

func TestWriteTransactionsCSV(t *testing.T) {
	_, rep := loadReportFixture(t, "report_large_checking")
	recs := readTransactionsCSV(t, rep)
	if len(recs) != 1+121+1 {
		t.Fatalf("records = %d", len(recs))
	}
	var prevBalance int64
	havePrev := false
	injections := 0
	for i, rec := range recs[1:] {
		if rec[0] != "pf_checking_account" {
			t.Fatalf("row %d product %q", i, rec[0])
		}
		desc := rec[3]
		if strings.HasPrefix(desc, "'") {
			injections++
		} else if desc != "" && strings.ContainsRune("=+-@\t\r", rune(desc[0])) {
			t.Errorf("row %d: unguarded formula %q", i, desc)
		}
		amt, err := klavi.Amount(rec[6]).Units()
		if err != nil {
			t.Fatalf("row %d amount %q: %v", i, rec[6], err)
		}
		if (rec[5] == "DEBITO") != (amt < 0) {
			t.Errorf("row %d: %s with amount %q", i, rec[5], rec[6])
		}
		if rec[1] != "Banco Grande 0042/777888-9" {
			continue // the savings account
		}
		if rec[7] == "" { // the scheduled entry
			if desc != "AGENDADO CONTA LUZ" {
				t.Errorf("row %d: no running balance for %q", i, desc)
			}
			continue
		}
		bal, err := klavi.Amount(rec[7]).Units()
		if err != nil {
			t.Fatalf("row %d balance %q: %v", i, rec[7], err)
		}
		// Newest first: the previous (newer) row's balance minus its amount is this row's balance.
		if havePrev && prevBalance != bal {
			t.Errorf("row %d: balance %d, want %d", i, bal, prevBalance)
		}
		if !havePrev && rec[7] != "1234.56" {
			t.Errorf("first balance = %q", rec[7])
		}
		prevBalance, havePrev = bal-amt, true
	}
	if injections != 5 {
		t.Errorf("guarded rowCells = %d, want 5", injections)
	}
	last := recs[len(recs)-1]
	if last[1] != "Banco Grande 0042/555-1" || last[6] != "12.3456" || last[7] != "50000.00" {
		t.Errorf("savings row = %v", last)
	}

	// Credit card transactions, with the signed decimal amount and no running balance.
	_, card := loadReportFixture(t, "report_pf_credit_card")
	recs = readTransactionsCSV(t, card)
	want := []string{"pf_credit_card", "Cartão Universitário ****4453", "2021-05-01", "PGTO", "CASHBACK", "DEBITO", "-1000.04", ""}
	if len(recs) != 2 || strings.Join(recs[1], "|") != strings.Join(want, "|") {
		t.Errorf("card CSV = %v", recs)
	}

	// Masking and the account columns of the spec sample.
	_, chk := loadReportFixture(t, "report_pf_checking_account")
	recs = readTransactionsCSV(t, chk)
	if len(recs) != 3 || recs[2][3] != "PIX RECEBIDO ***.982.247-**" || recs[1][1] != "Organização A 6272/94088392-4" ||
		recs[1][6] != "-1000.04" || recs[1][7] != "1000.04" || recs[2][7] != "2000.08" {
		t.Errorf("checking CSV = %v", recs)
	}

	if recs := readTransactionsCSV(t, nil); len(recs) != 1 {
		t.Errorf("nil report: %v", recs)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteTransactionsCSVReportsWriteErrors(t *testing.T) {
	_, rep := loadReportFixture(t, "report_large_checking")
	if err := WriteTransactionsCSV(failingWriter{}, rep); err == nil {
		t.Error("write error not returned")
	}
}

func renderReportDoc(t *testing.T, lang views.Lang, vm views.ReportVM) (*goquery.Document, string) {
	t.Helper()
	var buf bytes.Buffer
	ctx := views.WithLang(context.Background(), lang)
	if err := views.ReportBody(vm).Render(ctx, &buf); err != nil {
		t.Fatal(err)
	}
	html := buf.String()
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(html))
	if err != nil {
		t.Fatal(err)
	}
	return doc, html
}

func countTestID(doc *goquery.Document, id string) int {
	return doc.Find(`[data-testid="` + id + `"]`).Length()
}

func testIDText(doc *goquery.Document, id string) string {
	return strings.Join(strings.Fields(doc.Find(`[data-testid="`+id+`"]`).First().Text()), " ")
}

// rowCells is a table row's cell texts joined with " | ".
func rowCells(tr *goquery.Selection) string {
	var out []string
	tr.Children().Each(func(_ int, c *goquery.Selection) {
		out = append(out, strings.Join(strings.Fields(c.Text()), " "))
	})
	return strings.Join(out, " | ")
}

func TestReportBodyRendersChecking(t *testing.T) {
	r, rep := loadReportFixture(t, "report_pf_checking_account")
	doc, html := renderReportDoc(t, views.PT, Build(r, rep, defaultReportQuery()))

	if got := testIDText(doc, "report-product"); !strings.Contains(got, "Conta corrente (PF)") ||
		!strings.Contains(got, "pf_checking_account") {
		t.Errorf("report-product = %q", got)
	}
	for id, n := range map[string]int{"account": 1, "account-balance": 1, "transactions-table": 1, "transaction-row": 2,
		"raw-json": 1, "download-json": 1, "download-csv": 1, "page-next": 0, "page-prev": 0, "card": 0} {
		if got := countTestID(doc, id); got != n {
			t.Errorf("%s countTestID = %d, want %d", id, got, n)
		}
	}
	if got := testIDText(doc, "account-balance"); got != "R$ 1.000,04" {
		t.Errorf("account-balance = %q", got)
	}
	row := doc.Find(`[data-testid="transaction-row"]`).First()
	if got := rowCells(row); got != "07/01/2021 | TRANSFCWAMGQGWKDSOAJHNRHBOMRYEYWTWY | Pix | -R$ 1.000,04 | R$ 1.000,04" {
		t.Errorf("first row = %q", got)
	}
	if !row.Find("td.amount").HasClass("debit") {
		t.Error("debit amount not marked debit")
	}
	if !doc.Find(`[data-testid="transaction-row"]`).Eq(1).Find("td.amount").HasClass("credit") {
		t.Error("credit amount not marked credit")
	}
	if goquery.NodeName(doc.Find(`[data-testid="raw-json"]`)) != "details" ||
		doc.Find(`[data-testid="raw-json"] > summary`).Length() != 1 {
		t.Error("raw-json is not a details/summary")
	}
	if href, _ := doc.Find(`[data-testid="download-csv"]`).Attr("href"); href != "/reports/3f1c8a52-7d4e-4b8f-9a61-0c2d5e6f7a81/transactions.csv" {
		t.Errorf("download-csv href = %q", href)
	}
	if doc.Find(`table[data-testid="transactions-table"] caption`).Length() != 1 ||
		doc.Find(`table[data-testid="transactions-table"] th[scope="col"]`).Length() != 5 {
		t.Error("statement table lacks caption or column headers")
	}
	for _, leak := range []string{"76109277673", "52998224725", "529.982.247-25"} {
		if strings.Contains(html, leak) {
			t.Errorf("page leaks %s", leak)
		}
	}
	if strings.Contains(html, "style=") {
		t.Error("inline style (blocked by the CSP)")
	}
	if strings.Contains(html, "rpt.") {
		t.Errorf("untranslated key in page: %s", html[strings.Index(html, "rpt."):][:40])
	}

	// English
	doc, html = renderReportDoc(t, views.EN, Build(r, rep, defaultReportQuery()))
	if got := testIDText(doc, "report-product"); !strings.Contains(got, "Checking account (personal)") {
		t.Errorf("English report-product = %q", got)
	}
	if got := testIDText(doc, "account-balance"); got != "R$ 1.000,04" {
		t.Errorf("English account-balance = %q", got)
	}
	if !strings.Contains(html, "2021-01-07") || !strings.Contains(html, "Available balance") || strings.Contains(html, "rpt.") {
		t.Error("English page not translated")
	}
}

func TestReportBodyRendersPagination(t *testing.T) {
	r, rep := loadReportFixture(t, "report_large_checking")
	doc, _ := renderReportDoc(t, views.PT, Build(r, rep, defaultReportQuery()))
	if got := countTestID(doc, "account"); got != 2 {
		t.Fatalf("accounts = %d", got)
	}
	if got := doc.Find(`#account-1 [data-testid="transaction-row"]`).Length(); got != 50 {
		t.Errorf("rows on page 1 = %d", got)
	}
	if countTestID(doc, "page-prev") != 0 || countTestID(doc, "page-next") != 1 {
		t.Errorf("page links: prev %d next %d", countTestID(doc, "page-prev"), countTestID(doc, "page-next"))
	}
	if href, _ := doc.Find(`[data-testid="page-next"]`).Attr("href"); href != "/reports/big-0000-4000-8000-000000000120?account=1&page=2#account-1" {
		t.Errorf("page-next href = %q", href)
	}
	if got := doc.Find(`#account-1 [data-testid="page-showing"]`).Text(); !strings.Contains(got, "Mostrando 1–50 de 121") {
		t.Errorf("showing = %q", got)
	}

	doc, _ = renderReportDoc(t, views.PT, Build(r, rep, Query{Account: 1, Page: 3, PerPage: 50}))
	if got := doc.Find(`#account-1 [data-testid="transaction-row"]`).Length(); got != 21 {
		t.Errorf("rows on page 3 = %d", got)
	}
	if countTestID(doc, "page-prev") != 1 || countTestID(doc, "page-next") != 0 {
		t.Errorf("last page links: prev %d next %d", countTestID(doc, "page-prev"), countTestID(doc, "page-next"))
	}
	// The formula-looking descriptions are just testIDText in HTML (escaped by templ).
	doc, _ = renderReportDoc(t, views.PT, Build(r, rep, Query{Account: 1, Page: 3, PerPage: 50}))
	if !strings.Contains(doc.Find(`#account-1`).Text(), `=HYPERLINK("http://x")`) {
		t.Error("description not shown as text")
	}
}

func TestReportBodyRendersCard(t *testing.T) {
	r, rep := loadReportFixture(t, "report_pf_credit_card")
	doc, _ := renderReportDoc(t, views.PT, Build(r, rep, defaultReportQuery()))
	for id, n := range map[string]int{"card": 1, "card-limit": 1, "bill-open": 1, "bill-closed": 1, "account": 0,
		"card-transaction-row": 1} {
		if got := countTestID(doc, id); got != n {
			t.Errorf("%s countTestID = %d, want %d", id, got, n)
		}
	}
	if got := testIDText(doc, "card-limit-total"); got != "R$ 1.000,04" {
		t.Errorf("card limit = %q", got)
	}
	if v, _ := doc.Find(`[data-testid="card-limit"] meter`).Attr("value"); v != "100" {
		t.Errorf("meter value = %q", v)
	}
	if got := testIDText(doc, "bill-open"); !strings.Contains(got, "05/2021") || !strings.Contains(got, "21/05/2021") ||
		!strings.Contains(got, "5137") || !strings.Contains(got, "-R$ 1.000,04") {
		t.Errorf("bill-open = %q", got)
	}
	if got := rowCells(doc.Find(`[data-testid="bill-closed"]`)); got != "04/2021 | 21/04/2021 | R$ 1.000,04 | R$ 1.000,04" {
		t.Errorf("bill-closed = %q", got)
	}
	if got := testIDText(doc, "card"); !strings.Contains(got, "VISA") || !strings.Contains(got, "4453") {
		t.Errorf("card = %q", got)
	}
}

func TestReportBodyRendersStates(t *testing.T) {
	r, rep := loadReportFixture(t, "report_pf_checking_account")

	failed, failedRep := r, *rep
	failed.Code = 5001
	failedRep.CheckingAccounts = nil
	doc, _ := renderReportDoc(t, views.PT, Build(failed, &failedRep, defaultReportQuery()))
	if countTestID(doc, "report-failed") != 1 || countTestID(doc, "account") != 0 || countTestID(doc, "raw-json") != 1 {
		t.Error("failed report: warning, no accounts, raw JSON expected")
	}

	empty, emptyRep := r, *rep
	emptyRep.CheckingAccounts = nil
	doc, _ = renderReportDoc(t, views.PT, Build(empty, &emptyRep, defaultReportQuery()))
	if countTestID(doc, "report-empty") != 1 || countTestID(doc, "report-failed") != 0 {
		t.Error("empty report: empty state expected")
	}

	unknown, unknownRep := r, *rep
	unknown.ProductName = "pj_loans"
	doc, _ = renderReportDoc(t, views.PT, Build(unknown, &unknownRep, defaultReportQuery()))
	if countTestID(doc, "report-unknown") != 1 || countTestID(doc, "account") != 0 || countTestID(doc, "raw-json") != 1 ||
		!strings.Contains(testIDText(doc, "report-product"), "pj_loans") {
		t.Error("unknown product: envelope + raw JSON expected")
	}

	doc, _ = renderReportDoc(t, views.PT, Build(Stored{ID: "r1", Code: 200, Raw: []byte("{")}, nil, defaultReportQuery()))
	if countTestID(doc, "report-unreadable") != 1 || countTestID(doc, "raw-json") != 1 {
		t.Error("unreadable report: notice + raw body expected")
	}
}

func TestIndentPrefixMatchesJSONIndent(t *testing.T) {
	inputs := []string{
		`{}`, `[]`, `{"a":[]}`, `{"a": {} , "b":[1, 2,{"c":"x,y:{z}"}]}`,
		`[{"s":"quote \" and backslash \\ here","n":-1.5e3,"t":true,"f":false,"z":null}]`,
		"{\n  \"pre\" :\t\"indented\"\r\n}",
	}
	for _, f := range []string{"report_pf_checking_account.json", "report_pf_credit_card.json", "report_large_checking.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", f))
		if err != nil {
			t.Fatal(err)
		}
		inputs = append(inputs, string(b))
	}
	for _, in := range inputs {
		var want bytes.Buffer
		if err := json.Indent(&want, []byte(in), "", "  "); err != nil {
			t.Fatalf("json.Indent(%.40q): %v", in, err)
		}
		// json.Indent copies trailing white space through; the display has no use for it.
		wantS := strings.TrimRight(want.String(), " \t\r\n")
		if got := indentPrefix([]byte(in), 1<<30); string(got) != wantS {
			t.Errorf("indentPrefix(%.40q) =\n%s\nwant\n%s", in, got, wantS)
		}
		if got := indentPrefix([]byte(in), 10); len(got) > 10+64 || !strings.HasPrefix(want.String(), string(got)) {
			t.Errorf("indentPrefix(%.40q, 10) = %q: not a short prefix of the full indentation", in, got)
		}
	}
}
