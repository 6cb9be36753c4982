package handlers

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/klavi-demo/portal/reportview"
	"github.com/klavi-demo/portal/store"
)

// TestPreparedReportsCache: the report pages' cache serves a kept report without reading its body again, tells
// bodies apart by hash, keeps unreadable bodies too, evicts the least recently used report by count and by size,
// never keeps a body larger than its byte budget, decodes a report once for concurrent requests, and passes on a
// failed read without keeping anything (docs/benchmarks.md#report-path).
func TestPreparedReportsCache(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "portal.db"), time.Now)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	raw, err := os.ReadFile(filepath.Join("..", "reportview", "testdata", "report_pf_checking_account.json"))
	if err != nil {
		t.Fatal(err)
	}
	put := func(id string, body []byte) store.Report {
		t.Helper()
		r := store.Report{ID: id, ProductName: "pf_checking_account", Raw: body, BodySHA256: bodyHash(body)}
		if _, err := st.RecordReportDelivery(ctx, store.Delivery{SignatureValid: true, Keys: []string{id}}, r); err != nil {
			t.Fatal(err)
		}
		head, err := st.ReportHead(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return head
	}
	a, b, c, bad := put("a", raw), put("b", raw), put("c", raw), put("bad", []byte(`{"productReportId":`))
	var loads atomic.Int32
	load := func(ctx context.Context, id string) (store.Report, error) {
		loads.Add(1)
		return st.Report(ctx, id)
	}
	cache := newPreparedReports(2, 3*len(raw))

	first, err := cache.get(ctx, a, load)
	if err != nil || first.Report() == nil || first.Report().ProductReportID == "" {
		t.Fatalf("get(a) = %v, %v; want a decoded report", first, err)
	}
	if again, _ := cache.get(ctx, a, load); again != first || loads.Load() != 1 {
		t.Errorf("a kept report was read again (%d reads)", loads.Load())
	}
	otherBody := a
	otherBody.BodySHA256 = "another body"
	if other, _ := cache.get(ctx, otherBody, load); other == first {
		t.Error("a different body hash was served the kept report")
	}
	// LRU by count: touch a, add b: the other-hash entry goes, a stays.
	_, _ = cache.get(ctx, a, load)
	_, _ = cache.get(ctx, b, load)
	before := loads.Load()
	if again, _ := cache.get(ctx, a, load); again != first || loads.Load() != before {
		t.Error("the most recently used report was evicted")
	}
	if p, err := cache.get(ctx, bad, load); err != nil || p.Report() != nil || !p.Build(reportview.ParseQuery(nil)).Unreadable {
		t.Errorf("get(bad) = %v, %v; want an unreadable page", p, err)
	}
	if n, _ := cache.held(); n != 2 {
		t.Errorf("cache holds %d entries, want 2", n)
	}

	// By size: a budget of one and a half bodies keeps one; a larger body is never kept.
	small := newPreparedReports(8, len(raw)*3/2)
	_, _ = small.get(ctx, a, load)
	_, _ = small.get(ctx, c, load)
	if n, bytes := small.held(); n != 1 || bytes != len(raw) {
		t.Errorf("size-bounded cache holds %d entries, %d bytes; want 1 and %d", n, bytes, len(raw))
	}
	tiny := newPreparedReports(8, len(raw)-1)
	if p, err := tiny.get(ctx, a, load); err != nil || p.Report() == nil {
		t.Errorf("over-budget report: %v, %v; want it served", p, err)
	} else if n, _ := tiny.held(); n != 0 {
		t.Errorf("over-budget report: %d kept; want it not kept", n)
	}

	// Concurrent misses decode once.
	fresh := newPreparedReports(8, 1<<30)
	before = loads.Load()
	var wg sync.WaitGroup
	got := make([]any, 8)
	for i := range got {
		wg.Go(func() { got[i], _ = fresh.get(ctx, c, load) })
	}
	wg.Wait()
	for _, p := range got[1:] {
		if p != got[0] {
			t.Fatal("concurrent requests got different prepared reports")
		}
	}
	if n := loads.Load() - before; n != 1 {
		t.Errorf("%d reads for %d concurrent requests, want 1", n, len(got))
	}

	// A report gone from the store (purged) is an error, and nothing is kept.
	gone := a
	gone.ID, gone.BodySHA256 = "gone", "x"
	if _, err := fresh.get(ctx, gone, load); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("get(gone) = %v, want ErrNotFound", err)
	}
	if _, ok := fresh.lookup("gone\x00x"); ok {
		t.Error("a failed read was kept")
	}
}
