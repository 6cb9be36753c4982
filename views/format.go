package views

import (
	"context"
	"strings"
	"time"
)

// Money and dates are formatted here, in one place, so that every page shows them the same way.
//
// Amounts arrive as int64 units of 1/10000 BRL (klavi.Amount.Units): Klavi sends four decimals as strings and the
// portal never turns them into floats, so rounding to cents happens once, here, on integers.

// BRL formats units (1/10000 BRL) in Brazilian style: "R$ 1.234,56", negative "-R$ 1.234,56". The value is rounded
// half away from zero to cents; a value that rounds to zero is shown as "R$ 0,00" without a sign. The format is the
// same in both UI languages: amounts in reais are always written the Brazilian way.
func BRL(units int64) string {
	neg, cents := centsOf(units)
	if neg {
		return "-R$ " + groupCents(cents)
	}
	return "R$ " + groupCents(cents)
}

// BRLSigned is BRL with an explicit sign, for transaction rows: "+R$ 10,00" / "-R$ 10,00". Zero (after rounding to
// cents) has no sign: "R$ 0,00".
func BRLSigned(units int64) string {
	neg, cents := centsOf(units)
	switch {
	case cents == 0:
		return "R$ 0,00"
	case neg:
		return "-R$ " + groupCents(cents)
	default:
		return "+R$ " + groupCents(cents)
	}
}

// centsOf returns the sign and the absolute value in cents, rounded half away from zero. It works on uint64 so that
// math.MinInt64 has an absolute value too.
func centsOf(units int64) (neg bool, cents uint64) {
	var abs uint64
	if units < 0 {
		neg = true
		abs = uint64(-(units + 1)) + 1 //nolint:gosec // G115: -(units+1) >= 0; -(MinInt64) overflows int64, not uint64
	} else {
		abs = uint64(units)
	}
	cents = abs/100 + (abs%100+50)/100
	return neg && cents != 0, cents
}

// groupCents writes cents as "1.234,56".
func groupCents(cents uint64) string {
	reais := cents / 100
	frac := cents % 100
	digits := uitoa(reais)
	var b strings.Builder
	b.Grow(len(digits) + len(digits)/3 + 3)
	for i, d := range []byte(digits) {
		if i > 0 && (len(digits)-i)%3 == 0 {
			b.WriteByte('.')
		}
		b.WriteByte(d)
	}
	b.WriteByte(',')
	b.WriteByte(byte('0' + frac/10))
	b.WriteByte(byte('0' + frac%10))
	return b.String()
}

func uitoa(u uint64) string {
	if u == 0 {
		return "0"
	}
	var buf [20]byte
	i := len(buf)
	for u > 0 {
		i--
		buf[i] = byte('0' + u%10)
		u /= 10
	}
	return string(buf[i:])
}

// isoDate reports whether s starts with a calendar date "YYYY-MM-DD" (a date-time such as
// "2016-01-29T12:29:03.374Z" qualifies too) and returns its parts.
func isoDate(s string) (y, m, d string, ok bool) {
	if len(s) < 10 || (len(s) > 10 && s[10] != 'T' && s[10] != ' ') {
		return "", "", "", false
	}
	if _, err := time.Parse("2006-01-02", s[:10]); err != nil {
		return "", "", "", false
	}
	return s[0:4], s[5:7], s[8:10], true
}

// DateBR formats an ISO date ("2021-05-01", or the date part of a date-time) as "01/05/2021". Anything that is not
// a valid date is returned unchanged, so a surprising value from a bank is shown rather than hidden.
func DateBR(isoDateStr string) string {
	y, m, d, ok := isoDate(isoDateStr)
	if !ok {
		return isoDateStr
	}
	return d + "/" + m + "/" + y
}

// DateFor formats an ISO date for the UI language in ctx: "01/05/2021" in Portuguese, "2021-05-01" in English
// (ISO, because both "05/01" and "01/05" would mislead someone). Invalid input is returned unchanged.
func DateFor(ctx context.Context, iso string) string {
	if LangFrom(ctx) == EN {
		if _, _, _, ok := isoDate(iso); ok {
			return iso[:10]
		}
		return iso
	}
	return DateBR(iso)
}

// MonthFor formats a bill month "2021-05" as "05/2021" (Portuguese) or "2021-05" (English). Invalid input is
// returned unchanged.
func MonthFor(ctx context.Context, ym string) string {
	if _, err := time.Parse("2006-01", ym); err != nil || len(ym) != 7 {
		return ym
	}
	if LangFrom(ctx) == EN {
		return ym
	}
	return ym[5:7] + "/" + ym[0:4]
}

// brasilia is Brasília time. Brazil has had no daylight saving time since 2019, so a fixed zone is exact and needs
// no tzdata in the container.
var brasilia = time.FixedZone("BRT", -3*60*60)

// DateTimeFor formats an instant in Brasília time: "25/11/2026 07:20:05 BRT" (Portuguese) or
// "2026-11-25 07:20:05 BRT" (English). The zero time gives "".
func DateTimeFor(ctx context.Context, t time.Time) string {
	if t.IsZero() {
		return ""
	}
	t = t.In(brasilia)
	if LangFrom(ctx) == EN {
		return t.Format("2006-01-02 15:04:05 MST")
	}
	return t.Format("02/01/2006 15:04:05 MST")
}

// parseKlaviTime parses a date-time sent by Klavi. productReportTime has no zone in Klavi's examples
// ("2019-12-23T06:10:43"); a value with a zone (RFC 3339) or fractional seconds is accepted too. zoned reports
// whether the value carried its own offset.
func parseKlaviTime(s string) (t time.Time, zoned, ok bool) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, true, true
	}
	for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, false, true
		}
	}
	return time.Time{}, false, false
}

// LocalDateTimeFor formats a date-time string sent by Klavi in the UI's date style (dd/mm/yyyy hh:mm:ss in
// Portuguese, yyyy-mm-dd hh:mm:ss in English). A zone-less value (productReportTime) is shown exactly as sent,
// with no zone: we do not know Klavi's and must not invent one. A value with its own offset is converted to
// Brasília time like every other time on the page (DateTimeFor). Anything unparseable is returned unchanged.
func LocalDateTimeFor(ctx context.Context, s string) string {
	t, zoned, ok := parseKlaviTime(s)
	if !ok {
		return s
	}
	if zoned {
		return DateTimeFor(ctx, t)
	}
	if LangFrom(ctx) == EN {
		return t.Format("2006-01-02 15:04:05")
	}
	return t.Format("02/01/2006 15:04:05")
}

// LocalDateTimeAttr is the <time datetime> value for a Klavi date-time: a valid HTML "local date and time"
// (no zone) for a zone-less value, RFC 3339 in UTC for a zoned one, "" when s cannot be parsed.
func LocalDateTimeAttr(s string) string {
	t, zoned, ok := parseKlaviTime(s)
	switch {
	case !ok:
		return ""
	case zoned:
		return t.UTC().Format("2006-01-02T15:04:05Z")
	default:
		return t.Format("2006-01-02T15:04:05")
	}
}

// LocalDateTimeZoneless reports whether s is a valid date-time without a zone, i.e. one shown as sent (the
// page says so next to it).
func LocalDateTimeZoneless(s string) bool {
	_, zoned, ok := parseKlaviTime(s)
	return ok && !zoned
}
