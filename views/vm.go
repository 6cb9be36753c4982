package views

import (
	"context"
	"net/url"
	"strings"
	"time"

	"github.com/klavi-demo/portal/consent"
)

// Step is a page's place in the flow, shown by the step indicator.
type Step int

// The flow's steps.
const (
	StepNone        Step = iota // not part of the flow: no indicator
	StepIdentify                // 1 Identificação: person type and CPF/CNPJ
	StepInstitution             // 2 Instituição: the participant list
	StepAuthorise               // 3 Autorização: confirm, the bank, the return
	StepData                    // 4 Dados: the consent's reports
)

// Meta is what the layout needs from every page: title, the current path (for the language switch), the flow
// step (StepNone when the page is not part of the flow), asset URLs and whether a no-JS refresh is wanted.
type Meta struct {
	Title     string // already translated
	Path      string // validated current path, used as ?next= on the language links
	Step      Step   // where the page sits in the flow; StepNone hides the indicator
	Nav       string // "start", "consents", "webhooks": highlights the current menu item
	Refresh   bool   // adds <noscript><meta http-equiv="refresh" content="3"></noscript>
	CSS, JS   string // cache-busted asset URLs
	ReportCSS string // report page styles (static/css/report.css), scoped under .report
	Flash     string // message key shown once at the top of the page
	Operator  string // the signed-in operator's email; "" for a visitor
	Env       string // the Klavi in use, "embedded" | "sandbox" | "production", shown as a banner; "" for none
	// Brand and theme (handlers/brand.go, views/brand.go).
	BrandName  string // BRAND_NAME ("" shows the default)
	BrandMark  string // the letter mark shown without a logo
	LogoURL    string // the logo's URL; "" shows the letter mark
	SupportURL string // help link at the foot of the page; "" for none
	BrandCSS   string // the generated brand stylesheet's cache-busted URL
	DarkCSS    string // static/css/dark.css, linked with darkMedia()
	Theme      string // ThemeLight, ThemeDark or ThemeSystem ("" is ThemeSystem)
}

// StartVM feeds the start form. Errors and FormError hold message keys (translated in the view).
type StartVM struct {
	PersonType        string // "personal" | "business"
	TaxID             string // exactly what the user typed (shown back unmasked: it is their own input)
	RepresentativeCPF string
	Email, Phone      string
	Errors            map[string]string // field name → message key
	FormError         string            // message key
	SandboxHints      bool
}

// Scenario is one row of the sandbox test table on the start page.
type Scenario struct {
	TaxID, PersonType, Key string
}

// InstitutionItem is one institution in the picker.
type InstitutionItem struct {
	Code, Name, Avatar, Initials, OrgName string
	BusinessType                          string   // NATURAL, LEGAL, BOTH or ""
	Resources                             []string // availableResources
	Beta, Outage, OpenData                bool
	Degraded                              bool   // a partial outage: choosable, with a warning
	OtherPerson                           bool   // serves only the other person type than the flow's
	Search                                string // accent- and case-folded name + code, for live filtering
	Hidden                                bool   // filtered out (kept in the page so JS can show it again)
	// LinkStatus is the status of the newest consent for this institution on the flow's link, "" when none.
	LinkStatus consent.Status
}

// Taken reports whether the link already has a live (not final) consent for this institution.
func (i InstitutionItem) Taken() bool { return i.LinkStatus != "" && !i.LinkStatus.Terminal() }

// Choosable reports whether the user may start a consent with this institution.
func (i InstitutionItem) Choosable() bool {
	return !i.Outage && !i.OpenData && !i.OtherPerson && !i.Taken()
}

// InstitutionsVM feeds the picker. Items is the whole list; Hidden marks the filtered-out ones.
type InstitutionsVM struct {
	Q, Person, Resource, Kind string
	Items                     []InstitutionItem
	Visible                   int
	ResourceOptions           []string
	ErrorKey                  string
	Handoff                   *HandoffVM // the "continue on your phone" block; nil: not offered
}

// ConsentNewVM feeds the confirmation page before the consent is created.
type ConsentNewVM struct {
	Institution    InstitutionItem
	ValidityPeriod int
	PersonType     string
	TaxIDMasked    string
	FormError      string // message key
}

