package reportview

import (
	"bytes"
	"context"
	"encoding/csv"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/klavi-demo/portal/klavi"
	"github.com/klavi-demo/portal/views"
)

// TestCSVBRDialect: the "Excel (Brasil)" CSV has a BOM, ';', decimal comma and dd/mm/aaaa, and holds the same rows
// as the standard CSV.
func TestCSVBRDialect(t *testing.T) {
	_, rep := loadReportFixture(t, "report_large_checking")
	var buf bytes.Buffer
	if err := WriteTransactionsCSVBR(&buf, rep); err != nil {
		t.Fatal(err)
	}
	body := buf.String()
	if !strings.HasPrefix(body, "\ufeff") {
		t.Fatal("no UTF-8 byte order mark")
	}
	r := csv.NewReader(strings.NewReader(strings.TrimPrefix(body, "\ufeff")))
	r.Comma = ';'
	br, err := r.ReadAll()
	if err != nil {
		t.Fatalf("does not parse back with ';': %v", err)
	}
	std := readTransactionsCSV(t, rep)
	if len(br) != len(std) {
		t.Fatalf("%d records, want %d like the standard CSV", len(br), len(std))
	}
	if strings.Join(br[0], ";") != "produto;conta;data;descrição;tipo;crédito/débito;valor;saldo" {
		t.Errorf("header = %v", br[0])
	}
	for i := 1; i < len(br); i++ {
		b, s := br[i], std[i]
		if want := strings.Replace(s[6], ".", ",", 1); b[6] != want {
			t.Errorf("row %d amount %q, want %q", i, b[6], want)
		}
		if want := strings.Replace(s[7], ".", ",", 1); b[7] != want {
			t.Errorf("row %d balance %q, want %q", i, b[7], want)
		}
		d, err := time.Parse(time.DateOnly, s[2])
		if err != nil {
			t.Fatalf("row %d: standard date %q: %v", i, s[2], err)
		}
		if b[2] != d.Format("02/01/2006") {
			t.Errorf("row %d date %q, want dd/mm/aaaa of %q", i, b[2], s[2])
		}
		if b[3] != s[3] || b[1] != s[1] {
			t.Errorf("row %d text differs: %q %q vs %q %q", i, b[1], b[3], s[1], s[3])
		}
	}
	last := br[len(br)-1]
	if last[6] != "12,3456" || last[7] != "50000,00" {
		t.Errorf("savings row = %v, want 4 decimals kept with a comma", last)
	}
}

