package reportview

import (
	"context"
	"strings"
	"testing"

	"github.com/klavi-demo/portal/klavi"
	"github.com/klavi-demo/portal/views"
)

// TestAccountInsights: money in and out over the booked transactions of the large fixture agree with the CSV's
// amounts, the balance line ends at the available balance, and its table holds one row per day.
func TestAccountInsights(t *testing.T) {
	_, rep := loadReportFixture(t, "report_large_checking")
	a := &rep.CheckingAccounts[0]
	ledger := accountLedger(a)
	var in, out int64
	days := map[string]bool{}
	for _, e := range ledger {
		if e.future || !e.amountOK {
			continue
		}
		if e.signed > 0 {
			in += e.signed
		} else {
			out -= e.signed
		}
		if e.balanceOK {
			days[txDate(e.tx)] = true
		}
	}
	ins := accountInsights(ledger, false)
	if ins == nil {
		t.Fatal("no insights")
	}
	if ins.In != views.BRL(in) || ins.Out != views.BRL(out) || ins.Net != views.BRLSigned(in-out) {
		t.Errorf("in %s out %s net %s, want %s %s %s", ins.In, ins.Out, ins.Net, views.BRL(in), views.BRL(out), views.BRLSigned(in-out))
	}
	if ins.Balance == nil || len(ins.Balance.Points) != min(len(days), maxLinePoints) {
		t.Fatalf("balance chart %+v, want %d points", ins.Balance, len(days))
	}
	last := ins.Balance.Points[len(ins.Balance.Points)-1]
	var newestBooked ledgerEntry
	for _, e := range ledger {
		if !e.future && e.balanceOK {
			newestBooked = e
			break
		}
	}
	if last.Value != views.BRL(newestBooked.balance) || last.Label != ins.To {
		t.Errorf("last point %+v, want the closing balance %s on %s", last, views.BRL(newestBooked.balance), ins.To)
	}
	if !strings.HasPrefix(ins.Balance.Path, "M0 ") || ins.Categories != nil {
		t.Errorf("path %q, categories %v", ins.Balance.Path[:10], ins.Categories)
	}
}

// TestCategoryInsights: a categorised account's spending is summed by top-level category, largest first, with the
// smallest merged; the bars' values add up to the money out.
func TestCategoryInsights(t *testing.T) {
	mk := func(date, cat, amount, cd string) klavi.Transaction {
		return klavi.Transaction{TransactionDate: date, Category: cat, CreditDebitType: cd,
			TransactionAmount: klavi.Money{Amount: klavi.Amount(amount), Currency: "BRL"}}
	}
	a := &klavi.Account{Balances: klavi.Balances{AvailableAmount: klavi.Money{Amount: "1000.00"}}}
	a.TransactionDetails = []klavi.Transaction{
		mk("2026-11-01", "Alimentação", "100.00", "DEBITO"),
		mk("2026-11-02", "Alimentação", "50.00", "DEBITO"),
		mk("2026-11-02", "Transporte", "70.00", "DEBITO"),
		mk("2026-11-03", "", "5.00", "DEBITO"),
		mk("2026-11-03", "Renda", "2000.00", "CREDITO"),
	}
	for i, c := range []string{"A", "B", "C", "D", "E", "F"} {
		a.TransactionDetails = append(a.TransactionDetails, mk("2026-11-04", c, "1.0"+string(rune('0'+i)), "DEBITO"))
	}
	ins := accountInsights(accountLedger(a), true)
	if ins == nil || ins.Categories == nil {
		t.Fatal("no category chart")
	}
	ctx := views.WithLang(context.Background(), views.EN)
	var got []string
	for _, b := range ins.Categories.Bars {
		label := b.Label
		if b.Key != "" {
			label = views.T(ctx, b.Key)
		}
		got = append(got, label+"="+b.Value)
	}
	want := "Alimentação=R$ 150,00|Transporte=R$ 70,00|Uncategorised=R$ 5,00|F=R$ 1,05|E=R$ 1,04|D=R$ 1,03|Other categories=R$ 3,03"
	if strings.Join(got, "|") != want {
		t.Errorf("bars = %s\nwant   %s", strings.Join(got, "|"), want)
	}
	if ins.Categories.Bars[0].Pct != "100" || ins.In != "R$ 2.000,00" || ins.Out != "R$ 231,15" {
		t.Errorf("first bar %s%%, in %s, out %s", ins.Categories.Bars[0].Pct, ins.In, ins.Out)
	}
}

// TestCardInsights: the open bill's purchases by category (bank category, else MCC group) and the bills oldest
// first.
func TestCardInsights(t *testing.T) {
	tx := func(name string, mcc int, amount, cd, cat string) klavi.CardTransaction {
		return klavi.CardTransaction{TransactionName: name, PayeeMCC: mcc, CreditDebitType: cd, Category: cat,
			BrazilianAmount: klavi.Money{Amount: klavi.Amount(amount), Currency: "BRL"}}
	}
	c := &klavi.CreditCard{
		OpenStatement: &klavi.Statement{BillMonth: "2026-12", BillTotalAmount: klavi.Money{Amount: "300.00"},
			TransactionDetails: []klavi.CardTransaction{
				tx("CARREFOUR", 5411, "120.00", "DEBITO", ""),
				tx("PAO DE ACUCAR", 5411, "30.00", "DEBITO", ""),
				tx("IFOOD", 5812, "50.00", "DEBITO", "Alimentação"),
				tx("PAGAMENTO", 0, "500.00", "CREDITO", ""),
			}},
		ClosedStatements: []klavi.Statement{
			{BillMonth: "2026-11", BillTotalAmount: klavi.Money{Amount: "800.00"}},
			{BillMonth: "2026-10", BillTotalAmount: klavi.Money{Amount: "400.00"}},
		},
	}
	ins := cardInsights(c)
	if ins == nil || ins.OpenByCategory == nil || ins.Bills == nil {
		t.Fatalf("insights %+v", ins)
	}
	var got []string
	for _, b := range ins.OpenByCategory.Bars {
		got = append(got, b.Label+b.Key+"="+b.Value)
	}
	if strings.Join(got, "|") != "mcc.groceries=R$ 150,00|Alimentação=R$ 50,00" {
		t.Errorf("open bill bars = %v", got)
	}
	got = nil
	for _, b := range ins.Bills.Bars {
		got = append(got, b.Label+"="+b.Value+"@"+b.Pct)
	}
	if strings.Join(got, "|") != "2026-10=R$ 400,00@50|2026-11=R$ 800,00@100|2026-12=R$ 300,00@37.5" {
		t.Errorf("bills bars = %v", got)
	}
}

func TestNewLineChartGeometry(t *testing.T) {
	c := views.NewLineChart("k", []string{"2026-01-01", "2026-01-02", "2026-01-03"}, []int64{-100, 0, 100})
	if c.Path != "M0 38 L50 20 L100 2" || c.ZeroY != "20" || c.Min != "-R$ 0,01" && c.Min != views.BRL(-100) {
		t.Errorf("chart %+v", c)
	}
	if views.NewLineChart("k", []string{"2026-01-01"}, []int64{1}) != nil {
		t.Error("one point should give no chart")
	}
	if c := views.NewLineChart("k", []string{"a", "b"}, []int64{5, 5}); c.Path != "M0 20 L100 20" {
		t.Errorf("flat line %q", c.Path)
	}
}
