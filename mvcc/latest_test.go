package mvcc

import (
	"bytes"
	"context"
	"fmt"
	"testing"
)

func TestLatestCacheBudgetAndLRU(t *testing.T) {
	c := newLatestCache(10 * (latestEntryOverhead + 2 + 8))
	val := func(i int) []byte { return []byte(fmt.Sprintf("%08d", i)) }
	for i := 0; i < 10; i++ {
		c.put([]byte(fmt.Sprintf("k%d", i)), int64(i), 0, val(i))
	}
	if c.len() != 10 || c.used > c.budget {
		t.Fatalf("len %d used %d budget %d", c.len(), c.used, c.budget)
	}
	// Touch k0 so that k1 is the least recently used, then add one more.
	if _, _, v, ok := c.get([]byte("k0")); !ok || !bytes.Equal(v, val(0)) {
		t.Fatalf("k0: %q %v", v, ok)
	}
	c.put([]byte("kA"), 10, 0, val(10))
	if _, _, _, ok := c.get([]byte("k1")); ok {
		t.Error("k1 should have been evicted")
	}
	if _, _, _, ok := c.get([]byte("k0")); !ok {
		t.Error("k0 was evicted though recently used")
	}
	if c.used > c.budget {
		t.Errorf("used %d > budget %d", c.used, c.budget)
	}
	// Overwrite keeps one entry and accounts the new size.
	c.put([]byte("k0"), 11, 2, val(11))
	if m, s, v, ok := c.get([]byte("k0")); !ok || m != 11 || s != 2 || !bytes.Equal(v, val(11)) {
		t.Errorf("k0 after overwrite: %d %d %q %v", m, s, v, ok)
	}
	c.forget([]byte("k0"))
	if _, _, _, ok := c.get([]byte("k0")); ok {
		t.Error("k0 still cached after forget")
	}
	// A value above 1/16 of the budget is not cached.
	c.put([]byte("big"), 12, 0, make([]byte, c.budget/8))
	if _, _, _, ok := c.get([]byte("big")); ok {
		t.Error("huge value cached")
	}
	used := 0
	for el := c.lru.Front(); el != nil; el = el.Next() {
		used += el.Value.(*latestEntry).size()
	}
	if used != c.used || len(c.m) != c.lru.Len() {
		t.Errorf("accounting: used %d, sum %d; map %d, list %d", c.used, used, len(c.m), c.lru.Len())
	}
	c.clear()
	if c.len() != 0 || c.used != 0 {
		t.Errorf("after clear: len %d used %d", c.len(), c.used)
	}
	var none *latestCache // disabled cache
	none.put([]byte("k"), 1, 0, nil)
	if _, _, _, ok := none.get([]byte("k")); ok || none.len() != 0 {
		t.Error("nil cache holds something")
	}
}

// TestLatestCacheAbandonedBatch: a put written to a batch that is then
// abandoned must not be seen by the next put once Reload ran.
func TestLatestCacheAbandonedBatch(t *testing.T) {
	e := newTestEnv(t, Options{})
	e.put("k", "v1")
	b := e.db.NewIndexedBatch()
	tw := e.s.Write(b)
	if _, err := tw.Put([]byte("k"), []byte("v2"), 0); err != nil {
		t.Fatal(err)
	}
	tw.End()
	b.Close() // abandoned
	if err := e.s.Reload(); err != nil {
		t.Fatal(err)
	}
	var prevVal string
	var ver int64
	_, evs := e.txn(func(tw *TxnWrite) {
		prev, err := tw.Put([]byte("k"), []byte("v3"), 0)
		if err != nil {
			t.Fatal(err)
		}
		prevVal = string(prev.GetValue())
	})
	ver = evs[0].Kv.Version
	if prevVal != "v1" || ver != 2 {
		t.Errorf("after abandoned batch: prev %q version %d, want v1 and 2", prevVal, ver)
	}
}

// TestLatestCacheDeleteThenPut: a deleted key starts a new generation
// whether or not its last version was cached.
func TestLatestCacheDeleteThenPut(t *testing.T) {
	for _, budget := range []int{0, -1} {
		e := newTestEnv(t, Options{LatestCacheBytes: budget})
		e.put("a", "1")
		e.put("a", "2")
		e.del("a", "")
		r := e.put("a", "3")
		res, err := e.s.Range(context.Background(), []byte("a"), nil, RangeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		kv := res.KVs[0]
		if kv.CreateRevision != r || kv.Version != 1 {
			t.Errorf("budget %d: create %d version %d, want %d and 1", budget, kv.CreateRevision, kv.Version, r)
		}
	}
}
