// Package store keeps every byte the portal owns in one SQLite file (modernc.org/sqlite, pure Go): links,
// consents and their timeline, webhook deliveries with the inbox that deduplicates them, and reports.
//
// Contracts shared by every method: each takes a context; errors are wrapped as "store: <op>: ..." and
// ErrNotFound / ErrConflict are matched with errors.Is; every timestamp the store sets comes from the injected
// now function (a zero time.Time field on input means "now"); times are kept with millisecond precision and
// returned in UTC. Tax ids, tokens and bodies are stored for the flow but never appear in an error.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

var (
	// ErrNotFound is returned (wrapped) when the requested row does not exist.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict is returned (wrapped) when a create would duplicate a unique key.
	ErrConflict = errors.New("store: conflict")
)

// Store is the portal's database. It is safe for concurrent use.
type Store struct {
	w    *sql.DB // single writer connection
	r    *sql.DB // read-only pool
	now  func() time.Time
	path string

	closeOnce sync.Once
	closeErr  error
}

// Connection settings (docs/reliability.md#sqlite). modernc runs every _pragma on each new pooled connection, which is
// why they live in the DSN: db.Exec("PRAGMA ...") would reach one connection only.
//
// Writer: WAL so readers never block it and it never blocks readers; busy_timeout so another process holding
// the lock makes us wait instead of failing; synchronous(FULL) because a 2xx to Klavi promises the inbox row is
// on disk (NORMAL can lose the last commits on power loss); _txlock=immediate so every transaction takes the
// write lock at BEGIN: a deferred transaction that reads and then writes fails with SQLITE_BUSY at the upgrade,
// busy handler or not. One connection, because SQLite has one writer at a time anyway and queueing in Go is
// cheaper and fairer than spinning in the busy handler.
//
// Readers: several connections so pages never queue behind a write; query_only(1) so a write sent to the wrong
// pool fails loudly instead of bypassing the writer.
const (
	writerParams = "_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)" +
		"&_pragma=synchronous(FULL)&_txlock=immediate"
	readerParams = "_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)&_pragma=query_only(1)"
	readerConns  = 4
)

// Open opens (creating if needed) the database at path, with its parent directory (mode 0700) and the file
// itself (mode 0600), and applies pending migrations. now is the clock for every timestamp (nil = time.Now).
// It fails fast, naming the path, when the directory or file cannot be created or written: the portal must
// never run on a silent in-memory fallback.
func Open(ctx context.Context, path string, now func() time.Time) (*Store, error) {
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("store: open: a file path is required, got %q", path)
	}
	if now == nil {
		now = time.Now
	}
	if err := prepareFile(path); err != nil {
		return nil, err
	}
	uri := "file:" + uriPath.Replace(path)
	w, err := sql.Open("sqlite", uri+"?"+writerParams)
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	s := &Store{w: w, now: now, path: path}
	if err := w.PingContext(ctx); err != nil {
		_ = w.Close() // the open error is the one worth reporting
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	// Migrate before the readers connect, so they never see a half-built schema and WAL mode (persistent in
	// the file) is already set.
	if err := s.migrate(ctx); err != nil {
		_ = w.Close() // the open error is the one worth reporting
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", uri+"?"+readerParams)
	if err != nil {
		_ = w.Close() // the open error is the one worth reporting
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	r.SetMaxOpenConns(readerConns)
	r.SetMaxIdleConns(readerConns)
	if err := r.PingContext(ctx); err != nil {
		_ = r.Close() // the open error is the one worth reporting
		_ = w.Close()
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	s.r = r
	return s, nil
}

// uriPath escapes the characters that would end the path part of a file: URI early.
var uriPath = strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23")

// prepareFile creates the directory and the file with private modes and proves both are writable: SQLite
// creates -wal and -shm next to the file, so a read-only directory would otherwise surface as an obscure
// error on the first write rather than at start-up.
func prepareFile(path string) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("store: open: cannot create directory %s: %w", dir, err)
	}
	probe, err := os.CreateTemp(dir, ".store-probe-*")
	if err != nil {
		return fmt.Errorf("store: open: directory %s is not writable: %w", dir, err)
	}
	// Failing to remove the empty probe leaves a harmless file; the checks that matter come next.
	_ = probe.Close()
	_ = os.Remove(probe.Name())
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600) //nolint:gosec // G304: the operator's DATABASE_PATH
	if err != nil {
		return fmt.Errorf("store: open: database file %s is not writable: %w", path, err)
	}
	return f.Close()
}

// Close checkpoints the WAL into the main file (so a copied .db is complete and the -wal file does not grow
// across restarts) and closes both pools. Calling it again returns the first call's result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		_, cerr := s.w.ExecContext(context.Background(), "PRAGMA wal_checkpoint(TRUNCATE)")
		rerr := s.r.Close()
		werr := s.w.Close()
		if err := errors.Join(cerr, rerr, werr); err != nil {
			s.closeErr = fmt.Errorf("store: close: %w", err)
		}
	})
	return s.closeErr
}

// Ping checks both pools can reach the database.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.w.PingContext(ctx); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	if err := s.r.PingContext(ctx); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	return nil
}

// tx runs fn in one writer transaction (BEGIN IMMEDIATE through the DSN) and commits it; any error rolls
// everything back, so a method either writes all its rows or none.
func (s *Store) tx(ctx context.Context, op string, fn func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: %s: %w", op, err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return fmt.Errorf("store: %s: %w", op, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: %s: %w", op, err)
	}
	return nil
}

//go:embed migrations/*.sql
var migrationFS embed.FS

// migrate applies every embedded migration not yet recorded in schema_migrations, in order, each in its own
// transaction together with its record. The check happens inside the transaction, so two processes opening
// the same file at once cannot apply a migration twice.
func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	sort.Strings(names)
	for _, name := range names {
		base := filepath.Base(name)
		prefix, _, ok := strings.Cut(base, "_")
		version, err := strconv.Atoi(prefix)
		if !ok || err != nil || version <= 0 {
			return fmt.Errorf("store: migrate: bad migration name %s", base)
		}
		body, err := migrationFS.ReadFile(name)
		if err != nil {
			return fmt.Errorf("store: migrate: %w", err)
		}
		err = s.tx(ctx, "migrate "+base, func(tx *sql.Tx) error {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`,
				version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return nil
			}
			if _, err := tx.ExecContext(ctx, string(body)); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
				version, base, s.now().UnixMilli())
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// stamp returns t, or now when t is zero.
func (s *Store) stamp(t time.Time) time.Time {
	if t.IsZero() {
		return s.now()
	}
	return t
}

func ms(t time.Time) int64 { return t.UnixMilli() }

func fromMS(v int64) time.Time { return time.UnixMilli(v).UTC() }

// nullMS maps a nil time to SQL NULL.
func nullMS(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMilli()
}

func fromNullMS(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMS(v.Int64)
	return &t
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// limitOr bounds a caller's limit: <= 0 means def, and nothing above max.
func limitOr(limit, def, max int) int {
	if limit <= 0 {
		return def
	}
	if limit > max {
		return max
	}
	return limit
}
