//go:build e2e || load

package e2e

import (
	"database/sql"
	"testing"

	_ "modernc.org/sqlite"
)

// readInbox opens the portal's database read-only (after the portal stopped) and returns PRAGMA integrity_check
// and, for every event inbox key starting with prefix, how many rows hold it.
func readInbox(t *testing.T, dbPath, prefix string) (integrity string, stored map[string]int) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+dbPath+"?mode=ro&_pragma=query_only(1)")
	if err != nil {
		t.Fatalf("open database: %v", err)
	}
	defer func() { _ = db.Close() }() // read-only: nothing to flush
	if err := db.QueryRow(`PRAGMA integrity_check`).Scan(&integrity); err != nil {
		t.Fatalf("integrity_check: %v", err)
	}
	rows, err := db.Query(`SELECT key, COUNT(*) FROM inbox WHERE kind = 'event' AND key LIKE ? GROUP BY key`, prefix+"%")
	if err != nil {
		t.Fatalf("query inbox: %v", err)
	}
	defer rows.Close()
	stored = map[string]int{}
	for rows.Next() {
		var key string
		var n int
		if err := rows.Scan(&key, &n); err != nil {
			t.Fatalf("scan inbox: %v", err)
		}
		stored[key] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("read inbox: %v", err)
	}
	return integrity, stored
}
