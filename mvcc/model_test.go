package mvcc

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"math/rand/v2"
	"sort"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/protobuf/proto"

	"github.com/concord-kv/concord/storage"
)

// model is the dumb reference: the full list of changes, searched
// linearly.
type model struct {
	rev     int64
	compact int64
	log     []mEntry
	byKey   map[string][]int // indexes into log, in order
}

type mEntry struct {
	rev, sub int64
	key      string
	tomb     bool
	kv       *mvccpb.KeyValue // puts only
}

func newModel() *model { return &model{rev: 1, compact: -1, byKey: map[string][]int{}} }

// at returns the newest entry of k with revision <= rev, or nil.
func (m *model) at(k string, rev int64) *mEntry {
	idx := m.byKey[k]
	for i := len(idx) - 1; i >= 0; i-- {
		if e := &m.log[idx[i]]; e.rev <= rev {
			return e
		}
	}
	return nil
}

func (m *model) live(k string, rev int64) *mvccpb.KeyValue {
	if e := m.at(k, rev); e != nil && !e.tomb {
		return e.kv
	}
	return nil
}

func (m *model) sortedKeys() []string {
	ks := make([]string, 0, len(m.byKey))
	for k := range m.byKey {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func (m *model) rangeAt(key, end []byte, rev int64) []*mvccpb.KeyValue {
	var out []*mvccpb.KeyValue
	for _, k := range m.sortedKeys() {
		if !inRange([]byte(k), key, end) {
			continue
		}
		if kv := m.live(k, rev); kv != nil {
			out = append(out, kv)
		}
	}
	return out
}

func (m *model) liveCount() int64 {
	var n int64
	for k := range m.byKey {
		if m.live(k, math.MaxInt64) != nil {
			n++
		}
	}
	return n
}

// surviving is the number of versions left once compaction at m.compact
// is physically done.
func (m *model) surviving() int {
	n := 0
	for k, idx := range m.byKey {
		keep := m.at(k, m.compact)
		for _, i := range idx {
			e := &m.log[i]
			// The compaction revision's own changes stay until a later
			// compaction (a watch may start there), and so does the
			// version that such a put supersedes.
			if e.rev >= m.compact || (e == keep && !e.tomb) || (keep != nil && keep.rev == m.compact && e == m.at(k, m.compact-1) && !e.tomb) {
				n++
			}
		}
	}
	return n
}

func (m *model) hash(rev int64) uint32 {
	crc := crc32.New(crc32.MakeTable(crc32.Castagnoli))
	crc.Write([]byte("key"))
	for i := range m.log {
		e := &m.log[i]
		if e.rev > rev {
			break
		}
		if e.rev <= m.compact && (e.tomb || m.at(e.key, m.compact) != e) {
			continue
		}
		var rk []byte
		rk = binary.BigEndian.AppendUint64(rk, uint64(e.rev))
		rk = append(rk, '_')
		rk = binary.BigEndian.AppendUint64(rk, uint64(e.sub))
		kv := e.kv
		if e.tomb {
			rk = append(rk, 't')
			kv = &mvccpb.KeyValue{Key: []byte(e.key)}
		}
		b, err := proto.MarshalOptions{Deterministic: true}.Marshal(kv)
		if err != nil {
			panic(err)
		}
		crc.Write(rk)
		crc.Write(b)
	}
	return crc.Sum32()
}

func (m *model) events(from, to int64, key, end []byte, prevKV bool) []*mvccpb.Event {
	var out []*mvccpb.Event
	for i := range m.log {
		e := &m.log[i]
		if e.rev < from || e.rev > to || !inRange([]byte(e.key), key, end) {
			continue
		}
		ev := &mvccpb.Event{Type: mvccpb.Event_PUT, Kv: e.kv}
		if e.tomb {
			ev = &mvccpb.Event{Type: mvccpb.Event_DELETE, Kv: &mvccpb.KeyValue{Key: []byte(e.key), ModRevision: e.rev}}
		}
		if prevKV && e.rev-1 >= m.compact {
			ev.PrevKv = m.live(e.key, e.rev-1)
		}
		out = append(out, ev)
	}
	return out
}

// mTxn mirrors a TxnWrite.
type mTxn struct {
	m       *model
	changes []*mvccpb.Event
}

func (t *mTxn) rev() int64 { return t.m.rev + 1 }

func (t *mTxn) add(e mEntry) {
	t.m.log = append(t.m.log, e)
	t.m.byKey[e.key] = append(t.m.byKey[e.key], len(t.m.log)-1)
}

func (t *mTxn) put(k, v string, lease int64) *mvccpb.KeyValue {
	prev := t.m.live(k, math.MaxInt64)
	kv := &mvccpb.KeyValue{Key: []byte(k), CreateRevision: t.rev(), ModRevision: t.rev(), Version: 1, Value: []byte(v), Lease: lease}
	if prev != nil {
		kv.CreateRevision, kv.Version = prev.CreateRevision, prev.Version+1
	}
	t.add(mEntry{rev: t.rev(), sub: int64(len(t.changes)), key: k, kv: kv})
	t.changes = append(t.changes, &mvccpb.Event{Type: mvccpb.Event_PUT, Kv: kv, PrevKv: prev})
	return prev
}

func (t *mTxn) deleteRange(key, end []byte) []*mvccpb.KeyValue {
	victims := t.m.rangeAt(key, end, math.MaxInt64)
	for _, kv := range victims {
		t.add(mEntry{rev: t.rev(), sub: int64(len(t.changes)), key: string(kv.Key), tomb: true})
		t.changes = append(t.changes, &mvccpb.Event{Type: mvccpb.Event_DELETE, Kv: &mvccpb.KeyValue{Key: kv.Key, ModRevision: t.rev()}, PrevKv: kv})
	}
	return victims
}

func (t *mTxn) curRev() int64 {
	if len(t.changes) > 0 {
		return t.rev()
	}
	return t.m.rev
}

func (t *mTxn) end() int64 {
	if len(t.changes) > 0 {
		t.m.rev++
	}
	return t.m.rev
}

// differential drives a Store and the model with the same random
// operations and compares every answer.
type differential struct {
	t    *testing.T
	rng  *rand.Rand
	e    *testEnv
	m    *model
	step int
	// lastDone is the channel of the latest successful compaction.
	lastDone <-chan struct{}
}

var keyAlphabet = []byte{0x00, 0x01, 'a', 'b', 0xff}

func (d *differential) key() []byte {
	n := 1 + d.rng.IntN(3)
	k := make([]byte, n)
	for i := range k {
		k[i] = keyAlphabet[d.rng.IntN(len(keyAlphabet))]
	}
	return k
}

// keyRange returns a key and range end covering etcd's forms.
func (d *differential) keyRange() ([]byte, []byte) {
	k := d.key()
	switch p := d.rng.IntN(20); {
	case p < 9:
		return k, nil
	case p < 10:
		return k, []byte{0}
	case p < 13:
		return k, d.key()
	default:
		// A narrow range: k up to k with its last byte bumped.
		end := append([]byte(nil), k...)
		if end[len(end)-1] < 0xff {
			end[len(end)-1]++
		} else {
			end = append(end, 0)
		}
		return k, end
	}
}

func (d *differential) fatalf(format string, args ...any) {
	d.t.Helper()
	d.t.Fatalf("step %d: %s", d.step, fmt.Sprintf(format, args...))
}

func (d *differential) run(steps int) {
	for d.step = 0; d.step < steps; d.step++ {
		switch p := d.rng.IntN(100); {
		case p < 45:
			d.writeBatch()
		case p < 70:
			d.checkRange()
		case p < 73:
			d.compact()
		case p < 84:
			d.checkEvents()
		case p < 88:
			d.checkHash()
		case p < 90:
			d.reopen()
		default:
			d.checkState()
		}
	}
	d.checkAllRevisions()
	d.waitPhysical()
}

// writeBatch runs one to four transactions in one batch, sometimes with a
// compaction, then commits and publishes.
func (d *differential) writeBatch() {
	s := d.e.s
	b := d.e.db.NewIndexedBatch()
	defer b.Close()
	published := s.Rev()
	ntxn := 1
	if d.rng.IntN(3) == 0 {
		ntxn = 2 + d.rng.IntN(3)
	}
	var done <-chan struct{}
	for i := 0; i < ntxn; i++ {
		d.writeTxn(b)
		if d.rng.IntN(20) == 0 {
			done = d.compactIn(b)
		}
	}
	if s.Rev() != published {
		d.fatalf("Rev moved before Publish: %d -> %d", published, s.Rev())
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		d.fatalf("commit: %v", err)
	}
	s.Publish()
	if done != nil {
		d.lastDone = done
	}
	if s.Rev() != d.m.rev {
		d.fatalf("Rev %d, model %d", s.Rev(), d.m.rev)
	}
}

func (d *differential) writeTxn(b *pebble.Batch) {
	tw := d.e.s.Write(b)
	mt := &mTxn{m: d.m}
	nops := 1 + d.rng.IntN(4)
	for i := 0; i < nops; i++ {
		switch p := d.rng.IntN(10); {
		case p < 8:
			k := d.key()
			v := fmt.Sprintf("v%d.%d", d.step, i)
			lease := int64(d.rng.IntN(3))
			got, err := tw.Put(k, []byte(v), lease)
			if err != nil {
				d.fatalf("put: %v", err)
			}
			want := mt.put(string(k), v, lease)
			if !proto.Equal(got, want) {
				d.fatalf("put %q prev %v, model %v", k, got, want)
			}
		case p < 9:
			k, end := d.keyRange()
			got, err := tw.DeleteRange(k, end)
			if err != nil {
				d.fatalf("delete: %v", err)
			}
			want := mt.deleteRange(k, end)
			sameKVsD(d, fmt.Sprintf("delete %q %q", k, end), got, want)
		default:
			k, end := d.keyRange()
			o := RangeOptions{Rev: d.m.compact - 1 + d.rng.Int64N(mt.curRev()-d.m.compact+3), Limit: int64(d.rng.IntN(4))}
			got, err := tw.Range(k, end, o)
			d.compareRange(fmt.Sprintf("txn range %q %q %+v", k, end, o), got, err, k, end, o, mt.curRev())
		}
	}
	sameEventsD(d, "changes", tw.Changes(), mt.changes)
	if got, want := tw.End(), mt.end(); got != want {
		d.fatalf("End %d, model %d", got, want)
	}
}

func (d *differential) compareRange(what string, got *RangeResult, err error, key, end []byte, o RangeOptions, cur int64) {
	d.t.Helper()
	rev := o.Rev
	switch {
	case rev > cur:
		if !errors.Is(err, ErrFutureRev) {
			d.fatalf("%s: %v, want ErrFutureRev", what, err)
		}
		return
	case rev <= 0:
		rev = cur
	}
	if rev < d.m.compact {
		if !errors.Is(err, ErrCompacted) {
			d.fatalf("%s: %v, want ErrCompacted (compact %d)", what, err, d.m.compact)
		}
		return
	}
	if err != nil {
		d.fatalf("%s: %v", what, err)
	}
	want := d.m.rangeAt(key, end, rev)
	if got.Count != int64(len(want)) || got.Rev != cur {
		d.fatalf("%s: count %d rev %d, model %d %d", what, got.Count, got.Rev, len(want), cur)
	}
	if o.CountOnly {
		want = nil
	} else if o.Limit > 0 && int64(len(want)) > o.Limit {
		want = want[:o.Limit]
	}
	sameKVsD(d, what, got.KVs, want)
}

func (d *differential) checkRange() {
	k, end := d.keyRange()
	o := RangeOptions{
		Rev:       d.m.compact - 2 + d.rng.Int64N(d.m.rev-d.m.compact+5),
		Limit:     int64(d.rng.IntN(5)),
		CountOnly: d.rng.IntN(10) == 0,
	}
	if d.rng.IntN(3) == 0 {
		o.Rev = 0
	}
	got, err := d.e.s.Range(context.Background(), k, end, o)
	d.compareRange(fmt.Sprintf("range %q %q %+v", k, end, o), got, err, k, end, o, d.m.rev)
}

// compactIn records a compaction in b; the model follows on success.
func (d *differential) compactIn(b *pebble.Batch) <-chan struct{} {
	// Mostly lag well behind the head so that history stays readable.
	rev := d.m.compact + d.rng.Int64N((d.m.rev-d.m.compact)/2+2)
	if d.rng.IntN(8) == 0 {
		rev = d.m.rev + d.rng.Int64N(2)
	}
	if d.rng.IntN(4) == 0 {
		rev = d.m.compact + d.rng.Int64N(2)
	}
	done, err := d.e.s.Compact(b, rev)
	switch {
	case rev <= d.m.compact:
		if !errors.Is(err, ErrCompacted) {
			d.fatalf("compact %d (compacted %d): %v, want ErrCompacted", rev, d.m.compact, err)
		}
		return nil
	case rev > d.m.rev:
		if !errors.Is(err, ErrFutureRev) {
			d.fatalf("compact %d (rev %d): %v, want ErrFutureRev", rev, d.m.rev, err)
		}
		return nil
	case err != nil:
		d.fatalf("compact %d: %v", rev, err)
	}
	d.m.compact = rev
	return done
}

func (d *differential) compact() {
	b := d.e.db.NewIndexedBatch()
	defer b.Close()
	done := d.compactIn(b)
	if err := b.Commit(pebble.NoSync); err != nil {
		d.fatalf("commit: %v", err)
	}
	d.e.s.Publish()
	if done != nil {
		d.lastDone = done
		if d.rng.IntN(2) == 0 {
			d.waitPhysical()
		}
	}
	if d.e.s.CompactRev() != d.m.compact {
		d.fatalf("CompactRev %d, model %d", d.e.s.CompactRev(), d.m.compact)
	}
}

// waitPhysical waits for the latest compaction to be physically done and
// checks that exactly the surviving versions are left.
func (d *differential) waitPhysical() {
	if d.lastDone == nil {
		return
	}
	<-d.lastDone
	want := d.m.surviving()
	if n := countPrefix(d.t, d.e.db, storage.PrefixKeyIndex); n != want {
		d.fatalf("%d versions after compaction at %d, model %d", n, d.m.compact, want)
	}
	if n := countPrefix(d.t, d.e.db, storage.PrefixRevLog); n != want {
		d.fatalf("%d revision-log records after compaction at %d, model %d", n, d.m.compact, want)
	}
}

func (d *differential) checkEvents() {
	s := d.e.s
	k, end := d.keyRange()
	prevKV := d.rng.IntN(2) == 0
	lo := d.m.compact + 1
	if lo < 1 {
		lo = 1
	}
	if d.m.compact > 1 && d.rng.IntN(8) == 0 {
		err := s.Events(context.Background(), d.m.compact-1, 0, k, end, prevKV, func(*mvccpb.Event) error { return nil })
		if !errors.Is(err, ErrCompacted) {
			d.fatalf("events below compaction: %v", err)
		}
		return
	}
	if lo > d.m.rev {
		return
	}
	from := lo + d.rng.Int64N(d.m.rev-lo+1)
	to := from + d.rng.Int64N(d.m.rev-from+1)
	if d.rng.IntN(4) == 0 {
		to = 0
	}
	var got []*mvccpb.Event
	if err := s.Events(context.Background(), from, to, k, end, prevKV, func(ev *mvccpb.Event) error {
		got = append(got, ev)
		return nil
	}); err != nil {
		d.fatalf("events: %v", err)
	}
	if to == 0 {
		to = d.m.rev
	}
	sameEventsD(d, fmt.Sprintf("events [%d,%d] %q %q prev=%v", from, to, k, end, prevKV), got, d.m.events(from, to, k, end, prevKV))
}

func (d *differential) checkHash() {
	lo := d.m.compact
	if lo < 1 {
		lo = 1
	}
	rev := lo + d.rng.Int64N(d.m.rev-lo+1)
	if d.rng.IntN(3) == 0 {
		rev = 0
	}
	h, hrev, crev, err := d.e.s.HashKV(rev)
	if err != nil {
		d.fatalf("HashKV(%d): %v", rev, err)
	}
	if rev == 0 {
		rev = d.m.rev
	}
	if want := d.m.hash(rev); h != want || hrev != rev || crev != d.m.compact {
		d.fatalf("HashKV(%d) = %x %d %d, model %x %d %d", rev, h, hrev, crev, want, rev, d.m.compact)
	}
}

func (d *differential) reopen() {
	d.e.reopen(d.rng.IntN(2) == 0)
	d.checkState()
	// Channels of compactions before the reopen are never closed: wait on
	// the physical work through a fresh compaction later instead.
	d.lastDone = nil
}

func (d *differential) checkState() {
	s := d.e.s
	if s.Rev() != d.m.rev || s.CompactRev() != d.m.compact || s.KeyCount() != d.m.liveCount() {
		d.fatalf("state rev %d compact %d keys %d, model %d %d %d", s.Rev(), s.CompactRev(), s.KeyCount(), d.m.rev, d.m.compact, d.m.liveCount())
	}
}

// checkAllRevisions compares full ranges at every readable revision.
func (d *differential) checkAllRevisions() {
	lo := d.m.compact
	if lo < 1 {
		lo = 1
	}
	for rev := lo; rev <= d.m.rev; rev++ {
		o := RangeOptions{Rev: rev}
		got, err := d.e.s.Range(context.Background(), []byte{0}, []byte{0}, o)
		d.compareRange(fmt.Sprintf("full range at %d", rev), got, err, []byte{0}, []byte{0}, o, d.m.rev)
	}
}

func sameKVsD(d *differential, what string, got, want []*mvccpb.KeyValue) {
	d.t.Helper()
	if len(got) != len(want) {
		d.fatalf("%s: got %d kvs %v, model %d %v", what, len(got), got, len(want), want)
	}
	for i := range got {
		if !proto.Equal(got[i], want[i]) {
			d.fatalf("%s: kv %d = %v, model %v", what, i, got[i], want[i])
		}
	}
}

func sameEventsD(d *differential, what string, got, want []*mvccpb.Event) {
	d.t.Helper()
	if len(got) != len(want) {
		d.fatalf("%s: got %d events, model %d\n got %v\nwant %v", what, len(got), len(want), got, want)
	}
	for i := range got {
		if !proto.Equal(got[i], want[i]) {
			d.fatalf("%s: event %d = %v, model %v", what, i, got[i], want[i])
		}
	}
}

func TestDifferential(t *testing.T) {
	// The latest-version cache at its default size, disabled, and so small
	// that it evicts all the time.
	caches := map[string]int{"default": 0, "none": -1, "tiny": 2048}
	for _, seed := range []uint64{1, 2, 3, 42} {
		for cname, cbytes := range caches {
			t.Run(fmt.Sprintf("seed=%d/cache=%s", seed, cname), func(t *testing.T) {
				steps := 3000
				if testing.Short() {
					steps = 500
				}
				d := &differential{
					t:   t,
					rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
					e:   newTestEnv(t, Options{CompactionBatchLimit: 1 + int(seed%7), LatestCacheBytes: cbytes}),
					m:   newModel(),
				}
				d.run(steps)
				t.Logf("final revision %d, compacted %d, %d changes, %d live keys", d.m.rev, d.m.compact, len(d.m.log), d.m.liveCount())
			})
		}
	}
}
