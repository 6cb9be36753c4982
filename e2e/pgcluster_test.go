//go:build e2e

package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver: the test reads what the replicas wrote

	"github.com/klavi-demo/portal/internal/pgtest"
)

// startPostgres starts a throwaway PostgreSQL server (internal/pgtest; fsync stays on: the replica test claims
// durability) with one database, portal, and returns its URL; the server is stopped and removed when the test
// ends. Without PostgreSQL's server binaries (make pg-deps installs them) the test is skipped, or fails under
// STORE_REQUIRE_POSTGRES=1 (make e2e), so that CI cannot pass without the replica test.
func startPostgres(t *testing.T) string {
	t.Helper()
	if _, err := pgtest.Bin(); err != nil {
		if os.Getenv("STORE_REQUIRE_POSTGRES") == "1" {
			t.Fatalf("PostgreSQL is required (STORE_REQUIRE_POSTGRES=1) but unavailable: %v", err)
		}
		t.Skipf("PostgreSQL unavailable: %v", err)
	}
	srv, err := pgtest.Start(pgtest.Options{Prefix: "e2e-pg-"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Stop("fast"); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: stopping PostgreSQL:", err)
		}
	})
	admin, err := sql.Open("pgx", srv.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = admin.Close() }()
	if _, err := admin.ExecContext(context.Background(), "CREATE DATABASE portal"); err != nil {
		t.Fatalf("create database: %v", err)
	}
	return srv.URL("portal")
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