// TimelineItem is one line of a consent's timeline.
type TimelineItem struct {
	Kind          string
	Title, Detail consent.Msg // rendered by TimelineText in the reader's language
	OK            bool
	At            time.Time
	Repeats       int       // > 1: the same thing happened this many times (polls)
	LastAt        time.Time // when it last happened, for Repeats > 1
}

// ReportItem is one report in a list.
type ReportItem struct {
	ID, Product string
	Code        int
	Message     string
	ReceivedAt  time.Time
	Size        int
	Figures     []ReportFigure // key figures shown on the report's card (consent page); none when unreadable
}

// ReportFigure is one key figure of a report: "Saldo disponível R$ 432,99".
type ReportFigure struct {
	LabelKey string // catalogue key
	Value    string // already formatted
}

// ConsentVM feeds the consent page and its live fragment.
type ConsentVM struct {
	ID                               string
	Status                           consent.Status
	InstitutionCode, InstitutionName string
	TaxIDMasked, PersonType          string
	ValidityPeriod                   int
	ExpireAt                         string
	CreatedAt                        time.Time
	Requested, Granted               []string
	ErrorKey                         string // message key for consent-error, "" when none
	ErrorCode                        string // sanitised error value from the bank return
	CanRetry, CanRevoke, Live        bool
	ReportsRequested                 bool
	ReportRequestID                  string
	Products                         []string  // the products the portal requests for this person type, in display order
	SupportURL                       string    // operators only: the support bundle (/consents/{id}/support.json); "" otherwise
	StatusKey                        string    // catalogue key overriding the badge's label (an expired bank link is not "rejected")
	TipKey                           string    // a short tip for the failure shown in consent-error; "" when none
	CanChooseAnother                 bool      // the failure can be left by choosing another bank on this browser's link
	Operator                         bool      // an operator is reading: the technical details start open
	ReportsRequestedAt               time.Time // when the reports were asked for; zero when they were not (yet)
	LiveETag                         string    // the ETag of the live fragment as first rendered (the page, not the fragment)
	ReportsSlow                      bool      // reports are still expected after longer than they usually take
	Timeline                         []TimelineItem
	Reports                          []ReportItem
	Link                             *LinkStripVM // every institution of the consent's link; nil: none
}

// ConsentRow is one line of the consents list.
type ConsentRow struct {
	ID                                       string
	Status                                   consent.Status
	InstitutionName, TaxIDMasked, PersonType string
	CreatedAt                                time.Time
	Reports                                  int
}

// ConsentsVM feeds the consents list.
type ConsentsVM struct {
	Status consent.Status // the filter; "" for all
	// TaxID is set only on the answer to a failed POST /consents/search: what the user typed, shown back in the
	// input of that POST response. It never goes into a link: the list filters by Holder.
	TaxID      string
	TaxIDError string // message key
	// Holder is the holder ref filter (a keyed pseudonym of the CPF/CNPJ, safe in URLs); HolderMasked the masked
	// tax id it stands for, "" when no consent has that ref.
	Holder, HolderMasked string
	Rows                 []ConsentRow
	Statuses             []consent.Status
	Next                 string // opaque cursor of the next (older) page; "" on the last page
	Paged                bool   // not the first page: offer a link back to the newest
}

// ReportsListVM feeds /consents/{id}/reports.
type ReportsListVM struct {
	ConsentID, InstitutionName string
	Status                     consent.Status
	Reports                    []ReportItem
}

// WebhookRow is one delivery in the inbox page.
type WebhookRow struct {
	ID               int64
	Kind             string
	ReceivedAt       time.Time
	SignatureValid   bool
	Duplicate        bool
	Keys, EventNames []string
	Result           string // as stored: an encoded result (consent.R), or an older row's English text
	Size             int
	ConsentID        string // the consent the delivery names; "" when none
	ConsentKnown     bool   // a consent with that id is stored: the row links to it
	Rejected         bool   // refused on arrival: its events and ids were never read
}

