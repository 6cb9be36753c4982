package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/klavi-demo/portal/consent"
	"github.com/klavi-demo/portal/klavi/taxid"
	"github.com/klavi-demo/portal/store"
	"github.com/klavi-demo/portal/views"
)

// The support bundle: everything support (ours or Klavi's) needs about one consent, and nothing personal. It is
// built from an allow-list: each field below is copied on purpose, so a column added to the store later does not
// slip into it. Left out by design: CPF, CNPJ, holder and device refs (pseudonyms of them), names, email, phone,
// link token, session, track id, webhook and report bodies, transactions, and the free text a bank or an older
// version wrote on the timeline.

// supportBundleVersion names the bundle's shape, so a reader can tell which fields to expect.
const supportBundleVersion = 1

type supportBundle struct {
	Version       int              `json:"bundleVersion"`
	GeneratedAt   time.Time        `json:"generatedAt"`
	Note          string           `json:"note"`
	Portal        supportPortal    `json:"portal"`
	Consent       supportConsent   `json:"consent"`
	StatusChanges []supportChange  `json:"statusChanges"`
	Timeline      []supportEntry   `json:"timeline"`
	KlaviCalls    []supportCall    `json:"klaviCalls"`
	Webhooks      []supportWebhook `json:"webhooks"`
	Reports       []supportReport  `json:"reports"`
}

type supportPortal struct {
	Environment string `json:"environment,omitempty"` // embedded | sandbox | production
	Version     string `json:"version,omitempty"`
	Commit      string `json:"commit,omitempty"`
}

type supportConsent struct {
	ID                   string     `json:"consentId"`
	LinkID               string     `json:"linkId"`
	InstitutionCode      string     `json:"institutionCode"`
	InstitutionName      string     `json:"institutionName"`
	PersonType           string     `json:"personType"`
	Status               string     `json:"status"`
	CreatedAt            time.Time  `json:"createdAt"`
	UpdatedAt            time.Time  `json:"statusChangedAt"`
	CallbackAt           *time.Time `json:"callbackAt,omitempty"`
	ValidityPeriodMonths int        `json:"validityPeriodMonths"`
	ExpireAt             string     `json:"expireAt,omitempty"`
	PermissionsRequested []string   `json:"permissionsRequested"`
	PermissionsGranted   []string   `json:"permissionsGranted"`
	CallbackError        string     `json:"callbackError,omitempty"` // the bank's error code (access_denied...), never its description
	ReportsRequestedAt   *time.Time `json:"reportsRequestedAt,omitempty"`
	ReportRequestID      string     `json:"reportRequestId,omitempty"`
	NextPollAt           *time.Time `json:"nextPollAt,omitempty"`
	PollAttempts         int        `json:"pollAttempts"`
}

type supportChange struct {
	At   time.Time `json:"at"`
	From string    `json:"from"`
	To   string    `json:"to"`
	Via  string    `json:"via,omitempty"` // callback, webhook, poll, revoke
}

type supportEntry struct {
	At      time.Time   `json:"at"`
	LastAt  *time.Time  `json:"lastAt,omitempty"`
	Repeats int         `json:"repeats,omitempty"`
	Kind    string      `json:"kind"`
	OK      bool        `json:"ok"`
	Title   supportMsg  `json:"title"`
	Detail  *supportMsg `json:"detail,omitempty"`
}

// supportMsg is a timeline line as its message key and arguments, plus its English text.
type supportMsg struct {
	Key  string   `json:"key"`
	Args []string `json:"args,omitempty"`
	Text string   `json:"text"`
}

type supportCall struct {
	At         time.Time `json:"at"`
	Method     string    `json:"method"`
	Endpoint   string    `json:"endpoint"`
	Status     int       `json:"status"` // 0: no answer
	Attempt    int       `json:"attempt"`
	DurationMS int64     `json:"durationMs"`
	RequestID  string    `json:"requestId"`
	For        string    `json:"for"` // "consent" or "link"
}

