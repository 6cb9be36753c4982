package views

import (
	"context"
	"strconv"
	"strings"

	"github.com/klavi-demo/portal/consent"
)

// Scenarios is the sandbox test table shown on the start page when the embedded sandbox runs
// (README.md "Sandbox scenarios").
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
	{"258.258.258-19", "personal", "scn.outoforder"},
	{"11.222.333/0001-81", "business", "scn.biz"},
	{"12.ABC.345/01DE-35", "business", "scn.bizalnum"},
	{"33.444.555/0001-81", "business", "scn.bizdeny"},
}

// StatusLabel is the human label of a consent status; unknown statuses are shown as sent.
func StatusLabel(ctx context.Context, status consent.Status) string {
	if _, ok := messages["status."+string(status)]; ok {
		return T(ctx, "status."+string(status))
	}
	if status == "" {
		return T(ctx, "status.unknown")
	}
	return string(status)
}

// statusClass groups statuses into the badge colours.
func statusClass(status consent.Status) string {
	switch status {
	case consent.Authorised:
		return "ok"
	case consent.Rejected, consent.Error:
		return "danger"
	case consent.Expired, consent.Revoked, consent.DeletedByUser:
		return "muted"
	default: // the steps before an authorisation, and unknown statuses
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
	if parts := strings.Split(result, "; "); len(parts) > 1 {
		// A delivery with several events: each one's result.
		for i, p := range parts {
			parts[i] = ResultLabel(ctx, p)
		}
		return strings.Join(parts, "; ")
	}
	if rest, ok := strings.CutPrefix(result, "dead: "); ok {
		if why, ok := strings.CutPrefix(rest, "retry: "); ok {
			return T(ctx, "result.dead") + ": " + legacyText(ctx, why)
		}
		return T(ctx, "result.dead") + ": " + ResultLabel(ctx, rest)
	}
	if rest, ok := strings.CutPrefix(result, "retry: "); ok {
		return T(ctx, "result.retry") + ": " + legacyText(ctx, rest)
	}
	if _, ok := messages["result."+result]; ok {
		return T(ctx, "result."+result)
	}
	// Other "ignored: <event or reason>" results keep their technical tail but get a translated verb.
	if rest, ok := strings.CutPrefix(result, "ignored: "); ok {
		return T(ctx, "result.ignored") + ": " + legacyText(ctx, rest)
	}
	return result
}

// MissingProduct is a requested product without a report yet: State is "failed" (Klavi said
// product_generated_failed), "waiting" (the page is still live) or "missing" (no longer expected to arrive).
type MissingProduct struct {
	Product, State string
}

// missingProducts lists the requested products that have no report, so that a failure is visible where the
// reports are and not only as a red dot in the timeline. Failures are read from the timeline entries the
// handlers write for product_generated_failed (detail "<product>[: message]").
func missingProducts(vm ConsentVM) []MissingProduct {
	if vm.Status != consent.Authorised && len(vm.Reports) == 0 {
		return nil
	}
	if !vm.ReportsRequested && len(vm.Reports) == 0 {
		return nil
	}
	got := map[string]bool{}
	for _, r := range vm.Reports {
		got[r.Product] = true
	}
	failed := FailedProducts(vm.Timeline)
	var out []MissingProduct
	for _, p := range vm.Products {
		switch {
		case got[p]:
		case failed[p]:
			out = append(out, MissingProduct{p, "failed"})
		case vm.Live:
			out = append(out, MissingProduct{p, "waiting"})
		default:
			out = append(out, MissingProduct{p, "missing"})
		}
	}
	return out
}

// PermissionLabel is the human name of an Open Finance permission group ("ACCOUNTS_ALL" → "Contas"); unknown
// values are shown as sent.
func PermissionLabel(ctx context.Context, p string) string {
	if _, ok := messages["perm."+p]; ok {
		return T(ctx, "perm."+p)
	}
	return p
}

func expiryLabel(ctx context.Context, status consent.Status) string {
	switch status {
	case consent.Expired:
		return T(ctx, "consent.expired_on")
	case consent.Revoked, consent.DeletedByUser:
		return T(ctx, "consent.was_valid_until")
	}
	return T(ctx, "consent.expires")
}

// expiryValue hides the expiry of a consent that never became valid (rejected, error, still awaiting): a date
// there would suggest something is active.
func expiryValue(ctx context.Context, vm ConsentVM) string {
	switch vm.Status {
	case consent.Authorised, consent.Expired, consent.Revoked, consent.DeletedByUser:
		if vm.ExpireAt == "" && vm.ValidityPeriod == 0 {
			return T(ctx, "consent.no_end")
		}
		return DateFor(ctx, isoDateInBRT(vm.ExpireAt))
	case consent.Rejected, consent.Error:
		return T(ctx, "consent.never_valid")
	}
	return T(ctx, "consent.not_valid_yet")
}

func noPermissionsText(ctx context.Context, status consent.Status) string {
	switch status {
	case consent.Rejected, consent.Error, consent.Expired:
		return T(ctx, "consent.no_permissions_final")
	}
	return T(ctx, "consent.no_permissions")
}

func anyWaiting(ms []MissingProduct) bool {
	for _, m := range ms {
		if m.State == "waiting" {
			return true
		}
	}
	return false
}

// statusHelp says in one sentence what the status means for the person and what happens next.
func statusHelp(ctx context.Context, vm ConsentVM) string {
	if vm.StatusKey != "" {
		if HasMessage(vm.StatusKey + ".help") {
			return T(ctx, vm.StatusKey+".help")
		}
	}
	key := "status.help." + string(vm.Status)
	if !HasMessage(key) {
		return T(ctx, "status.help.other")
	}
	if vm.Status == consent.Authorised && len(vm.Reports) > 0 {
		return T(ctx, "status.help.AUTHORISED_reports")
	}
	return T(ctx, key)
}

// consentAnnouncement is what screen readers hear when the live part changes: the status and how many reports
// arrived. app.js copies it into the polite live region when it differs from the previous one.
func consentAnnouncement(ctx context.Context, vm ConsentVM) string {
	label := StatusLabel(ctx, vm.Status)
	if vm.StatusKey != "" {
		label = T(ctx, vm.StatusKey)
	}
	s := Tf(ctx, "ann.status", label)
	if n := len(vm.Reports); n > 0 {
		s += " " + Tf(ctx, "ann.reports", n)
	}
	return s
}

// reportsExpected tells how long the reports have been awaited and how long they usually take.
func reportsExpected(ctx context.Context, vm ConsentVM) string {
	if vm.ReportsWaiting <= 0 {
		return T(ctx, "consent.reports_expected")
	}
	return Tf(ctx, "consent.reports_waited", int(vm.ReportsWaiting.Seconds()))
}
