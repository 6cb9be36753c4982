package store

// The store's tests run on both backends: a test body wrapped in eachBackend runs once as a subtest named "sqlite"
// (a fresh file in t.TempDir()) and once as "postgres" (a fresh database, CREATE DATABASE t_<n>, in a throwaway
// PostgreSQL cluster that this test binary starts itself on first use and removes at the end).
//
// Environment:
//   - STORE_BACKENDS: the backends to run, comma-separated (default "sqlite,postgres").
//   - STORE_REQUIRE_POSTGRES=1 (set by make test): a PostgreSQL that cannot be found or started fails the postgres
//     subtests; without it they are skipped, saying why.
//   - STORE_PG_BIN: the directory of initdb and pg_ctl (default: the newest /usr/lib/postgresql/*/bin, else PATH).
//
// The server refuses to run as root, so as root the cluster is made and run by the "postgres" system user (Debian's
// package creates it) through runuser, in a directory it owns; its socket lives there too and it listens on a free
// loopback port only. A watchdog process stops it and removes the directory should this binary die without
// cleaning up (a go test -timeout panic, say).

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver for the admin connection
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
	c := &clock{t: t0}
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
	return c.url(fresh.name)
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
	return c.url(name)
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
	dir   string // owned by the server's user: data/, the log and the socket
	bin   string // where initdb and pg_ctl are
	port  int
	as    *user.User // run the server's commands as this user (nil: as ourselves)
	admin *sql.DB    // the postgres database, for CREATE and DROP DATABASE
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
		if s, tmplErr = OpenPostgres(ctx, c.url("t_template"), nil); tmplErr == nil {
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

func (c *cluster) url(database string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.port, database)
}

// command runs one of the server's programs (as the server's user when we are root).
func (c *cluster) command(name string, args ...string) *exec.Cmd {
	prog := filepath.Join(c.bin, name)
	if c.as != nil {
		return exec.Command("runuser", append([]string{"-u", c.as.Username, "--", prog}, args...)...)
	}
	return exec.Command(prog, args...)
}

func (c *cluster) run(name string, args ...string) error {
	out, err := c.command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

func startCluster() (*cluster, error) {
	bin, err := postgresBin()
	if err != nil {
		return nil, err
	}
	c := &cluster{bin: bin}
	if os.Geteuid() == 0 {
		if c.as, err = user.Lookup("postgres"); err != nil {
			return nil, fmt.Errorf("running as root, and the server refuses root: no postgres user to run it as: %w", err)
		}
	}
	if c.dir, err = os.MkdirTemp("", "store-pg-"); err != nil {
		return nil, err
	}
	if c.as != nil {
		uid, _ := strconv.Atoi(c.as.Uid)
		gid, _ := strconv.Atoi(c.as.Gid)
		if err := os.Chown(c.dir, uid, gid); err != nil {
			_ = os.RemoveAll(c.dir)
			return nil, err
		}
	}
	data := filepath.Join(c.dir, "data")
	// --no-sync and fsync=off: the cluster holds test data for the length of one run; what the store promises
	// about durability is the server's configuration in production, not something these tests measure.
	if err := c.run("initdb", "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-locale",
		"--no-sync"); err != nil {
		_ = os.RemoveAll(c.dir)
		return nil, err
	}
	for attempt := 0; ; attempt++ {
		if c.port, err = freePort(); err == nil {
			err = c.run("pg_ctl", "-D", data, "-l", filepath.Join(c.dir, "log"), "-w", "-t", "60", "-o",
				fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off "+
					"-c synchronous_commit=off -c full_page_writes=off", c.port, c.dir), "start")
		}
		if err == nil {
			break
		}
		if attempt == 2 { // a port taken between freePort and the server's bind, three times: give up
			log, _ := os.ReadFile(filepath.Join(c.dir, "log"))
			_ = os.RemoveAll(c.dir)
			return nil, fmt.Errorf("%w\n%s", err, log)
		}
	}
	c.watchdog()
	if c.admin, err = sql.Open("pgx", c.url("postgres")); err != nil {
		c.stop()
		return nil, err
	}
	c.fresh, c.done = make(chan freshDB, preparers), make(chan struct{})
	go c.prepare()
	return c, nil
}

// watchdog starts a detached shell that waits for this process to end and then stops the server and removes its
// directory: the normal path (stop, from TestMain) has done both already, but a test binary killed on a timeout
// runs no cleanup.
func (c *cluster) watchdog() {
	script := fmt.Sprintf(`while [ -d /proc/%d ]; do sleep 1; done; %s -D %s -m immediate stop >/dev/null 2>&1; rm -rf %s`,
		os.Getpid(), filepath.Join(c.bin, "pg_ctl"), filepath.Join(c.dir, "data"), c.dir)
	cmd := exec.Command("sh", "-c", script)
	if c.as != nil {
		cmd = exec.Command("runuser", "-u", c.as.Username, "--", "sh", "-c", script)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // not in our process group: survives its kill
	if err := cmd.Start(); err == nil {
		go func() { _ = cmd.Wait() }() // reaped if it ends first; otherwise it outlives us, as meant
	}
}

func (c *cluster) stop() {
	if c.done != nil {
		close(c.done)
	}
	c.drops.Wait()
	if c.admin != nil {
		_ = c.admin.Close()
	}
	if err := c.run("pg_ctl", "-D", filepath.Join(c.dir, "data"), "-m", "immediate", "-w", "stop"); err != nil {
		fmt.Fprintln(os.Stderr, "store tests: stopping PostgreSQL:", err)
	}
	_ = os.RemoveAll(c.dir)
}

// postgresBin finds the directory of initdb and pg_ctl: STORE_PG_BIN, the newest Debian-style
// /usr/lib/postgresql/<version>/bin, or PATH.
func postgresBin() (string, error) {
	if d := os.Getenv("STORE_PG_BIN"); d != "" {
		return d, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgVersion(dirs[i]) > pgVersion(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "pg_ctl")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", errors.New("PostgreSQL server binaries not found (no /usr/lib/postgresql/*/bin, no pg_ctl in PATH; " +
		"make pg-deps installs Debian's postgresql package)")
}

func pgVersion(binDir string) float64 {
	v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(binDir)), 64)
	return v
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
