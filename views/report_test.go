package views

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
)

func renderReportBody(t *testing.T, lang Lang, vm ReportVM) (*goquery.Document, string) {
	t.Helper()
	var buf bytes.Buffer
	if err := ReportBody(vm).Render(WithLang(context.Background(), lang), &buf); err != nil {
		t.Fatal(err)
	}
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(buf.String()))
	if err != nil {
		t.Fatal(err)
	}
	return doc, buf.String()
}

func reportTestID(doc *goquery.Document, id string) *goquery.Selection {
	return doc.Find(`[data-testid="` + id + `"]`)
}

func sampleVM() ReportVM {
	return ReportVM{
		ID: "rep-1", ProductName: "pf_checking_account", ProductVersion: "V1", Known: true, Code: 200, Message: "OK",
		Status: ReportOK, RequestID: "req-1", ReportTime: "2019-12-23T06:10:43",
		ReceivedAt: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC),
		Accounts: []AccountVM{{
			Anchor: "account-1", Bank: "Banco <b>X</b>", Branch: "0001", Number: "123-4", Subtype: "CONJUNTA_SOLIDARIA",
			Holder: "Maria", Available: "R$ 1.234,56", Blocked: "R$ 0,00", Categorized: true,
			Rows: []TransactionRowVM{
				{Date: "2021-05-01", Description: `<script>alert(1)</script>`, Type: "TARIFA_SERVICOS_AVULSOS",
					Amount: "-R$ 10,00", Direction: Debit, Balance: "R$ 1.234,56", Category: "Tarifas"},
				{Date: "2021-04-30", Description: "SALARIO", Type: "TIPO_NOVO", Amount: "+R$ 10,00", Direction: Credit},
			},
			Page: PageVM{Page: 2, Pages: 3, From: 51, To: 52, Total: 120,
				PrevURL: "/reports/rep-1?account=1&page=1#account-1", NextURL: "/reports/rep-1?account=1&page=3#account-1"},
		}},
		Cards: []CardVM{{
			Anchor: "card-1", Name: "Cartão", Network: "VISA", LastDigits: "4453", HasLimit: true, Limit: "R$ 100,00",
			Used: "R$ 25,00", Available: "R$ 75,00", UsagePct: 25, UsageClass: "usage-20",
			Open: &BillVM{Month: "2021-05", BillingDate: "2021-05-10", DueDate: "2021-05-21", Total: "R$ 25,00",
				Rows: []CardTransactionRowVM{{Date: "2021-05-02", Description: "NETFLIX", Type: "PAGAMENTO",
					PaymentType: "A_PRAZO", Installment: "2/12", MCC: "4899", Brand: "Netflix", Amount: "-R$ 25,00",
					Direction: Debit}}},
			Closed: []BillVM{{Month: "2021-04", DueDate: "2021-04-21", Total: "R$ 5,00", Minimum: "R$ 1,00"},
				{Month: "2021-03", DueDate: "2021-03-21", Total: "R$ 6,00", Minimum: "R$ 1,20"}},
		}},
		RawJSON: `{"a": "<b>"}`, JSONURL: "/reports/rep-1/report.json", CSVURL: "/reports/rep-1/transactions.csv",
	}
}

