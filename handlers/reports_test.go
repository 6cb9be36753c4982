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
	c := parsedReports{max: 2}
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
