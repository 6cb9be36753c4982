package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klavi-demo/portal/internal/testclock"
)

var t0 = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

// clock is a fixed, manually advanced test clock.
type clock = testclock.Clock

// TestPragmasOnBothPools is SQLite only: the pragmas and the pool split exist there alone.
func TestPragmasOnBothPools(t *testing.T) {
	t.Parallel()
	s, _, _ := openTest(t, sqliteBackend)
	ctx := context.Background()

	pragma := func(t *testing.T, conn *sql.Conn, name string) string {
		t.Helper()
		var v string
		if err := conn.QueryRowContext(ctx, "PRAGMA "+name).Scan(&v); err != nil {
			t.Fatalf("PRAGMA %s: %v", name, err)
		}
		return v
	}
	check := func(t *testing.T, conn *sql.Conn, want map[string]string) {
		t.Helper()
		for name, w := range want {
			if got := pragma(t, conn, name); got != w {
				t.Errorf("PRAGMA %s = %q, want %q", name, got, w)
			}
		}
	}

	t.Run("writer", func(t *testing.T) {
		conn, err := s.w.db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = conn.Close() }()
		check(t, conn, map[string]string{"journal_mode": "wal", "busy_timeout": "5000", "foreign_keys": "1",
			"synchronous": "2", "query_only": "0"})
	})
	t.Run("every reader connection", func(t *testing.T) {
		// Hold readerConns connections at once so each is a distinct pooled connection.
		var conns []*sql.Conn
		for i := 0; i < readerConns; i++ {
			conn, err := s.r.db.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, conn)
		}
		for i, conn := range conns {
			t.Run(fmt.Sprint(i), func(t *testing.T) {
				check(t, conn, map[string]string{"journal_mode": "wal", "busy_timeout": "5000", "foreign_keys": "1",
					"query_only": "1"})
				if _, err := conn.ExecContext(ctx, `INSERT INTO timeline (consent_id, kind, at) VALUES ('x', 'api', 1)`); err == nil {
					t.Errorf("a write through the reader pool succeeded")
				}
			})
		}
		for _, c := range conns {
			_ = c.Close()
		}
	})
	t.Run("writer has one connection", func(t *testing.T) {
		if got := s.w.db.Stats().MaxOpenConnections; got != 1 {
			t.Errorf("writer MaxOpenConnections = %d, want 1", got)
		}
		if got := s.r.db.Stats().MaxOpenConnections; got != readerConns {
			t.Errorf("reader MaxOpenConnections = %d, want %d", got, readerConns)
		}
	})
}

func TestMigrationsIdempotent(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		s, c, db := openTest(t, be)
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		fsys, dir, tables := migrationFS, "migrations", sqlText(`SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?`)
		if be == postgresBackend {
			fsys, dir, tables = pgMigrationFS, "migrations/postgres", `SELECT tablename FROM pg_tables WHERE tablename = ?`
		}
		for i := 0; i < 2; i++ {
			s2, err := db.open(ctx, c.Now)
			if err != nil {
				t.Fatalf("reopen %d: %v", i, err)
			}
			var n int
			if err := s2.r.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil {
				t.Fatal(err)
			}
			files, _ := fsys.ReadDir(dir)
			if n != len(files) {
				t.Errorf("schema_migrations has %d rows, want %d", n, len(files))
			}
			for _, table := range []string{"links", "consents", "timeline", "webhook_deliveries", "inbox", "reports"} {
				var name string
				err := s2.r.QueryRowContext(ctx, tables, table).Scan(&name)
				if err != nil {
					t.Errorf("table %s: %v", table, err)
				}
			}
			if err := s2.Close(); err != nil {
				t.Fatal(err)
			}
		}
	})
}

func TestOpenCreatesPrivateFiles(t *testing.T) {
	t.Parallel()
	_, _, db := openTest(t, sqliteBackend)
	path := db.target
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("db file mode = %o, want 600", got)
	}
	di, err := os.Stat(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if got := di.Mode().Perm(); got != 0o700 {
		t.Errorf("dir mode = %o, want 700", got)
	}
}

func TestOpenFailsFast(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	notADir := filepath.Join(dir, "file")
	if err := os.WriteFile(notADir, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	garbage := filepath.Join(dir, "garbage.db")
	if err := os.WriteFile(garbage, []byte(strings.Repeat("this is not a database ", 50)), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, path, mention string
	}{
		{"not a database", garbage, garbage},
		{"parent is a file", filepath.Join(notADir, "portal.db"), notADir},
		{"parent of parent is a file", filepath.Join(notADir, "sub", "portal.db"), filepath.Join(notADir, "sub")},
		{"path is a directory", dir, dir},
		{"empty path", "", "file path is required"},
		{"memory refused", ":memory:", "file path is required"},
	}
	if os.Geteuid() != 0 { // root ignores permission bits
		ro := filepath.Join(dir, "readonly")
		if err := os.Mkdir(ro, 0o500); err != nil {
			t.Fatal(err)
		}
		tests = append(tests, struct{ name, path, mention string }{"read-only directory", filepath.Join(ro, "portal.db"), ro})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(ctx, tt.path, nil)
			if err == nil {
				_ = s.Close()
				t.Fatal("Open succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("error %q does not mention %q", err, tt.mention)
			}
		})
	}
}

