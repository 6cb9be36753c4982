package klavi

import (
	"context"
	"sync"
)

// Subject names what a call to Klavi is made for: a link, a consent, or both. Callers put it in the context of the
// calls they make for one link or consent (WithSubject); observers read it (Attribute) to keep a per-consent call
// log, so that support can quote the X-Request-Id of every call made for a consent (docs/klavi.md#request-ids).
type Subject struct {
	LinkID    string
	ConsentID string
}

// IsZero reports whether s names nothing.
func (s Subject) IsZero() bool { return s.LinkID == "" && s.ConsentID == "" }

type subjectKey struct{}

// subjectTag is the context value: a known subject, or one that becomes known only after the call (Pending).
type subjectTag struct {
	mu       sync.Mutex
	subject  Subject
	resolved bool
	waiting  []func(Subject) // observers' work held until Resolve
}

// WithSubject returns ctx tagged with s: every call made with it (the token fetch it triggers included) is
// attributed to s. A zero s leaves ctx as it is.
func WithSubject(ctx context.Context, s Subject) context.Context {
	if s.IsZero() {
		return ctx
	}
	return context.WithValue(ctx, subjectKey{}, &subjectTag{subject: s, resolved: true})
}

// Pending is a subject known only once a call has answered: POST /links is made for a link whose id its answer
// brings. Calls observed before Resolve are attributed when Resolve is called, and never if it is not (a failed
// POST /links creates no link to attribute them to).
type Pending struct{ tag *subjectTag }

// WithPendingSubject returns ctx tagged with a subject to be named later by Pending.Resolve.
func WithPendingSubject(ctx context.Context) (context.Context, *Pending) {
	t := &subjectTag{}
	return context.WithValue(ctx, subjectKey{}, t), &Pending{tag: t}
}

// Resolve names the pending subject and hands it to the work observers held meanwhile. Only the first call counts.
func (p *Pending) Resolve(s Subject) {
	t := p.tag
	t.mu.Lock()
	if t.resolved {
		t.mu.Unlock()
		return
	}
	t.subject, t.resolved = s, true
	held := t.waiting
	t.waiting = nil
	t.mu.Unlock()
	if s.IsZero() {
		return
	}
	for _, fn := range held {
		fn(s)
	}
}

// maxHeld bounds the work a pending subject holds: a link creation makes a handful of attempts (and a token fetch).
const maxHeld = 16

// Attribute calls fn with the subject ctx is tagged with: at once when it is known, when Pending.Resolve names it,
// or never (no tag, a zero subject, or a pending subject never resolved). Observers use it to attribute a Call.
func Attribute(ctx context.Context, fn func(Subject)) {
	t, ok := ctx.Value(subjectKey{}).(*subjectTag)
	if !ok {
		return
	}
	t.mu.Lock()
	if !t.resolved {
		if len(t.waiting) < maxHeld {
			t.waiting = append(t.waiting, fn)
		}
		t.mu.Unlock()
		return
	}
	s := t.subject
	t.mu.Unlock()
	if !s.IsZero() {
		fn(s)
	}
}
