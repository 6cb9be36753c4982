// Package flow is the consent lifecycle: it decides what an observed status changes (ApplyStatus), asks Klavi for
// the reports exactly once (RequestReports), erases a link's personal data when its holder deletes the consent
// (Purge), and runs the background loops that finish what browsers and webhooks start (Run: inbox worker,
// reconciler, retention, holder-ref backfill). It knows nothing of HTTP or pages: handlers call it, and main
// starts Run. See docs/architecture.md.
package flow

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/klavi-demo/portal/consent"
	"github.com/klavi-demo/portal/klavi"
	"github.com/klavi-demo/portal/klavi/taxid"
	"github.com/klavi-demo/portal/store"
)

// Klavi is the part of *klavi.Client the lifecycle uses; tests pass fakes.
type Klavi interface {
	Consent(ctx context.Context, consentID string) (*klavi.Consent, error)
	RequestReports(ctx context.Context, req klavi.ReportRequest) (*klavi.ReportRequestResult, error)
}

// Source says where a status was observed; it is shown on the timeline.
type Source string

// The places a status comes from.
const (
	FromCallback   Source = "callback"
	FromWebhook    Source = "webhook"
	FromPoll       Source = "poll"
	FromRevoke     Source = "revoke"
	FromReconciler Source = "reconciler"
	FromReplay     Source = "replay" // an operator replayed a stored webhook delivery
)

// Options are the service's dependencies. Store, Klavi, PublicURL and HolderKey are required.
type Options struct {
	Logger *slog.Logger
	Store  *store.Store
	Klavi  Klavi
	// PublicURL is where Klavi reaches the portal; reports are sent to PublicURL + "/webhooks/klavi/reports".
	PublicURL string
	// HolderKey keys the holder refs (HolderRef); main passes the session key, so refs stay stable across
	// restarts for as long as it does.
	HolderKey []byte
	Now       func() time.Time
	// PollInterval is the reconciler's base period (default 2 s); each consent backs off up to one minute.
	PollInterval time.Duration
	// Retention, when positive, erases hourly the personal data and reports of links created longer ago; 0 keeps
	// them.
	Retention time.Duration
	// KlaviTimeout bounds each Klavi call (default 15 s).
	KlaviTimeout time.Duration
}

// Service is the consent lifecycle. Its methods are safe for concurrent use.
type Service struct {
	log          *slog.Logger
	st           *store.Store
	kc           Klavi
	reportsURL   string
	holderKey    []byte
	now          func() time.Time
	pollInterval time.Duration
	retention    time.Duration
	klaviTimeout time.Duration

	wake    chan struct{} // nudges the inbox worker right after a webhook was stored
	changes changes       // wakes the live pages watching a consent (changes.go)
	// replica names this process in the inbox claims it makes (docs/reliability.md#replicas).
	replica string
	// replayMu runs the operators' replays one at a time (Replay).
	replayMu sync.Mutex
}

// New validates the options and returns the service. Call Run to start the background loops.
func New(o Options) (*Service, error) {
	if o.Store == nil {
		return nil, errors.New("flow: Options.Store is required")
	}
	if o.Klavi == nil {
		return nil, errors.New("flow: Options.Klavi is required")
	}
	if len(o.HolderKey) == 0 {
		return nil, errors.New("flow: Options.HolderKey is required")
	}
	pu, err := url.Parse(o.PublicURL)
	if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
		return nil, errors.New("flow: Options.PublicURL must be an absolute http(s) URL")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 2 * time.Second
	}
	if o.KlaviTimeout <= 0 {
		o.KlaviTimeout = 15 * time.Second
	}
	return &Service{
		log:          o.Logger,
		st:           o.Store,
		kc:           o.Klavi,
		reportsURL:   strings.TrimRight(o.PublicURL, "/") + "/webhooks/klavi/reports",
		holderKey:    deriveHolderKey(o.HolderKey),
		now:          o.Now,
		pollInterval: o.PollInterval,
		retention:    o.Retention,
		klaviTimeout: o.KlaviTimeout,
		wake:         make(chan struct{}, 1),
		replica:      replicaName(),
	}, nil
}