func TestDataSurvivesReopen(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		s, c, db := openTest(t, be)
		if err := s.CreateConsent(ctx, Consent{ID: "c1", LinkID: "l1", PersonalTaxID: "52998224725"}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.RecordEventDelivery(ctx, Delivery{SignatureValid: true, Keys: []string{"e1"}},
			[]InboxItem{{Key: "e1", EventName: "consent_authorised"}}); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		// SQLite: Close checkpoints with TRUNCATE, so the -wal file is empty afterwards.
		if fi, err := os.Stat(db.target + "-wal"); be == sqliteBackend && err == nil && fi.Size() != 0 {
			t.Errorf("-wal size after Close = %d, want 0", fi.Size())
		}
		s2, err := db.open(ctx, c.Now)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = s2.Close() }()
		got, err := s2.Consent(ctx, "c1")
		if err != nil || got.PersonalTaxID != "52998224725" {
			t.Errorf("Consent after reopen = %+v, %v", got, err)
		}
		items, err := s2.PendingInbox(ctx, 10)
		if err != nil || len(items) != 1 || items[0].Key != "e1" {
			t.Errorf("PendingInbox after reopen = %+v, %v", items, err)
		}
	})
}

// TestOpenOddPath: characters that mean something in a file: URI are escaped, so the file lands where asked.
func TestOpenOddPath(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "a dir?x=1#frag%20", "portal.db")
	s, err := Open(ctx, path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateLink(ctx, Link{ID: "l"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
		t.Errorf("database not at %q: %v", path, err)
	}
}

func TestPing(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, be backend) {
		s, _, _ := openTest(t, be)
		if err := s.Ping(context.Background()); err != nil {
			t.Fatalf("Ping: %v", err)
		}
	})
}

func TestClosedStoreErrors(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		s, _, _ := openTest(t, be)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.Ping(ctx); err == nil {
			t.Error("Ping on a closed store succeeded")
		}
		if _, err := s.RecordEventDelivery(ctx, Delivery{}, []InboxItem{{Key: "e"}}); err == nil ||
			!strings.HasPrefix(err.Error(), "store: record event delivery: ") {
			t.Errorf("RecordEventDelivery on a closed store: %v", err)
		}
		if _, err := s.Consent(ctx, "x"); err == nil || errors.Is(err, ErrNotFound) {
			t.Errorf("Consent on a closed store: %v, want a non-NotFound error", err)
		}
	})
}

// TestConcurrentWriters runs 8 goroutines × 50 read-then-write transactions, split over two Store instances on the
// same database (two processes, or replicas, in effect), and no increment may be lost. SQLite: with one writer per
// instance, BEGIN IMMEDIATE and busy_timeout, not one may fail with SQLITE_BUSY. PostgreSQL: the read locks its row
// ({forUpdate}), so each increment waits for the one before.
func TestConcurrentWriters(t *testing.T) {
	t.Parallel()
	eachBackend(t, func(t *testing.T, be backend) {
		ctx := context.Background()
		s1, c, db := openTest(t, be)
		s2, err := db.open(ctx, c.Now)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = s2.Close() }()
		if err := s1.CreateConsent(ctx, Consent{ID: "counter"}); err != nil {
			t.Fatal(err)
		}
		const workers, perWorker = 8, 50
		errs := make(chan error, workers*perWorker)
		var wg sync.WaitGroup
		for w := 0; w < workers; w++ {
			st := s1
			if w%2 == 1 {
				st = s2
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < perWorker; i++ {
					errs <- st.tx(ctx, "increment", func(tx *txn) error {
						var n int
						if err := tx.QueryRowContext(ctx, `SELECT poll_attempts FROM consents WHERE id = 'counter' {forUpdate}`).Scan(&n); err != nil {
							return err
						}
						_, err := tx.ExecContext(ctx, `UPDATE consents SET poll_attempts = ? WHERE id = 'counter'`, n+1)
						return err
					})
				}
			}()
		}
		wg.Wait()
		close(errs)
		failed := 0
		for err := range errs {
			if err != nil {
				failed++
				t.Errorf("transaction failed: %v", err)
			}
		}
		got, err := s1.Consent(ctx, "counter")
		if err != nil {
			t.Fatal(err)
		}
		if got.PollAttempts != workers*perWorker || failed != 0 {
			t.Errorf("counter = %d with %d failures, want %d and 0", got.PollAttempts, failed, workers*perWorker)
		}
	})
}

// TestOpenPostgresFailsFast: a malformed URL or a server that does not answer is an error at once, and the password
// is never in it.
func TestOpenPostgresFailsFast(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := ln.Addr().String()
	_ = ln.Close()
	for name, url := range map[string]string{
		"malformed":   "postgres://portal:hunter2@db:notaport/portal",
		"bad sslmode": "postgres://portal:hunter2@db/portal?sslmode=sometimes",
		"refused":     "postgres://portal:hunter2@" + refused + "/portal",
	} {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			s, err := OpenPostgres(context.Background(), url, nil)
			if err == nil {
				_ = s.Close()
				t.Fatal("OpenPostgres succeeded")
			}
			if strings.Contains(err.Error(), "hunter2") || !strings.HasPrefix(err.Error(), "store: open postgres") {
				t.Errorf("err = %v, want store: open postgres ... without the password", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v", d)
			}
		})
	}
}

// TestPostgresPool: one pool for reads and writes, bounded, and the store says which backend it is.
func TestPostgresPool(t *testing.T) {
	t.Parallel()
	postgresOnly(t)
	s, _, _ := openTest(t, postgresBackend)
	if s.w.db != s.r.db || s.w.db.Stats().MaxOpenConnections != pgConns || s.Backend() != "postgres" {
		t.Errorf("pools %p %p, max open %d, backend %q", s.w.db, s.r.db, s.w.db.Stats().MaxOpenConnections, s.Backend())
	}
	if err := s.Ping(context.Background()); err != nil {
		t.Error(err)
	}
}
