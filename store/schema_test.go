package store

import (
	"context"
	"maps"
	"regexp"
	"slices"
	"testing"
)

// column is what the schemas must agree on for one column.
type column struct {
	name    string
	notNull bool
}

// TestSchemasMatch: the PostgreSQL schema has the tables, columns (with their NOT NULL), and named indexes of the
// SQLite one, so that a migration added to one directory and forgotten in the other fails here. PostgreSQL's
// links and consents have a rowid column more (SQLite's is implicit); PRIMARY KEY and UNIQUE constraints get
// their own index names on each side and are not compared by name.
func TestSchemasMatch(t *testing.T) {
	t.Parallel()
	postgresOnly(t)
	ctx := context.Background()
	lite, _, _ := openTest(t, sqliteBackend)
	pg, _, _ := openTest(t, postgresBackend)

	liteTables := map[string][]column{}
	rows, err := lite.r.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table'
		AND name NOT IN ('sqlite_sequence', 'schema_migrations') ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows.Close()
	for _, table := range names {
		cols, err := lite.r.QueryContext(ctx, `SELECT name, "notnull" OR pk FROM pragma_table_info(?) ORDER BY name`, table)
		if err != nil {
			t.Fatal(err)
		}
		for cols.Next() {
			var c column
			if err := cols.Scan(&c.name, &c.notNull); err != nil {
				t.Fatal(err)
			}
			liteTables[table] = append(liteTables[table], c)
		}
		if err := cols.Err(); err != nil {
			t.Fatal(err)
		}
		cols.Close()
	}

	pgTables := map[string][]column{}
	cols, err := pg.r.QueryContext(ctx, `SELECT table_name, column_name, is_nullable = 'NO' FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name <> 'schema_migrations' AND column_name <> 'rowid'
		ORDER BY table_name, column_name`)
	if err != nil {
		t.Fatal(err)
	}
	for cols.Next() {
		var table string
		var c column
		if err := cols.Scan(&table, &c.name, &c.notNull); err != nil {
			t.Fatal(err)
		}
		pgTables[table] = append(pgTables[table], c)
	}
	if err := cols.Err(); err != nil {
		t.Fatal(err)
	}
	cols.Close()
	for _, table := range slices.Sorted(maps.Keys(liteTables)) {
		if !slices.Equal(liteTables[table], pgTables[table]) {
			t.Errorf("table %s:\n sqlite   %v\n postgres %v", table, liteTables[table], pgTables[table])
		}
		delete(pgTables, table)
	}
	for table := range pgTables {
		t.Errorf("table %s exists on PostgreSQL only", table)
	}

	indexes := func(s *Store, q sqlText) []string {
		rows, err := s.r.QueryContext(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				t.Fatal(err)
			}
			out = append(out, n)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	liteIdx := indexes(lite, `SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL ORDER BY name`)
	pgIdx := indexes(pg, `SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()
		AND indexname NOT LIKE '%\_pkey' AND indexname NOT LIKE '%\_key' ORDER BY indexname`)
	if len(liteTables) < 11 || len(liteIdx) < 20 {
		t.Fatalf("read %d tables and %d indexes from SQLite; the queries above miss the schema", len(liteTables), len(liteIdx))
	}
	if !slices.Equal(liteIdx, pgIdx) {
		t.Errorf("named indexes:\n sqlite   %v\n postgres %v", liteIdx, pgIdx)
	}
}

// TestNoPartialIndexOnAnEquality: SQLite proves a partial index usable by comparing the query's terms with the
// index's WHERE; when a query compares the same column with a bound parameter (col = ?), that comparison marks the
// prepared statement to be compiled again on every binding, so the statement cache buys nothing for it
// (docs/benchmarks.md#pages). Partial indexes may say col <> (the empty string) or col IS [NOT] NULL, never col = literal.
func TestNoPartialIndexOnAnEquality(t *testing.T) {
	t.Parallel()
	s, _, _ := openTest(t, sqliteBackend)
	rows, err := s.r.QueryContext(context.Background(), `SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	equality := regexp.MustCompile(`(?i)\bWHERE\b.*[^<>!]=`)
	n := 0
	for rows.Next() {
		var name, sql string
		if err := rows.Scan(&name, &sql); err != nil {
			t.Fatal(err)
		}
		n++
		if equality.MatchString(sql) {
			t.Errorf("index %s is partial on an equality: %s", name, sql)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n < 10 {
		t.Fatalf("read %d indexes; the schema has more", n)
	}
}
