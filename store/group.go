package store

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
)

// Group commit (docs/reliability.md#group-commit). SQLite has one writer, and with synchronous(FULL) each commit
// waits for the disk. On SQLite every write transaction (tx) is therefore handed to one goroutine, which runs the
// transactions waiting at that moment inside one database transaction, each inside its own SAVEPOINT, and commits
// them together: one disk wait for all of them. Each caller still gets its own outcome: a transaction that fails
// or panics is rolled back to its savepoint and leaves no row, the others go on; a failed commit fails them all.
// Nothing waits for company: the goroutine takes what is queued when it is free, so a lone transaction commits at
// once, as before. PostgreSQL commits concurrent transactions itself, so it keeps one database transaction per call.
//
// This is written here rather than taken from a library because it is the store's transaction itself: database/sql
// has no group commit, and the savepoints, the shared statement cache and the context rules below are SQLite's.

// groupMax bounds how many transactions share one commit.
const groupMax = 64

type commitGroup struct {
	reqs chan *groupReq
	quit chan struct{}
	done chan struct{}
	// commits counts the database transactions begun (tests read it to see transactions share one).
	commits atomic.Int64
}

type groupReq struct {
	ctx      context.Context
	fn       func(*txn) error
	err      error
	panicked any
	done     chan struct{}
}

// errStoreClosed answers a transaction asked for after Close.
var errStoreClosed = errors.New("store is closed")

// startGroup starts the committing goroutine; Close stops it.
func (s *Store) startGroup() {
	s.group = &commitGroup{reqs: make(chan *groupReq), quit: make(chan struct{}), done: make(chan struct{})}
	go s.runGroup(s.group)
}

// stopGroup stops the goroutine after the batch it is running, if any.
func (s *Store) stopGroup() {
	if s.group == nil {
		return
	}
	close(s.group.quit)
	<-s.group.done
}

// groupTx runs fn in the next group commit and waits for its outcome. A caller whose context ends while it waits for
// its turn gets the context's error and fn never runs; once fn has started, it runs to its end (its statements run
// with the group's context: on SQLite an interrupted statement would roll back the whole shared transaction).
func (s *Store) groupTx(ctx context.Context, fn func(*txn) error) error {
	req := &groupReq{ctx: ctx, fn: fn, done: make(chan struct{})}
	select {
	case s.group.reqs <- req:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.group.quit:
		return errStoreClosed
	}
	<-req.done
	if req.panicked != nil {
		panic(req.panicked) // in the caller's goroutine, as an ordinary transaction's panic would be
	}
	return req.err
}

func (s *Store) runGroup(g *commitGroup) {
	defer close(g.done)
	for {
		var batch []*groupReq
		select {
		case r := <-g.reqs:
			batch = append(batch, r)
		case <-g.quit:
			return
		}
	fill:
		for len(batch) < groupMax {
			select {
			case r := <-g.reqs:
				batch = append(batch, r)
			default:
				break fill
			}
		}
		s.commitBatch(batch)
		for _, r := range batch {
			close(r.done)
		}
	}
}

// commitBatch runs batch in one transaction and sets each request's outcome.
func (s *Store) commitBatch(batch []*groupReq) {
	ctx := context.Background()
	live := make([]*groupReq, 0, len(batch)) // the callers still waiting: a gone one's transaction never runs
	for _, r := range batch {
		if r.err = r.ctx.Err(); r.err == nil {
			live = append(live, r)
		}
	}
	batch = live
	if len(batch) == 0 {
		return
	}
	var run []*groupReq // the requests whose fn ran (successfully) in this transaction
	s.group.commits.Add(1)
	tx, err := s.w.db.BeginTx(ctx, nil)
	if err != nil {
		for _, r := range batch {
			r.err = err
		}
		return
	}
	t := &txn{tx: tx, d: s.d, stmts: s.w.stmts, ctx: ctx}
	defer t.prepareMissed(ctx, s.w.db) // deferred: runs once the transaction has ended
	if len(batch) == 1 {
		// Alone: no savepoint, exactly an ordinary transaction.
		r := batch[0]
		if r.panicked, r.err = call(r.fn, t); r.err != nil || r.panicked != nil {
			_ = tx.Rollback() // the fn's error is the one to report
			return
		}
		r.err = tx.Commit()
		return
	}
	for i, r := range batch {
		if _, err := tx.ExecContext(ctx, "SAVEPOINT member"); err != nil {
			s.abandon(tx, run, batch[i:], err)
			return
		}
		r.panicked, r.err = call(r.fn, t)
		if r.err == nil && r.panicked == nil {
			if _, err := tx.ExecContext(ctx, "RELEASE member"); err != nil {
				r.err = err
				s.abandon(tx, run, batch[i+1:], err)
				return
			}
			run = append(run, r)
			continue
		}
		if _, err := tx.ExecContext(ctx, "ROLLBACK TO member"); err != nil {
			// The failure took the whole transaction with it (an I/O error, say): what ran in it is lost.
			s.abandon(tx, run, batch[i+1:], err)
			return
		}
		if _, err := tx.ExecContext(ctx, "RELEASE member"); err != nil {
			s.abandon(tx, run, batch[i+1:], err)
			return
		}
	}
	if err := tx.Commit(); err != nil {
		for _, r := range run {
			r.err = err
		}
	}
}

// abandon rolls the broken transaction back, fails the requests that ran in it, and gives the ones that had not
// run yet a transaction of their own.
func (s *Store) abandon(tx interface{ Rollback() error }, ran, rest []*groupReq, err error) {
	_ = tx.Rollback() // already broken: err is the one to report
	for _, r := range ran {
		r.err = fmt.Errorf("group commit: %w", err)
	}
	if len(rest) > 0 {
		s.commitBatch(rest)
	}
}

// call runs fn, turning a panic into a value the caller re-panics with.
func call(fn func(*txn) error, t *txn) (panicked any, err error) {
	defer func() {
		if rec := recover(); rec != nil {
			panicked = rec
		}
	}()
	return nil, fn(t)
}
