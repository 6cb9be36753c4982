package views

import (
	"context"
	"strconv"
	"strings"
)

// Scenarios is the sandbox test table shown on the start page when the embedded sandbox runs
// (CONTRACT.md "Scenario catalogue").
var Scenarios = []Scenario{
	{"529.982.247-25", "personal", "scn.approve"},
	{"111.444.777-35", "personal", "scn.deny"},
	{"222.333.444-05", "personal", "scn.error"},
	{"333.444.555-08", "personal", "scn.lgpd"},
	{"444.555.666-19", "personal", "scn.twice"},
	{"555.666.777-20", "personal", "scn.early"},
	{"666.777.888-30", "personal", "scn.nowebhook"},
	{"777.888.999-41", "personal", "scn.badsig"},
	{"888.999.000-78", "personal", "scn.slow"},
	{"123.123.123-87", "personal", "scn.onefails"},
	{"321.321.321-78", "personal", "scn.large"},
	{"11.222.333/0001-81", "business", "scn.biz"},
	{"12.ABC.345/01DE-35", "business", "scn.bizalnum"},
	{"33.444.555/0001-81", "business", "scn.bizdeny"},
}

// Statuses lists the consent statuses in flow order (for filters).
var Statuses = []string{"STARTED", "AWAITING_AUTHORISATION", "AWAITING_LGPD_AUTHORISATION", "AUTHORISED",
	"REJECTED", "ERROR", "EXPIRED", "REVOKED", "DELETED_BY_USER"}

// StatusLabel is the human label of a consent status; unknown statuses are shown as sent.
func StatusLabel(ctx context.Context, status string) string {
	if _, ok := messages["status."+status]; ok {
		return T(ctx, "status."+status)
	}
	if status == "" {
		return T(ctx, "status.unknown")
	}
	return status
}

// statusClass groups statuses into the badge colours.
func statusClass(status string) string {
	switch status {
	case "AUTHORISED":
		return "ok"
	case "REJECTED", "ERROR":
		return "danger"
	case "EXPIRED", "REVOKED", "DELETED_BY_USER":
		return "muted"
	case "STARTED", "AWAITING_AUTHORISATION", "AWAITING_LGPD_AUTHORISATION":
		return "pending"
	default:
		return "pending"
	}
}

// ResourceLabel is the human label of an availableResources value.
func ResourceLabel(ctx context.Context, r string) string {
	if _, ok := messages["res."+r]; ok {
		return T(ctx, "res."+r)
	}
	return r
}

func personLabel(ctx context.Context, businessType string) string {
	switch businessType {
	case "NATURAL":
		return T(ctx, "inst.person_natural")
	case "LEGAL":
		return T(ctx, "inst.person_legal")
	default:
		return T(ctx, "inst.person_both")
	}
}

func kindOf(it InstitutionItem) string {
	if it.OpenData {
		return "opendata"
	}
	return "openfinance"
}

func validityLabel(ctx context.Context, months int) string {
	if months == 0 {
		return T(ctx, "new.v0")
	}
	return T(ctx, "new.v12")
}

func kindLabel(ctx context.Context, kind string) string {
	switch kind {
	case "event":
		return T(ctx, "webhooks.kind_event")
	case "report":
		return T(ctx, "webhooks.kind_report")
	}
	return kind
}

func validInvalidLabel(ctx context.Context, ok bool) string {
	if ok {
		return T(ctx, "webhooks.valid")
	}
	return T(ctx, "webhooks.invalid")
}

func yesNo(ctx context.Context, b bool) string {
	if b {
		return T(ctx, "webhooks.yes")
	}
	return T(ctx, "webhooks.no")
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func validInvalid(b bool) string {
	if b {
		return "valid"
	}
	return "invalid"
}

func trueFalse(b bool) string { return strconv.FormatBool(b) }

func itoa(n int) string { return strconv.Itoa(n) }

func i64(n int64) string { return strconv.FormatInt(n, 10) }

// Initials returns up to two letters for the logo fallback ("Banco do Brasil" → "BB").
func Initials(name string) string {
	var out []rune
	for _, w := range strings.Fields(name) {
		r := []rune(w)
		if len(r) == 0 || strings.ContainsRune("dDeE", r[0]) && len(r) <= 3 {
			continue // skip "de", "do", "e"
		}
		out = append(out, []rune(strings.ToUpper(string(r[0])))...)
		if len(out) == 2 {
			break
		}
	}
	if len(out) == 0 {
		r := []rune(strings.ToUpper(name))
		if len(r) > 2 {
			r = r[:2]
		}
		return string(r)
	}
	return string(out)
}

// ResultLabel translates the processing results the portal records for webhook deliveries; anything else
// (e.g. "ignored: <event name>") is shown as recorded.
func ResultLabel(ctx context.Context, result string) string {
	if _, ok := messages["result."+result]; ok {
		return T(ctx, "result."+result)
	}
	return result
}
