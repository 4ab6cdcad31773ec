package alarm

import (
	"errors"
	"slices"
	"testing"
)

func corrupt(fs []Finding) []uint64 {
	var out []uint64
	for _, f := range fs {
		if f.Corrupt {
			out = append(out, f.Member)
		}
	}
	return out
}

func TestCompareInitial(t *testing.T) {
	local := Hash{MemberID: 1, Hash: 100, Revision: 10, CompactRevision: 4, HashRevision: 10}
	peer := func(id uint64, h uint32, crev int64) PeerHash {
		return PeerHash{MemberID: id, Hash: Hash{MemberID: id, Hash: h, Revision: 12, CompactRevision: crev, HashRevision: 10}}
	}
	cases := []struct {
		name  string
		peers []PeerHash
		want  []uint64
	}{
		{"all agree", []PeerHash{peer(2, 100, 4), peer(3, 100, 4)}, nil},
		{"one differs", []PeerHash{peer(2, 100, 4), peer(3, 101, 4)}, []uint64{3}},
		{"other compaction is not a mismatch", []PeerHash{peer(2, 101, 5)}, nil},
		{"unreachable peer is skipped", []PeerHash{{MemberID: 2, Err: errors.New("connection refused")}}, nil},
	}
	for _, c := range cases {
		if got := corrupt(CompareInitial(local, c.peers)); !slices.Equal(got, c.want) {
			t.Errorf("%s: corrupt %v, want %v", c.name, got, c.want)
		}
	}
}

func TestComparePeriodic(t *testing.T) {
	before := Hash{MemberID: 1, Hash: 100, Revision: 10, CompactRevision: 4, HashRevision: 10}
	peer := func(id uint64, h uint32, rev, crev int64) PeerHash {
		return PeerHash{MemberID: id, Hash: Hash{MemberID: id, Hash: h, Revision: rev, CompactRevision: crev, HashRevision: 10}}
	}
	cases := []struct {
		name  string
		after Hash
		peers []PeerHash
		want  []uint64
	}{
		{"consistent", before, []PeerHash{peer(2, 100, 10, 4), peer(3, 100, 9, 4)}, nil},
		{"peer hash differs", before, []PeerHash{peer(2, 100, 10, 4), peer(3, 7, 10, 4)}, []uint64{3}},
		{"peer ahead of leader", before, []PeerHash{peer(2, 100, 11, 4)}, []uint64{2}},
		{"peer compacted further", before, []PeerHash{peer(2, 9, 10, 5)}, []uint64{2}},
		{"leader's own hash moved", Hash{MemberID: 1, Hash: 5, Revision: 10, CompactRevision: 4, HashRevision: 10}, nil, []uint64{1}},
		{"only the first is alarmed", before, []PeerHash{peer(2, 7, 10, 4), peer(3, 8, 10, 4)}, []uint64{2}},
		{"errors are skipped", before, []PeerHash{{MemberID: 2, Err: errors.New("x")}}, nil},
	}
	for _, c := range cases {
		if got := corrupt(ComparePeriodic(1, before, c.after, c.peers)); !slices.Equal(got, c.want) {
			t.Errorf("%s: corrupt %v, want %v", c.name, got, c.want)
		}
	}
}

func TestCompareCompaction(t *testing.T) {
	local := Hash{MemberID: 1, Hash: 100, CompactRevision: 8, HashRevision: 8}
	peer := func(id uint64, h uint32) PeerHash {
		return PeerHash{MemberID: id, Hash: Hash{MemberID: id, Hash: h, CompactRevision: 8, HashRevision: 8}}
	}
	cases := []struct {
		name  string
		peers []PeerHash
		want  []uint64
		done  bool
	}{
		{"consistent", []PeerHash{peer(2, 100), peer(3, 100)}, nil, true},
		{"consistent but one peer skipped", []PeerHash{peer(2, 100), {MemberID: 3, Err: errors.New("down")}}, nil, false},
		{"minority peer", []PeerHash{peer(2, 100), peer(3, 5)}, []uint64{3}, true},
		{"minority leader", []PeerHash{peer(2, 5), peer(3, 5)}, []uint64{1}, true},
		{"no majority", []PeerHash{peer(2, 5), peer(3, 6)}, []uint64{0}, true},
		{"other compaction skipped", []PeerHash{{MemberID: 2, Hash: Hash{Hash: 5, CompactRevision: 9, HashRevision: 9}}}, nil, false},
	}
	for _, c := range cases {
		fs, done := CompareCompaction(1, local, c.peers)
		if got := corrupt(fs); !slices.Equal(got, c.want) || done != c.done {
			t.Errorf("%s: corrupt %v done %v, want %v %v", c.name, got, done, c.want, c.done)
		}
	}
}
