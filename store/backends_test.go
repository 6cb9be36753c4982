package store

// The store's tests run on both backends: a test body wrapped in eachBackend runs once as a subtest named "sqlite"
// (a fresh file in t.TempDir()) and once as "postgres" (a fresh database, CREATE DATABASE t_<n>, in a throwaway
// PostgreSQL cluster that this test binary starts itself on first use and removes at the end).
//
// Environment:
//   - STORE_BACKENDS: the backends to run, comma-separated (default "sqlite,postgres").
//   - STORE_REQUIRE_POSTGRES=1 (set by make test): a PostgreSQL that cannot be found or started fails the postgres
//     subtests; without it they are skipped, saying why.
//   - PG_BIN: the directory of initdb and pg_ctl (default: the newest /usr/lib/postgresql/*/bin, else PATH).
//
// internal/pgtest starts the server (as the postgres user when we are root, with a watchdog that removes it should
// this binary die without cleaning up); fsync is off, since these tests do not measure durability.

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver for the admin connection
	"github.com/klavi-demo/portal/internal/pgtest"
	"github.com/klavi-demo/portal/internal/testclock"
)

type backend string

const (
	sqliteBackend   backend = "sqlite"
	postgresBackend backend = "postgres"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if pg.c != nil {
		pg.c.stop()
	}
	os.Exit(code)
}

// backendsUnderTest reads STORE_BACKENDS.
func backendsUnderTest() []backend {
	v := os.Getenv("STORE_BACKENDS")
	if v == "" {
		return []backend{sqliteBackend, postgresBackend}
	}
	var out []backend
	for _, name := range strings.Split(v, ",") {
		switch b := backend(strings.TrimSpace(name)); b {
		case sqliteBackend, postgresBackend:
			out = append(out, b)
		case "":
		default:
			panic("STORE_BACKENDS: unknown backend " + name)
		}
	}
	return out
}

// eachBackend runs body as one parallel subtest per backend under test, named after the backend.
func eachBackend(t *testing.T, body func(t *testing.T, be backend)) {
	t.Helper()
	for _, be := range backendsUnderTest() {
		t.Run(string(be), func(t *testing.T) {
			t.Parallel()
			body(t, be)
		})
	}
}

// postgresOnly skips a PostgreSQL-only test when STORE_BACKENDS leaves PostgreSQL out.
func postgresOnly(t *testing.T) {
	t.Helper()
	if !slices.Contains(backendsUnderTest(), postgresBackend) {
		t.Skip("STORE_BACKENDS leaves out postgres")
	}
}

// testDB is where a test store lives: the SQLite file or the PostgreSQL URL.
type testDB struct {
	be     backend
	target string
}

// open opens another Store on the same database (a restart, or a second replica).
func (db testDB) open(ctx context.Context, now func() time.Time) (*Store, error) {
	if db.be == postgresBackend {
		return OpenPostgres(ctx, db.target, now)
	}
	return Open(ctx, db.target, now)
}

