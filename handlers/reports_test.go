package handlers

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/klavi-demo/portal/store"
)

func TestParsedReportsCacheIsBoundedAndKeyedByBody(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "reportview", "testdata", "report_pf_checking_account.json"))
	if err != nil {
		t.Fatal(err)
	}
	c := parsedReports{max: 2, maxBytes: 1 << 20}
	a := store.Report{ID: "a", BodySHA256: "h1", Raw: raw}
	first, err := c.parse(a)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	if again, _ := c.parse(a); again != first {
		t.Error("the same report was decoded twice")
	}
	if other, _ := c.parse(store.Report{ID: "a", BodySHA256: "h2", Raw: raw}); other == first {
		t.Error("a different body hash returned the cached report")
	}
	_, _ = c.parse(store.Report{ID: "b", BodySHA256: "h3", Raw: raw})
	if len(c.m) != 2 || len(c.order) != 2 {
		t.Errorf("cache holds %d/%d entries, want at most 2", len(c.m), len(c.order))
	}
	if again, _ := c.parse(a); again == first {
		t.Error("the oldest entry was not evicted")
	}
	if _, err := c.parse(store.Report{ID: "bad", BodySHA256: "h4", Raw: []byte(`{`)}); err == nil {
		t.Error("malformed body parsed")
	}
	if _, ok := c.m["bad\x00h4"]; ok {
		t.Error("a failed parse was cached")
	}
}

// TestParsedReportsCacheIsBoundedInBytes: the bodies of the cached reports stay within maxBytes, the oldest go
// first to make room, and a body larger than maxBytes is decoded but not kept.
func TestParsedReportsCacheIsBoundedInBytes(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(filepath.Join("..", "reportview", "testdata", "report_pf_checking_account.json"))
	if err != nil {
		t.Fatal(err)
	}
	c := parsedReports{max: 8, maxBytes: 2*len(raw) + len(raw)/2}
	for _, id := range []string{"a", "b", "c"} {
		if _, err := c.parse(store.Report{ID: id, BodySHA256: "h", Raw: raw}); err != nil {
			t.Fatalf("parse %s: %v", id, err)
		}
	}
	if len(c.m) != 2 || c.bytes != 2*len(raw) || c.order[0] != "b\x00h" {
		t.Errorf("cache holds %d entries, %d bytes, oldest %q; want b and c, %d bytes", len(c.m), c.bytes, c.order[0], 2*len(raw))
	}
	small := parsedReports{max: 8, maxBytes: len(raw) - 1}
	rep, err := small.parse(store.Report{ID: "big", BodySHA256: "h", Raw: raw})
	if err != nil || rep == nil {
		t.Fatalf("a body over maxBytes was not decoded: %v", err)
	}
	if len(small.m) != 0 || small.bytes != 0 {
		t.Errorf("a body over maxBytes was kept: %d entries, %d bytes", len(small.m), small.bytes)
	}
}
