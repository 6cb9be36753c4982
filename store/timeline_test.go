package store

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klavi-demo/portal/consent"
)

// TestOldTimelineRowsBecomeLegacyLines opens testdata/portal-v3.db, a database written by the version before
// message keys (schema 0003: the timeline held English sentences), and checks that migration 0004 keeps every
// line as the argument of consent.TLLegacy, titles and details alike, with nothing lost.
func TestOldTimelineRowsBecomeLegacyLines(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("testdata", "portal-v3.db"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "portal.db")
	if err := os.WriteFile(path, src, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Open(context.Background(), path, nil)
	if err != nil {
		t.Fatalf("Open(v3 database): %v", err)
	}
	defer s.Close()
	ctx := context.Background()
	var rows, withDetail int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*), count(NULLIF(detail_key, '')) FROM timeline`).Scan(&rows, &withDetail); err != nil {
		t.Fatal(err)
	}
	if rows < 100 || withDetail == 0 {
		t.Fatalf("fixture has %d lines (%d with a detail); want the full set", rows, withDetail)
	}
	page, err := s.ListConsentPage(ctx, ConsentFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, c := range page.Rows {
		tl, err := s.Timeline(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range tl {
			seen++
			if e.Title.Key != consent.TLLegacy || len(e.Title.Args) != 1 || e.Title.Args[0] == "" {
				t.Errorf("%s: title = %+v, want a legacy line with its text", c.ID, e.Title)
			}
			if !e.Detail.IsZero() && (e.Detail.Key != consent.TLLegacy || len(e.Detail.Args) != 1) {
				t.Errorf("%s: detail = %+v, want a legacy line or none", c.ID, e.Detail)
			}
		}
	}
	if seen != rows {
		t.Errorf("read %d lines through the consents, want all %d", seen, rows)
	}
	// A new line next to the old ones is stored with its key.
	id := page.Rows[0].ID
	if err := s.AddTimeline(ctx, TimelineEntry{ConsentID: id, Kind: "api", Title: consent.M(consent.TLRedirect), OK: true}); err != nil {
		t.Fatal(err)
	}
	tl, _ := s.Timeline(ctx, id)
	if last := tl[len(tl)-1]; last.Title.Key != consent.TLRedirect || !last.Detail.IsZero() {
		t.Errorf("new line = %+v", last)
	}
}

// TestDueForPollMatchesTheIndexList checks that the terminal statuses DueForPoll excludes are spelled exactly as in
// the partial index of migration 0001, so that the query can use the index.
func TestDueForPollMatchesTheIndexList(t *testing.T) {
	b, err := migrationFS.ReadFile("migrations/0001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "WHERE status NOT IN "+terminalInSQL) {
		t.Errorf("migration 0001 does not hold the partial index list %s", terminalInSQL)
	}
}
