package linearizability

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/anishathalye/porcupine"
)

// memStore is a trivially linearizable single-mutex store with etcd's
// revision rules for single-key requests: the oracle that shows Model and
// CheckRevisions accept every history a correct store produces.
type memStore struct {
	mu  sync.Mutex
	rev int64 // store revision; guarded by mu
	kv  map[string]memKV
	// stale makes reads see the key space as it was before the last write
	// (a broken store, for the checker's own test); prev holds that state.
	stale bool
	prev  map[string]memKV
}

type memKV struct {
	value  string
	modRev int64
}

func newMemStore() *memStore { return &memStore{rev: 1, kv: map[string]memKV{}} }

func (s *memStore) do(in Input) Output {
	s.mu.Lock()
	defer s.mu.Unlock()
	read := func(out Output) Output {
		from := s.kv
		if s.stale {
			from = s.prev
		}
		if kv, ok := from[in.Key]; ok {
			out.Exists, out.Value, out.ModRevision = true, kv.value, kv.modRev
		}
		out.Revision = s.rev
		return out
	}
	write := func() {
		s.rev++
		s.kv[in.Key] = memKV{in.Value, s.rev}
	}
	if in.Kind != OpGet {
		s.prev = maps.Clone(s.kv)
	}
	switch in.Kind {
	case OpGet:
		return read(Output{})
	case OpPut:
		write()
		return Output{Revision: s.rev}
	case OpDelete:
		if _, ok := s.kv[in.Key]; !ok {
			return Output{Revision: s.rev}
		}
		s.rev++
		delete(s.kv, in.Key)
		return Output{Revision: s.rev, Deleted: 1}
	case OpCAS:
		kv, ok := s.kv[in.Key]
		if (in.ExpectAbsent && !ok) || (!in.ExpectAbsent && ok && kv.value == in.Expect) {
			write()
			return Output{Revision: s.rev, Succeeded: true}
		}
		return read(Output{})
	}
	panic(fmt.Sprintf("op kind %v", in.Kind))
}

// simulate runs clients goroutines of n random requests each against s
// and returns the recorded history. About 4% of writes lose their
// response (recorded Unknown), half of them after taking effect.
func simulate(s *memStore, clients, n int, seed uint64) []porcupine.Operation {
	rec := NewRecorder()
	var wg sync.WaitGroup
	for id := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, uint64(id)))
			last := map[string]string{}
			for seq := range n {
				in := Input{Key: fmt.Sprintf("k%d", rng.IntN(trafficKeys))}
				switch p := rng.IntN(100); {
				case p < 40:
					in.Kind = OpGet
				case p < 65:
					in.Kind, in.Value = OpPut, fmt.Sprintf("c%d-%d", id, seq)
				case p < 78:
					in.Kind = OpDelete
				default:
					in.Kind, in.Value = OpCAS, fmt.Sprintf("c%d-%d", id, seq)
					v, ok := last[in.Key]
					in.Expect, in.ExpectAbsent = v, !ok
				}
				call := rec.Now()
				lost := in.Kind != OpGet && rng.IntN(100) < 4
				var out Output
				if !lost || rng.IntN(2) == 0 {
					out = s.do(in)
				}
				ret := rec.Now()
				switch {
				case lost:
					out = Output{Unknown: true, Err: "simulated lost response"}
				case in.Kind == OpPut || (in.Kind == OpCAS && out.Succeeded):
					last[in.Key] = in.Value
				case out.Exists:
					last[in.Key] = out.Value
				default:
					delete(last, in.Key)
				}
				rec.Add(id, in, call, out, ret)
			}
		}()
	}
	wg.Wait()
	return rec.History()
}

// TestModelAcceptsLinearizableStore: histories of a mutex-serialized
// store, with lost responses, are accepted by Model and CheckRevisions.
func TestModelAcceptsLinearizableStore(t *testing.T) {
	for seed := range uint64(5) {
		h := PatchAmbiguous(simulate(newMemStore(), 8, 300, seed))
		if !porcupine.CheckOperations(Model(), h) {
			t.Fatalf("seed %d: history of a linearizable store rejected", seed)
		}
		if err := CheckRevisions(h); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
	}
}

// TestModelRejectsStaleStore: a store whose reads miss the latest write
// is caught, even when every stale read is served at the current revision.
// One client makes the history sequential, so the verdict is certain.
func TestModelRejectsStaleStore(t *testing.T) {
	s := newMemStore()
	s.stale = true
	h := PatchAmbiguous(simulate(s, 1, 300, 1))
	if porcupine.CheckOperations(Model(), h) {
		t.Fatal("history of a store serving stale reads accepted")
	}
}

// BenchmarkCheck measures porcupine with Model on a 10,000-operation
// history of 10 clients (about 2% of writes of unknown outcome).
func BenchmarkCheck(b *testing.B) {
	h := PatchAmbiguous(simulate(newMemStore(), 10, 1000, 1))
	b.ReportAllocs()
	for b.Loop() {
		if !porcupine.CheckOperations(Model(), h) {
			b.Fatal("rejected")
		}
	}
}
