package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"
)

// What the diagnostics page reads: the inbox backlog, the reconciler's lag, the database's size and pool, and the
// webhook deliveries that concern one consent (the support bundle).

// InboxBacklog is the unprocessed part of the webhook inbox.
type InboxBacklog struct {
	Pending int       // items not processed yet (claimed ones included)
	Oldest  time.Time // when the oldest of them was received; zero when none is pending
}

// InboxBacklog counts the pending inbox items and finds the oldest.
func (s *Store) InboxBacklog(ctx context.Context) (InboxBacklog, error) {
	var b InboxBacklog
	var oldest sql.NullInt64
	if err := s.r.QueryRowContext(ctx, `SELECT count(*), min(received_at) FROM inbox WHERE processed_at IS NULL`).
		Scan(&b.Pending, &oldest); err != nil {
		return InboxBacklog{}, fmt.Errorf("store: inbox backlog: %w", err)
	}
	if oldest.Valid {
		b.Oldest = fromUS(oldest.Int64)
	}
	return b, nil
}

// PollBacklog is the reconciler's view of the consents that are not terminal.
type PollBacklog struct {
	Open      int       // consents that are not terminal (the reconciler polls them)
	Due       int       // of those, the ones due for a poll at the given instant
	OldestDue time.Time // when the most overdue of them fell due (its next poll, or its creation when never scheduled); zero when none is due
}

// PollBacklog reads, at now, how many consents the reconciler watches and how overdue the most overdue poll is. A
// consent being polled has its next poll pushed forward by ClaimDuePolls, so it does not count as overdue meanwhile.
func (s *Store) PollBacklog(ctx context.Context, now time.Time) (PollBacklog, error) {
	var b PollBacklog
	var oldest sql.NullInt64
	var due sql.NullInt64
	err := s.r.QueryRowContext(ctx, sqlText(`SELECT count(*),
		sum(CASE WHEN coalesce(next_poll_at, created_at) <= ?1 THEN 1 ELSE 0 END),
		min(CASE WHEN coalesce(next_poll_at, created_at) <= ?1 THEN coalesce(next_poll_at, created_at) END)
		FROM consents WHERE status NOT IN `+terminalInSQL), us(now)).Scan(&b.Open, &due, &oldest) // the statuses: constants of package consent
	if err != nil {
		return PollBacklog{}, fmt.Errorf("store: poll backlog: %w", err)
	}
	b.Due = int(due.Int64)
	if oldest.Valid {
		b.OldestDue = fromUS(oldest.Int64)
	}
	return b, nil
}

// DBStats describes the database for the diagnostics page.
type DBStats struct {
	Backend   string        // "sqlite" | "postgres"
	SizeBytes int64         // SQLite: the database file; PostgreSQL: pg_database_size of the current database
	WALBytes  int64         // SQLite: the -wal file (0 when absent); PostgreSQL: -1 (not the portal's to watch)
	Pool      sql.DBStats   // PostgreSQL: the one pool; SQLite: the reader pool (the writer is one connection)
	PingTook  time.Duration // a round trip to the database
}

// DBStats pings the database and reads its size and connection pool use.
func (s *Store) DBStats(ctx context.Context) (DBStats, error) {
	st := DBStats{Backend: s.d.name}
	start := time.Now()
	if err := s.Ping(ctx); err != nil {
		return st, err
	}
	st.PingTook = time.Since(start)
	st.Pool = s.r.db.Stats()
	if s.path == "" {
		st.WALBytes = -1
		if err := s.r.QueryRowContext(ctx, `SELECT pg_database_size(current_database())`).Scan(&st.SizeBytes); err != nil {
			return st, fmt.Errorf("store: database size: %w", err)
		}
		return st, nil
	}
	fi, err := os.Stat(s.path)
	if err != nil {
		return st, fmt.Errorf("store: database size: %w", err)
	}
	st.SizeBytes = fi.Size()
	switch wal, err := os.Stat(s.path + "-wal"); {
	case err == nil:
		st.WALBytes = wal.Size()
	case !errors.Is(err, fs.ErrNotExist):
		return st, fmt.Errorf("store: WAL size: %w", err)
	}
	return st, nil
}

// maxDeliveryMatches bounds the ids and keys DeliveriesFor looks for (each is one condition of the query).
const maxDeliveryMatches = 100

// DeliveriesFor returns, newest first and without bodies, at most limit (<= 0 means 100; at most 500) webhook
// deliveries that concern a consent: those whose body mentions one of mentions as a JSON string value ("<id>", so
// that one id does not match inside a longer one: the consent and link ids), and those that carried one of keys
// (eventIds and productReportIds, which survive a purge of the bodies). A rejected delivery keeps neither body nor
// keys, so it matches nothing.
func (s *Store) DeliveriesFor(ctx context.Context, mentions, keys []string, limit int) ([]Delivery, error) {
	var where []string
	var args []any
	for _, m := range mentions[:min(len(mentions), maxDeliveryMatches)] {
		if m == "" {
			continue
		}
		where = append(where, "(d.body IS NOT NULL AND {bodyHas})")
		args = append(args, `"`+m+`"`)
	}
	for _, k := range keys[:min(len(keys), maxDeliveryMatches)] {
		if k == "" {
			continue
		}
		where = append(where, `d.keys LIKE ? ESCAPE '\'`)
		args = append(args, `%"`+likeEscaper.Replace(k)+`"%`)
	}
	if len(where) == 0 {
		return nil, nil
	}
	q := sqlText(`SELECT ` + fmt.Sprintf(deliveryCols, "NULL") + deliveryFrom + ` WHERE ` +
		strings.Join(where, " OR ") + ` ORDER BY d.id DESC LIMIT ?`) // constant fragments; values are bound with ?
	args = append(args, limitOr(limit, 100, 500))
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: deliveries for: %w", err)
	}
	defer rows.Close()
	var out []Delivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, fmt.Errorf("store: deliveries for: %w", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: deliveries for: %w", err)
	}
	return out, nil
}

// likeEscaper escapes LIKE's wildcards (and its escape character) in a value matched literally.
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
