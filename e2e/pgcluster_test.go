//go:build e2e

package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver: the test reads what the replicas wrote
)

// pgCluster is a throwaway PostgreSQL server for one test, as the store tests start theirs (store/backends_test.go):
// initdb into a temporary directory, pg_ctl start on a free loopback port with the socket in that directory, as the
// postgres system user when we are root (the server refuses root), and a watchdog that stops it and removes the
// directory should the test binary die without cleaning up. fsync stays on: the replica test claims durability.
type pgCluster struct {
	dir, bin string
	port     int
	as       *user.User
}

// startPostgres starts a cluster with one database, portal, and returns its URL; the cluster is stopped and removed
// when the test ends. Without PostgreSQL's server binaries (make pg-deps installs them) the test is skipped.
func startPostgres(t *testing.T) string {
	t.Helper()
	bin, err := pgBin()
	if err != nil {
		t.Skipf("PostgreSQL unavailable: %v", err)
	}
	c := &pgCluster{bin: bin}
	if os.Geteuid() == 0 {
		if c.as, err = user.Lookup("postgres"); err != nil {
			t.Fatalf("running as root and the server refuses root: no postgres user to run it as: %v", err)
		}
	}
	if c.dir, err = os.MkdirTemp("", "e2e-pg-"); err != nil { //nolint:usetesting // chowned to the server's user and removed by stop (or the watchdog), not by t.TempDir
		t.Fatal(err)
	}
	if c.as != nil {
		uid, _ := strconv.Atoi(c.as.Uid)
		gid, _ := strconv.Atoi(c.as.Gid)
		if err := os.Chown(c.dir, uid, gid); err != nil {
			_ = os.RemoveAll(c.dir)
			t.Fatal(err)
		}
	}
	data := filepath.Join(c.dir, "data")
	if err := c.run("initdb", "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-locale", "--no-sync"); err != nil {
		_ = os.RemoveAll(c.dir)
		t.Fatal(err)
	}
	for attempt := 0; ; attempt++ {
		if c.port, err = freePort(); err == nil {
			err = c.run("pg_ctl", "-D", data, "-l", filepath.Join(c.dir, "log"), "-w", "-t", "60", "-o",
				fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c max_connections=100", c.port, c.dir), "start")
		}
		if err == nil {
			break
		}
		if attempt == 2 { // the port was taken between freePort and the bind, three times
			log, _ := os.ReadFile(filepath.Join(c.dir, "log"))
			_ = os.RemoveAll(c.dir)
			t.Fatalf("%v\n%s", err, log)
		}
	}
	c.watchdog()
	t.Cleanup(c.stop)
	admin, err := sql.Open("pgx", c.url("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = admin.Close() }()
	if _, err := admin.ExecContext(context.Background(), "CREATE DATABASE portal"); err != nil {
		t.Fatalf("create database: %v", err)
	}
	return c.url("portal")
}

func (c *pgCluster) url(database string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.port, database)
}

func (c *pgCluster) run(name string, args ...string) error {
	prog := filepath.Join(c.bin, name)
	cmd := exec.Command(prog, args...)
	if c.as != nil {
		cmd = exec.Command("runuser", append([]string{"-u", c.as.Username, "--", prog}, args...)...)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %w: %s", name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// watchdog: a detached shell waits for this process to end, then stops the server and removes its directory.
func (c *pgCluster) watchdog() {
	script := fmt.Sprintf(`while [ -d /proc/%d ]; do sleep 1; done; %s -D %s -m immediate stop >/dev/null 2>&1; rm -rf %s`,
		os.Getpid(), filepath.Join(c.bin, "pg_ctl"), filepath.Join(c.dir, "data"), c.dir)
	cmd := exec.Command("sh", "-c", script)
	if c.as != nil {
		cmd = exec.Command("runuser", "-u", c.as.Username, "--", "sh", "-c", script)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // not in our process group: survives its kill
	if err := cmd.Start(); err == nil {
		go func() { _ = cmd.Wait() }()
	}
}

func (c *pgCluster) stop() {
	if err := c.run("pg_ctl", "-D", filepath.Join(c.dir, "data"), "-m", "fast", "-w", "stop"); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: stopping PostgreSQL:", err)
	}
	_ = os.RemoveAll(c.dir)
}

// pgBin finds initdb and pg_ctl: the newest Debian-style /usr/lib/postgresql/<version>/bin, or PATH.
func pgBin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	version := func(d string) float64 {
		v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(d)), 64)
		return v
	}
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "pg_ctl")); err == nil {
			return d, nil
		}
	}
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", fmt.Errorf("no /usr/lib/postgresql/*/bin and no pg_ctl in PATH (make pg-deps installs Debian's postgresql)")
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
