// Package pgtest starts throwaway PostgreSQL servers for tests, from the server binaries of Debian's postgresql
// package (make pg-deps installs them): initdb into a temporary directory, pg_ctl start on a free loopback port
// with the socket in that directory, as the postgres system user when the tests run as root (the server refuses
// root), and a watchdog that stops the server and removes the directory should the test binary die without
// cleaning up (a go test -timeout panic, a SIGKILL). The store tests and the e2e replica test share it.
package pgtest

import (
	"errors"
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
)

// Options shape a server.
type Options struct {
	// Prefix names the temporary directory ("store-pg-", "e2e-pg-").
	Prefix string
	// Fast turns fsync, synchronous commits and full-page writes off: for test data that lives one run and a suite
	// that does not measure durability. Leave it off where a test claims durability.
	Fast bool
	// MaxConnections is the server's max_connections (0: 100).
	MaxConnections int
}

// Server is one running throwaway server.
type Server struct {
	Dir  string // owned by the server's user: data/, the log and the socket
	Port int
	bin  string     // where initdb and pg_ctl are
	as   *user.User // run the server's commands as this user (nil: as ourselves)
}

// Start makes and starts a server. Its error says why when PostgreSQL is not installed.
func Start(o Options) (*Server, error) {
	bin, err := Bin()
	if err != nil {
		return nil, err
	}
	s := &Server{bin: bin}
	if os.Geteuid() == 0 {
		if s.as, err = user.Lookup("postgres"); err != nil {
			return nil, fmt.Errorf("running as root, and the server refuses root: no postgres user to run it as: %w", err)
		}
	}
	if o.Prefix == "" {
		o.Prefix = "pgtest-"
	}
	if o.MaxConnections == 0 {
		o.MaxConnections = 100
	}
	if s.Dir, err = os.MkdirTemp("", o.Prefix); err != nil {
		return nil, err
	}
	if s.as != nil {
		uid, _ := strconv.Atoi(s.as.Uid)
		gid, _ := strconv.Atoi(s.as.Gid)
		if err := os.Chown(s.Dir, uid, gid); err != nil {
			_ = os.RemoveAll(s.Dir)
			return nil, err
		}
	}
	data := filepath.Join(s.Dir, "data")
	if err := s.Run("initdb", "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-locale", "--no-sync"); err != nil {
		_ = os.RemoveAll(s.Dir)
		return nil, err
	}
	settings := fmt.Sprintf("-k %s -c listen_addresses=127.0.0.1 -c max_connections=%d", s.Dir, o.MaxConnections)
	if o.Fast {
		settings += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
	}
	for attempt := 0; ; attempt++ {
		if s.Port, err = freePort(); err == nil {
			err = s.Run("pg_ctl", "-D", data, "-l", filepath.Join(s.Dir, "log"), "-w", "-t", "60", "-o",
				fmt.Sprintf("-p %d %s", s.Port, settings), "start")
		}
		if err == nil {
			break
		}
		if attempt == 2 { // a port taken between freePort and the server's bind, three times: give up
			log, _ := os.ReadFile(filepath.Join(s.Dir, "log"))
			_ = os.RemoveAll(s.Dir)
			return nil, fmt.Errorf("%w\n%s", err, log)
		}
	}
	s.watchdog()
	return s, nil
}

// URL is the connection URL of a database on the server, as the superuser over loopback TCP.
func (s *Server) URL(database string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.Port, database)
}

// Run runs one of the server's programs (as the server's user when we are root), with its output in the error.
func (s *Server) Run(name string, args ...string) error {
	prog := filepath.Join(s.bin, name)
	cmd := exec.Command(prog, args...)
	if s.as != nil {
		cmd = exec.Command("runuser", append([]string{"-u", s.as.Username, "--", prog}, args...)...)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %w: %s", name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Stop stops the server (pg_ctl's mode: "fast" or "immediate") and removes its directory.
func (s *Server) Stop(mode string) error {
	err := s.Run("pg_ctl", "-D", filepath.Join(s.Dir, "data"), "-m", mode, "-w", "stop")
	_ = os.RemoveAll(s.Dir)
	return err
}

// watchdog starts a detached shell that waits for this process to end and then stops the server and removes its
// directory: the normal path (Stop) has done both already, but a test binary killed on a timeout runs no cleanup.
func (s *Server) watchdog() {
	script := fmt.Sprintf(`while [ -d /proc/%d ]; do sleep 1; done; %s -D %s -m immediate stop >/dev/null 2>&1; rm -rf %s`,
		os.Getpid(), filepath.Join(s.bin, "pg_ctl"), filepath.Join(s.Dir, "data"), s.Dir)
	cmd := exec.Command("sh", "-c", script)
	if s.as != nil {
		cmd = exec.Command("runuser", "-u", s.as.Username, "--", "sh", "-c", script)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // not in our process group: survives its kill
	if err := cmd.Start(); err == nil {
		go func() { _ = cmd.Wait() }() // reaped if it ends first; otherwise it outlives us, as meant
	}
}

// Bin finds the directory of initdb and pg_ctl: PG_BIN, the newest Debian-style /usr/lib/postgresql/<version>/bin,
// or PATH.
func Bin() (string, error) {
	if d := os.Getenv("PG_BIN"); d != "" {
		return d, nil
	}
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
	return "", errors.New("PostgreSQL server binaries not found (no /usr/lib/postgresql/*/bin, no pg_ctl in PATH; " +
		"make pg-deps installs Debian's postgresql package)")
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
