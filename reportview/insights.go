package reportview

import (
	"cmp"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/klavi-demo/portal/klavi"
	"github.com/klavi-demo/portal/views"
)

const (
	maxLinePoints   = 120 // a balance line keeps at most this many days (more would be noise at page width)
	maxCategoryBars = 6   // the largest categories; the rest are summed as "other categories"
)

// accountInsights sums an account's money in and out over its booked transactions (scheduled ones excluded), draws
// its closing balance per day, and, for categorised reports, its spending by top-level category. It returns nil
// when there is nothing to summarise or a sum would overflow (a malformed report must not show a wrong figure).
func accountInsights(ledger []ledgerEntry, categorized bool) *views.InsightsVM {
	var in, out int64
	var from, to string
	byCat := map[string]int64{}
	// ledger is newest first: walking it backwards goes forward in time.
	var dates []string
	var balances []int64
	for i := len(ledger) - 1; i >= 0; i-- {
		e := ledger[i]
		if e.future || !e.amountOK {
			continue
		}
		d := txDate(e.tx)
		if d == "" {
			continue
		}
		if from == "" || d < from {
			from = d
		}
		if d > to {
			to = d
		}
		var ok bool
		if e.signed >= 0 {
			in, ok = add(in, e.signed)
		} else {
			out, ok = add(out, -e.signed)
			if ok && categorized {
				c := strings.TrimSpace(e.tx.Category)
				byCat[c], ok = add(byCat[c], -e.signed)
			}
		}
		if !ok {
			return nil
		}
		if e.balanceOK {
			// The last transaction of a day carries its closing balance.
			if n := len(dates); n > 0 && dates[n-1] == d {
				balances[n-1] = e.balance
			} else {
				dates, balances = append(dates, d), append(balances, e.balance)
			}
		}
	}
	if from == "" {
		return nil
	}
	vm := &views.InsightsVM{From: from, To: to, In: views.BRL(in), Out: views.BRL(out)}
	net := in - out // cannot overflow: both are non-negative
	vm.Net = views.BRLSigned(net)
	switch {
	case net > 0:
		vm.NetDirection = views.Credit
	case net < 0:
		vm.NetDirection = views.Debit
	}
	dates, balances = thin(dates, balances, maxLinePoints)
	vm.Balance = views.NewLineChart("ins.balance", dates, balances)
	if categorized {
		vm.Categories = categoryBars("ins.categories", byCat, func(c string) views.ChartPointVM {
			if c == "" {
				return views.ChartPointVM{Key: "ins.uncategorized"}
			}
			return views.ChartPointVM{Label: c}
		})
	}
	return vm
}

// cardInsights charts a card's open bill by category (the bank's category in categorised reports, otherwise the
// merchant's MCC group) and the total of each bill, oldest first.
func cardInsights(c *klavi.CreditCard) *views.CardInsightsVM {
	vm := &views.CardInsightsVM{}
	if s := c.OpenStatement; s != nil {
		byCat := map[string]int64{}
		for i := range s.TransactionDetails {
			t := &s.TransactionDetails[i]
			u, ok := cardSigned(t)
			if !ok || u >= 0 {
				continue // payments, refunds and credits are not spending
			}
			key := strings.TrimSpace(t.Category)
			if key == "" {
				key = "\x00" + mccGroup(t.PayeeMCC) // a catalogue key, told apart from the bank's words
			}
			if byCat[key], ok = add(byCat[key], -u); !ok {
				return nil
			}
		}
		vm.OpenByCategory = categoryBars("ins.card.open", byCat, func(k string) views.ChartPointVM {
			switch {
			case k == "\x00":
				return views.ChartPointVM{Key: "ins.uncategorized"}
			case strings.HasPrefix(k, "\x00"):
				return views.ChartPointVM{Key: k[1:]}
			}
			return views.ChartPointVM{Label: k}
		})
	}
	type bill struct {
		month string
		total int64
	}
	var bills []bill
	stmts := make([]*klavi.Statement, 0, len(c.ClosedStatements)+1)
	for i := range c.ClosedStatements {
		stmts = append(stmts, &c.ClosedStatements[i])
	}
	if c.OpenStatement != nil {
		stmts = append(stmts, c.OpenStatement)
	}
	for _, s := range stmts {
		u, err := s.BillTotalAmount.Amount.Units()
		if err != nil || s.BillMonth == "" {
			continue
		}
		bills = append(bills, bill{s.BillMonth, max(u, -u)})
	}
	slices.SortStableFunc(bills, func(a, b bill) int { return cmp.Compare(a.month, b.month) })
	if len(bills) >= 2 {
		points := make([]views.ChartPointVM, len(bills))
		values := make([]int64, len(bills))
		for i, b := range bills {
			points[i], values[i] = views.ChartPointVM{Label: b.month}, b.total
		}
		vm.Bills = views.NewBarChart("ins.card.bills", points, values)
	}
	if vm.OpenByCategory == nil && vm.Bills == nil {
		return nil
	}
	return vm
}

