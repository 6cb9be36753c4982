package store

import (
	"context"
	"database/sql"
	"hash/fnv"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// dialect is what differs between the two backends in the SQL the store runs. Queries are written once, in the
// SQLite spelling with ? and ?N placeholders, plus two markers that are valid SQL in neither dialect (so a query
// that skipped the rewrite fails at once):
//
//   - {forUpdate} ends a SELECT whose rows the transaction goes on to change: FOR UPDATE on PostgreSQL, so a
//     concurrent transaction waits for this one and then reads the new values; nothing on SQLite, where BEGIN
//     IMMEDIATE already made the whole transaction exclusive.
//   - {skipLocked} ends a SELECT of rows to claim: FOR UPDATE SKIP LOCKED on PostgreSQL, so concurrent claimers
//     (replicas) each take different rows without waiting; nothing on SQLite, whose single writer serialises them.
//   - {bodyHas} is a condition true when the column body (BLOB / BYTEA) contains the UTF-8 bytes of one text
//     parameter.
//
// rewrite expands the markers and, on PostgreSQL, turns ? and ?N into $N; each query string is rewritten once and
// the result cached.
type dialect struct {
	name    string            // "sqlite" | "postgres"
	markers *strings.Replacer // expands {forUpdate}, {skipLocked} and {bodyHas}
	dollar  bool              // placeholders become $N
	cache   sync.Map          // sqlText as written → string as run
}

var (
	sqliteDialect = &dialect{name: "sqlite", markers: strings.NewReplacer(
		"{forUpdate}", "",
		"{skipLocked}", "",
		"{bodyHas}", "instr(CAST(body AS TEXT), ?) > 0",
	)}
	postgresDialect = &dialect{name: "postgres", dollar: true, markers: strings.NewReplacer(
		"{forUpdate}", "FOR UPDATE",
		"{skipLocked}", "FOR UPDATE SKIP LOCKED",
		"{bodyHas}", "position(convert_to(CAST(? AS TEXT), 'UTF8') in body) > 0",
	)}
)

// sqlText is SQL written by the store. The pool and transaction methods take it instead of a string, so that a query
// is a constant (which converts by itself) or an explicit sqlText(...) conversion of one built from constant
// fragments: data can only reach the database as a bound parameter, never by being pasted into the text. (gosec's
// concatenation checks see database/sql calls only, so this type is what keeps that guarantee for the store.)
type sqlText string

// rewrite returns q as this dialect runs it.
func (d *dialect) rewrite(q sqlText) string {
	if v, ok := d.cache.Load(q); ok {
		return v.(string)
	}
	out := d.markers.Replace(string(q))
	if d.dollar {
		out = dollarPlaceholders(out)
	}
	d.cache.Store(q, out)
	return out
}

// dollarPlaceholders numbers SQLite-style placeholders for PostgreSQL, with SQLite's rule: ?N is parameter N, and
// a bare ? is one more than the largest number used so far. Question marks inside quoted literals, quoted
// identifiers and comments are left alone.
func dollarPlaceholders(q string) string {
	var b strings.Builder
	b.Grow(len(q) + 8)
	highest := 0
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == '\'' || c == '"':
			j := i + 1
			for j < len(q) && q[j] != c {
				j++
			}
			b.WriteString(q[i:min(j+1, len(q))]) // a doubled quote is two literals back to back: same text
			i = j
		case c == '-' && i+1 < len(q) && q[i+1] == '-':
			j := strings.IndexByte(q[i:], '\n')
			if j < 0 {
				j = len(q) - i
			}
			b.WriteString(q[i : i+j])
			i += j - 1
		case c == '?':
			j := i + 1
			for j < len(q) && q[j] >= '0' && q[j] <= '9' {
				j++
			}
			n := highest + 1
			if j > i+1 {
				n, _ = strconv.Atoi(q[i+1 : j]) // digits only, and queries are constants of this package
			}
			highest = max(highest, n)
			b.WriteString("$" + strconv.Itoa(n))
			i = j - 1
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// text makes the string arguments (of any string type) storable on both backends: PostgreSQL's TEXT holds neither
// NUL nor invalid UTF-8, and refuses the whole statement, where SQLite would store the bytes. Both therefore store
// such text with each NUL and each invalid byte sequence replaced by U+FFFD, and look it up the same way, so that an
// id with %00 in a URL is simply not found and a webhook whose event name holds \u0000 is stored. []byte arguments
// (bodies) are passed as they are: they are byte-exact. args is returned unchanged (not copied) when all is well.
func text(args []any) []any {
	var out []any
	for i, a := range args {
		v := reflect.ValueOf(a)
		if !v.IsValid() || v.Kind() != reflect.String {
			continue
		}
		s := v.String()
		if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
			continue
		}
		if out == nil {
			out = append([]any(nil), args...)
		}
		out[i] = storableText(s)
	}
	if out == nil {
		return args
	}
	return out
}

func storableText(s string) string {
	return strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", "\uFFFD"), "\uFFFD")
}

// pool is a database/sql pool that runs the store's SQL through its dialect.
type pool struct {
	db    *sql.DB
	d     *dialect
	stmts *stmtCache // nil on PostgreSQL, whose driver caches prepared statements itself
}

func (p pool) ExecContext(ctx context.Context, q sqlText, args ...any) (sql.Result, error) {
	sq := p.d.rewrite(q)
	if st := p.stmts.get(ctx, p.db, sq); st != nil {
		return st.ExecContext(ctx, text(args)...)
	}
	return p.db.ExecContext(ctx, sq, text(args)...)
}

func (p pool) QueryContext(ctx context.Context, q sqlText, args ...any) (*sql.Rows, error) {
	sq := p.d.rewrite(q)
	if st := p.stmts.get(ctx, p.db, sq); st != nil {
		return st.QueryContext(ctx, text(args)...)
	}
	return p.db.QueryContext(ctx, sq, text(args)...)
}

func (p pool) QueryRowContext(ctx context.Context, q sqlText, args ...any) *sql.Row {
	sq := p.d.rewrite(q)
	if st := p.stmts.get(ctx, p.db, sq); st != nil {
		return st.QueryRowContext(ctx, text(args)...)
	}
	return p.db.QueryRowContext(ctx, sq, text(args)...)
}

// stmtCache keeps one prepared statement per query text for a SQLite pool. The SQLite driver compiles the SQL again
// on every call that is not a prepared statement, and profiles of the consent page showed that compiling cost more
// than running the queries (docs/benchmarks.md#pages). database/sql prepares a cached *sql.Stmt once per connection
// and reuses it. The store's queries are constants, so the cache stays small; it stops growing at stmtCacheMax in
// case a query is ever built with a variable number of placeholders.
//
// The lock is never held while preparing: the writer pool has one connection, and a transaction holding it looks
// statements up here.
type stmtCache struct {
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

const stmtCacheMax = 512

func newStmtCache() *stmtCache { return &stmtCache{m: map[string]*sql.Stmt{}} }

// lookup returns the cached statement of q, or nil.
func (c *stmtCache) lookup(q string) *sql.Stmt {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[q]
}

// get returns the prepared statement of q, preparing it on db when it is not cached yet, or nil when q should run
// unprepared: no cache (PostgreSQL), the cache is full, or preparing failed (the plain call then reports the error
// as it always has). It must not be called while a transaction holds the only connection of db.
func (c *stmtCache) get(ctx context.Context, db *sql.DB, q string) *sql.Stmt {
	if c == nil {
		return nil
	}
	if st := c.lookup(q); st != nil {
		return st
	}
	c.mu.Lock()
	full := len(c.m) >= stmtCacheMax
	c.mu.Unlock()
	if full {
		return nil
	}
	st, err := db.PrepareContext(ctx, q)
	if err != nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev, ok := c.m[q]; ok { // prepared concurrently by another call: keep one
		_ = st.Close() // a statement nobody used
		return prev
	}
	c.m[q] = st
	return st
}

// close closes every cached statement (before the pool itself is closed).
func (c *stmtCache) close() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for q, st := range c.m {
		_ = st.Close() // closing the pool next releases whatever this could not
		delete(c.m, q)
	}
}

// txn is a transaction that runs the store's SQL through its dialect.
type txn struct {
	tx     *sql.Tx
	d      *dialect
	stmts  *stmtCache // the writer pool's: statements already prepared on the writer's connection are reused
	missed []string   // queries run unprepared, prepared once the transaction has let go of the connection
	// ctx, when set, replaces the context each statement is given: in a group commit (group.go) a caller that goes
	// away must not interrupt a transaction the others share.
	ctx context.Context
}

// use returns the context a statement runs with.
func (t *txn) use(ctx context.Context) context.Context {
	if t.ctx != nil {
		return t.ctx
	}
	return ctx
}

// stmt returns q's cached statement bound to this transaction. A query not cached yet runs unprepared this time
// (preparing it now would wait for the connection this transaction holds) and is noted for prepareMissed.
func (t *txn) stmt(ctx context.Context, q string) *sql.Stmt {
	if t.stmts == nil {
		return nil
	}
	if st := t.stmts.lookup(q); st != nil {
		return t.tx.StmtContext(ctx, st)
	}
	t.missed = append(t.missed, q)
	return nil
}

// prepareMissed prepares, after the transaction ended, the queries it ran unprepared.
func (t *txn) prepareMissed(ctx context.Context, db *sql.DB) {
	for _, q := range t.missed {
		t.stmts.get(ctx, db, q)
	}
}

func (t *txn) ExecContext(ctx context.Context, q sqlText, args ...any) (sql.Result, error) {
	ctx = t.use(ctx)
	sq := t.d.rewrite(q)
	if st := t.stmt(ctx, sq); st != nil {
		return st.ExecContext(ctx, text(args)...)
	}
	return t.tx.ExecContext(ctx, sq, text(args)...)
}

func (t *txn) QueryContext(ctx context.Context, q sqlText, args ...any) (*sql.Rows, error) {
	ctx = t.use(ctx)
	sq := t.d.rewrite(q)
	if st := t.stmt(ctx, sq); st != nil {
		return st.QueryContext(ctx, text(args)...)
	}
	return t.tx.QueryContext(ctx, sq, text(args)...)
}

func (t *txn) QueryRowContext(ctx context.Context, q sqlText, args ...any) *sql.Row {
	ctx = t.use(ctx)
	sq := t.d.rewrite(q)
	if st := t.stmt(ctx, sq); st != nil {
		return st.QueryRowContext(ctx, text(args)...)
	}
	return t.tx.QueryRowContext(ctx, sq, text(args)...)
}

// lock serialises, until the transaction ends, the transactions that lock the same (scope, key), for a
// read-then-write whose rows may not exist yet (so that FOR UPDATE has nothing to lock): a PostgreSQL
// transaction-level advisory lock on a 64-bit hash of both. On SQLite it does nothing: the transaction is
// exclusive already.
func (t *txn) lock(ctx context.Context, scope, key string) error {
	return t.lockAll(ctx, scope, []string{key})
}

// lockAll takes the locks of several keys of one scope, always in the same order (by hash), so that two
// transactions locking overlapping sets wait for each other instead of deadlocking. A transaction that takes locks
// with lock or lockAll must take all of them in one call, before it writes the rows they guard.
func (t *txn) lockAll(ctx context.Context, scope string, keys []string) error {
	if t.d != postgresDialect {
		return nil
	}
	ids := make([]int64, 0, len(keys))
	for _, k := range keys {
		h := fnv.New64a()
		_, _ = h.Write([]byte(scope + "\x00" + k)) // a hash.Hash never fails to write
		ids = append(ids, int64(h.Sum64()))        //nolint:gosec // G115: any 64 bits make a lock key
	}
	slices.Sort(ids)
	for _, id := range slices.Compact(ids) {
		if _, err := t.tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, id); err != nil {
			return err
		}
	}
	return nil
}
