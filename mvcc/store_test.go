package mvcc

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/protobuf/proto"

	"github.com/concord-kv/concord/storage"
)

func kv(k string, create, mod, ver int64, v string, lease int64) *mvccpb.KeyValue {
	return &mvccpb.KeyValue{Key: []byte(k), CreateRevision: create, ModRevision: mod, Version: ver, Value: []byte(v), Lease: lease}
}

func sameKVs(t *testing.T, what string, got, want []*mvccpb.KeyValue) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d kvs %v, want %d %v", what, len(got), got, len(want), want)
	}
	for i := range got {
		if !proto.Equal(got[i], want[i]) {
			t.Fatalf("%s: kv %d = %v, want %v", what, i, got[i], want[i])
		}
	}
}

func rangeOK(t *testing.T, s *Store, key, end string, o RangeOptions) *RangeResult {
	t.Helper()
	var e []byte
	if end != "" {
		e = []byte(end)
	}
	r, err := s.Range(context.Background(), []byte(key), e, o)
	if err != nil {
		t.Fatalf("Range(%q, %q, %+v): %v", key, end, o, err)
	}
	return r
}

func TestRevisionsAndVersions(t *testing.T) {
	e := newTestEnv(t, Options{})
	s := e.s
	if s.Rev() != 1 || s.CompactRev() != -1 || s.KeyCount() != 0 {
		t.Fatalf("empty store: rev %d compact %d keys %d, want 1 -1 0", s.Rev(), s.CompactRev(), s.KeyCount())
	}
	steps := []struct {
		name      string
		do        func(tw *TxnWrite) ([]*mvccpb.KeyValue, error)
		wantRev   int64
		wantPrev  []*mvccpb.KeyValue // prev of put, or deleted KVs
		wantRange []*mvccpb.KeyValue // Range("a", "\x00") afterwards
	}{
		{"first put gets revision 2",
			func(tw *TxnWrite) ([]*mvccpb.KeyValue, error) { return one(tw.Put([]byte("a"), []byte("1"), 0)) },
			2, nil, []*mvccpb.KeyValue{kv("a", 2, 2, 1, "1", 0)}},
		{"second put bumps version, keeps create_revision",
			func(tw *TxnWrite) ([]*mvccpb.KeyValue, error) { return one(tw.Put([]byte("a"), []byte("2"), 7)) },
			3, []*mvccpb.KeyValue{kv("a", 2, 2, 1, "1", 0)}, []*mvccpb.KeyValue{kv("a", 2, 3, 2, "2", 7)}},
		{"delete of a missing key is no change",
			func(tw *TxnWrite) ([]*mvccpb.KeyValue, error) { return tw.DeleteRange([]byte("zz"), nil) },
			3, nil, []*mvccpb.KeyValue{kv("a", 2, 3, 2, "2", 7)}},
		{"delete returns the last value",
			func(tw *TxnWrite) ([]*mvccpb.KeyValue, error) { return tw.DeleteRange([]byte("a"), nil) },
			4, []*mvccpb.KeyValue{kv("a", 2, 3, 2, "2", 7)}, nil},
		{"put after delete starts a new generation",
			func(tw *TxnWrite) ([]*mvccpb.KeyValue, error) { return one(tw.Put([]byte("a"), []byte("3"), 0)) },
			5, nil, []*mvccpb.KeyValue{kv("a", 5, 5, 1, "3", 0)}},
		{"multi-op txn shares one revision",
			func(tw *TxnWrite) ([]*mvccpb.KeyValue, error) {
				if _, err := tw.Put([]byte("b"), []byte("x"), 0); err != nil {
					return nil, err
				}
				if _, err := tw.Put([]byte("c"), []byte("y"), 0); err != nil {
					return nil, err
				}
				return tw.DeleteRange([]byte("a"), []byte("b"))
			},
			6, []*mvccpb.KeyValue{kv("a", 5, 5, 1, "3", 0)}, []*mvccpb.KeyValue{kv("b", 6, 6, 1, "x", 0), kv("c", 6, 6, 1, "y", 0)}},
		{"read-only txn does not bump",
			func(tw *TxnWrite) ([]*mvccpb.KeyValue, error) {
				r, err := tw.Range([]byte("b"), nil, RangeOptions{})
				if err != nil {
					return nil, err
				}
				if r.Rev != 6 {
					return nil, errors.New("read-only txn range rev != 6")
				}
				return nil, nil
			},
			6, nil, []*mvccpb.KeyValue{kv("b", 6, 6, 1, "x", 0), kv("c", 6, 6, 1, "y", 0)}},
	}
	for _, st := range steps {
		var got []*mvccpb.KeyValue
		var err error
		rev, _ := e.txn(func(tw *TxnWrite) { got, err = st.do(tw) })
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if rev != st.wantRev || s.Rev() != st.wantRev {
			t.Fatalf("%s: End %d Rev %d, want %d", st.name, rev, s.Rev(), st.wantRev)
		}
		sameKVs(t, st.name+": prev", got, st.wantPrev)
		r := rangeOK(t, s, "a", "\x00", RangeOptions{})
		sameKVs(t, st.name+": range", r.KVs, st.wantRange)
		if r.Rev != st.wantRev || r.Count != int64(len(st.wantRange)) {
			t.Fatalf("%s: range rev %d count %d", st.name, r.Rev, r.Count)
		}
		if s.KeyCount() != int64(len(st.wantRange)) {
			t.Fatalf("%s: KeyCount %d, want %d", st.name, s.KeyCount(), len(st.wantRange))
		}
	}
	// Historical reads see every step.
	for rev, want := range map[int64][]*mvccpb.KeyValue{
		1: nil,
		2: {kv("a", 2, 2, 1, "1", 0)},
		3: {kv("a", 2, 3, 2, "2", 7)},
		4: nil,
		5: {kv("a", 5, 5, 1, "3", 0)},
	} {
		r := rangeOK(t, s, "a", "\x00", RangeOptions{Rev: rev})
		sameKVs(t, "historical", r.KVs, want)
		if r.Rev != 6 {
			t.Fatalf("historical range at %d: header rev %d, want current 6", rev, r.Rev)
		}
	}
	// Survives reopen.
	e.reopen(true)
	if e.s.Rev() != 6 || e.s.KeyCount() != 2 || e.s.CompactRev() != -1 {
		t.Fatalf("after reopen: rev %d keys %d compact %d", e.s.Rev(), e.s.KeyCount(), e.s.CompactRev())
	}
}

