package mvcc

import (
	"container/list"
)

// DefaultLatestCacheBytes is the default budget of the latest-version
// cache (Options.LatestCacheBytes): 32 MiB of keys and version values.
const DefaultLatestCacheBytes = 32 << 20

// latestEntryOverhead approximates the bytes an entry costs beyond its key
// and value (list element, map slot, struct), for the budget.
const latestEntryOverhead = 96

// latestCache remembers, for recently written or overwritten keys, the
// newest version: its revision and its encoded value (a put; tombstones
// are not cached). A put consults it instead of seeking the key index,
// which in an LSM means a seek in every level that holds the key (etcd's
// in-memory tree index answers the same question).
//
// Only the apply goroutine uses it (from TxnWrite and Reload), so it is
// unguarded. It is write-through: TxnWrite updates it as it writes the
// batch, so it reflects the apply loop's batch, committed or not; Reload,
// which discards an uncommitted batch or follows a snapshot install,
// clears it. Entries can only be stale through such a discard, because
// nothing but TxnWrite changes a key's newest version: the compactor
// removes superseded versions and tombstones, never a live newest one.
//
// It is bounded by a byte budget with least-recently-used eviction, so
// memory does not grow with the number of keys.
type latestCache struct {
	budget int
	used   int
	lru    list.List // of *latestEntry, most recent at the front
	m      map[string]*list.Element
}

type latestEntry struct {
	key       string
	main, sub int64
	val       []byte // encoded version value (kindPut ...); never mutated
}

func (e *latestEntry) size() int { return len(e.key) + len(e.val) + latestEntryOverhead }

// newLatestCache returns a cache of at most budget bytes; budget <= 0
// returns nil, a valid cache that holds nothing.
func newLatestCache(budget int) *latestCache {
	if budget <= 0 {
		return nil
	}
	return &latestCache{budget: budget, m: make(map[string]*list.Element)}
}

// get returns the cached newest version of key.
func (c *latestCache) get(key []byte) (main, sub int64, val []byte, ok bool) {
	if c == nil {
		return 0, 0, nil, false
	}
	el, ok := c.m[string(key)]
	if !ok {
		return 0, 0, nil, false
	}
	c.lru.MoveToFront(el)
	e := el.Value.(*latestEntry)
	return e.main, e.sub, e.val, true
}

// put records (main, sub, val) as key's newest version. val is kept, not
// copied: the caller must not modify it afterwards.
func (c *latestCache) put(key []byte, main, sub int64, val []byte) {
	if c == nil {
		return
	}
	if el, ok := c.m[string(key)]; ok {
		e := el.Value.(*latestEntry)
		c.used -= e.size()
		e.main, e.sub, e.val = main, sub, val
		c.used += e.size()
		c.lru.MoveToFront(el)
	} else {
		e := &latestEntry{key: string(key), main: main, sub: sub, val: val}
		if len(val) > c.budget/16 {
			return // one huge value must not flush the cache
		}
		c.m[e.key] = c.lru.PushFront(e)
		c.used += e.size()
	}
	for c.used > c.budget {
		el := c.lru.Back()
		e := el.Value.(*latestEntry)
		c.lru.Remove(el)
		delete(c.m, e.key)
		c.used -= e.size()
	}
}

// forget drops key (its newest version became a tombstone).
func (c *latestCache) forget(key []byte) {
	if c == nil {
		return
	}
	if el, ok := c.m[string(key)]; ok {
		c.used -= el.Value.(*latestEntry).size()
		c.lru.Remove(el)
		delete(c.m, string(key))
	}
}

// clear drops every entry.
func (c *latestCache) clear() {
	if c == nil {
		return
	}
	c.lru.Init()
	c.m = make(map[string]*list.Element)
	c.used = 0
}

// len returns the number of cached keys.
func (c *latestCache) len() int {
	if c == nil {
		return 0
	}
	return len(c.m)
}
