package logbuf

import (
	"strings"
	"sync"
	"testing"
)

// Writers on several goroutines and a concurrent reader (run with -race): every line arrives whole.
func TestConcurrentWritesAndReads(t *testing.T) {
	t.Parallel()
	var b Buffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				if _, err := b.Write([]byte("line\n")); err != nil {
					t.Error(err)
				}
				_ = b.String()
			}
		})
	}
	wg.Wait()
	if got := strings.Count(b.String(), "line\n"); got != 800 || len(b.String()) != 800*len("line\n") {
		t.Errorf("%d whole lines in %d bytes, want 800", got, len(b.String()))
	}
}

// With Max, a write that finds more than Max bytes held starts afresh: the newest output is kept, memory bounded.
func TestMaxKeepsTheNewestOutput(t *testing.T) {
	t.Parallel()
	b := Buffer{Max: 10}
	for _, s := range []string{"0123456789", "a", "b"} {
		if _, err := b.Write([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	if got := b.String(); got != "b" {
		t.Errorf("after 11 bytes held and one more write: %q, want %q", got, "b")
	}
	var unbounded Buffer
	for range 3 {
		_, _ = unbounded.Write([]byte("0123456789"))
	}
	if got := len(unbounded.String()); got != 30 {
		t.Errorf("zero Max kept %d bytes, want all 30", got)
	}
}
