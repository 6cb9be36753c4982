package views

import (
	"context"
	"strconv"
	"strings"
	"time"
)

// DiagnosticsVM feeds /diagnostics: one report of the checks, made for this request.
type DiagnosticsVM struct {
	Env       string // "embedded" | "sandbox" | "production"
	KlaviHost string // host of KLAVI_BASE_URL; "" for the embedded sandbox
	Worst     string // the worst verdict: "ok" | "warning" | "failing"
	At        time.Time
	Checks    []DiagCheck
	// Calls are this replica's Klavi calls over the window, per endpoint; Truncated when the window held more than
	// RingSize attempts (the figures then cover the newest RingSize).
	Calls     []DiagCallRow
	Window    time.Duration
	Truncated bool
	RingSize  int
	Build     DiagBuild
}

// DiagCheck is one check's verdict, figures and, when it is not ok, why and what to do.
type DiagCheck struct {
	ID     string // "credentials", "roundtrip", ...: the texts are "diag.check.<id>" and "diag.help.<id>"
	Status string // "ok" | "warning" | "failing" | "unknown"
	Reason string // "" or a code: its text is "diag.reason.<reason>"
	Detail string // technical detail (masked), shown as is
	Facts  []DiagFact
	Took   time.Duration
}

// DiagFact is one figure. Kind says which value field holds it and how it is shown.
type DiagFact struct {
	Key  string // its label is "diag.fact.<key>"
	Kind string // "duration" | "offset" (a signed duration) | "time" | "bytes" | "ratio" | "int" | "text" | "key"
	D    time.Duration
	T    time.Time
	N    int64
	R    float64
	S    string // text, or a message key for Kind "key"
}

// DiagCallRow is one endpoint's Klavi calls over the window.
type DiagCallRow struct {
	Method, Endpoint string
	Calls, Failures  int
	FailureRate      float64
	P95              time.Duration
}

// DiagBuild is the binary's version and the process's uptime.
type DiagBuild struct {
	Version, Commit, GoVersion string
	CommitTime, BuiltAt        time.Time
	Modified                   bool
	Uptime                     time.Duration
}

// diagStatusLabel is the word next to a status dot (the dot's colour is never the only sign).
func diagStatusLabel(ctx context.Context, status string) string { return T(ctx, "diag.status."+status) }

// diagStatusMark is a glyph per status, so the dot differs in shape too.
func diagStatusMark(status string) string {
	switch status {
	case "ok":
		return "✓"
	case "warning":
		return "!"
	case "failing":
		return "✕"
	}
	return "?"
}

// DiagFactValue formats a figure for the reader's language.
func DiagFactValue(ctx context.Context, f DiagFact) string {
	switch f.Kind {
	case "duration":
		return Duration(ctx, f.D)
	case "offset":
		if f.D < 0 {
			return "−" + Duration(ctx, -f.D)
		}
		return "+" + Duration(ctx, f.D)
	case "time":
		return DateTimeFor(ctx, f.T)
	case "bytes":
		return ByteSize(ctx, f.N)
	case "ratio":
		return Percent(ctx, f.R)
	case "int":
		return strconv.FormatInt(f.N, 10)
	case "key":
		return T(ctx, f.S)
	}
	return f.S
}

// decimal formats v with one decimal, a comma in Portuguese and a point in English.
func decimal(ctx context.Context, v float64) string {
	s := strconv.FormatFloat(v, 'f', 1, 64)
	if LangFrom(ctx) == PT {
		s = strings.Replace(s, ".", ",", 1)
	}
	return s
}

// Duration formats a (non-negative) duration for people: "850 ms", "1,2 s", "3 min 20 s", "2 h 05 min", "3 d 4 h".
func Duration(ctx context.Context, d time.Duration) string {
	switch {
	case d < 0:
		d = 0
		fallthrough
	case d < time.Millisecond:
		if d == 0 {
			return "0 ms"
		}
		return "< 1 ms"
	case d < time.Second:
		return strconv.FormatInt(d.Milliseconds(), 10) + " ms"
	case d < 10*time.Second:
		return decimal(ctx, d.Seconds()) + " s"
	case d < time.Minute:
		return strconv.Itoa(int(d.Seconds())) + " s"
	case d < time.Hour:
		m, s := int(d/time.Minute), int(d%time.Minute/time.Second)
		if s == 0 {
			return strconv.Itoa(m) + " min"
		}
		return strconv.Itoa(m) + " min " + strconv.Itoa(s) + " s"
	case d < 48*time.Hour:
		h, m := int(d/time.Hour), int(d%time.Hour/time.Minute)
		return strconv.Itoa(h) + " h " + twoDigits(m) + " min"
	}
	days, h := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour)
	return strconv.Itoa(days) + " d " + strconv.Itoa(h) + " h"
}

func twoDigits(n int) string {
	if n < 10 {
		return "0" + strconv.Itoa(n)
	}
	return strconv.Itoa(n)
}

// ByteSize formats a size in bytes: "512 B", "12,3 KiB", "4,0 MiB", "1,2 GiB".
func ByteSize(ctx context.Context, n int64) string {
	if n < 1024 {
		return strconv.FormatInt(n, 10) + " B"
	}
	v, unit := float64(n)/1024, "KiB"
	for _, u := range []string{"MiB", "GiB", "TiB"} {
		if v < 1024 {
			break
		}
		v, unit = v/1024, u
	}
	return decimal(ctx, v) + " " + unit
}

// Percent formats a share between 0 and 1: "4,5%" / "4.5%".
func Percent(ctx context.Context, r float64) string { return decimal(ctx, r*100) + "%" }

// shortCommit is the first 12 characters of a commit hash.
func shortCommit(c string) string {
	if len(c) > 12 {
		return c[:12]
	}
	return c
}

// EnvLabel is the name of an environment ("embedded", "sandbox", "production").
func EnvLabel(ctx context.Context, env string) string { return T(ctx, "env."+env) }

// orUnknown is v, or "unknown" when it is empty.
func orUnknown(ctx context.Context, v string) string {
	if v == "" {
		return T(ctx, "diag.build.unknown")
	}
	return v
}
