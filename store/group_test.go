package store

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// groupStore is an SQLite store with a scratch table, and a way to hold the committing goroutine busy so that the
// next transactions queue up and share one commit.
func groupStore(t *testing.T) *Store {
	t.Helper()
	s, _, _ := openTest(t, sqliteBackend)
	if _, err := s.w.db.Exec(`CREATE TABLE scratch (k TEXT PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	return s
}

func insert(k string) func(*txn) error {
	return func(tx *txn) error {
		_, err := tx.ExecContext(context.Background(), `INSERT INTO scratch (k) VALUES (?)`, k)
		return err
	}
}

func scratchKeys(t *testing.T, s *Store) map[string]bool {
	t.Helper()
	rows, err := s.r.db.Query(`SELECT k FROM scratch`)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rows.Close() }()
	out := map[string]bool{}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			t.Fatal(err)
		}
		out[k] = true
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// queueBehind runs a transaction that holds the committing goroutine until release is closed, and waits until it
// holds it; the transactions started meanwhile queue up for the next commit.
func queueBehind(t *testing.T, s *Store) (release chan struct{}, done <-chan error) {
	t.Helper()
	release, holding, errc := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		errc <- s.tx(context.Background(), "hold", func(tx *txn) error {
			close(holding)
			<-release
			return insert("holder")(tx)
		})
	}()
	<-holding
	return release, errc
}

// TestGroupCommitKeepsEachOutcome: transactions queued together share one commit, and each keeps its own outcome: a
// failing one, a conflicting one and a panicking one leave no row, the others all commit.
func TestGroupCommitKeepsEachOutcome(t *testing.T) {
	t.Parallel()
	s := groupStore(t)
	release, held := queueBehind(t, s)
	before := s.group.commits.Load()

	const n = 30
	errs := make([]error, n)
	panics := make([]any, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			defer func() { panics[i] = recover() }()
			k := fmt.Sprint("k", i)
			errs[i] = s.tx(context.Background(), "member", func(tx *txn) error {
				if err := insert(k)(tx); err != nil {
					return err
				}
				switch i % 5 {
				case 1:
					return errors.New("refused after writing")
				case 2:
					return insert("holder")(tx) // a unique violation (the holder committed it) after its own row
				case 3:
					panic("member panics")
				}
				return nil
			})
		})
	}
	waitQueued(t, s, n)
	close(release)
	wg.Wait()
	if err := <-held; err != nil {
		t.Fatal(err)
	}

	keys := scratchKeys(t, s)
	for i := range n {
		k := fmt.Sprint("k", i)
		switch i % 5 {
		case 1, 2:
			if errs[i] == nil || keys[k] {
				t.Errorf("member %d: err %v, row written %v; want an error and no row", i, errs[i], keys[k])
			}
		case 3:
			if panics[i] != "member panics" || keys[k] {
				t.Errorf("member %d: panic %v, row written %v; want the panic in the caller and no row", i, panics[i], keys[k])
			}
		default:
			if errs[i] != nil || !keys[k] {
				t.Errorf("member %d: err %v, row written %v; want it committed", i, errs[i], keys[k])
			}
		}
	}
	if commits := s.group.commits.Load() - before; commits > n/3 {
		t.Errorf("%d transactions queued together took %d commits", n, commits)
	}
}

// waitQueued gives n goroutines time to reach the committing goroutine's queue (held by queueBehind). A send on
// its unbuffered channel cannot be observed, so this sleeps; a straggler costs one more commit, which the test allows.
func waitQueued(t *testing.T, _ *Store, n int) {
	t.Helper()
	time.Sleep(time.Duration(100+10*n) * time.Millisecond)
}

// TestGroupCommitSkipsAGoneCaller: a caller whose context ends while it waits for its turn gets the context's error
// and its transaction never runs.
func TestGroupCommitSkipsAGoneCaller(t *testing.T) {
	t.Parallel()
	s := groupStore(t)
	release, held := queueBehind(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- s.tx(ctx, "gone", insert("gone")) }()
	time.Sleep(50 * time.Millisecond)
	cancel()
	close(release)
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	if keys := scratchKeys(t, s); keys["gone"] {
		t.Fatal("the transaction of a caller that went away ran")
	}
}

// TestGroupCommitAloneIsPlain: a lone transaction commits at once, without a savepoint, and its error rolls it back.
func TestGroupCommitAloneIsPlain(t *testing.T) {
	t.Parallel()
	s := groupStore(t)
	if err := s.tx(context.Background(), "one", insert("one")); err != nil {
		t.Fatal(err)
	}
	err := s.tx(context.Background(), "two", func(tx *txn) error {
		if err := insert("two")(tx); err != nil {
			return err
		}
		return errors.New("no")
	})
	if err == nil || err.Error() != "store: two: no" {
		t.Fatalf("err = %v", err)
	}
	if keys := scratchKeys(t, s); !keys["one"] || keys["two"] {
		t.Fatalf("rows %v, want only one", keys)
	}
	_ = s.Close()
	if err := s.tx(context.Background(), "late", insert("late")); !errors.Is(err, errStoreClosed) {
		t.Fatalf("after Close: %v", err)
	}
}
