package flow

import "sync"

// changes tells this replica's waiting live pages that a consent changed (a timeline line, which every status
// change, webhook, poll and report writes). Another replica's changes are not seen here: the live page also reads
// the database about once a second while it waits (docs/architecture.md#live-pages).
type changes struct {
	mu   sync.Mutex
	subs map[string]map[chan struct{}]struct{}
}

// Changed wakes every watcher of consentID. It never blocks.
func (s *Service) Changed(consentID string) {
	s.changes.mu.Lock()
	defer s.changes.mu.Unlock()
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