// categoryBars turns sums by category into bars, largest first, the smallest merged into "other categories".
func categoryBars(titleKey string, sums map[string]int64, label func(string) views.ChartPointVM) *views.BarChartVM {
	keys := make([]string, 0, len(sums))
	for k, v := range sums {
		if v > 0 {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b string) int { return cmp.Or(cmp.Compare(sums[b], sums[a]), cmp.Compare(a, b)) })
	var points []views.ChartPointVM
	var values []int64
	var rest int64
	for i, k := range keys {
		if i < maxCategoryBars {
			points, values = append(points, label(k)), append(values, sums[k])
			continue
		}
		var ok bool
		if rest, ok = add(rest, sums[k]); !ok {
			return nil
		}
	}
	if rest > 0 {
		points, values = append(points, views.ChartPointVM{Key: "ins.other"}), append(values, rest)
	}
	return views.NewBarChart(titleKey, points, values)
}

// thin keeps at most n evenly spread points, always the first and the last.
func thin(dates []string, values []int64, n int) ([]string, []int64) {
	if len(dates) <= n || n < 2 {
		return dates, values
	}
	d, v := make([]string, 0, n), make([]int64, 0, n)
	for i := 0; i < n; i++ {
		j := i * (len(dates) - 1) / (n - 1)
		d, v = append(d, dates[j]), append(v, values[j])
	}
	return d, v
}

// add sums two non-negative amounts, reporting false on overflow.
func add(a, b int64) (int64, bool) {
	if b > math.MaxInt64-a {
		return 0, false
	}
	return a + b, true
}

// Figures are a report's key figures for its card on the consent page: the available balance of its accounts
// (summed when several), how many transactions, and for cards the open bill and the available limit. None when
// the report has no data the portal reads.
func Figures(rep *klavi.Report) []views.ReportFigure {
	if rep == nil {
		return nil
	}
	var out []views.ReportFigure
	accounts := append(append([]klavi.Account(nil), rep.CheckingAccounts...), rep.SavingsAccounts...)
	if len(accounts) > 0 {
		var sum int64
		var n int
		ok := true
		for i := range accounts {
			u, err := accounts[i].Balances.AvailableAmount.Amount.Units()
			if err != nil || (u > 0 && sum > math.MaxInt64-u) || (u < 0 && sum < math.MinInt64-u) {
				ok = false
				break
			}
			sum += u
			n += len(accounts[i].TransactionDetails)
		}
		if ok {
			out = append(out, views.ReportFigure{LabelKey: "fig.balance", Value: views.BRL(sum)})
		}
		out = append(out, views.ReportFigure{LabelKey: "fig.transactions", Value: strconv.Itoa(n)})
	}
	if len(rep.CreditCards) > 0 {
		c := &rep.CreditCards[0] // the first card sums up the report; the report page shows them all
		if c.OpenStatement != nil {
			if v, _, ok := reportMoney(c.OpenStatement.BillTotalAmount); ok {
				out = append(out, views.ReportFigure{LabelKey: "fig.open_bill", Value: v})
			}
		}
		if c.Limit != nil {
			if v, _, ok := reportMoney(c.Limit.AvailableAmount); ok {
				out = append(out, views.ReportFigure{LabelKey: "fig.limit_available", Value: v})
			}
		}
	}
	return out
}