func TestReportBodyTestIDs(t *testing.T) {
	t.Parallel()
	doc, html := renderReportBody(t, PT, sampleVM())
	for id, n := range map[string]int{"report-product": 1, "account": 1, "account-balance": 1, "transactions-table": 1,
		"transaction-row": 2, "page-next": 1, "page-prev": 1, "card": 1, "card-limit": 1, "bill-open": 1,
		"bill-closed": 2, "raw-json": 1, "download-json": 1, "download-csv": 1, "report-empty": 0, "report-failed": 0} {
		if got := reportTestID(doc, id).Length(); got != n {
			t.Errorf("%s: %d, want %d", id, got, n)
		}
	}
	if got := reportTestID(doc, "account-balance").Text(); got != "R$ 1.234,56" {
		t.Errorf("account-balance = %q", got)
	}
	if href, _ := reportTestID(doc, "page-next").Attr("href"); href != "/reports/rep-1?account=1&page=3#account-1" {
		t.Errorf("page-next = %q", href)
	}
	if href, _ := reportTestID(doc, "download-json").Attr("href"); href != "/reports/rep-1/report.json" {
		t.Errorf("download-json = %q", href)
	}
	if got := reportTestID(doc, "raw-json").Find("pre code").Text(); got != `{"a": "<b>"}` {
		t.Errorf("raw json = %q", got)
	}
	// Escaping: bank-provided text is text.
	if strings.Contains(html, "<script>") || strings.Contains(html, "<b>X</b>") {
		t.Error("unescaped bank text in HTML")
	}
	// Labels: known codes translated, unknown codes readable, category column present.
	page := doc.Text()
	for _, want := range []string{"Tarifa", "Tipo novo", "Conjunta solidária", "Categoria", "Mostrando 51–52 de 120",
		"Página 2 de 3", "01/05/2021", "25/11/2026 07:00:00 BRT", "23/12/2019 06:10:43", "Parcela 2/12", "Parcelado",
		"Netflix", "25% do limite utilizado"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if !reportTestID(doc, "card-limit").Find("meter").HasClass("usage-20") {
		t.Error("meter lacks usage class")
	}
	if strings.Contains(html, "style=") || strings.Contains(html, "rpt.") {
		t.Error("inline style or untranslated key")
	}
}

func TestReportBodyEnglish(t *testing.T) {
	t.Parallel()
	doc, html := renderReportBody(t, EN, sampleVM())
	page := doc.Text()
	for _, want := range []string{"Checking account (personal)", "Available balance", "Fee", "Showing 51–52 of 120",
		"2021-05-01", "Joint (all holders)", "Open bill", "Closed bills", "Download JSON"} {
		if !strings.Contains(page, want) {
			t.Errorf("English page lacks %q", want)
		}
	}
	if strings.Contains(html, "rpt.") || strings.Contains(page, "Saldo disponível") {
		t.Error("English page has Portuguese or raw keys")
	}
}

func TestReportBodyStates(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		mutate  func(*ReportVM)
		present []string
		absent  []string
	}{
		{"partial", func(vm *ReportVM) { vm.Code, vm.Status = 204, ReportPartial },
			[]string{"report-partial", "account"}, []string{"report-failed"}},
		{"failed without data", func(vm *ReportVM) {
			vm.Code, vm.Status, vm.Message, vm.Accounts, vm.Cards = 5001, ReportFailed, "falhou", nil, nil
		}, []string{"report-failed", "raw-json"}, []string{"account", "report-empty"}},
		{"empty", func(vm *ReportVM) { vm.Accounts, vm.Cards = nil, nil },
			[]string{"report-empty", "raw-json"}, []string{"account", "card"}},
		{"unknown product", func(vm *ReportVM) { vm.Known, vm.ProductName, vm.Accounts, vm.Cards = false, "pj_loans", nil, nil },
			[]string{"report-unknown", "raw-json", "report-product"}, []string{"account", "report-empty"}},
		{"unreadable", func(vm *ReportVM) { vm.Unreadable, vm.Known, vm.Accounts, vm.Cards = true, false, nil, nil },
			[]string{"report-unreadable", "raw-json"}, []string{"account", "report-unknown"}},
		{"account without transactions", func(vm *ReportVM) { vm.Accounts[0].Rows, vm.Accounts[0].Page = nil, PageVM{Page: 1, Pages: 1} },
			[]string{"account", "account-balance", "transactions-empty"}, []string{"transactions-table", "page-next"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vm := sampleVM()
			tt.mutate(&vm)
			doc, _ := renderReportBody(t, PT, vm)
			for _, id := range tt.present {
				if reportTestID(doc, id).Length() == 0 {
					t.Errorf("%s missing", id)
				}
			}
			for _, id := range tt.absent {
				if reportTestID(doc, id).Length() != 0 {
					t.Errorf("%s present", id)
				}
			}
		})
	}
}