type supportWebhook struct {
	DeliveryID     int64     `json:"deliveryId"`
	Kind           string    `json:"kind"`
	ReceivedAt     time.Time `json:"receivedAt"`
	SignatureValid bool      `json:"signatureValid"`
	Keys           []string  `json:"keys"` // eventIds or the productReportId
	EventNames     []string  `json:"eventNames"`
	Duplicate      bool      `json:"duplicate"`
	Result         string    `json:"result"`
	Size           int       `json:"sizeBytes"`
}

type supportReport struct {
	ID             string    `json:"productReportId"`
	Product        string    `json:"product"`
	ProductVersion string    `json:"productVersion,omitempty"`
	Code           int       `json:"code"`
	Message        string    `json:"message,omitempty"`
	RequestID      string    `json:"requestId,omitempty"`
	DeliveryID     int64     `json:"deliveryId"`
	ReceivedAt     time.Time `json:"receivedAt"`
	Size           int       `json:"sizeBytes"`
}

// supportNote heads the bundle.
const supportNote = "Support bundle of one consent: ids, statuses, timeline, Klavi calls with their request ids, " +
	"webhook deliveries and reports. It holds no CPF, CNPJ, name, email, phone, account or transaction. Calls, " +
	"webhooks and report bodies of a link are deleted when its personal data is purged (retention)."

// supportLimit bounds each list of the bundle.
const supportLimit = 500

// handleSupportBundle answers GET /consents/{id}/support.json (operators only, audited): the consent's support
// bundle as a JSON download (the consent page's "copy for support" button fetches the same).
func (s *Server) handleSupportBundle(w http.ResponseWriter, r *http.Request) error {
	c, err := s.consentParam(r)
	if err != nil {
		return err
	}
	b, err := s.supportBundle(r.Context(), c)
	if err != nil {
		return err
	}
	body, err := json.MarshalIndent(b, "", "  ")
	if err != nil {
		return err
	}
	s.audit(r, "support_bundle", "consent "+c.ID, true)
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Disposition", `attachment; filename="support-`+c.ID+`.json"`) // the id is consent.ValidID's charset
	_, _ = w.Write(append(body, '\n'))
	return nil
}

