package handlers

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	qrcode "github.com/skip2/go-qrcode"

	"github.com/klavi-demo/portal/klavi/taxid"
	"github.com/klavi-demo/portal/static"
	"github.com/klavi-demo/portal/store"
	"github.com/klavi-demo/portal/views"
)

// Continue on the phone (docs/reliability.md#hand-off). The desktop's institution step shows a QR code of a short
// URL, /h/<token>: 128 bits derived with a server key from the code's row id and the desktop's flow id, single use,
// valid 10 minutes, only its SHA-256 stored; reloading the picker shows the same code while it is unused. Opening it
// on a phone shows a confirmation page (so that a link preview or a prefetch spends nothing); confirming spends the
// token and gives the phone its OWN new session (new token, new flow id) pinned to the same link, and its own device
// cookie. The desktop's session is never copied. The spent row pairs the two devices on that link, one way: the
// desktop may see what the phone starts there. The desktop page follows along by polling /institutions/handoff/live
// and moves to the consent page once the phone has created a consent.

const (
	handoffTTL = 10 * time.Minute
	// handoffFollow is how long after the phone spent the code the desktop keeps following it (Klavi rejects a
	// consent 60 minutes after its creation anyway).
	handoffFollow = 60 * time.Minute
	// handoffTokenLen is the length of a token: 16 random bytes in lower-case base32 without padding.
	handoffTokenLen = 26
)

// Hand-off states, as the desktop's block shows them (and data-state carries them for the CSS and the script).
const (
	handoffWaiting = "waiting" // the code is shown and not spent
	handoffOpened  = "opened"  // the phone spent it and has not created a consent yet
	handoffDone    = "done"    // the phone created a consent
	handoffExpired = "expired" // the code expired unspent, or there is none
)

var handoffEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// handoffTokenFor is the token of hand-off id, made for the desktop flow sessionID: the first 128 bits of
// HMAC-SHA256(handoffKey, "handoff|<id>|<flow id>") in lower-case base32 (easy to type: no case, no look-alike
// symbols). The store keeps only its hash, so the server derives it again to show the code once more
// (docs/reliability.md#hand-off); without the key, the database alone gives no token.
func (s *Server) handoffTokenFor(id int64, sessionID string) string {
	m := hmac.New(sha256.New, s.handoffKey)
	m.Write([]byte("handoff|" + strconv.FormatInt(id, 10) + "|" + sessionID))
	return strings.ToLower(handoffEncoding.EncodeToString(m.Sum(nil)[:16]))
}

// handoffToken reads {token} from the path: lower-cased (typed by hand, it may come upper-case), then checked to be
// exactly what handoffTokenFor makes; "" otherwise.
func handoffToken(r *http.Request) string {
	v := strings.ToLower(chi.URLParam(r, "token"))
	if len(v) != handoffTokenLen {
		return ""
	}
	if _, err := handoffEncoding.DecodeString(strings.ToUpper(v)); err != nil {
		return ""
	}
	return v
}

func handoffHash(token string) string { return sha256Hex("portal-handoff:" + token) }

// qrPath draws text as a QR code: an SVG path of unit squares (one subpath per run of dark modules in a row) and
// the side of the symbol in modules, quiet zone included. The encoding is skip2/go-qrcode's; only the drawing is
// ours, so the code is inline SVG in the page (no extra request, nothing the CSP has to allow).
func qrPath(text string) (string, int, error) {
	q, err := qrcode.New(text, qrcode.Medium)
	if err != nil {
		return "", 0, err
	}
	bm := q.Bitmap()
	var b strings.Builder
	for y, row := range bm {
		for x := 0; x < len(row); {
			if !row[x] {
				x++
				continue
			}
			n := 1
			for x+n < len(row) && row[x+n] {
				n++
			}
			b.WriteString("M" + strconv.Itoa(x) + " " + strconv.Itoa(y) + "h" + strconv.Itoa(n) + "v1h-" + strconv.Itoa(n) + "z")
			x += n
		}
	}
	return b.String(), len(bm), nil
}

// qrCacheSize bounds the drawn QR codes kept in memory: one per code being shown, a few kilobytes each. Past it the
// least recently shown is drawn again on its next view.
const qrCacheSize = 64

// qrDrawing is a drawn QR code, as qrPath returns it.
type qrDrawing struct {
	path string
	size int
}