func TestBRDate(t *testing.T) {
	for in, want := range map[string]string{
		"2026-03-14": "14/03/2026", "2026-03-14T10:00:00Z": "14/03/2026", "": "", "14/03": "14/03", "2026-13-01": "2026-13-01",
	} {
		if got := views.DateBR(in); got != want {
			t.Errorf("DateBR(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestXLSX: the workbook opens, titles follow the language, dates are date cells and amounts number cells equal
// to the CSV's, and text cells hold the CSV's text, formula-like pieces guarded (spreadsheetText), never a formula.
func TestXLSX(t *testing.T) {
	_, rep := loadReportFixture(t, "report_large_checking")
	for _, lang := range []views.Lang{views.PT, views.EN} {
		ctx := views.WithLang(context.Background(), lang)
		var buf bytes.Buffer
		if err := WriteTransactionsXLSX(ctx, &buf, rep); err != nil {
			t.Fatal(err)
		}
		f, err := excelize.OpenReader(&buf)
		if err != nil {
			t.Fatalf("%s: workbook does not open: %v", lang, err)
		}
		sheet := views.T(ctx, "xlsx.sheet")
		if got := f.GetSheetList(); len(got) != 1 || got[0] != sheet {
			t.Fatalf("%s: sheets %v, want [%s]", lang, got, sheet)
		}
		title, _ := f.GetCellValue(sheet, "G1")
		if title != views.T(ctx, "xlsx.amount") {
			t.Errorf("%s: G1 = %q", lang, title)
		}
		rows, err := f.GetRows(sheet, excelize.Options{RawCellValue: true})
		if err != nil {
			t.Fatal(err)
		}
		std := readTransactionsCSV(t, rep)
		if len(rows) != len(std) {
			t.Fatalf("%s: %d rows, want %d", lang, len(rows), len(std))
		}
		formulas := 0
		for i := 1; i < len(rows); i++ {
			for _, col := range []string{"C", "G"} {
				cell := col + strconv.Itoa(i+1)
				typ, err := f.GetCellType(sheet, cell)
				if err != nil {
					t.Fatal(err)
				}
				// excelize writes numbers and dates (serial numbers) with no type attribute: unset means number.
				if typ != excelize.CellTypeUnset && typ != excelize.CellTypeNumber {
					t.Errorf("%s: %s has type %v, want a number", lang, cell, typ)
				}
			}
			amount, err := klavi.Amount(std[i][6]).Units()
			if err != nil {
				t.Fatal(err)
			}
			raw := rows[i][6]
			if got, err := strconv.ParseFloat(raw, 64); err != nil || got != float64(amount)/10000 {
				t.Errorf("%s row %d amount %q, want %s", lang, i, raw, std[i][6])
			}
			shown, _ := f.GetCellValue(sheet, "C"+strconv.Itoa(i+1))
			if d, _ := time.Parse(time.DateOnly, std[i][2]); shown != d.Format("02/01/2006") {
				t.Errorf("%s row %d date shown %q, want %s", lang, i, shown, d.Format("02/01/2006"))
			}
			// Text cells hold the CSV's text, guarded the same way, and none is a formula.
			for _, c := range []int{0, 1, 3, 4, 5} {
				if rows[i][c] != std[i][c] {
					t.Errorf("%s row %d column %d = %q, want the CSV's %q", lang, i, c+1, rows[i][c], std[i][c])
				}
			}
			if fm, _ := f.GetCellFormula(sheet, "D"+strconv.Itoa(i+1)); fm != "" {
				t.Errorf("%s row %d: description became a formula %q", lang, i, fm)
			}
			if strings.HasPrefix(rows[i][3], "'") {
				formulas++
			}
		}
		if formulas == 0 {
			t.Errorf("%s: the fixture's formula-like descriptions are missing", lang)
		}
		_ = f.Close()
	}
}

// A formula hidden after a separator inside a description (a pt-BR spreadsheet splits the comma CSV on ';', "Text
// to Columns" splits a workbook cell) is guarded in all three exports, and no piece of any line, split at any of
// the separators a spreadsheet uses, starts a formula.
func TestExportsGuardFormulasInsideCells(t *testing.T) {
	_, rep := loadReportFixture(t, "report_pf_checking_account")
	txs := rep.CheckingAccounts[0].TransactionDetails
	txs[0].TransactionName = "PIX;=cmd|' /C calc'!A0"
	txs[1].TransactionName = "PAGTO, +SUM(A1)|@x\t=1"
	want := map[string]bool{"PIX;'=cmd|' /C calc'!A0": true, "PAGTO, '+SUM(A1)|'@x\t'=1": true}

	var std, br bytes.Buffer
	if err := WriteTransactionsCSV(&std, rep); err != nil {
		t.Fatal(err)
	}
	if err := WriteTransactionsCSVBR(&br, rep); err != nil {
		t.Fatal(err)
	}
	var xlsx bytes.Buffer
	if err := WriteTransactionsXLSX(views.WithLang(context.Background(), views.PT), &xlsx, rep); err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenReader(&xlsx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	sheetRows, err := f.GetRows(f.GetSheetList()[0])
	if err != nil {
		t.Fatal(err)
	}

	descriptions := map[string][]string{"xlsx": nil}
	for name, raw := range map[string]string{"csv": std.String(), "br.csv": strings.TrimPrefix(br.String(), "\ufeff")} {
		r := csv.NewReader(strings.NewReader(raw))
		if name == "br.csv" {
			r.Comma = ';'
		}
		recs, err := r.ReadAll()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, rec := range recs[1:] {
			descriptions[name] = append(descriptions[name], rec[3])
		}
		for i, line := range strings.Split(raw, "\n") {
			for _, piece := range strings.FieldsFunc(line, func(r rune) bool { return strings.ContainsRune(",;\t|", r) }) {
				if p := strings.TrimLeft(piece, ` "`); p != "" && strings.ContainsRune("=+@", rune(p[0])) {
					t.Errorf("%s line %d: the piece %q starts a formula", name, i+1, piece)
				}
			}
		}
	}
	for _, row := range sheetRows[1:] {
		descriptions["xlsx"] = append(descriptions["xlsx"], row[3])
		for _, piece := range strings.FieldsFunc(row[3], func(r rune) bool { return strings.ContainsRune(",;\t|", r) }) {
			if p := strings.TrimLeft(piece, " "); p != "" && strings.ContainsRune("=+@", rune(p[0])) {
				t.Errorf("xlsx: the piece %q of %q starts a formula", piece, row[3])
			}
		}
	}
	for name, got := range descriptions {
		found := 0
		for _, d := range got {
			if want[d] {
				found++
			}
		}
		if found != len(want) {
			t.Errorf("%s descriptions %q, want both guarded descriptions %q", name, got, slices.Collect(maps.Keys(want)))
		}
	}
}