// supportBundle gathers the bundle of consent c.
func (s *Server) supportBundle(ctx context.Context, c store.Consent) (supportBundle, error) {
	b := supportBundle{Version: supportBundleVersion, GeneratedAt: s.now().UTC(), Note: supportNote,
		Consent: supportConsent{
			ID: c.ID, LinkID: c.LinkID, InstitutionCode: c.InstitutionCode, InstitutionName: c.InstitutionName,
			PersonType: c.PersonType, Status: string(c.Status), CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt,
			CallbackAt: c.CallbackAt, ValidityPeriodMonths: c.ValidityPeriod, ExpireAt: c.ExpireAt,
			PermissionsRequested: nonNil(c.PermissionsApply), PermissionsGranted: nonNil(c.PermissionsGranted),
			CallbackError: c.ErrorCode, ReportsRequestedAt: c.ReportsRequestedAt, ReportRequestID: c.ReportRequestID,
			NextPollAt: c.NextPollAt, PollAttempts: c.PollAttempts,
		},
		StatusChanges: []supportChange{}, Timeline: []supportEntry{}, KlaviCalls: []supportCall{},
		Webhooks: []supportWebhook{}, Reports: []supportReport{},
	}
	if s.diag != nil {
		bi := s.diag.Build()
		b.Portal = supportPortal{Environment: string(s.diag.Environment()), Version: bi.Version, Commit: bi.Commit}
	}

	tl, err := s.st.Timeline(ctx, c.ID)
	if err != nil {
		return b, err
	}
	var keys []string // eventIds and productReportIds named on the timeline: they find the deliveries after a purge
	en := views.WithLang(ctx, views.EN)
	for _, e := range tl {
		if len(b.Timeline) >= supportLimit {
			break
		}
		entry := supportEntry{At: e.At, Kind: e.Kind, OK: e.OK, Title: supportText(en, e.Title)}
		if e.Repeats > 1 {
			entry.Repeats, entry.LastAt = e.Repeats, &e.LastAt
		}
		if !e.Detail.IsZero() {
			d := supportText(en, e.Detail)
			entry.Detail = &d
		}
		b.Timeline = append(b.Timeline, entry)
		switch e.Title.Key {
		case consent.TLStatusChanged, consent.TLPollChanged:
			if len(e.Title.Args) == 2 {
				ch := supportChange{At: e.At, From: e.Title.Args[0], To: e.Title.Args[1], Via: "poll"}
				if e.Title.Key == consent.TLStatusChanged {
					ch.Via = ""
					if e.Detail.Key == consent.TLObservedVia && len(e.Detail.Args) == 1 {
						ch.Via = e.Detail.Args[0]
					}
				}
				b.StatusChanges = append(b.StatusChanges, ch)
			}
		}
		switch e.Detail.Key {
		case consent.TLEventID, consent.TLEventIDStale, consent.TLReportReceivedDetail, consent.TLReportReceivedCode:
			if len(e.Detail.Args) > 0 {
				keys = append(keys, e.Detail.Args[0])
			}
		}
	}

	calls, err := s.st.KlaviCallsFor(ctx, c.ID, c.LinkID, supportLimit)
	if err != nil {
		return b, err
	}
	for _, k := range calls {
		subject := "link"
		if k.ConsentID == c.ID {
			subject = "consent"
		}
		b.KlaviCalls = append(b.KlaviCalls, supportCall{At: k.At, Method: k.Method, Endpoint: k.Endpoint, Status: k.Status,
			Attempt: k.Attempt, DurationMS: k.Duration.Milliseconds(), RequestID: k.RequestID, For: subject})
	}

	reps, err := s.st.ReportsForConsent(ctx, c.ID)
	if err != nil {
		return b, err
	}
	for _, rp := range reps {
		keys = append(keys, rp.ID)
		b.Reports = append(b.Reports, supportReport{ID: rp.ID, Product: rp.ProductName, ProductVersion: rp.ProductVersion,
			Code: rp.Code, Message: taxid.MaskText(rp.Message), RequestID: rp.RequestID, DeliveryID: rp.DeliveryID,
			ReceivedAt: rp.ReceivedAt, Size: rp.Size})
	}

	ds, err := s.st.DeliveriesFor(ctx, []string{c.ID, c.LinkID}, keys, supportLimit)
	if err != nil {
		return b, err
	}
	for _, d := range ds {
		b.Webhooks = append(b.Webhooks, supportWebhook{DeliveryID: d.ID, Kind: d.Kind, ReceivedAt: d.ReceivedAt,
			SignatureValid: d.SignatureValid, Keys: nonNil(d.Keys), EventNames: nonNil(d.EventNames), Duplicate: d.Duplicate,
			Result: taxid.MaskText(d.Result), Size: d.Size})
	}
	return b, nil
}

// supportText renders a timeline message for the bundle: its key, its arguments (masked) and its English text. Free
// text (a bank's error description, a line written before message keys) is left out: it is not ours to vouch for.
func supportText(en context.Context, m consent.Msg) supportMsg {
	if m.Key == consent.TLText || m.Key == consent.TLLegacy {
		return supportMsg{Key: m.Key, Text: "(free text left out of the support bundle)"}
	}
	out := supportMsg{Key: m.Key}
	for _, a := range m.Args {
		out.Args = append(out.Args, taxid.MaskText(a))
	}
	out.Text = taxid.MaskText(views.TimelineText(en, consent.Msg{Key: m.Key, Args: out.Args}))
	return out
}

// nonNil makes a nil list an empty one, so the JSON has [] rather than null.
func nonNil(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}
