package handlers

import (
	"context"
	"errors"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/klavi-demo/portal/consent"
	"github.com/klavi-demo/portal/klavi"
	"github.com/klavi-demo/portal/store"
	"github.com/klavi-demo/portal/views"
)

// Several banks on one link (docs/klavi.md#endpoints, "multiple institution mode"): after a consent, its owner may
// go back to the picker for the SAME link and add another institution; the consent page shows every institution of
// the link with its status. The link token stays server-side throughout: the session is pinned to the link by id
// (keyLink), and only the portal calls Klavi with the token.

// statusCacheTTL is how long a live consent page reuses Klavi's answer for its link. A full page load reuses only an
// answer younger than pageStatusTTL: fresh enough for someone who reloads to see a change, while a burst of reloads
// (one user's, or a crowd's on one link) makes one call to Klavi rather than one per view (docs/benchmarks.md#pages).
const (
	statusCacheTTL = 15 * time.Second
	pageStatusTTL  = 2 * time.Second
)

// statusCache keeps the last successful GET /links/institutions/status per link, for the live refreshes of the
// consent page, so that a page left open does not call Klavi on every poll. Entries older than the TTL are dropped
// when the next one is stored.
type statusCache struct {
	mu sync.Mutex
	m  map[string]statusEntry
}

type statusEntry struct {
	at   time.Time
	list []klavi.InstitutionStatus
}

func (c *statusCache) get(linkID string, now time.Time, maxAge time.Duration) ([]klavi.InstitutionStatus, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[linkID]
	if !ok || now.Sub(e.at) >= maxAge {
		return nil, false
	}
	return e.list, true
}

func (c *statusCache) put(linkID string, now time.Time, list []klavi.InstitutionStatus) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]statusEntry{}
	}
	for k, e := range c.m {
		if now.Sub(e.at) >= statusCacheTTL {
			delete(c.m, k)
		}
	}
	c.m[linkID] = statusEntry{at: now, list: list}
}

// linkStatuses asks Klavi for the link's institution statuses (4 s at most), unless an answer younger than
// statusCacheTTL (a live refresh) or pageStatusTTL (a full page load) is at hand.
func (s *Server) linkStatuses(ctx context.Context, l store.Link, live bool) ([]klavi.InstitutionStatus, error) {
	maxAge := pageStatusTTL
	if live {
		maxAge = statusCacheTTL
	}
	if list, ok := s.strips.get(l.ID, s.now(), maxAge); ok {
		return list, nil
	}
	cctx, cancel := context.WithTimeout(ctx, statusCallTimeout)
	defer cancel()
	list, err := s.kc.InstitutionStatuses(cctx, l.LinkToken)
	if err != nil {
		return nil, err
	}
	s.strips.put(l.ID, s.now(), list)
	return list, nil
}

// statusCallTimeout bounds GET /links/institutions/status on a consent page: the strip is a courtesy, so a slow Klavi
// must not hold the page for the usual 15 s (the stored statuses are shown instead).
const statusCallTimeout = 4 * time.Second

// linkUsable says whether new consents can still be created on l: its token is there (not purged) and has more than
// the 2 minutes left that freshLink would renew it at. A pinned link is never renewed, since a new link is not the same
// link: the user is told it expired and offered to start again.
func (s *Server) linkUsable(l store.Link) bool {
	return l.LinkToken != "" && s.now().Add(2*time.Minute).Before(l.TokenExpiresAt)
}

// pinnedSessionLink is sessionLink for a flow pinned to link id pin: 303 to the start page when the link is gone,
// the "link expired" page when its token can no longer be used.
func (s *Server) pinnedSessionLink(w http.ResponseWriter, r *http.Request, pin string) (store.Link, bool, error) {
	l, err := s.st.Link(r.Context(), pin)
	if errors.Is(err, store.ErrNotFound) {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return store.Link{}, false, nil
	}
	if err != nil {
		return store.Link{}, false, err
	}
	if !s.linkUsable(l) {
		s.linkExpiredPage(w, r)
		return store.Link{}, false, nil
	}
	return l, true, nil
}

// linkExpiredPage answers 410 with "this connection expired, start again".
func (s *Server) linkExpiredPage(w http.ResponseWriter, r *http.Request) {
	s.page(w, r, http.StatusGone, "title.link_expired", views.StepInstitution, "start", views.LinkExpiredPage())
}

// linkConsents returns, per institution code, the newest consent of the link (the one whose status counts).
func linkConsents(list []store.Consent) map[string]store.Consent {
	out := map[string]store.Consent{}
	for _, c := range list { // newest first
		if _, seen := out[c.InstitutionCode]; !seen {
			out[c.InstitutionCode] = c
		}
	}
	return out
}

// markLinkStatus gives each picker item the status of its institution's newest consent on the link, which makes it
// not choosable while that consent is live (views.InstitutionItem.Taken).
func markLinkStatus(it *views.InstitutionItem, chosen map[string]store.Consent) {
	if c, ok := chosen[it.Code]; ok {
		it.LinkStatus = c.Status
	}
}