// openTest opens a store on a fresh database of backend be with a fixed clock at t0; it is closed (and a
// PostgreSQL database dropped) when the test ends.
func openTest(t testing.TB, be backend) (*Store, *clock, testDB) {
	t.Helper()
	c := testclock.New(t0)
	db := testDB{be: be}
	switch be {
	case sqliteBackend:
		db.target = filepath.Join(t.TempDir(), "data", "portal.db")
	case postgresBackend:
		db.target = freshPostgresDatabase(t)
	default:
		t.Fatalf("unknown backend %q", be)
	}
	s, err := db.open(context.Background(), c.Now)
	if err != nil {
		t.Fatalf("open %s: %v", be, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, c, db
}

// migrateAgain closes s and opens its database again, which applies the migrations the database no longer records
// (a test that rewound the schema); the new store is closed when the test ends.
func migrateAgain(t *testing.T, s *Store, db testDB) *Store {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := db.open(context.Background(), s.now)
	if err != nil {
		t.Fatalf("migrate again: %v", err)
	}
	t.Cleanup(func() { _ = s2.Close() })
	return s2
}

// pg is the test binary's PostgreSQL cluster, started on first use.
var pg struct {
	once sync.Once
	c    *cluster
	err  error
}

// testCluster returns the test binary's cluster, starting it on first use. Without one the test is skipped, or
// failed under STORE_REQUIRE_POSTGRES=1.
func testCluster(t testing.TB) *cluster {
	t.Helper()
	pg.once.Do(func() { pg.c, pg.err = startCluster() })
	if pg.err != nil {
		if os.Getenv("STORE_REQUIRE_POSTGRES") == "1" {
			t.Fatalf("PostgreSQL is required (STORE_REQUIRE_POSTGRES=1) but unavailable: %v", pg.err)
		}
		t.Skipf("PostgreSQL unavailable, postgres half skipped (make test requires it): %v", pg.err)
	}
	return pg.c
}

// freshPostgresDatabase returns the URL of a database of its own for the test, with the schema in place; it is
// dropped when the test ends.
func freshPostgresDatabase(t testing.TB) string {
	t.Helper()
	c := testCluster(t)
	fresh := <-c.fresh
	if fresh.err != nil {
		t.Fatal(fresh.err)
	}
	dropAtEnd(t, c, fresh.name)
	return c.URL(fresh.name)
}

// emptyPostgresDatabase returns the URL of a new, empty database (no schema, no schema_migrations), dropped when the
// test ends.
var emptyDBs atomic.Int64

func emptyPostgresDatabase(t testing.TB) string {
	t.Helper()
	c := testCluster(t)
	name := fmt.Sprintf("e_%d", emptyDBs.Add(1))
	if err := c.createEmpty(context.Background(), name); err != nil {
		t.Fatal(err)
	}
	dropAtEnd(t, c, name)
	return c.URL(name)
}

// dropAtEnd drops the database once the test is over (after the store's own Close: cleanups run last-in
// first-out), in the background, so that the next test need not wait; stop waits for the drops. FORCE ends any
// connection a test left open.
func dropAtEnd(t testing.TB, c *cluster, name string) {
	t.Cleanup(func() {
		c.drops.Add(1)
		go func() {
			defer c.drops.Done()
			if _, err := c.admin.ExecContext(context.Background(), "DROP DATABASE "+name+" WITH (FORCE)"); err != nil {
				fmt.Fprintf(os.Stderr, "store tests: drop database %s: %v\n", name, err)
			}
		}()
	})
}

// createEmpty creates an empty database (template0 is the smaller template and the quicker copy).
func (c *cluster) createEmpty(ctx context.Context, name string) error {
	if _, err := c.admin.ExecContext(ctx, "CREATE DATABASE "+name+" TEMPLATE template0"); err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

// cluster is a throwaway PostgreSQL server.
type cluster struct {
	*pgtest.Server
	admin *sql.DB // the postgres database, for CREATE and DROP DATABASE
	fresh chan freshDB
	done  chan struct{}
	drops sync.WaitGroup
}

// freshDB is a database made ahead of the test that takes it, or why it could not be made.
type freshDB struct {
	name string
	err  error
}

// prepare creates databases t_1, t_2, ... ahead of the tests that take them, two at a time: CREATE DATABASE costs a
// few hundred milliseconds of the server's time, which then overlaps with the tests running. They are copies of
// t_template, which OpenPostgres migrated once, so that opening a test store only checks the versions; the
// migrations themselves are tested on empty databases (emptyPostgresDatabase).
func (c *cluster) prepare() {
	ctx := context.Background()
	tmplErr := c.createEmpty(ctx, "t_template")
	if tmplErr == nil {
		var s *Store
		if s, tmplErr = OpenPostgres(ctx, c.URL("t_template"), nil); tmplErr == nil {
			tmplErr = s.Close()
		}
	}
	var n atomic.Int64
	for range preparers {
		go func() {
			for {
				name := fmt.Sprintf("t_%d", n.Add(1))
				f := freshDB{name: name, err: tmplErr}
				if f.err == nil {
					if _, err := c.admin.ExecContext(ctx, "CREATE DATABASE "+name+" TEMPLATE t_template"); err != nil {
						f.err = fmt.Errorf("create database %s: %w", name, err)
					}
				}
				select {
				case c.fresh <- f:
				case <-c.done:
					return
				}
			}
		}()
	}
}

// preparers is how many CREATE DATABASE statements prepare keeps running at once.
const preparers = 2

func startCluster() (*cluster, error) {
	srv, err := pgtest.Start(pgtest.Options{Prefix: "store-pg-", Fast: true, MaxConnections: 200})
	if err != nil {
		return nil, err
	}
	c := &cluster{Server: srv}
	if c.admin, err = sql.Open("pgx", c.URL("postgres")); err != nil {
		c.stop()
		return nil, err
	}
	c.fresh, c.done = make(chan freshDB, preparers), make(chan struct{})
	go c.prepare()
	return c, nil
}

func (c *cluster) stop() {
	if c.done != nil {
		close(c.done)
	}
	c.drops.Wait()
	if c.admin != nil {
		_ = c.admin.Close()
	}
	if err := c.Stop("immediate"); err != nil {
		fmt.Fprintln(os.Stderr, "store tests: stopping PostgreSQL:", err)
	}
}
