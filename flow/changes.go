package flow

import "sync"

// changes tells this replica's waiting live pages, and the page cache, that a consent changed (a timeline line,
// which every status change, webhook, poll and report writes, and an erasure). Another replica's changes are not
// seen here: the live page also reads the database about once a second while it waits, and a cached page lives
// at most a second (docs/architecture.md#live-pages, docs/architecture.md#page-cache).
type changes struct {
	mu        sync.Mutex
	subs      map[string]map[chan struct{}]struct{}
	listeners []func(consentID string)
}

// OnChange registers fn, called with the consent's id after each change Changed announces. fn must be quick and
// must not call back into the Service.
func (s *Service) OnChange(fn func(consentID string)) {
	s.changes.mu.Lock()
	defer s.changes.mu.Unlock()
	s.changes.listeners = append(s.changes.listeners, fn)
}

// Changed tells the listeners and wakes every watcher of consentID. It never blocks.
func (s *Service) Changed(consentID string) {
	s.changes.mu.Lock()
	defer s.changes.mu.Unlock()
	for _, fn := range s.changes.listeners {
		fn(consentID)
	}
	for ch := range s.changes.subs[consentID] {
		select {
		case ch <- struct{}{}:
		default: // already woken
		}
	}
}

// Watch returns a channel that receives after each change of consentID, and the function that stops watching.
// Changes that happen while the watcher is not reading coalesce into one.
func (s *Service) Watch(consentID string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	s.changes.mu.Lock()
	defer s.changes.mu.Unlock()
	if s.changes.subs == nil {
		s.changes.subs = make(map[string]map[chan struct{}]struct{})
	}
	if s.changes.subs[consentID] == nil {
		s.changes.subs[consentID] = make(map[chan struct{}]struct{})
	}
	s.changes.subs[consentID][ch] = struct{}{}
	return ch, func() {
		s.changes.mu.Lock()
		defer s.changes.mu.Unlock()
		delete(s.changes.subs[consentID], ch)
		if len(s.changes.subs[consentID]) == 0 {
			delete(s.changes.subs, consentID)
		}
	}
}