// chosenOnLink loads the link's consents by institution (see linkConsents).
func (s *Server) chosenOnLink(ctx context.Context, linkID string) (map[string]store.Consent, error) {
	list, err := s.st.ConsentsForLink(ctx, linkID)
	if err != nil {
		return nil, err
	}
	s.tagLink(ctx, linkID, list)
	return linkConsents(list), nil
}

// linkStripVM builds the strip of the consent page for c: every institution of c's link, from the stored consents
// merged with Klavi's GET /links/institutions/status (Klavi's status wins when it is further along, as a forward
// move would; an institution only Klavi knows is listed without a link). When the call fails, or cannot be made
// because the link token expired, the stored statuses are shown with a quiet note.
func (s *Server) linkStripVM(r *http.Request, c store.Consent, live bool) (views.LinkStripVM, bool, error) {
	ctx := r.Context()
	if c.LinkID == "" {
		return views.LinkStripVM{}, false, nil
	}
	l, err := s.st.Link(ctx, c.LinkID)
	if errors.Is(err, store.ErrNotFound) {
		return views.LinkStripVM{}, false, nil
	}
	if err != nil {
		return views.LinkStripVM{}, false, err
	}
	list, err := s.st.ConsentsForLink(ctx, l.ID)
	if err != nil {
		return views.LinkStripVM{}, false, err
	}
	s.tagLink(ctx, l.ID, list)
	vm := views.LinkStripVM{Expired: !s.linkUsable(l)}
	newest := linkConsents(list)
	first := map[string]time.Time{} // when each institution was first chosen on the link: the strip's order
	for _, sc := range list {
		first[sc.InstitutionCode] = sc.CreatedAt
	}
	for code, sc := range newest {
		it := views.LinkStripItem{Code: code, Name: sc.InstitutionName, Status: sc.Status, Current: sc.ID == c.ID}
		if it.Name == "" {
			it.Name = code
		}
		if it.Current || s.canSee(r, sc) {
			it.Href = "/consents/" + sc.ID
		}
		vm.Items = append(vm.Items, it)
	}
	sort.SliceStable(vm.Items, func(i, j int) bool {
		a, b := vm.Items[i], vm.Items[j]
		if !first[a.Code].Equal(first[b.Code]) {
			return first[a.Code].Before(first[b.Code])
		}
		return a.Code < b.Code
	})
	index := map[string]int{}
	for i, it := range vm.Items {
		index[it.Code] = i
	}
	if vm.Expired {
		vm.NoteKey = "strip.note_stored"
	} else {
		statuses, err := s.linkStatuses(ctx, l, live)
		if err != nil {
			s.logKlaviErr(r, "institution statuses failed", err)
			vm.NoteKey = "strip.note_unavailable"
		}
		for _, ks := range statuses {
			st := consent.Status(ks.Status)
			if i, ok := index[ks.InstitutionCode]; ok {
				if vm.Items[i].Status.MovesTo(st) {
					vm.Items[i].Status = st
				}
				continue
			}
			if ks.InstitutionCode == "" {
				continue
			}
			name := ks.Name
			if name == "" {
				name = ks.InstitutionCode
			}
			index[ks.InstitutionCode] = len(vm.Items)
			vm.Items = append(vm.Items, views.LinkStripItem{Code: ks.InstitutionCode, Name: name, Status: st})
		}
	}
	vm.CanAdd = !vm.Expired && s.ownsConsent(r, c)
	vm.AddURL = "/consents/" + c.ID + "/another"
	return vm, true, nil
}

// consentLinkStrip is linkStripVM for the consent page and its live part (live: Klavi's answer may come from the
// cache): nil when c has no link. The strip is in the live part, so that its statuses follow the page's.
func (s *Server) consentLinkStrip(r *http.Request, c store.Consent, live bool) (*views.LinkStripVM, error) {
	vm, ok, err := s.linkStripVM(r, c, live)
	if err != nil || !ok {
		return nil, err
	}
	return &vm, nil
}

// handleConsentAnother answers POST /consents/{id}/another ("connect another bank"): for the browser that owns the
// consent (not merely an operator), it pins the session to the consent's link and goes back to the picker. A link
// whose token expired gets the "start again" page. The session token is renewed (a planted cookie is worthless
// after it); a session without a flow gets a new one.
func (s *Server) handleConsentAnother(w http.ResponseWriter, r *http.Request) error {
	if err := parseForm(r); err != nil {
		return err
	}
	c, err := s.consentParam(r)
	if err != nil {
		return err
	}
	if !s.ownsConsent(r, c) {
		return statusError(http.StatusForbidden) // an operator who may see it, but did not start it
	}
	l, err := s.st.Link(r.Context(), c.LinkID)
	if errors.Is(err, store.ErrNotFound) {
		return statusError(http.StatusNotFound)
	}
	if err != nil {
		return err
	}
	if !s.linkUsable(l) {
		s.linkExpiredPage(w, r)
		return nil
	}
	ss := sessionFrom(r.Context())
	if ss.ID() == "" {
		ss.rotate()
	} else {
		ss.renew()
	}
	ss.gs.Values[keyLink] = l.ID
	if err := s.saveSession(w, r, ss); err != nil {
		return err
	}
	http.Redirect(w, r, "/institutions", http.StatusSeeOther)
	return nil
}
