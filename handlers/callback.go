package handlers

import (
	"context"
	"crypto/subtle"
	"net/http"
	"time"

	"github.com/klavi-demo/portal/consent"
	"github.com/klavi-demo/portal/flow"
	"github.com/klavi-demo/portal/klavi/taxid"
	"github.com/klavi-demo/portal/store"
	"github.com/klavi-demo/portal/views"
)

// defaultConsentMaxAge is how long after creating a consent we still accept its first callback: Klavi rejects
// consents after 60 minutes, so an older first return is stale or replayed (docs/reliability.md#callback, step 4).
const defaultConsentMaxAge = 60 * time.Minute

// Caps for the unauthenticated values on the callback URL (docs/reliability.md#callback).
const (
	maxErrorLen     = 256
	maxErrorDescLen = 1024
)

// handleCallback answers GET /callback, where Klavi sends the browser after the bank and the LGPD page. The
// query string is unauthenticated: it is checked against the session (external_track_id is our state,
// compared in constant time as SHA-256 hashes), then the outcome is confirmed with GET /consents/{id}.
func (s *Server) handleCallback(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	consentID, linkID, track := q.Get("consent_id"), q.Get("link_id"), q.Get("external_track_id")
	errCode := q.Get("error")
	if len(errCode) > maxErrorLen {
		errCode = "other" // never cut a junk value into something that looks like a code
	}
	errCode = consent.CleanText(errCode, maxErrorLen)
	errDesc := consent.CleanText(q.Get("error_description"), maxErrorDescLen)
	sid := sessionFrom(r.Context()).ID()
	if sid == "" {
		// The user finished in another browser or the bank's app: reveal nothing and change nothing, whatever
		// the query says; the webhook and the reconciler complete the consent. Checked first so that the
		// language switch on this page (which drops the query) shows the same page again.
		s.page(w, r, http.StatusOK, "title.callback", views.StepAuthorise, "", views.CallbackNeutralPage())
		return nil
	}
	if !consent.ValidID(consentID) || !consent.ValidID(track) || (linkID != "" && !consent.ValidID(linkID)) {
		// A security event: the raw values are attacker-chosen (CR/LF, NUL, markup), so only hashes of
		// them are logged, never the text itself.
		s.log.WarnContext(r.Context(), "callback refused: malformed ids",
			"reason", "malformed", "consent_ref", logRef(consentID), "track_ref", logRef(track))
		s.page(w, r, http.StatusBadRequest, "title.callback", views.StepAuthorise, "", views.CallbackRejectedPage(views.CallbackVM{Status: http.StatusBadRequest}))
		return nil
	}
	if errCode != "" && !validErrorCode(errCode) {
		errCode = "other"
	}
	c, ok, err := s.matchCallback(r.Context(), sid, consentID, linkID, track)
	if err != nil {
		return err
	}
	if !ok {
		s.log.WarnContext(r.Context(), "callback refused: does not match the session",
			"reason", "mismatch", "consent_ref", logRef(consentID), "track_ref", logRef(track),
			"session_ref", logRef(sid))
		s.page(w, r, http.StatusForbidden, "title.callback", views.StepAuthorise, "", views.CallbackRejectedPage(views.CallbackVM{Status: http.StatusForbidden}))
		return nil
	}
	if c.CallbackAt == nil && s.now().Sub(c.CreatedAt) > s.consentMaxAge {
		// The track id was never used and the consent is older than Klavi lets it live: refuse and change
		// nothing (a replay of an already seen callback stays idempotent below).
		s.log.WarnContext(r.Context(), "callback refused: consent too old",
			"reason", "too_old", "consent_ref", logRef(c.ID), "consent_age_min", int(s.now().Sub(c.CreatedAt)/time.Minute))
		s.page(w, r, http.StatusBadRequest, "title.callback", views.StepAuthorise, "", views.CallbackRejectedPage(views.CallbackVM{Status: http.StatusBadRequest}))
		return nil
	}
	first, err := s.st.MarkCallback(r.Context(), c.ID, errCode, errDesc)
	if err != nil {
		return err
	}
	if first {
		title, detail := consent.M(consent.TLCallbackOK), consent.Msg{}
		if errCode != "" {
			// Only the (charset- and length-checked) error code is logged, once per consent. error_description
			// is untrusted free text: it goes to the consent row and its timeline only (cut, control
			// characters stripped, tax ids masked, escaped when rendered).
			s.log.InfoContext(r.Context(), "callback with error", "error", errCode)
			title = consent.M(consent.TLCallbackError, errCode)
			if errDesc != "" {
				detail = consent.M(consent.TLText, errDesc)
			}
		}
		s.flow.Record(r.Context(), c.ID, "callback", title, detail, errCode == "")
		s.confirmConsent(r.Context(), c)
	}
	http.Redirect(w, r, "/consents/"+c.ID, http.StatusSeeOther)
	return nil
}

// logRef is how ids from the callback appear in security-event logs: the first 16 hex digits of a SHA-256,
// enough to correlate two log lines, never the value itself (which may be attacker-chosen text or our state).
func logRef(v string) string {
	if v == "" {
		return ""
	}
	return sha256Hex("portal-log-ref:" + v)[:16]
}

// maxErrorCodeLen bounds a plausible error code (OAuth's are short tokens such as access_denied). A longer
// value, even of the right characters, is junk or an attempt to fill our logs and becomes "other".
const maxErrorCodeLen = 64

// validErrorCode accepts OAuth-style error values ([a-z0-9_.-], at most maxErrorCodeLen); anything else becomes
// "other".
func validErrorCode(s string) bool {
	if len(s) > maxErrorCodeLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// matchCallback finds the session's consent whose track id hash equals sha256(track) (constant time over
// every consent of the session) and checks that consent_id and link_id belong to it.
func (s *Server) matchCallback(ctx context.Context, sid, consentID, linkID, track string) (store.Consent, bool, error) {
	list, err := s.st.ConsentsForSession(ctx, sid)
	if err != nil {
		return store.Consent{}, false, err
	}
	want := []byte(sha256Hex(track))
	var found store.Consent
	ok := false
	for _, c := range list {
		if subtle.ConstantTimeCompare([]byte(c.TrackIDHash), want) == 1 {
			found, ok = c, true
		}
	}
	if !ok || found.ID != consentID || (linkID != "" && found.LinkID != linkID) {
		return store.Consent{}, false, nil
	}
	return found, true, nil
}

// confirmConsent asks Klavi for the consent's real status (never trusting the query string alone) and
// applies it. A failure is left to the reconciler.
func (s *Server) confirmConsent(ctx context.Context, c store.Consent) {
	cctx, cancel := context.WithTimeout(flow.ForConsent(context.WithoutCancel(ctx), c), s.klaviTimeout)
	defer cancel()
	kc, err := s.kc.Consent(cctx, c.ID)
	if err != nil {
		s.flow.Record(ctx, c.ID, "api", consent.M(consent.TLConfirmFailed), flow.KlaviErr(err), false)
		return
	}
	s.flow.Record(ctx, c.ID, "api", consent.M(consent.TLConfirm, string(kc.Status)), consent.Msg{}, true)
	if !kc.Status.Known() {
		return
	}
	if _, err := s.flow.ApplyStatus(cctx, c, consent.Status(kc.Status), kc.PermissionsGranted, kc.ExpireAt, flow.FromCallback); err != nil {
		s.log.WarnContext(ctx, "apply status failed", "err", taxid.MaskErr(err))
	}
}
