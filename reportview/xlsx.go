package reportview

import (
	"context"
	"fmt"
	"io"

	"github.com/xuri/excelize/v2"

	"github.com/klavi-demo/portal/klavi"
	"github.com/klavi-demo/portal/views"
)

// xlsxHeaderKeys are the catalogue keys of the spreadsheet's column titles, in the user's language.
var xlsxHeaderKeys = []string{"xlsx.product", "xlsx.account", "xlsx.date", "xlsx.description", "xlsx.type",
	"xlsx.creditdebit", "xlsx.amount", "xlsx.balance"}

// WriteTransactionsXLSX writes the transactions of rep (see transactionRows) as an Excel workbook with typed
// cells: dates are date cells (dd/mm/yyyy), amounts and balances are number cells with 2 to 4 decimals, text is
// text (never evaluated on opening; guarded by spreadsheetText all the same, for "Text to Columns"). Column titles
// follow the language in ctx. The workbook is built with excelize's stream writer, which keeps memory flat for
// a 10,000-transaction statement.
func WriteTransactionsXLSX(ctx context.Context, w io.Writer, rep *klavi.Report) (err error) {
	f := excelize.NewFile()
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}()
	sheet := views.T(ctx, "xlsx.sheet")
	if err := f.SetSheetName("Sheet1", sheet); err != nil {
		return err
	}
	dateFmt, moneyFmt := "dd/mm/yyyy", "#,##0.00##"
	dateStyle, err := f.NewStyle(&excelize.Style{CustomNumFmt: &dateFmt})
	if err != nil {
		return err
	}
	moneyStyle, err := f.NewStyle(&excelize.Style{CustomNumFmt: &moneyFmt})
	if err != nil {
		return err
	}
	headStyle, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}})
	if err != nil {
		return err
	}
	sw, err := f.NewStreamWriter(sheet)
	if err != nil {
		return err
	}
	for i, width := range []float64{22, 30, 12, 44, 16, 14, 14, 14} {
		if err := sw.SetColWidth(i+1, i+1, width); err != nil {
			return err
		}
	}
	if err := sw.SetPanes(&excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"}); err != nil {
		return err
	}
	head := make([]any, len(xlsxHeaderKeys))
	for i, k := range xlsxHeaderKeys {
		head[i] = excelize.Cell{StyleID: headStyle, Value: views.T(ctx, k)}
	}
	if err := sw.SetRow("A1", head, excelize.RowOpts{}); err != nil {
		return err
	}
	for n, r := range transactionRows(rep) {
		row := []any{spreadsheetText(r.product), spreadsheetText(r.account), spreadsheetText(r.date),
			spreadsheetText(r.description), spreadsheetText(r.kind), spreadsheetText(r.creditDebit), nil, nil}
		if t, ok := isoDate(r.date); ok {
			row[2] = excelize.Cell{StyleID: dateStyle, Value: t}
		}
		if r.amountOK {
			row[6] = excelize.Cell{StyleID: moneyStyle, Value: unitsToFloat(r.amount)}
		}
		if r.balanceOK {
			row[7] = excelize.Cell{StyleID: moneyStyle, Value: unitsToFloat(r.balance)}
		}
		cell, err := excelize.CoordinatesToCellName(1, n+2)
		if err != nil {
			return err
		}
		if err := sw.SetRow(cell, row); err != nil {
			return fmt.Errorf("xlsx row %d: %w", n+2, err)
		}
	}
	if err := sw.Flush(); err != nil {
		return err
	}
	_, err = f.WriteTo(w)
	return err
}

// unitsToFloat turns units (1/10000) into a spreadsheet number. A float64 holds every amount below 2^53 units
// (about 900 billion reais) exactly to the fourth decimal place, far beyond any transaction.
func unitsToFloat(u int64) float64 { return float64(u) / 10000 }
