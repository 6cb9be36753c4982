package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// PostgreSQL pool settings. There is no single writer: every connection writes, and the methods that read before
// they write lock what they read (see tx). Ten connections serve a replica's handlers and background workers with
// room to spare, and leave a server's default max_connections (100) enough for several replicas.
const (
	pgConns          = 10
	pgConnectTimeout = 10 * time.Second
)

// pgMigrationLock is the key of the transaction-level advisory lock held while PostgreSQL migrations are checked and
// applied, so that replicas starting together apply each migration once (the others wait, then find it recorded).
const pgMigrationLock int64 = 0x6b6c617669_0001 // "klavi", 1

// OpenPostgres opens the PostgreSQL database at url (postgres://user:password@host:port/database?sslmode=...) and
// applies pending migrations, in one transaction under an advisory lock. now is the clock for every timestamp (nil
// = time.Now). It fails fast when the URL is malformed or the server cannot be reached within ten seconds (unless
// the URL sets connect_timeout); its errors never include the password.
func OpenPostgres(ctx context.Context, url string, now func() time.Time) (*Store, error) {
	if now == nil {
		now = time.Now
	}
	cfg, err := pgx.ParseConfig(url) // its errors show the URL with the password redacted
	if err != nil {
		return nil, fmt.Errorf("store: open postgres: %w", err)
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = pgConnectTimeout
	}
	if _, ok := cfg.RuntimeParams["application_name"]; !ok {
		cfg.RuntimeParams["application_name"] = "portal"
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(pgConns)
	db.SetMaxIdleConns(pgConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	p := pool{db: db, d: postgresDialect}
	s := &Store{w: p, r: p, d: postgresDialect, now: now}
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close() // the open error is the one worth reporting
		return nil, fmt.Errorf("store: open postgres %s: %w", where(cfg), err)
	}
	if err := s.migratePostgres(ctx); err != nil {
		_ = db.Close() // the open error is the one worth reporting
		return nil, fmt.Errorf("store: open postgres %s: %w", where(cfg), err)
	}
	return s, nil
}

// CheckPostgresURL reports whether url is a connection string OpenPostgres can use, without connecting. Its error
// never includes the password.
func CheckPostgresURL(url string) error {
	if _, err := pgx.ParseConfig(url); err != nil {
		return err
	}
	return nil
}

// where names the server and database of cfg for an error message (never the password).
func where(cfg *pgx.ConnConfig) string {
	return fmt.Sprintf("%s:%d/%s", cfg.Host, cfg.Port, cfg.Database)
}

// migratePostgres applies every embedded PostgreSQL migration not yet recorded in schema_migrations, in order, all
// in ONE transaction that first takes the advisory lock pgMigrationLock: DDL is transactional on PostgreSQL, so a
// failed migration leaves nothing behind, and a second replica starting at the same moment waits at the lock and
// then finds every version recorded. The files are run as written (simple protocol, no placeholder rewriting).
func (s *Store) migratePostgres(ctx context.Context) error {
	ms, err := migrations(pgMigrationFS, "migrations/postgres")
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	return s.tx(ctx, "migrate", func(tx *txn) error {
		if _, err := tx.tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, pgMigrationLock); err != nil {
			return err
		}
		if _, err := tx.tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)`); err != nil {
			return err
		}
		for _, m := range ms {
			var one int
			err := tx.QueryRowContext(ctx, `SELECT 1 FROM schema_migrations WHERE version = ?`, m.version).Scan(&one)
			if err == nil {
				continue
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return err
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
