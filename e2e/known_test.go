//go:build e2e

package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/klavi-demo/portal/klavi"
	"github.com/klavi-demo/portal/sandbox"
	"github.com/klavi-demo/portal/views"
	"github.com/playwright-community/playwright-go"
)

// checkKnownBalance asserts that the report page shows what the sandbox generated for this tax id: the sandbox's
// reports are deterministic per (product, tax id, day), so the test knows the balance and a transaction in advance.
func checkKnownBalance(t *testing.T, page playwright.Page, product, taxID, institution string) {
	t.Helper()
	rep, err := sandbox.GenerateReportFor(product, taxID, []string{institution}, time.Now(), 0)
	must(t, err, "generate the expected report")
	if len(rep.CheckingAccounts) == 0 {
		t.Fatalf("expected report has no checking account")
	}
	acc := rep.CheckingAccounts[0]
	units, err := klavi.Amount(acc.Balances.AvailableAmount.Amount).Units()
	must(t, err, "parse the expected balance")
	want := views.BRL(units)
	must(t, expect.Locator(page.GetByTestId("account-balance").First()).ToContainText(want),
		"available balance "+want)
	txs := acc.TransactionDetails
	if len(txs) == 0 {
		t.Fatalf("expected report has no transactions")
	}
	table := page.GetByTestId("transactions-table").First()
	first, last := txs[0].TransactionName, txs[len(txs)-1].TransactionName
	text, err := table.InnerText()
	must(t, err, "read the transactions table")
	if !contains(text, first) && !contains(text, last) {
		t.Fatalf("transactions table shows neither the oldest (%q) nor the newest (%q) transaction", first, last)
	}
}

func contains(haystack, needle string) bool {
	return needle != "" && strings.Contains(haystack, needle)
}