// WebhooksVM feeds /webhooks.
type WebhooksVM struct {
	Rows      []WebhookRow
	Kind      string // filter: "" | "event" | "report"
	Signature string // filter: "" | "valid" | "invalid"
	Next      string // cursor (a delivery id) of the next (older) page; "" on the last page
	Paged     bool   // not the first page: offer a link back to the newest
}

// WebhookDetailVM feeds /webhooks/{id}; Body is already masked (taxid.MaskText).
type WebhookDetailVM struct {
	Row      WebhookRow
	Body     string
	ReportID string // for report deliveries: link to the rendered report instead of the body
	// NotReplayable is the message key saying why the delivery cannot be replayed; "" offers the replay button.
	NotReplayable string
	// ReplayError is set on the answer to a refused POST /webhooks/{id}/replay: the message key of why.
	ReplayError string
	Replays     []ReplayRow // newest first
}

// ErrorVM feeds the error pages. Keys are message keys.
type ErrorVM struct {
	Status            int
	TitleKey, MsgKey  string
	NextHref, NextKey string
}

// CallbackVM feeds the neutral and rejected callback pages.
type CallbackVM struct {
	Status int
}

// RevokeVM feeds the revoke confirmation page.
type RevokeVM struct {
	ID, InstitutionName, TaxIDMasked string
	Status                           consent.Status
}

// brt is Brasília time (UTC−3, no DST since 2019), the time zone of every Open Finance user.
var brt = time.FixedZone("BRT", -3*3600)

func join(ss []string) string { return strings.Join(ss, ", ") }

// Fold lower-cases s and removes Portuguese diacritics so that "São" matches "sao". It is shared with the
// handlers' search so server and browser filter the same way.
func Fold(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if f, ok := folds[r]; ok {
			b.WriteRune(f)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

var folds = map[rune]rune{
	'á': 'a', 'à': 'a', 'â': 'a', 'ã': 'a', 'ä': 'a', 'é': 'e', 'è': 'e', 'ê': 'e', 'ë': 'e',
	'í': 'i', 'ì': 'i', 'î': 'i', 'ï': 'i', 'ó': 'o', 'ò': 'o', 'ô': 'o', 'õ': 'o', 'ö': 'o',
	'ú': 'u', 'ù': 'u', 'û': 'u', 'ü': 'u', 'ç': 'c', 'ñ': 'n',
}

// TimeFor renders an instant in Brasília time in the UI language's date style: "25/11/2026 07:54:32" in
// Portuguese, "2026-11-25 07:54:32" in English (the same convention as the report pages).
func TimeFor(ctx context.Context, t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	if LangFrom(ctx) == EN {
		return t.In(brt).Format("2006-01-02 15:04:05")
	}
	return t.In(brt).Format("02/01/2006 15:04:05")
}

// isoUTC is a valid <time datetime> value for t ("" for the zero time).
func isoUTC(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05Z")
}

// isoDateInBRT turns a Klavi timestamp into the calendar date in Brasília ("2027-11-25"), for DateFor; a value
// that does not parse is returned unchanged.
func isoDateInBRT(s string) string {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.000Z07:00", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.In(brt).Format("2006-01-02")
		}
	}
	if s == "" {
		return "—"
	}
	return s
}

// LoginVM feeds the sign-in page. Error is a message key; with RetryMinutes > 0 it takes that number.
type LoginVM struct {
	Email, Next  string
	Error        string
	RetryMinutes int
	SSO          bool // single sign-on is configured
}

// SSOHref is the single sign-on button's link, carrying Next (escaped: it may hold a query of its own).
func (vm LoginVM) SSOHref() string { return "/login/oidc?next=" + url.QueryEscape(vm.Next) }

// SetupVM feeds the first-run page that creates the first operator.
type SetupVM struct {
	Token, Email string
	Error        string // message key
}

// MeVM feeds /me: the consents started in this browser.
type MeVM struct {
	Rows []ConsentRow
}

// AuditRow is one entry of the audit trail.
type AuditRow struct {
	At                        time.Time
	Actor, Action, Target, IP string
	OK                        bool
}

// AuditVM feeds /audit.
type AuditVM struct {
	Rows  []AuditRow
	Next  string // id of the last row, for the next (older) page; "" on the last page
	Paged bool
}
