package raftnode

import (
	"errors"
	"fmt"
	"math"
	"math/rand"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

func openMemDB(t testing.TB, fs vfs.FS) *pebble.DB {
	t.Helper()
	if fs == nil {
		fs = vfs.NewMem()
	}
	db, err := pebble.Open("db", &pebble.Options{FS: fs, Logger: quietLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// quietLogger keeps Pebble's informational lines out of test output.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any)         {}
func (quietLogger) Errorf(string, ...any)        {}
func (quietLogger) Fatalf(f string, args ...any) { panic(fmt.Sprintf(f, args...)) }

func ent(index, term uint64, data string) *pb.Entry {
	return &pb.Entry{Index: new(index), Term: new(term), Type: pb.EntryNormal.Enum(), Data: []byte(data)}
}

func ents(lo, hi, term uint64) []*pb.Entry {
	var out []*pb.Entry
	for i := lo; i < hi; i++ {
		out = append(out, ent(i, term, fmt.Sprintf("v%d-%d", term, i)))
	}
	return out
}

func indexes(es []*pb.Entry) []uint64 {
	var out []uint64
	for _, e := range es {
		out = append(out, e.GetIndex())
	}
	return out
}

func mustOpen(t *testing.T, db *pebble.DB, cacheBytes int) *logStore {
	t.Helper()
	s, err := openLogStore(db, cacheBytes)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestLogStoreContract checks the raft.Storage contract with a cache that
// holds the whole log and with one that holds a single entry (reads go to
// Pebble), and again after reopening.
func TestLogStoreContract(t *testing.T) {
	for _, cache := range []int{0, 1} {
		t.Run(fmt.Sprintf("cache=%d", cache), func(t *testing.T) {
			db := openMemDB(t, nil)
			defer db.Close()
			s := mustOpen(t, db, cache)
			if !s.empty() {
				t.Fatal("fresh store not empty")
			}
			check := func(s *logStore, first, last uint64) {
				t.Helper()
				if fi, _ := s.FirstIndex(); fi != first {
					t.Fatalf("FirstIndex = %d, want %d", fi, first)
				}
				if li, _ := s.LastIndex(); li != last {
					t.Fatalf("LastIndex = %d, want %d", li, last)
				}
			}
			check(s, 1, 0)
			if term, err := s.Term(0); err != nil || term != 0 {
				t.Fatalf("Term(0) = %d, %v", term, err)
			}

			hs := &pb.HardState{Term: new(uint64(1)), Vote: new(uint64(1)), Commit: new(uint64(3))}
			if _, err := s.save(hs, ents(1, 11, 1), true); err != nil {
				t.Fatal(err)
			}
			check(s, 1, 10)
			got, err := s.Entries(3, 7, math.MaxUint64)
			if err != nil || fmt.Sprint(indexes(got)) != "[3 4 5 6]" {
				t.Fatalf("Entries(3,7) = %v, %v", indexes(got), err)
			}
			one := uint64(proto.Size(ents(1, 2, 1)[0]))
			if got, _ := s.Entries(2, 10, 0); len(got) != 1 {
				t.Fatalf("maxSize 0 returned %d entries, want 1", len(got))
			}
			if got, _ := s.Entries(2, 10, 2*one); len(got) != 2 {
				t.Fatalf("maxSize of two entries returned %d entries", len(got))
			}
			if _, err := s.Entries(5, 12, math.MaxUint64); !errors.Is(err, raft.ErrUnavailable) {
				t.Fatalf("Entries past last: %v, want ErrUnavailable", err)
			}
			if _, err := s.Term(11); !errors.Is(err, raft.ErrUnavailable) {
				t.Fatalf("Term(11): %v, want ErrUnavailable", err)
			}
			if term, _ := s.Term(7); term != 1 {
				t.Fatalf("Term(7) = %d", term)
			}

			// A conflicting append replaces the suffix.
			if _, err := s.save(nil, ents(6, 8, 2), true); err != nil {
				t.Fatal(err)
			}
			check(s, 1, 7)
			got, _ = s.Entries(1, 8, math.MaxUint64)
			if fmt.Sprint(indexes(got)) != "[1 2 3 4 5 6 7]" || got[5].GetTerm() != 2 || got[4].GetTerm() != 1 {
				t.Fatalf("after conflict: %v", got)
			}

			// Compaction.
			if err := s.compact(4); err != nil {
				t.Fatal(err)
			}
			check(s, 5, 7)
			if term, err := s.Term(4); err != nil || term != 1 {
				t.Fatalf("Term(4) after compact = %d, %v", term, err)
			}
			if _, err := s.Term(3); !errors.Is(err, raft.ErrCompacted) {
				t.Fatalf("Term(3): %v, want ErrCompacted", err)
			}
			if _, err := s.Entries(4, 6, math.MaxUint64); !errors.Is(err, raft.ErrCompacted) {
				t.Fatalf("Entries(4): %v, want ErrCompacted", err)
			}
			if err := s.compact(3); !errors.Is(err, raft.ErrCompacted) {
				t.Fatalf("compact(3): %v, want ErrCompacted", err)
			}

			// Reopen: everything persisted.
			r := mustOpen(t, db, cache)
			check(r, 5, 7)
			got, err = r.Entries(5, 8, math.MaxUint64)
			if err != nil || fmt.Sprint(indexes(got)) != "[5 6 7]" || got[2].GetTerm() != 2 {
				t.Fatalf("reopened Entries = %v, %v", got, err)
			}
			gotHS, _, err := r.InitialState()
			if err != nil || !proto.Equal(gotHS, hs) {
				t.Fatalf("InitialState = %v, %v; want %v", gotHS, err, hs)
			}
			if term, _ := r.Term(4); term != 1 {
				t.Fatalf("reopened Term(4) = %d", term)
			}
		})
	}
}

// TestLogStoreMatchesMemoryStorage drives logStore and raft.MemoryStorage
// with the same random appends and compactions and compares every read.
func TestLogStoreMatchesMemoryStorage(t *testing.T) {
	db := openMemDB(t, nil)
	defer db.Close()
	s := mustOpen(t, db, 2000) // a few dozen entries: mixes cache and Pebble reads
	ms := raft.NewMemoryStorage()
	rng := rand.New(rand.NewSource(1))
	term := uint64(1)
	for step := 0; step < 300; step++ {
		first, _ := ms.FirstIndex()
		last, _ := ms.LastIndex()
		switch op := rng.Intn(10); {
		case op < 7: // append, maybe overwriting a suffix
			from := last + 1
			if last >= first && rng.Intn(3) == 0 {
				from = first + uint64(rng.Intn(int(last-first+1)))
				term++
			}
			es := ents(from, from+1+uint64(rng.Intn(20)), term)
			if _, err := s.save(nil, es, false); err != nil {
				t.Fatal(err)
			}
			if err := ms.Append(es); err != nil {
				t.Fatal(err)
			}
		default: // compact
			if last < first {
				continue
			}
			at := first + uint64(rng.Intn(int(last-first+1)))
			if err := s.compact(at); err != nil {
				t.Fatal(err)
			}
			if err := ms.Compact(at); err != nil {
				t.Fatal(err)
			}
		}
		first, _ = ms.FirstIndex()
		last, _ = ms.LastIndex()
		if f, _ := s.FirstIndex(); f != first {
			t.Fatalf("step %d: FirstIndex %d, want %d", step, f, first)
		}
		if l, _ := s.LastIndex(); l != last {
			t.Fatalf("step %d: LastIndex %d, want %d", step, l, last)
		}
		for i := first - 1; i <= last; i++ {
			a, err1 := s.Term(i)
			b, err2 := ms.Term(i)
			if a != b || (err1 == nil) != (err2 == nil) {
				t.Fatalf("step %d: Term(%d) = %d,%v want %d,%v", step, i, a, err1, b, err2)
			}
		}
		if last >= first {
			lo := first + uint64(rng.Intn(int(last-first+1)))
			max := uint64(rng.Intn(400))
			a, err1 := s.Entries(lo, last+1, max)
			b, err2 := ms.Entries(lo, last+1, max)
			if err1 != nil || err2 != nil || len(a) != len(b) {
				t.Fatalf("step %d: Entries(%d,%d,%d) = %d,%v want %d,%v", step, lo, last+1, max, len(a), err1, len(b), err2)
			}
			for i := range a {
				if !proto.Equal(a[i], b[i]) {
					t.Fatalf("step %d: entry %d differs: %v vs %v", step, a[i].GetIndex(), a[i], b[i])
				}
			}
		}
	}
}

// TestLogStoreCrash: entries and hard state acknowledged by a synced save
// survive a crash that drops everything unsynced.
func TestLogStoreCrash(t *testing.T) {
	fs := vfs.NewCrashableMem()
	db := openMemDB(t, fs)
	s := mustOpen(t, db, 0)
	hs := &pb.HardState{Term: new(uint64(3)), Vote: new(uint64(2)), Commit: new(uint64(40))}
	for i := uint64(1); i <= 50; i += 10 {
		if _, err := s.save(hs, ents(i, i+10, 3), true); err != nil {
			t.Fatal(err)
		}
	}
	crashed := fs.CrashClone(vfs.CrashCloneCfg{})
	// An unsynced write after the crash point must not matter.
	if _, err := s.save(nil, ents(51, 60, 3), false); err != nil {
		t.Fatal(err)
	}
	db.Close()

	db2 := openMemDB(t, crashed)
	defer db2.Close()
	r := mustOpen(t, db2, 0)
	if last, _ := r.LastIndex(); last != 50 {
		t.Fatalf("LastIndex after crash = %d, want 50", last)
	}
	got, err := r.Entries(1, 51, math.MaxUint64)
	if err != nil || len(got) != 50 {
		t.Fatalf("Entries after crash: %d entries, %v", len(got), err)
	}
	if gotHS, _, _ := r.InitialState(); !proto.Equal(gotHS, hs) {
		t.Fatalf("hard state after crash = %v, want %v", gotHS, hs)
	}
}

func TestConfStateRoundTrip(t *testing.T) {
	db := openMemDB(t, nil)
	defer db.Close()
	cs, err := ReadConfState(db)
	if err != nil || len(cs.GetVoters()) != 0 {
		t.Fatalf("empty ReadConfState = %v, %v", cs, err)
	}
	want := &pb.ConfState{Voters: []uint64{1, 2, 3}, Learners: []uint64{4}, AutoLeave: new(false)}
	if err := WriteConfState(db, want); err != nil {
		t.Fatal(err)
	}
	got, err := ReadConfState(db)
	if err != nil || !proto.Equal(got, want) {
		t.Fatalf("ReadConfState = %v, %v; want %v", got, err, want)
	}
}