// cachedQRPath is qrPath through the server's small cache keyed by the text (the hand-off URL): a code is encoded
// once, not on every view of the picker (BenchmarkInstitutionsPage).
func (s *Server) cachedQRPath(text string) (string, int, error) {
	if d, ok := s.qrCodes.Get(text); ok {
		return d.path, d.size, nil
	}
	path, size, err := qrPath(text)
	if err != nil {
		return "", 0, err
	}
	s.qrCodes.Add(text, qrDrawing{path: path, size: size})
	return path, size, nil
}

// currentHandoff is the hand-off this desktop session shows (keyHandoff), if it is still this session's.
func (s *Server) currentHandoff(r *http.Request) (store.Handoff, bool, error) {
	ss := sessionFrom(r.Context())
	v, _ := ss.gs.Values[keyHandoff].(string)
	id, err := strconv.ParseInt(v, 10, 64)
	if err != nil || id <= 0 || ss.ID() == "" {
		return store.Handoff{}, false, nil
	}
	h, err := s.st.Handoff(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return store.Handoff{}, false, nil
	}
	if err != nil {
		return store.Handoff{}, false, err
	}
	if h.SessionID != ss.ID() {
		return store.Handoff{}, false, nil
	}
	return h, true, nil
}

// handoffState says where hand-off h stands, with the phone's consent once there is one, and whether the desktop
// should keep following it.
func (s *Server) handoffState(ctx context.Context, h store.Handoff) (state, consentID string, follow bool, err error) {
	now := s.now()
	if h.UsedAt == nil {
		if !now.Before(h.ExpiresAt) {
			return handoffExpired, "", false, nil
		}
		return handoffWaiting, "", true, nil
	}
	list, err := s.st.ConsentsForLink(ctx, h.LinkID)
	if err != nil {
		return "", "", false, err
	}
	for _, c := range list { // newest first
		if c.DeviceRef == h.PhoneDeviceRef && !c.CreatedAt.Before(*h.UsedAt) {
			return handoffDone, c.ID, false, nil
		}
	}
	return handoffOpened, "", now.Sub(*h.UsedAt) < handoffFollow, nil
}

// handoffBlock prepares the "continue on your phone" block of the picker for link l. A code the phone spent and is
// still working with is followed. The session's current code is shown again while it is unused, unexpired, for l
// and for this browser's device; otherwise a new code replaces the session's unused one (?handoff=new always asks
// for a new one: handleInstitutions). The browser gets a device cookie if it has none, so that it can be paired. Any
// failure leaves the block out (nil): the picker works without it. A phone that came through a hand-off is not
// offered one.
func (s *Server) handoffBlock(w http.ResponseWriter, r *http.Request, l store.Link) *views.HandoffVM {
	ss := sessionFrom(r.Context())
	if !s.handoffOffered(r, l) {
		return nil
	}
	vm := &views.HandoffVM{LiveURL: "/institutions/handoff/live", DoneURL: "/institutions/handoff/done",
		NewURL: "/institutions?handoff=new", Script: static.URL("js/handoff.js")}
	device := s.ensureDevice(w, r)
	h, ok, err := s.currentHandoff(r)
	if err != nil {
		s.log.ErrorContext(r.Context(), "load hand-off failed", "err", taxid.MaskErr(err))
		return nil
	}
	if ok && h.LinkID == l.ID {
		state, consentID, follow, err := s.handoffState(r.Context(), h)
		if err != nil {
			s.log.ErrorContext(r.Context(), "hand-off state failed", "err", taxid.MaskErr(err))
			return nil
		}
		switch {
		case state == handoffOpened && follow:
			vm.State = handoffOpened
			return vm
		case state == handoffDone:
			vm.DoneConsentID = consentID // said above the new code
		case state == handoffWaiting && h.DeviceRef == device:
			// A code made before the key changed (or before tokens were derived) cannot be shown again: it is replaced.
			if token := s.handoffTokenFor(h.ID, h.SessionID); hmac.Equal([]byte(handoffHash(token)), []byte(h.TokenHash)) {
				if lang := string(ss.Lang()); h.Lang != lang {
					if err := s.st.SetHandoffLang(r.Context(), h.ID, lang); err != nil {
						s.log.WarnContext(r.Context(), "hand-off language not updated", "err", taxid.MaskErr(err))
					}
				}
				return s.showHandoff(r, vm, token, h.ExpiresAt)
			}
		}
	}
	h, token, err := s.newHandoff(w, r, l, device)
	if err != nil {
		s.log.ErrorContext(r.Context(), "create hand-off failed", "err", taxid.MaskErr(err))
		return nil
	}
	return s.showHandoff(r, vm, token, h.ExpiresAt)
}

