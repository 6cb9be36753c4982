package pagecache

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/klavi-demo/portal/internal/testclock"
)

func newTest(o Options) (*Cache, *testclock.Clock) {
	clk := testclock.New(time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC))
	o.Now = clk.Now
	return New(o), clk
}

func TestServedUntilTheTTL(t *testing.T) {
	t.Parallel()
	c, clk := newTest(Options{TTL: time.Second})
	body := []byte("<p>page</p>")
	c.Put("k", body, c.Stamp("consent:a"))
	body[0] = 'X' // the cache keeps its own copy
	if got, ok := c.Get("k"); !ok || string(got) != "<p>page</p>" {
		t.Fatalf("Get = %q, %v; want the page", got, ok)
	}
	clk.Advance(999 * time.Millisecond)
	if _, ok := c.Get("k"); !ok {
		t.Fatal("entry dropped before its time to live")
	}
	clk.Advance(time.Millisecond)
	if _, ok := c.Get("k"); ok {
		t.Fatal("entry served at its time to live")
	}
	if c.Len() != 0 || c.Bytes() != 0 {
		t.Fatalf("expired entry still held: %d entries, %d bytes", c.Len(), c.Bytes())
	}
}

func TestAChangedTagStopsTheEntry(t *testing.T) {
	t.Parallel()
	c, _ := newTest(Options{})
	c.Put("a", []byte("a"), c.Stamp("consent:a", "link:1"))
	c.Put("b", []byte("b"), c.Stamp("consent:b"))
	c.Changed("link:1")
	if _, ok := c.Get("a"); ok {
		t.Fatal("page built from link:1 served after link:1 changed")
	}
	if _, ok := c.Get("b"); !ok {
		t.Fatal("an unrelated page was dropped")
	}
}

func TestAChangeDuringTheRenderIsNotKept(t *testing.T) {
	t.Parallel()
	c, _ := newTest(Options{})
	st := c.Stamp("consent:a") // before the reads
	c.Changed("consent:a")     // lands while the page is rendered
	c.Put("a", []byte("old"), st)
	if _, ok := c.Get("a"); ok {
		t.Fatal("a page rendered from data older than a change was kept")
	}
}

func TestWithAddsLearntTags(t *testing.T) {
	t.Parallel()
	c, _ := newTest(Options{})
	st := c.With(c.Stamp("consent:a"), "consent:b", "consent:c")
	c.Put("a", []byte("a"), st)
	c.Changed("consent:c")
	if _, ok := c.Get("a"); ok {
		t.Fatal("served after a listed consent changed")
	}
}

func TestBounds(t *testing.T) {
	t.Parallel()
	c, _ := newTest(Options{MaxBytes: 1000, MaxBody: 400, MaxEntries: 100})
	c.Put("big", bytes.Repeat([]byte("x"), 401), c.Stamp())
	if _, ok := c.Get("big"); ok {
		t.Fatal("a body over MaxBody was kept")
	}
	for i := range 5 {
		c.Put(fmt.Sprint(i), bytes.Repeat([]byte("x"), 300), c.Stamp())
	}
	if c.Bytes() > 1000 {
		t.Fatalf("holds %d bytes, over the 1000 budget", c.Bytes())
	}
	if _, ok := c.Get("4"); !ok {
		t.Fatal("the newest entry was evicted")
	}
	if _, ok := c.Get("0"); ok {
		t.Fatal("the oldest entry survived past the budget")
	}
	// Replacing a key keeps the count exact.
	for range 10 {
		c.Put("4", bytes.Repeat([]byte("y"), 100), c.Stamp())
	}
	var held int64
	for _, k := range []string{"0", "1", "2", "3", "4"} {
		if b, ok := c.Get(k); ok {
			held += int64(len(b))
		}
	}
	if c.Bytes() != held {
		t.Fatalf("byte count %d, entries hold %d", c.Bytes(), held)
	}
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	c, _ := newTest(Options{MaxBytes: 4096, MaxEntries: 16})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				k := fmt.Sprint((g + i) % 32)
				st := c.Stamp("t" + k)
				if i%7 == 0 {
					c.Changed("t" + k)
				}
				c.Put(k, bytes.Repeat([]byte("z"), 64+i%200), st)
				if b, ok := c.Get(k); ok && len(b) < 64 {
					t.Errorf("short body %d", len(b))
				}
			}
		})
	}
	wg.Wait()
	if c.Bytes() < 0 || c.Bytes() > 4096 {
		t.Fatalf("byte count %d out of bounds", c.Bytes())
	}
}
