package views

import (
	"context"
	"strconv"
	"strings"
)

// Charts are drawn by templ components (chart.templ) as inline SVG, without a chart library: a library's SVG
// carries fixed colours and fixed-size text, while ours takes its colours from the page's CSS variables (so it
// follows the brand and the dark theme) and keeps every text in HTML around the drawing, readable at phone
// widths. Each chart has a title, an SVG <title>/<desc>, and its data as a table (the text alternative).

// InsightsVM is the summary above an account's statement: money in and out over the period, and charts.
type InsightsVM struct {
	From, To     string    // ISO dates of the first and last transaction counted
	In, Out, Net string    // BRL; Out is positive ("R$ 1.234,00" spent), Net is signed
	NetDirection Direction // Credit when the period ended with more money than it began
	Balance      *LineChartVM
	Categories   *BarChartVM // spending by category (categorised reports only)
}

// CardInsightsVM is the summary above a credit card's bills.
type CardInsightsVM struct {
	OpenByCategory *BarChartVM // the open bill's purchases by category
	Bills          *BarChartVM // each bill's total, oldest first
}

// ChartPointVM is one row of a chart's data table.
type ChartPointVM struct {
	Label string // already formatted (a date, a category)
	Key   string // catalogue key of the label, used instead of Label when set
	Value string // BRL
}

// LineChartVM is a line over time, drawn in a 0..100 × 0..40 box stretched to the width of the page.
type LineChartVM struct {
	TitleKey   string
	Path, Area string // SVG path data
	ZeroY      string // y of the zero line when the values cross zero; "" otherwise
	Min, Max   string // BRL labels of the lowest and highest values
	Start, End string // ISO dates of the first and last points
	Points     []ChartPointVM
}

// BarChartVM is a list of horizontal bars, longest = the largest value.
type BarChartVM struct {
	TitleKey string
	Bars     []BarVM
}

// BarVM is one bar. Pct is its length in percent of the longest, formatted for an SVG attribute ("42.5").
type BarVM struct {
	ChartPointVM
	Pct string
}

const (
	chartW = 100.0
	chartH = 40.0
)

// NewLineChart draws values (money units, in order) labelled by ISO dates. It returns nil for fewer than two
// points: a line needs two.
func NewLineChart(titleKey string, dates []string, values []int64) *LineChartVM {
	n := min(len(dates), len(values))
	if n < 2 {
		return nil
	}
	lo, hi := values[0], values[0]
	for _, v := range values[:n] {
		lo, hi = min(lo, v), max(hi, v)
	}
	span := float64(hi - lo)
	y := func(v int64) float64 {
		if span == 0 {
			return chartH / 2
		}
		// 2 units of margin top and bottom so the stroke is not cut.
		return 2 + (chartH-4)*(1-float64(v-lo)/span)
	}
	var path, area strings.Builder
	vm := &LineChartVM{TitleKey: titleKey, Min: BRL(lo), Max: BRL(hi), Start: dates[0], End: dates[n-1]}
	for i := 0; i < n; i++ {
		x := chartW * float64(i) / float64(n-1)
		cmd := " L"
		if i == 0 {
			cmd = "M"
		}
		path.WriteString(cmd + num(x) + " " + num(y(values[i])))
		vm.Points = append(vm.Points, ChartPointVM{Label: dates[i], Value: BRL(values[i])})
	}
	area.WriteString(path.String() + " L" + num(chartW) + " " + num(chartH) + " L0 " + num(chartH) + " Z")
	vm.Path, vm.Area = path.String(), area.String()
	if lo < 0 && hi > 0 {
		vm.ZeroY = num(y(0))
	}
	return vm
}

// NewBarChart sizes bars for non-negative values; it returns nil when there is nothing to show.
func NewBarChart(titleKey string, points []ChartPointVM, values []int64) *BarChartVM {
	var top int64
	for _, v := range values {
		top = max(top, v)
	}
	if len(points) == 0 || top <= 0 {
		return nil
	}
	vm := &BarChartVM{TitleKey: titleKey}
	for i, p := range points {
		if i >= len(values) {
			break
		}
		pct := 100 * float64(max(values[i], 0)) / float64(top)
		if values[i] > 0 && pct < 1 {
			pct = 1 // a tiny amount stays visible
		}
		p.Value = BRL(values[i])
		vm.Bars = append(vm.Bars, BarVM{ChartPointVM: p, Pct: num(pct)})
	}
	return vm
}

// num formats a coordinate with at most two decimals.
func num(f float64) string {
	s := strconv.FormatFloat(f, 'f', 2, 64)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	if s == "" || s == "-" {
		return "0"
	}
	return s
}

func pointLabel(ctx context.Context, p ChartPointVM) string {
	if p.Key != "" {
		return T(ctx, p.Key)
	}
	if _, _, _, ok := isoDate(p.Label); ok && len(p.Label) == 10 {
		return DateFor(ctx, p.Label)
	}
	if len(p.Label) == 7 && p.Label[4] == '-' {
		return MonthFor(ctx, p.Label)
	}
	return p.Label
}

func barPoints(c *BarChartVM) []ChartPointVM {
	out := make([]ChartPointVM, len(c.Bars))
	for i, b := range c.Bars {
		out[i] = b.ChartPointVM
	}
	return out
}
