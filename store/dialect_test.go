package store

import "testing"

func TestDollarPlaceholders(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ in, want string }{
		{`SELECT 1`, `SELECT 1`},
		{`a = ? AND b = ?`, `a = $1 AND b = $2`},
		{`a = ?1 OR b = ?1 AND c <= ?2`, `a = $1 OR b = $1 AND c <= $2`},
		{`a = ?2 AND b = ?`, `a = $2 AND b = $3`}, // SQLite: a bare ? follows the largest number so far
		{`a = ?10, ?`, `a = $10, $11`},
		{`x = '?' AND y = ?`, `x = '?' AND y = $1`},
		{`x = 'it''s ?' AND y = ?`, `x = 'it''s ?' AND y = $1`},
		{`"odd?name" = ?`, `"odd?name" = $1`},
		{"-- why?\nx = ?", "-- why?\nx = $1"},
		{`x = '?`, `x = '?`}, // an unterminated literal is copied as it is
	} {
		if got := dollarPlaceholders(tt.in); got != tt.want {
			t.Errorf("dollarPlaceholders(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestDialectRewrite(t *testing.T) {
	t.Parallel()
	var q sqlText = `SELECT 1 FROM inbox WHERE id = ? AND {bodyHas} {forUpdate}`
	if got, want := sqliteDialect.rewrite(q), `SELECT 1 FROM inbox WHERE id = ? AND instr(CAST(body AS TEXT), ?) > 0 `; got != want {
		t.Errorf("sqlite: %q, want %q", got, want)
	}
	want := `SELECT 1 FROM inbox WHERE id = $1 AND position(convert_to(CAST($2 AS TEXT), 'UTF8') in body) > 0 FOR UPDATE`
	if got := postgresDialect.rewrite(q); got != want {
		t.Errorf("postgres: %q, want %q", got, want)
	}
	if got := postgresDialect.rewrite(q); got != want { // from the cache
		t.Errorf("postgres, cached: %q, want %q", got, want)
	}
}
