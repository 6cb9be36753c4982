// Package store keeps every byte the portal owns in one database: links, consents and their timeline, webhook
// deliveries with the inbox that deduplicates them, reports, and the access tables. Two backends sit behind the one
// *Store: an SQLite file (modernc.org/sqlite, pure Go; the embedded default, Open) and PostgreSQL (pgx's
// database/sql driver; for several replicas sharing one database, OpenPostgres). The queries are written once, with
// ? and ?N placeholders; a small dialect value rewrites them for PostgreSQL and holds the few expressions that differ.
//
// Contracts shared by every method, on both backends: each takes a context; errors are wrapped as "store: <op>: ..."
// and ErrNotFound / ErrConflict are matched with errors.Is; every timestamp the store sets comes from the injected
// now function (a zero time.Time field on input means "now"); times are kept as integer microseconds and returned
// in UTC; text is stored as valid UTF-8 without NUL (each NUL or invalid byte sequence becomes U+FFFD, on both
// backends, since PostgreSQL's TEXT can hold neither), while bodies ([]byte) are kept byte for byte. Tax ids, tokens
// and bodies are stored for the flow but never appear in an error.
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

	"github.com/jackc/pgx/v5/pgconn"
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
	w    pool // SQLite: the single writer connection; PostgreSQL: the one pool
	r    pool // SQLite: the read-only pool; PostgreSQL: the same pool as w
	d    *dialect
	now  func() time.Time
	path string // SQLite: the file; PostgreSQL: ""
	// group commits SQLite's write transactions together (group.go); nil on PostgreSQL and while migrating.
	group *commitGroup

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
	s := &Store{w: pool{w, sqliteDialect, newStmtCache()}, d: sqliteDialect, now: now, path: path}
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
	s.r = pool{r, sqliteDialect, newStmtCache()}
	s.startGroup()
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

// Close closes the pools; on SQLite it first checkpoints the WAL into the main file (so a copied .db is complete
// and the -wal file does not grow across restarts). Calling it again returns the first call's result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.stopGroup()
		var errs []error
		if s.d == sqliteDialect {
			_, err := s.w.db.ExecContext(context.Background(), "PRAGMA wal_checkpoint(TRUNCATE)")
			errs = append(errs, err)
		}
		s.r.stmts.close()
		s.w.stmts.close()
		if s.r.db != s.w.db {
			errs = append(errs, s.r.db.Close())
		}
		errs = append(errs, s.w.db.Close())
		if err := errors.Join(errs...); err != nil {
			s.closeErr = fmt.Errorf("store: close: %w", err)
		}
	})
	return s.closeErr
}

// Ping checks the pools can reach the database.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.w.db.PingContext(ctx); err != nil {
		return fmt.Errorf("store: ping: %w", err)
	}
	if s.r.db != s.w.db {
		if err := s.r.db.PingContext(ctx); err != nil {
			return fmt.Errorf("store: ping: %w", err)
		}
	}
	return nil
}

// Backend names the database behind the store: "sqlite" or "postgres".
func (s *Store) Backend() string { return s.d.name }

// txAttempts bounds how often tx runs a transaction that PostgreSQL aborted as a deadlock victim or for a
// serialization failure; SQLite never needs a second attempt.
const txAttempts = 3

// tx runs fn in one writer transaction and commits it; any error rolls everything back, so a method either writes
// all its rows or none. On SQLite, transactions that wait at the same moment share one commit, each in its own
// savepoint (group.go, docs/reliability.md#group-commit). On SQLite the transaction is BEGIN IMMEDIATE (through the DSN): it holds the write lock
// from the start, so transactions never interleave. On PostgreSQL they do (READ COMMITTED): a method that reads and
// then writes locks what it read (tx.forUpdate, tx.lock) or writes with one conditional statement, and a
// transaction aborted as a deadlock victim runs again, so fn must set its results afresh on each run.
func (s *Store) tx(ctx context.Context, op string, fn func(tx *txn) error) error {
	if s.group != nil {
		if err := s.groupTx(ctx, fn); err != nil {
			return fmt.Errorf("store: %s: %w", op, err)
		}
		return nil
	}
	var err error
	for attempt := 1; attempt <= txAttempts; attempt++ {
		err = s.tx1(ctx, fn)
		if err == nil || !retryable(err) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("store: %s: %w", op, err)
	}
	return nil
}

func (s *Store) tx1(ctx context.Context, fn func(tx *txn) error) error {
	tx, err := s.w.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	t := &txn{tx: tx, d: s.d, stmts: s.w.stmts}
	defer t.prepareMissed(context.WithoutCancel(ctx), s.w.db) // deferred: runs once the transaction has ended
	if err := fn(t); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// retryable reports whether PostgreSQL aborted the transaction only because of another one running at the same
// time (serialization_failure, deadlock_detected), so that running it again can succeed.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

//go:embed migrations/*.sql
var migrationFS embed.FS

//go:embed migrations/postgres/*.sql
var pgMigrationFS embed.FS

// migration is one embedded migration file: its version (the number its name starts with), name and SQL.
type migration struct {
	version int
	name    string
	body    string
}

// migrations reads the *.sql files of dir in fsys, in version order.
func migrations(fsys embed.FS, dir string) ([]migration, error) {
	names, err := fs.Glob(fsys, dir+"/*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var out []migration
	for _, name := range names {
		base := filepath.Base(name)
		prefix, _, ok := strings.Cut(base, "_")
		version, err := strconv.Atoi(prefix)
		if !ok || err != nil || version <= 0 {
			return nil, fmt.Errorf("bad migration name %s", base)
		}
		body, err := fsys.ReadFile(name)
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: version, name: base, body: string(body)})
	}
	return out, nil
}

// migrate applies every embedded SQLite migration not yet recorded in schema_migrations, in order, each in its
// own transaction together with its record. The check happens inside the transaction, which holds SQLite's write
// lock from BEGIN IMMEDIATE on, so two processes opening the same file at once cannot apply a migration twice.
// The files are run as written (no placeholder rewriting).
func (s *Store) migrate(ctx context.Context) error {
	ms, err := migrations(migrationFS, "migrations")
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	// All pending files in one transaction, each with its record and checked inside it: a fresh file then costs one
	// WAL sync rather than one per file, about half of opening it (docs/benchmarks.md#start-to-ready), and a file
	// that fails leaves the schema as it was, as on PostgreSQL.
	return s.tx(ctx, "migrate", func(tx *txn) error {
		if _, err := tx.tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)`); err != nil {
			return err
		}
		for _, m := range ms {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`,
				m.version).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				continue
			}
			if _, err := tx.tx.ExecContext(ctx, m.body); err != nil {
				return fmt.Errorf("%s: %w", m.name, err)
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
				m.version, m.name, us(s.now())); err != nil {
				return err
			}
		}
		return nil
	})
}

// stamp returns t, or now when t is zero.
func (s *Store) stamp(t time.Time) time.Time {
	if t.IsZero() {
		return s.now()
	}
	return t
}

// us is how the store keeps a time: integer microseconds since the Unix epoch (UTC).
func us(t time.Time) int64 { return t.UnixMicro() }

func fromUS(v int64) time.Time { return time.UnixMicro(v).UTC() }

// nullUS maps a nil time to SQL NULL.
func nullUS(t *time.Time) any {
	if t == nil {
		return nil
	}
	return us(*t)
}

func fromNullUS(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromUS(v.Int64)
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
