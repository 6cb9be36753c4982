// Package pagecache keeps rendered pages for a moment, so that the same page asked for again within that moment is
// written from its bytes instead of being read from the database and rendered again (docs/architecture.md#page-cache).
//
// An entry is served only while three things hold: it is younger than the cache's time to live, none of the things
// it was built from changed on this replica since (its tags: a consent, a link, ...), and it is among the most
// recently used entries that fit the byte budget. A change is announced with Changed(tag); the cache keeps one
// counter per shard of tags, so announcing costs one atomic add and an unrelated tag that shares the shard only
// causes a spare render. Changes made by another process (another replica) are not announced here: the time to live
// bounds how late they show.
//
// The LRU and its bounds come from hashicorp/golang-lru; what is written here is the validity rule (age and tag
// counters), which is specific to pages.
package pagecache

import (
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// shards is the number of tag counters. Two tags in one shard only cost a spare render, never a stale page.
const shards = 1024

// Cache is a bounded, short-lived store of rendered pages. Its methods are safe for concurrent use.
type Cache struct {
	ttl      time.Duration
	maxBody  int
	maxBytes int64
	now      func() time.Time

	gens  [shards]atomic.Uint64
	seed  maphash.Seed
	bytes atomic.Int64 // bodies held, kept by the eviction callback

	mu  sync.Mutex // serialises Put's replace-then-trim, so the byte count stays exact
	lru *lru.Cache[string, *entry]
}

type entry struct {
	body  []byte
	at    time.Time
	stamp Stamp
}

// Stamp is the value of a page's tag counters when its data was read. Take it before reading (Cache.Stamp): a
// change announced while the page is read and rendered then makes the entry stale at once.
type Stamp struct {
	shards []uint16
	gens   []uint64
}

// Options bound a Cache. Zero values take the defaults.
type Options struct {
	TTL        time.Duration    // how long an entry may be served at most (default 1 s)
	MaxEntries int              // default 512
	MaxBytes   int64            // the bodies' total (default 8 MiB)
	MaxBody    int              // a larger page is never kept (default 512 KiB)
	Now        func() time.Time // default time.Now
}

// New returns an empty cache.
func New(o Options) *Cache {
	c := &Cache{ttl: o.TTL, maxBody: o.MaxBody, maxBytes: o.MaxBytes, now: o.Now, seed: maphash.MakeSeed()}
	if c.ttl <= 0 {
		c.ttl = time.Second
	}
	if c.maxBody <= 0 {
		c.maxBody = 512 << 10
	}
	if c.maxBytes <= 0 {
		c.maxBytes = 8 << 20
	}
	if c.now == nil {
		c.now = time.Now
	}
	n := o.MaxEntries
	if n <= 0 {
		n = 512
	}
	c.lru, _ = lru.NewWithEvict(n, func(_ string, e *entry) { c.bytes.Add(-int64(len(e.body))) }) // n > 0: no error
	return c
}

func (c *Cache) shard(tag string) uint16 {
	return uint16(maphash.String(c.seed, tag) % shards)
}

// Stamp reads the counters of tags. Call it before reading what the page shows.
func (c *Cache) Stamp(tags ...string) Stamp {
	st := Stamp{shards: make([]uint16, len(tags)), gens: make([]uint64, len(tags))}
	for i, t := range tags {
		st.shards[i] = c.shard(t)
		st.gens[i] = c.gens[st.shards[i]].Load()
	}
	return st
}

// With adds tags learnt while reading (the other consents a page lists) to st. Their counters are read now, after
// the data: a change that lands between the two shows at the latest when the entry's time to live runs out.
func (c *Cache) With(st Stamp, tags ...string) Stamp {
	for _, t := range tags {
		sh := c.shard(t)
		st.shards = append(st.shards, sh)
		st.gens = append(st.gens, c.gens[sh].Load())
	}
	return st
}

func (c *Cache) current(st Stamp) bool {
	for i, sh := range st.shards {
		if c.gens[sh].Load() != st.gens[i] {
			return false
		}
	}
	return true
}

// Changed announces that tag changed: every entry built from it stops being served.
func (c *Cache) Changed(tag string) {
	c.gens[c.shard(tag)].Add(1)
}

// Get returns the page kept under key while it is still valid.
func (c *Cache) Get(key string) ([]byte, bool) {
	e, ok := c.lru.Get(key)
	if !ok {
		return nil, false
	}
	if c.now().Sub(e.at) >= c.ttl || !c.current(e.stamp) {
		c.lru.Remove(key)
		return nil, false
	}
	return e.body, true
}

// Put keeps a copy of body under key, built from what st stamped. A body over the size limit, or one whose tags
// changed while it was rendered, is not kept.
func (c *Cache) Put(key string, body []byte, st Stamp) {
	if len(body) > c.maxBody || !c.current(st) {
		return
	}
	e := &entry{body: append([]byte(nil), body...), at: c.now(), stamp: st}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lru.Remove(key) // an Add over an existing key would not call the eviction callback
	c.lru.Add(key, e)
	c.bytes.Add(int64(len(e.body)))
	for c.bytes.Load() > c.maxBytes {
		if _, _, ok := c.lru.RemoveOldest(); !ok {
			break
		}
	}
}

// Purge drops every entry.
func (c *Cache) Purge() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lru.Purge()
}

// Len is the number of entries held (valid or not yet dropped).
func (c *Cache) Len() int { return c.lru.Len() }

// Bytes is the total size of the bodies held.
func (c *Cache) Bytes() int64 { return c.bytes.Load() }