func one(kv *mvccpb.KeyValue, err error) ([]*mvccpb.KeyValue, error) {
	if kv == nil {
		return nil, err
	}
	return []*mvccpb.KeyValue{kv}, err
}

func TestChangesAndSubRevisions(t *testing.T) {
	e := newTestEnv(t, Options{})
	e.put("k1", "old")
	rev, ch := e.txn(func(tw *TxnWrite) {
		tw.Put([]byte("k2"), []byte("v2"), 5)
		// Inside the txn, reads see the txn's own change at rev base+1.
		r, err := tw.Range([]byte("k"), []byte("l"), RangeOptions{})
		if err != nil || r.Rev != 3 || r.Count != 2 {
			t.Fatalf("txn range: %+v %v", r, err)
		}
		if _, err := tw.Range([]byte("k"), nil, RangeOptions{Rev: 4}); !errors.Is(err, ErrFutureRev) {
			t.Fatalf("txn range at 4: %v, want ErrFutureRev", err)
		}
		tw.DeleteRange([]byte("k1"), nil)
		tw.Put([]byte("k3"), []byte("v3"), 0)
	})
	if rev != 3 {
		t.Fatalf("rev %d, want 3", rev)
	}
	want := []*mvccpb.Event{
		{Type: mvccpb.Event_PUT, Kv: kv("k2", 3, 3, 1, "v2", 5)},
		{Type: mvccpb.Event_DELETE, Kv: &mvccpb.KeyValue{Key: []byte("k1"), ModRevision: 3}, PrevKv: kv("k1", 2, 2, 1, "old", 0)},
		{Type: mvccpb.Event_PUT, Kv: kv("k3", 3, 3, 1, "v3", 0)},
	}
	sameEvents(t, "changes", ch, want)
	// Events reproduce the same, in sub-revision order.
	var got []*mvccpb.Event
	if err := e.s.Events(context.Background(), 3, 3, []byte("k"), []byte("l"), true, func(ev *mvccpb.Event) error {
		got = append(got, ev)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	sameEvents(t, "events", got, want)
	// Sub-revisions are stored in order.
	s := e.s
	h, err := s.openHistory()
	if err != nil {
		t.Fatal(err)
	}
	defer h.close()
	var subs []int64
	h.scanRevLog(context.Background(), 3, 3, func(main, sub int64, rec revLogRecord) error {
		subs = append(subs, sub)
		return nil
	})
	if len(subs) != 3 || subs[0] != 0 || subs[1] != 1 || subs[2] != 2 {
		t.Fatalf("sub-revisions %v, want [0 1 2]", subs)
	}
}

func sameEvents(t *testing.T, what string, got, want []*mvccpb.Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d events %v, want %d %v", what, len(got), got, len(want), want)
	}
	for i := range got {
		if !proto.Equal(got[i], want[i]) {
			t.Fatalf("%s: event %d = %v, want %v", what, i, got[i], want[i])
		}
	}
}

func TestRangeRules(t *testing.T) {
	e := newTestEnv(t, Options{})
	keys := []string{"\x00", "\x00\x00", "\x00\x01", "a", "a\x00", "a\x00b", "ab", "a\xff", "b", "\xff", "\xff\xff"}
	for _, k := range keys {
		e.put(k, "v"+k)
	}
	cur := e.s.Rev()
	names := func(r *RangeResult) []string {
		var out []string
		for _, kv := range r.KVs {
			out = append(out, string(kv.Key))
		}
		return out
	}
	tests := []struct {
		key, end string
		o        RangeOptions
		want     []string
		count    int64
	}{
		{"a", "", RangeOptions{}, []string{"a"}, 1},
		{"a\x00", "", RangeOptions{}, []string{"a\x00"}, 1},
		{"zz", "", RangeOptions{}, nil, 0},
		{"\x00", "\x00", RangeOptions{}, keys, int64(len(keys))},
		{"a", "\x00", RangeOptions{}, []string{"a", "a\x00", "a\x00b", "ab", "a\xff", "b", "\xff", "\xff\xff"}, 8},
		{"a", "b", RangeOptions{}, []string{"a", "a\x00", "a\x00b", "ab", "a\xff"}, 5},
		{"a\x00", "a\x01", RangeOptions{}, []string{"a\x00", "a\x00b"}, 2},
		{"\xff", "\xff\xff\xff", RangeOptions{}, []string{"\xff", "\xff\xff"}, 2},
		{"b", "a", RangeOptions{}, nil, 0},
		{"a", "a", RangeOptions{}, nil, 0},
		{"a", "\x00", RangeOptions{Limit: 2}, []string{"a", "a\x00"}, 8},
		{"a", "\x00", RangeOptions{Limit: 100}, []string{"a", "a\x00", "a\x00b", "ab", "a\xff", "b", "\xff", "\xff\xff"}, 8},
		{"a", "\x00", RangeOptions{CountOnly: true}, nil, 8},
		{"a", "\x00", RangeOptions{Rev: 5}, []string{"a"}, 1},
		{"\x00", "\x00", RangeOptions{Rev: 2}, []string{"\x00"}, 1},
		{"\x00", "\x00", RangeOptions{Rev: 1}, nil, 0},
	}
	for _, tc := range tests {
		r := rangeOK(t, e.s, tc.key, tc.end, tc.o)
		got := names(r)
		if len(got) != len(tc.want) || r.Count != tc.count || r.Rev != cur {
			t.Fatalf("Range(%q,%q,%+v) = %q count %d rev %d, want %q count %d rev %d", tc.key, tc.end, tc.o, got, r.Count, r.Rev, tc.want, tc.count, cur)
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Fatalf("Range(%q,%q,%+v) = %q, want %q", tc.key, tc.end, tc.o, got, tc.want)
			}
		}
	}
	if _, err := e.s.Range(context.Background(), []byte("a"), nil, RangeOptions{Rev: cur + 1}); !errors.Is(err, ErrFutureRev) {
		t.Fatalf("future range: %v", err)
	}
	// RangeStream stops on fn's error and returns it.
	stop := errors.New("stop")
	n := 0
	_, _, err := e.s.RangeStream(context.Background(), []byte("\x00"), []byte("\x00"), RangeOptions{}, func(*mvccpb.KeyValue) error {
		if n++; n == 3 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || n != 3 {
		t.Fatalf("RangeStream err %v after %d, want stop after 3", err, n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for i := 0; i < ctxCheckEvery; i++ {
		e.put("p"+string(rune('a'+i%26))+string(rune('a'+i/26)), "x")
	}
	if _, err := e.s.Range(ctx, []byte("\x00"), []byte("\x00"), RangeOptions{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled range: %v", err)
	}
}

func TestCompaction(t *testing.T) {
	e := newTestEnv(t, Options{CompactionBatchLimit: 2})
	e.put("a", "1") // 2
	e.put("a", "2") // 3
	e.put("b", "1") // 4
	e.del("b", "")  // 5
	e.put("c", "1") // 6
	e.put("a", "3") // 7
	e.del("c", "")  // 8
	e.put("c", "2") // 9
	if _, err := e.compact(10); !errors.Is(err, ErrFutureRev) {
		t.Fatalf("compact future: %v", err)
	}
	done, err := e.compact(5)
	if err != nil {
		t.Fatal(err)
	}
	<-done
	if e.s.CompactRev() != 5 {
		t.Fatalf("CompactRev %d", e.s.CompactRev())
	}
	for _, c := range []int64{4, 5} {
		if _, err := e.compact(c); !errors.Is(err, ErrCompacted) {
			t.Fatalf("compact %d again: %v, want ErrCompacted", c, err)
		}
	}
	if _, err := e.s.Range(context.Background(), []byte("a"), nil, RangeOptions{Rev: 4}); !errors.Is(err, ErrCompacted) {
		t.Fatalf("range below compaction: %v", err)
	}
	r := rangeOK(t, e.s, "a", "\x00", RangeOptions{Rev: 5})
	sameKVs(t, "at compaction", r.KVs, []*mvccpb.KeyValue{kv("a", 2, 3, 2, "2", 0)})
	// Versions left: a@3 (kept), and the compaction revision's changes
	// with what they supersede (b@4, b@5 the tombstone, kept for a watch
	// from 5), a@7, c@6, c@8 (tombstone), c@9.
	if n := countPrefix(t, e.db, storage.PrefixKeyIndex); n != 7 {
		t.Fatalf("%d versions after compaction at 5, want 7", n)
	}
	if n := countPrefix(t, e.db, storage.PrefixRevLog); n != 7 {
		t.Fatalf("%d revision-log records after compaction at 5, want 7", n)
	}
	var evs []*mvccpb.Event
	if err := e.s.Events(context.Background(), 5, 0, []byte("b"), nil, false, func(ev *mvccpb.Event) error { evs = append(evs, ev); return nil }); err != nil {
		t.Fatalf("events from the compaction revision: %v", err)
	}
	if len(evs) != 1 || evs[0].Type != mvccpb.DELETE || evs[0].Kv.ModRevision != 5 {
		t.Fatalf("events of b from the compaction revision: %v, want its DELETE at 5", evs)
	}
	hashAfter, hashRev, compRev, err := e.s.HashKV(9)
	if err != nil || hashRev != 9 || compRev != 5 {
		t.Fatalf("HashKV: %d %d %v", hashRev, compRev, err)
	}
	if _, _, _, err := e.s.HashKV(4); !errors.Is(err, ErrCompacted) {
		t.Fatalf("HashKV below compaction: %v", err)
	}
	if _, _, _, err := e.s.HashKV(10); !errors.Is(err, ErrFutureRev) {
		t.Fatalf("HashKV future: %v", err)
	}

	// Compacting at the current revision keeps a trailing tombstone (and the
	// version it deletes) and removes what the compaction at 5 left;
	// events below fail with ErrCompacted.
	e.del("a", "") // 10
	done, err = e.compact(10)
	if err != nil {
		t.Fatal(err)
	}
	<-done
	if n := countPrefix(t, e.db, storage.PrefixKeyIndex); n != 3 {
		t.Fatalf("%d versions after compaction at 10, want 3 (a@7, c@9, a@10)", n)
	}
	if err := e.s.Events(context.Background(), 9, 10, []byte("\x00"), []byte("\x00"), false, func(*mvccpb.Event) error { return nil }); !errors.Is(err, ErrCompacted) {
		t.Fatalf("events below compaction: %v", err)
	}
	h2, _, _, err := e.s.HashKV(0)
	if err != nil {
		t.Fatal(err)
	}
	if h2 == hashAfter {
		t.Fatalf("hash did not change after delete + compaction")
	}
	if e.s.KeyCount() != 1 {
		t.Fatalf("KeyCount %d, want 1", e.s.KeyCount())
	}
}

// TestHashKVIgnoresPhysicalProgress checks that HashKV is the same before
// and after the compactor ran, and after a reopen.
func TestHashKVIgnoresPhysicalProgress(t *testing.T) {
	e := newTestEnv(t, Options{CompactionBatchLimit: 3})
	for i := 0; i < 30; i++ {
		k := string([]byte{'k', byte('0' + i%7)})
		if i%5 == 4 {
			e.del(k, "")
		} else {
			e.put(k, string(rune('a'+i)))
		}
	}
	e.s.PauseCompaction()
	done, err := e.compact(20)
	if err != nil {
		t.Fatal(err)
	}
	before, _, _, err := e.s.HashKV(0)
	if err != nil {
		t.Fatal(err)
	}
	versionsBefore := countPrefix(t, e.db, storage.PrefixKeyIndex)
	// An abandoned batch's compaction is forgotten by Reload, which also
	// resumes the compactor.
	b := e.db.NewIndexedBatch()
	if _, err := e.s.Compact(b, 25); err != nil {
		t.Fatal(err)
	}
	b.Close()
	if err := e.s.Reload(); err != nil {
		t.Fatal(err)
	}
	if e.s.CompactRev() != 20 || e.s.wCompactRev != 20 {
		t.Fatalf("after Reload: compact %d/%d, want 20", e.s.CompactRev(), e.s.wCompactRev)
	}
	<-done
	if n := countPrefix(t, e.db, storage.PrefixKeyIndex); n >= versionsBefore {
		t.Fatalf("compactor removed nothing: %d -> %d versions", versionsBefore, n)
	}
	after, _, _, err := e.s.HashKV(0)
	if err != nil {
		t.Fatal(err)
	}
	if before != after {
		t.Fatalf("hash changed with physical compaction: %x -> %x", before, after)
	}
	e.reopen(true)
	again, _, _, err := e.s.HashKV(0)
	if err != nil || again != before {
		t.Fatalf("hash after reopen %x (%v), want %x", again, err, before)
	}
}

func TestEscapeOrder(t *testing.T) {
	keys := [][]byte{{}, {0}, {0, 0}, {0, 1}, {0, 0xff}, {1}, {'a'}, {'a', 0}, {'a', 0, 0}, {'a', 0, 1}, {'a', 1}, {'a', 0xff}, {0xff}, {0xff, 0}, {0xff, 0xff}}
	for i := range keys {
		p := keyPrefix(keys[i])
		got, err := userKey(p)
		if err != nil || !bytes.Equal(got, keys[i]) {
			t.Fatalf("round trip %q: %q %v", keys[i], got, err)
		}
		for j := range keys {
			want := bytes.Compare(keys[i], keys[j])
			// Versions of a key sort inside its block: compare full keys.
			a, b := versionKey(keys[i], 9, 0), versionKey(keys[j], 1, 0)
			c := bytes.Compare(a, b)
			if (want == 0 && c >= 0) || (want != 0 && (c < 0) != (want < 0)) {
				t.Fatalf("order of %q vs %q: %d, want %d", keys[i], keys[j], c, want)
			}
		}
	}
}

func TestBumpRevision(t *testing.T) {
	e := newTestEnv(t, Options{})
	e.put("a", "1") // 2
	e.put("b", "1") // 3
	e.s.Close()
	e.s = nil
	b := e.db.NewBatch()
	if _, err := BumpRevision(e.db, b, -1, false); !errors.Is(err, ErrInvalidBump) {
		t.Fatalf("negative bump: %v", err)
	}
	rev, err := BumpRevision(e.db, b, 1000, true)
	if err != nil || rev != 1003 {
		t.Fatalf("bump: %d %v", rev, err)
	}
	if err := b.Commit(nil); err != nil {
		t.Fatal(err)
	}
	e.openStore()
	s := e.s
	if s.Rev() != 1003 || s.CompactRev() != 1003 {
		t.Fatalf("after bump: rev %d compact %d", s.Rev(), s.CompactRev())
	}
	if _, err := s.Range(context.Background(), []byte("a"), nil, RangeOptions{Rev: 3}); !errors.Is(err, ErrCompacted) {
		t.Fatalf("old revision after mark-compacted: %v", err)
	}
	r := rangeOK(t, s, "a", "\x00", RangeOptions{})
	sameKVs(t, "after bump", r.KVs, []*mvccpb.KeyValue{kv("a", 2, 2, 1, "1", 0), kv("b", 3, 3, 1, "1", 0)})
	if got := e.put("a", "2"); got != 1004 {
		t.Fatalf("first write after bump at %d, want 1004", got)
	}
	waitCompacted(s, 1003)
	if n := countPrefix(t, e.db, storage.PrefixKeyIndex); n != 3 {
		t.Fatalf("%d versions, want 3", n)
	}
}