// Nudge wakes the inbox worker without blocking; the receivers call it after storing a delivery.
func (s *Service) Nudge() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Record adds a timeline entry and only logs a failure: the timeline is an explanation, never the source of truth.
// Every argument is masked (taxid.MaskText) as a backstop: no CPF/CNPJ reaches a page through the timeline.
func (s *Service) Record(ctx context.Context, consentID, kind string, title, detail consent.Msg, ok bool) {
	err := s.st.AddTimeline(context.WithoutCancel(ctx), store.TimelineEntry{
		ConsentID: consentID, Kind: kind, Title: masked(title), Detail: masked(detail), OK: ok, At: s.now(),
	})
	if err != nil {
		s.log.WarnContext(ctx, "timeline write failed", "kind", kind, "err", taxid.MaskErr(err))
	}
	s.Changed(consentID) // after the write: a woken page reads it
}

// masked returns m with every argument passed through taxid.MaskText.
func masked(m consent.Msg) consent.Msg {
	if len(m.Args) == 0 {
		return m
	}
	args := make([]string, len(m.Args))
	for i, a := range m.Args {
		args[i] = taxid.MaskText(a)
	}
	return consent.Msg{Key: m.Key, Args: args}
}

// KlaviErr is a short, PII-free description of a failed Klavi call for the timeline.
func KlaviErr(err error) consent.Msg {
	var ae *klavi.APIError
	switch {
	case errors.As(err, &ae):
		if ae.Code != 0 && ae.Code != ae.HTTPStatus {
			return consent.M(consent.TLKlaviHTTPCode, fmt.Sprint(ae.HTTPStatus), fmt.Sprint(ae.Code))
		}
		return consent.M(consent.TLKlaviHTTP, fmt.Sprint(ae.HTTPStatus))
	case errors.Is(err, klavi.ErrUnavailable):
		return consent.M(consent.TLKlaviUnavailable)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return consent.M(consent.TLCallInterrupted)
	default:
		return consent.M(consent.TLUnexpectedError)
	}
}

// The products requested for each person type, at user level.
var (
	personalProducts = []string{"pf_checking_account", "pf_savings_account", "pf_credit_card", "pf_categorized_checking_l3"}
	businessProducts = []string{"pj_checking_account", "pj_credit_card"}
)

// Products is what RequestReports asks Klavi for a person type ("personal" or "business").
func Products(personType string) []string {
	if personType == "business" {
		return businessProducts
	}
	return personalProducts
}

// The consents list filters by a holder ref, a keyed pseudonym of the consent's tax id, so that a CPF/CNPJ never
// travels in a URL: the search form is a POST that answers 303 to /consents?holder=<ref>. The store only ever
// sees the refs.

// HolderRefLen is the length of a holder ref: the first 128 bits of the HMAC, in lowercase hex.
const HolderRefLen = 32

// deriveHolderKey is the HMAC key of the holder refs: HMAC-SHA256(key, "portal holder ref v1").
func deriveHolderKey(key []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("portal holder ref v1"))
	return m.Sum(nil)
}

// HolderRef is the pseudonym of a tax id: hex(HMAC-SHA256(key, "holder:" + normalised id))[:32]; "" when the id
// is empty or not normalisable.
func (s *Service) HolderRef(taxID string) string {
	n, err := taxid.Normalize(taxID)
	if err != nil {
		return ""
	}
	m := hmac.New(sha256.New, s.holderKey)
	m.Write([]byte("holder:" + n))
	return hex.EncodeToString(m.Sum(nil))[:HolderRefLen]
}

// ConsentHolderRef is the holder ref of the tax id a consent is about (ConsentTaxID).
func (s *Service) ConsentHolderRef(c store.Consent) string { return s.HolderRef(ConsentTaxID(c)) }

// ConsentTaxID is the tax id a consent is about: the company's CNPJ for a business consent, else the CPF.
func ConsentTaxID(c store.Consent) string {
	if c.PersonType == "business" && c.BusinessTaxID != "" {
		return c.BusinessTaxID
	}
	return c.PersonalTaxID
}

// replicaName is this process's name in inbox claims: the host, the process id and a random suffix (a restarted
// process is another claimer).
func replicaName() string {
	host, _ := os.Hostname()
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b))
}

// ForConsent tags ctx so that the Klavi calls made with it are logged as made for consent c (and its link): the
// support bundle lists their request ids (docs/klavi.md#request-ids).
func ForConsent(ctx context.Context, c store.Consent) context.Context {
	return klavi.WithSubject(ctx, klavi.Subject{LinkID: c.LinkID, ConsentID: c.ID})
}