// handoffOffered says whether this session is offered a hand-off of link l: a desktop flow on a usable link, not a
// phone that came through one.
func (s *Server) handoffOffered(r *http.Request, l store.Link) bool {
	ss := sessionFrom(r.Context())
	return ss.gs.Values[keyHandedOff] == nil && ss.ID() != "" && s.linkUsable(l)
}

// newHandoff makes a new code of link l for this session and device (replacing the session's unused one) and
// remembers it in the session; it returns the stored hand-off and its token.
func (s *Server) newHandoff(w http.ResponseWriter, r *http.Request, l store.Link, device string) (store.Handoff, string, error) {
	ss := sessionFrom(r.Context())
	now := s.now()
	h := store.Handoff{LinkID: l.ID, SessionID: ss.ID(), DeviceRef: device, Lang: string(ss.Lang()), CreatedAt: now,
		ExpiresAt: now.Add(handoffTTL)}
	id, err := s.st.CreateHandoff(r.Context(), h, func(id int64) string {
		return handoffHash(s.handoffTokenFor(id, h.SessionID))
	})
	if err != nil {
		return store.Handoff{}, "", err
	}
	s.pages.Changed(linkTag(l.ID))
	h.ID = id
	ss.gs.Values[keyHandoff] = strconv.FormatInt(id, 10)
	if err := s.saveSession(w, r, ss); err != nil {
		return store.Handoff{}, "", err
	}
	return h, s.handoffTokenFor(id, h.SessionID), nil
}

// showHandoff fills vm with the waiting code token (its URL, the QR code, the minutes it still has); nil when the QR
// code cannot be drawn.
func (s *Server) showHandoff(r *http.Request, vm *views.HandoffVM, token string, expires time.Time) *views.HandoffVM {
	vm.URL = s.publicURL + "/h/" + token
	path, size, err := s.cachedQRPath(vm.URL)
	if err != nil {
		s.log.ErrorContext(r.Context(), "QR code failed", "err", err)
		return nil
	}
	vm.QRPath, vm.QRSize = path, size
	// Whole minutes left, rounded up: a code shown again has less than handoffTTL (1 reads "less than a minute").
	vm.ValidMinutes = int((expires.Sub(s.now()) + time.Minute - 1) / time.Minute)
	vm.State = handoffWaiting
	return vm
}

// newHandoffFor answers GET /institutions?handoff=new ("show a new code"): a new code replaces the session's, then
// 303 to the picker without that parameter, so that reloading the page shows this code again rather than making
// yet another.
func (s *Server) newHandoffFor(w http.ResponseWriter, r *http.Request, l store.Link) {
	if s.handoffOffered(r, l) {
		if _, _, err := s.newHandoff(w, r, l, s.ensureDevice(w, r)); err != nil {
			s.log.ErrorContext(r.Context(), "create hand-off failed", "err", taxid.MaskErr(err))
		}
	}
	q := r.URL.Query()
	q.Del("handoff")
	to := "/institutions"
	if len(q) > 0 {
		to += "?" + q.Encode()
	}
	http.Redirect(w, r, to, http.StatusSeeOther) //nolint:gosec // G710: a fixed local path with the picker's own query
}

// handleHandoffLive answers GET /institutions/handoff/live: the status line of the desktop's hand-off block (no
// layout), X-Live: on while there is something to wait for. Once the phone has created a consent the fragment
// carries its page in data-location, where the script goes.
func (s *Server) handleHandoffLive(w http.ResponseWriter, r *http.Request) error {
	vm := views.HandoffVM{State: handoffExpired, NewURL: "/institutions?handoff=new"}
	follow := false
	h, ok, err := s.currentHandoff(r)
	if err != nil {
		return err
	}
	if ok {
		if vm.State, vm.DoneConsentID, follow, err = s.handoffState(r.Context(), h); err != nil {
			return err
		}
	}
	w.Header().Set("X-Live", map[bool]string{true: "on", false: "off"}[follow])
	s.render(w, r, http.StatusOK, views.HandoffStatus(vm))
	return nil
}

