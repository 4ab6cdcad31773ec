package mvcc

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/concord-kv/concord/storage"
)

// TestCrashRecovery commits batches (some synced, some not) on a crashable
// filesystem, crashes at random points keeping a random share of unsynced
// data, reopens, and checks that every synced revision survived, that the
// store is exactly the state after some committed batch (meta and data
// agree), and that an interrupted physical compaction completes.
func TestCrashRecovery(t *testing.T) {
	for _, seed := range []uint64{7, 8} {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) { crashRun(t, seed) })
	}
}

type batchState struct{ rev, compact int64 }

func crashRun(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 1))
	fs := vfs.NewCrashableMem()
	db, err := openPebble(fs)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Open(db, Options{CompactionBatchLimit: 3})
	if err != nil {
		t.Fatal(err)
	}
	d := &differential{t: t, rng: rng, m: newModel()}
	defer func() {
		s.Close()
		db.Close()
	}()
	rounds := 30
	lostRounds := 0
	if testing.Short() {
		rounds = 8
	}
	for round := 0; round < rounds; round++ {
		// States after each committed batch since the last crash; the
		// recovered store must equal one at or after the last synced one.
		states := []batchState{{d.m.rev, d.m.compact}}
		lastSynced := 0
		for i, n := 0, 1+rng.IntN(8); i < n; i++ {
			b := db.NewIndexedBatch()
			for j, txns := 0, 1+rng.IntN(3); j < txns; j++ {
				crashTxn(d, s, b)
			}
			if rng.IntN(4) == 0 {
				rev := d.m.compact + 1 + rng.Int64N((d.m.rev-d.m.compact)/2+1)
				if rev <= d.m.rev {
					if _, err := s.Compact(b, rev); err != nil {
						t.Fatalf("compact %d: %v", rev, err)
					}
					d.m.compact = rev
				}
			}
			// Pebble commits an empty batch without touching the WAL, so a
			// synced empty batch does not make earlier ones durable.
			sync := rng.IntN(3) != 0 && !b.Empty()
			wo := pebble.NoSync
			if sync {
				wo = pebble.Sync
			}
			if err := b.Commit(wo); err != nil {
				t.Fatal(err)
			}
			b.Close()
			s.Publish()
			states = append(states, batchState{d.m.rev, d.m.compact})
			if sync {
				lastSynced = len(states) - 1
			}
		}
		// Crash, keeping a random share of what was not synced.
		crashFS := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: rng.IntN(101), RNG: rng})
		s.Close()
		db.Close()
		fs = crashFS
		if db, err = openPebble(fs); err != nil {
			t.Fatalf("round %d: reopen: %v", round, err)
		}
		if s, err = Open(db, Options{CompactionBatchLimit: 3}); err != nil {
			t.Fatalf("round %d: reopen store: %v", round, err)
		}
		got := batchState{s.Rev(), s.CompactRev()}
		if got != states[len(states)-1] {
			lostRounds++
		}
		found := false
		for _, st := range states[lastSynced:] {
			if st == got {
				found = true
			}
		}
		if !found {
			t.Fatalf("round %d: recovered (rev, compact) %v, want one of %v (all %v, last synced %d)", round, got, states[lastSynced:], states, lastSynced)
		}
		d.m.truncate(got.rev, got.compact)
		// Meta and data agree: nothing above the recovered revision.
		if n := countFrom(t, db, revLogKey(got.rev+1, 0), revLogEnd); n != 0 {
			t.Fatalf("round %d: %d revision-log records above recovered revision %d", round, n, got.rev)
		}
		if s.KeyCount() != d.m.liveCount() {
			t.Fatalf("round %d: KeyCount %d, model %d", round, s.KeyCount(), d.m.liveCount())
		}
		d.e = &testEnv{t: t, db: db, s: s}
		d.checkAllRevisions()
		if got.compact >= 0 {
			waitCompacted(s, got.compact)
			if n, want := countPrefix(t, db, storage.PrefixKeyIndex), d.m.surviving(); n != want {
				t.Fatalf("round %d: %d versions after resumed compaction at %d, model %d", round, n, got.compact, want)
			}
		}
		d.e = nil
	}
	t.Logf("revision %d after %d crashes, %d of which lost unsynced batches", d.m.rev, rounds, lostRounds)
	if lostRounds == 0 {
		t.Fatalf("no crash lost anything: the test tests nothing")
	}
	if d.m.rev < 20 {
		t.Fatalf("too little progress: revision %d", d.m.rev)
	}
}

// crashTxn runs one random transaction on b, mirrored in the model.
func crashTxn(d *differential, s *Store, b *pebble.Batch) {
	tw := s.Write(b)
	mt := &mTxn{m: d.m}
	for i, n := 0, 1+d.rng.IntN(3); i < n; i++ {
		if d.rng.IntN(5) == 0 {
			k, end := d.keyRange()
			if _, err := tw.DeleteRange(k, end); err != nil {
				d.t.Fatal(err)
			}
			mt.deleteRange(k, end)
			continue
		}
		k := d.key()
		v := fmt.Sprintf("v%d", d.m.rev)
		if _, err := tw.Put(k, []byte(v), 0); err != nil {
			d.t.Fatal(err)
		}
		mt.put(string(k), v, 0)
	}
	if got, want := tw.End(), mt.end(); got != want {
		d.t.Fatalf("End %d, model %d", got, want)
	}
}

// truncate rolls the model back to revision rev with compaction compact.
func (m *model) truncate(rev, compact int64) {
	n := len(m.log)
	for n > 0 && m.log[n-1].rev > rev {
		n--
	}
	m.log = m.log[:n]
	m.byKey = map[string][]int{}
	for i, e := range m.log {
		m.byKey[e.key] = append(m.byKey[e.key], i)
	}
	m.rev, m.compact = rev, compact
}

func countFrom(t *testing.T, r pebble.Reader, lo, hi []byte) int {
	t.Helper()
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	n := 0
	for valid := it.First(); valid; valid = it.Next() {
		n++
	}
	return n
}
