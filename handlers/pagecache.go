package handlers

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/klavi-demo/portal/internal/pagecache"
	"github.com/klavi-demo/portal/store"
	"github.com/klavi-demo/portal/views"
)

// Visitors' pages are kept rendered for a moment (docs/architecture.md#page-cache): the start page, the institution
// picker, a consent page and a report page asked for again within pageCacheTTL are written from their bytes, with no
// database read and no render. The key holds everything the page shows that is not in its tags: the path and
// query, the language, the theme and the viewer (the device, or for the picker the flow). The tags are what the page
// was read from; flow.Service.OnChange and the handlers that change a link announce their changes.
const pageCacheTTL = time.Second

// pageCacheBytes bounds the pages kept (a report page is about 100 KB): with 200 people walking the flow at once
// nearly every page is seen once, so a larger cache would only hold memory (docs/benchmarks.md#200-users-walking-the-flow).
const pageCacheBytes = 4 << 20

// Tags of cached pages.
func consentTag(id string) string { return "consent:" + id }
func linkTag(id string) string    { return "link:" + id }

// pageCacheable reports whether r's page may be served from the cache and kept in it: a GET by a visitor with no
// flash message waiting. An operator's pages are always rendered: his access is checked against the database on
// every request, so removing him takes effect at once.
func (s *Server) pageCacheable(r *http.Request) bool {
	if r.Method != http.MethodGet {
		return false
	}
	ss := sessionFrom(r.Context())
	return ss.operatorID() == 0 && ss.gs.Values[keyFlash] == nil
}

// pageKey is the cache key of r's page for viewer (the device ref or the flow id that may see it).
func pageKey(r *http.Request, viewer string) string {
	var b strings.Builder
	uri := r.URL.RequestURI()
	b.Grow(len(uri) + len(viewer) + 16)
	b.WriteString(uri)
	b.WriteByte(0)
	b.WriteString(viewer)
	b.WriteByte(0)
	b.WriteString(string(views.LangFrom(r.Context())))
	b.WriteByte(0)
	b.WriteString(themeOf(r))
	return b.String()
}

// serveCachedPage writes the page kept under key, if there is one still valid.
func (s *Server) serveCachedPage(w http.ResponseWriter, key string) bool {
	body, ok := s.pages.Get(key)
	if !ok {
		return false
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
	return true
}

// keepPage marks r so that render keeps the page it writes (a 200 only) under key, built from what st stamped.
func keepPage(r *http.Request, key string, st pagecache.Stamp) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), keepPageKey{}, &keptPage{key: key, stamp: st}))
}

type keepPageKey struct{}

type keptPage struct {
	key   string
	stamp pagecache.Stamp
}

// keepRendered is render's half: it keeps body when r was marked by keepPage.
func (s *Server) keepRendered(r *http.Request, status int, body []byte) {
	if status != http.StatusOK {
		return
	}
	if kp, ok := r.Context().Value(keepPageKey{}).(*keptPage); ok {
		s.pages.Put(kp.key, body, kp.stamp)
	}
}

// cachedPage answers r from the page cache when it can: it returns served=true when the page was written. Otherwise it
// returns r marked to keep what it renders under viewer (when r's page is cacheable and viewer is known), with tags
// stamped now, before the handler reads anything.
func (s *Server) cachedPage(w http.ResponseWriter, r *http.Request, viewer string, tags ...string) (*http.Request, bool) {
	if !s.pageCacheable(r) {
		return r, false
	}
	key := pageKey(r, viewer)
	if s.serveCachedPage(w, key) {
		return r, true
	}
	return keepPage(r, key, s.pages.Stamp(tags...)), false
}

// tagPage adds tags learnt while reading (pagecache.Cache.With) to the page the request of ctx keeps; a no-op
// when it keeps none.
func (s *Server) tagPage(ctx context.Context, tags ...string) {
	if kp, ok := ctx.Value(keepPageKey{}).(*keptPage); ok {
		kp.stamp = s.pages.With(kp.stamp, tags...)
	}
}

// tagLink tags the page with a link and every consent on it (what the picker and the consent page's strip list).
func (s *Server) tagLink(ctx context.Context, linkID string, list []store.Consent) {
	if ctx.Value(keepPageKey{}) == nil {
		return
	}
	tags := make([]string, 0, len(list)+1)
	tags = append(tags, linkTag(linkID))
	for _, c := range list {
		tags = append(tags, consentTag(c.ID))
	}
	s.tagPage(ctx, tags...)
}
