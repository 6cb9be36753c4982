package views

import (
	"context"
	"math"
	"testing"
	"time"
)

func TestBRL(t *testing.T) {
	t.Parallel()
	tests := []struct {
		units      int64
		want, sign string
	}{
		{0, "R$ 0,00", "R$ 0,00"},
		{1, "R$ 0,00", "R$ 0,00"},                   // 0.0001 rounds down
		{49, "R$ 0,00", "R$ 0,00"},                  // 0.0049
		{50, "R$ 0,01", "+R$ 0,01"},                 // 0.005 → half away from zero
		{-49, "R$ 0,00", "R$ 0,00"},                 // no "-R$ 0,00"
		{-50, "-R$ 0,01", "-R$ 0,01"},               // half away from zero, negative side
		{9999, "R$ 1,00", "+R$ 1,00"},               // 0.9999
		{10000, "R$ 1,00", "+R$ 1,00"},              // 1.0000
		{10049, "R$ 1,00", "+R$ 1,00"},              // 1.0049
		{10050, "R$ 1,01", "+R$ 1,01"},              // 1.0050
		{100000, "R$ 10,00", "+R$ 10,00"},           // 10
		{-100000, "-R$ 10,00", "-R$ 10,00"},         // -10
		{12345600, "R$ 1.234,56", "+R$ 1.234,56"},   // 1234.56
		{-12345600, "-R$ 1.234,56", "-R$ 1.234,56"}, // -1234.56
		{10000400, "R$ 1.000,04", "+R$ 1.000,04"},   // Klavi's "1000.0400"
		{12345678900, "R$ 1.234.567,89", "+R$ 1.234.567,89"},
		{9999999950, "R$ 1.000.000,00", "+R$ 1.000.000,00"}, // 999999.995 carries into the millions
		{1000000000, "R$ 100.000,00", "+R$ 100.000,00"},
		{math.MaxInt64, "R$ 922.337.203.685.477,58", "+R$ 922.337.203.685.477,58"},
		{math.MinInt64, "-R$ 922.337.203.685.477,58", "-R$ 922.337.203.685.477,58"},
	}
	for _, tt := range tests {
		if got := BRL(tt.units); got != tt.want {
			t.Errorf("BRL(%d) = %q, want %q", tt.units, got, tt.want)
		}
		if got := BRLSigned(tt.units); got != tt.sign {
			t.Errorf("BRLSigned(%d) = %q, want %q", tt.units, got, tt.sign)
		}
	}
}

func TestDates(t *testing.T) {
	t.Parallel()
	pt := WithLang(context.Background(), PT)
	en := WithLang(context.Background(), EN)
	tests := []struct {
		in, br, en string
	}{
		{"2021-05-01", "01/05/2021", "2021-05-01"},
		{"2016-01-29T12:29:03.374Z", "29/01/2016", "2016-01-29"},
		{"2021-02-30", "2021-02-30", "2021-02-30"}, // not a date: shown as sent
		{"", "", ""},
		{"01/05/2021", "01/05/2021", "01/05/2021"},
		{"2021-05-01x", "2021-05-01x", "2021-05-01x"},
		{"garbage", "garbage", "garbage"},
	}
	for _, tt := range tests {
		if got := DateBR(tt.in); got != tt.br {
			t.Errorf("DateBR(%q) = %q, want %q", tt.in, got, tt.br)
		}
		if got := DateFor(pt, tt.in); got != tt.br {
			t.Errorf("DateFor(pt, %q) = %q, want %q", tt.in, got, tt.br)
		}
		if got := DateFor(en, tt.in); got != tt.en {
			t.Errorf("DateFor(en, %q) = %q, want %q", tt.in, got, tt.en)
		}
	}

	months := []struct{ in, pt, en string }{
		{"2021-05", "05/2021", "2021-05"},
		{"2021-13", "2021-13", "2021-13"},
		{"", "", ""},
	}
	for _, tt := range months {
		if got := MonthFor(pt, tt.in); got != tt.pt {
			t.Errorf("MonthFor(pt, %q) = %q, want %q", tt.in, got, tt.pt)
		}
		if got := MonthFor(en, tt.in); got != tt.en {
			t.Errorf("MonthFor(en, %q) = %q, want %q", tt.in, got, tt.en)
		}
	}

	at := time.Date(2026, 11, 25, 10, 20, 5, 0, time.UTC)
	if got, want := DateTimeFor(pt, at), "25/11/2026 07:20:05 BRT"; got != want {
		t.Errorf("DateTimeFor(pt) = %q, want %q", got, want)
	}
	if got, want := DateTimeFor(en, at), "2026-11-25 07:20:05 BRT"; got != want {
		t.Errorf("DateTimeFor(en) = %q, want %q", got, want)
	}
	if got := DateTimeFor(pt, time.Time{}); got != "" {
		t.Errorf("DateTimeFor(zero) = %q, want empty", got)
	}
	if got, want := LocalDateTimeFor(pt, "2019-12-23T06:10:43"), "23/12/2019 06:10:43"; got != want {
		t.Errorf("LocalDateTimeFor(pt) = %q, want %q", got, want)
	}
	if got, want := LocalDateTimeFor(en, "2019-12-23T06:10:43"), "2019-12-23 06:10:43"; got != want {
		t.Errorf("LocalDateTimeFor(en) = %q, want %q", got, want)
	}
	if got := LocalDateTimeFor(pt, "soon"); got != "soon" {
		t.Errorf("LocalDateTimeFor(garbage) = %q", got)
	}
}

func TestUsageClassAndLabel(t *testing.T) {
	t.Parallel()
	for pct, want := range map[int]string{-5: "usage-0", 0: "usage-0", 9: "usage-0", 10: "usage-10", 55: "usage-50",
		99: "usage-90", 100: "usage-100", 250: "usage-100"} {
		if got := UsageClass(pct); got != want {
			t.Errorf("UsageClass(%d) = %q, want %q", pct, got, want)
		}
	}
	pt := WithLang(context.Background(), PT)
	en := WithLang(context.Background(), EN)
	if got := codeLabel(pt, "rpt.txtype.", "TARIFA_SERVICOS_AVULSOS"); got != "Tarifa" {
		t.Errorf("label known = %q", got)
	}
	if got := codeLabel(en, "rpt.txtype.", "TARIFA_SERVICOS_AVULSOS"); got != "Fee" {
		t.Errorf("label known en = %q", got)
	}
	if got := codeLabel(pt, "rpt.txtype.", "NOVO_TIPO_X"); got != "Novo tipo x" {
		t.Errorf("label unknown = %q", got)
	}
	if got := ProductLabel(pt, "pf_checking_account"); got != "Conta corrente (PF)" {
		t.Errorf("ProductLabel pt = %q", got)
	}
	if got := ProductLabel(en, "pf_checking_account"); got != "Checking account (personal)" {
		t.Errorf("ProductLabel en = %q", got)
	}
	if got := ProductLabel(en, "pf_mystery"); got != "pf_mystery" {
		t.Errorf("ProductLabel unknown = %q", got)
	}
}
