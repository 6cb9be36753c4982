package store

import (
	"context"
	"embed"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klavi-demo/portal/consent"
)

// TestOldTimelineRowsBecomeLegacyLines opens testdata/portal-v3.db, a database written by the version before
// message keys (schema 0003: the timeline held English sentences), and checks that migration 0004 keeps every
// line as the argument of consent.TLLegacy, titles and details alike, with nothing lost.
func TestOldTimelineRowsBecomeLegacyLines(t *testing.T) {
	t.Parallel()
	s := openV3(t)
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

// openV3 opens a copy of testdata/portal-v3.db, a database written by the version whose schema ended at 0003 and
// whose times were milliseconds, so that every later migration runs on it.
func openV3(t *testing.T) *Store {
	t.Helper()
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
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// TestOldMillisecondTimesSurvive: migration 0006 turns the milliseconds of an older database into microseconds, so
// the times read back are the ones written (values read from the fixture before the migration existed).
func TestOldMillisecondTimesSurvive(t *testing.T) {
	t.Parallel()
	s := openV3(t)
	ctx := context.Background()
	ms := func(v int64) time.Time { return time.UnixMilli(v).UTC() }
	c, err := s.Consent(ctx, "d02-consent-1")
	if err != nil {
		t.Fatal(err)
	}
	if !c.CreatedAt.Equal(ms(1796401900873)) || !c.UpdatedAt.Equal(ms(1796401900879)) || c.CallbackAt == nil ||
		!c.CallbackAt.Equal(ms(1796401900878)) || c.NextPollAt != nil {
		t.Errorf("consent times = created %v updated %v callback %v next poll %v; want 2026-12-04 16:31:40.873 UTC, "+
			".879, .878 and none", c.CreatedAt, c.UpdatedAt, c.CallbackAt, c.NextPollAt)
	}
	tl, err := s.Timeline(ctx, "d00-consent-1")
	if err != nil || len(tl) == 0 || tl[0].ID != 10 || !tl[0].At.Equal(ms(1796401906938)) {
		t.Errorf("first timeline entry of d00-consent-1 = %+v, %v; want id 10 at %v", tl, err, ms(1796401906938))
	}
	d, err := s.Delivery(ctx, 1001)
	if err != nil || !d.ReceivedAt.Equal(ms(1796401906953)) {
		t.Errorf("delivery 1001 received at %v, %v; want %v", d.ReceivedAt, err, ms(1796401906953))
	}
	var applied int64
	if err := s.r.QueryRowContext(ctx, `SELECT applied_at FROM schema_migrations WHERE version = 1`).Scan(&applied); err != nil ||
		applied != 1796401901174000 {
		t.Errorf("0001 applied_at = %d, %v; want the milliseconds ×1000", applied, err)
	}
}

// TestDueForPollMatchesTheIndexList checks that the terminal statuses DueForPoll excludes are spelled exactly as in
// the partial index of migration 0001 and of the PostgreSQL schema, so that the query can use the index.
func TestDueForPollMatchesTheIndexList(t *testing.T) {
	for _, f := range []struct {
		fsys embed.FS
		name string
	}{{migrationFS, "migrations/0001_init.sql"}, {pgMigrationFS, "migrations/postgres/0006_schema.sql"}} {
		b, err := f.fsys.ReadFile(f.name)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(b), "WHERE status NOT IN "+terminalInSQL) {
			t.Errorf("%s does not hold the partial index list %s", f.name, terminalInSQL)
		}
	}
}