// handleHandoffDone answers GET /institutions/handoff/done, the "I finished on my phone" link (it works without
// JavaScript): 303 to the consent the phone created, else back to the picker saying it is not there yet.
func (s *Server) handleHandoffDone(w http.ResponseWriter, r *http.Request) error {
	h, ok, err := s.currentHandoff(r)
	if err != nil {
		return err
	}
	if ok {
		state, consentID, _, err := s.handoffState(r.Context(), h)
		if err != nil {
			return err
		}
		if state == handoffDone {
			http.Redirect(w, r, "/consents/"+consentID, http.StatusSeeOther) //nolint:gosec // G710: a local path (a stored consent id)
			return nil
		}
	}
	ss := sessionFrom(r.Context())
	ss.setFlash("handoff.not_yet")
	if err := s.saveSession(w, r, ss); err != nil {
		return err
	}
	http.Redirect(w, r, "/institutions", http.StatusSeeOther)
	return nil
}

// withHandoffLang renders the phone's pages in the desktop's language, unless the phone chose one itself.
func withHandoffLang(r *http.Request, h store.Handoff) *http.Request {
	if _, chosen := sessionFrom(r.Context()).gs.Values[keyLang]; chosen || h.Lang == "" {
		return r
	}
	return r.WithContext(views.WithLang(r.Context(), views.ParseLang(h.Lang)))
}

// handoffInvalid answers a used, expired, unknown or malformed code: 410 and a page saying so, with a way to
// start on this phone. Nothing is changed.
func (s *Server) handoffInvalid(w http.ResponseWriter, r *http.Request, token string) {
	if token != "" {
		if h, err := s.st.HandoffByToken(r.Context(), handoffHash(token)); err == nil {
			r = withHandoffLang(r, h)
		}
	}
	s.page(w, r, http.StatusGone, "title.handoff_invalid", views.StepNone, "start", views.HandoffInvalidPage())
}

// handleHandoffPage answers GET /h/{token}: a valid code shows what continuing here means (the masked tax id of the
// flow) and a button; it spends nothing.
func (s *Server) handleHandoffPage(w http.ResponseWriter, r *http.Request) error {
	token := handoffToken(r)
	if token == "" {
		s.handoffInvalid(w, r, "")
		return nil
	}
	h, err := s.st.HandoffByToken(r.Context(), handoffHash(token))
	if errors.Is(err, store.ErrNotFound) || err == nil && (h.UsedAt != nil || !s.now().Before(h.ExpiresAt)) {
		s.handoffInvalid(w, r, token)
		return nil
	}
	if err != nil {
		return err
	}
	r = withHandoffLang(r, h)
	l, err := s.st.Link(r.Context(), h.LinkID)
	if err != nil {
		return err
	}
	if !s.linkUsable(l) {
		s.linkExpiredPage(w, r)
		return nil
	}
	vm := views.HandoffLandingVM{Action: "/h/" + token, TaxIDMasked: taxid.Mask(linkTaxID(l)), PersonType: l.PersonType}
	s.page(w, r, http.StatusOK, "title.handoff", views.StepInstitution, "start", views.HandoffLandingPage(vm))
	return nil
}

// handleHandoffUse answers POST /h/{token}: spends the code (once: a replay, or a second phone, gets the "used"
// page and changes nothing), gives this browser a device cookie if it has none and a new session of its own pinned
// to the link, in the desktop's language unless it chose one, then 303 to the picker.
func (s *Server) handleHandoffUse(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(r); err != nil {
		return err
	}
	token := handoffToken(r)
	if token == "" {
		s.handoffInvalid(w, r, "")
		return nil
	}
	// The device cookie is set before the code is spent, since the spent row records it; for a refused code the
	// cookie names an ordinary browser, which is harmless.
	device := s.ensureDevice(w, r)
	h, err := s.st.UseHandoff(r.Context(), handoffHash(token), device, s.now())
	if errors.Is(err, store.ErrNotFound) {
		s.handoffInvalid(w, r, token)
		return nil
	}
	if err != nil {
		return err
	}
	s.pages.Changed(linkTag(h.LinkID)) // the desktop's picker no longer offers the code
	r = withHandoffLang(r, h)
	l, err := s.st.Link(r.Context(), h.LinkID)
	if err != nil {
		return err
	}
	if !s.linkUsable(l) {
		s.linkExpiredPage(w, r)
		return nil
	}
	ss := sessionFrom(r.Context())
	ss.rotate()
	ss.gs.Values[keyLink] = l.ID
	ss.gs.Values[keyHandedOff] = "1"
	if _, chosen := ss.gs.Values[keyLang]; !chosen && h.Lang != "" {
		ss.setLang(views.ParseLang(h.Lang))
	}
	if err := s.saveSession(w, r, ss); err != nil {
		return err
	}
	s.log.InfoContext(r.Context(), "hand-off used", "handoff_id", h.ID)
	http.Redirect(w, r, "/institutions", http.StatusSeeOther)
	return nil
}
