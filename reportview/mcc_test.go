package reportview

import (
	"testing"

	"github.com/klavi-demo/portal/klavi"
	"github.com/klavi-demo/portal/views"
)

func TestMCCGroup(t *testing.T) {
	for mcc, want := range map[int]string{
		5411: "mcc.groceries", 5812: "mcc.restaurants", 5541: "mcc.fuel", 5912: "mcc.pharmacy", 4121: "mcc.taxi",
		4899: "mcc.digital", 5815: "mcc.digital", 3005: "mcc.airlines", 4511: "mcc.airlines", 7011: "mcc.lodging",
		5651: "mcc.clothing", 5732: "mcc.home", 5999: "mcc.shopping", 5399: "mcc.shopping", 8011: "mcc.health",
		8220: "mcc.education", 9311: "mcc.government", 6011: "mcc.financial", 7230: "mcc.services", 0: "", -5: "",
		10000: "",
	} {
		if got := mccGroup(mcc); got != want {
			t.Errorf("mccGroup(%d) = %q, want %q", mcc, got, want)
		}
	}
	// Every group has a name in both languages.
	for mcc := 0; mcc <= 9999; mcc++ {
		if k := mccGroup(mcc); k != "" && !views.HasMessage(k) {
			t.Fatalf("mccGroup(%d) = %q, which the catalogue lacks", mcc, k)
		}
	}
}

func TestKinds(t *testing.T) {
	for _, tc := range []struct{ typ, desc, cd, want string }{
		{"OUTROS", "SAQUE BANCO24HORAS", "DEBITO", "rpt.kind.withdrawal"},
		{"OUTROS", "PAGTO FATURA CARTAO", "DEBITO", "rpt.kind.payment"},
		{"", "ESTORNO COMPRA", "CREDITO", "rpt.kind.refund"},
		{"OUTROS", "COMPRA NO DEBITO", "DEBITO", "rpt.kind.purchase"},
		{"OUTROS", "TRANSF ENTRE CONTAS", "CREDITO", "rpt.kind.transfer"},
		{"OUTROS", "XYZ", "DEBITO", ""},
		{"PIX", "SAQUE", "DEBITO", ""}, // the bank's own type wins
	} {
		if got := accountKind(tc.typ, tc.desc, tc.cd); got != tc.want {
			t.Errorf("accountKind(%q, %q) = %q, want %q", tc.typ, tc.desc, got, tc.want)
		}
	}
	for _, tc := range []struct {
		typ, desc, cd string
		mcc           int
		want          string
	}{
		{"OUTROS", "CARREFOUR HIPER", "DEBITO", 5411, "rpt.kind.purchase"},
		{"OUTROS", "ESTORNO AMAZON", "CREDITO", 5999, "rpt.kind.refund"},
		{"OUTROS", "AJUSTE", "CREDITO", 0, "rpt.kind.credit"},
		{"OUTROS", "PAGAMENTO RECEBIDO", "CREDITO", 0, "rpt.kind.payment"},
		{"PAGAMENTO", "PAGAMENTO", "CREDITO", 0, ""},
	} {
		if got := cardKind(tc.typ, tc.desc, tc.cd, tc.mcc); got != tc.want {
			t.Errorf("cardKind(%q, %q, %q, %d) = %q, want %q", tc.typ, tc.desc, tc.cd, tc.mcc, got, tc.want)
		}
	}
	for _, k := range []string{"rpt.kind.purchase", "rpt.kind.payment", "rpt.kind.refund", "rpt.kind.withdrawal",
		"rpt.kind.credit", "rpt.kind.transfer"} {
		if !views.HasMessage(k) {
			t.Errorf("catalogue lacks %s", k)
		}
	}
}

// TestBillsNewestFirst: closed bills and the charges of a bill are listed newest first whatever the bank's order.
func TestBillsNewestFirst(t *testing.T) {
	c := &klavi.CreditCard{
		ClosedStatements: []klavi.Statement{
			{BillMonth: "2026-08", DueDate: "2026-08-20"},
			{BillMonth: "2026-10", DueDate: "2026-10-20", TransactionDetails: []klavi.CardTransaction{
				{TransactionDate: "2026-09-02", TransactionName: "A"},
				{TransactionDate: "2026-09-28", TransactionName: "B"},
				{TransactionDate: "2026-09-15", TransactionName: "C"},
			}},
			{BillMonth: "2026-09", DueDate: "2026-09-20"},
		},
	}
	vm := buildCardVM(0, c)
	var months []string
	for _, b := range vm.Closed {
		months = append(months, b.Month)
	}
	if len(months) != 3 || months[0] != "2026-10" || months[1] != "2026-09" || months[2] != "2026-08" {
		t.Errorf("bill months = %v, want newest first", months)
	}
	var names string
	for _, r := range vm.Closed[0].Rows {
		names += r.Description
	}
	if names != "BCA" {
		t.Errorf("charges = %q, want BCA (newest first)", names)
	}
}
