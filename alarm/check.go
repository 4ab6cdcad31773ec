package alarm

// Hash is one member's answer to Maintenance.HashKV: the hash of its
// key-value history up to HashRevision, its current Revision (the response
// header's) and its CompactRevision.
type Hash struct {
	MemberID        uint64
	Hash            uint32
	Revision        int64
	CompactRevision int64
	HashRevision    int64
}

// PeerHash is a peer's hash, or the error that kept the leader from
// getting it (unreachable, ErrCompacted, ErrFutureRev...).
type PeerHash struct {
	MemberID uint64
	Hash     Hash
	Err      error
}

// Finding is one observation of a hash comparison: Member is the member it
// is about, Msg etcd's log message for it, Corrupt whether it calls for a
// CORRUPT alarm on Member (0 means the whole cluster).
type Finding struct {
	Member  uint64
	Msg     string
	Corrupt bool
}

// CompareInitial compares this member's hash with its peers' hashes at the
// same revision before it serves, as etcd's CheckInitialHashKV: a peer
// with another hash at the same compacted revision is a mismatch; another
// compacted revision, or no answer, is only worth a warning.
func CompareInitial(local Hash, peers []PeerHash) []Finding {
	var out []Finding
	for _, p := range peers {
		switch {
		case p.Err != nil:
			out = append(out, Finding{Member: p.MemberID, Msg: "cannot fetch hash from remote peer"})
		case p.Hash.Hash == local.Hash:
		case p.Hash.CompactRevision == local.CompactRevision:
			out = append(out, Finding{Member: p.MemberID, Msg: "found different hash values from remote peer", Corrupt: true})
		default:
			out = append(out, Finding{Member: p.MemberID, Msg: "found different compact revision values from remote peer"})
		}
	}
	return out
}

// ComparePeriodic is the leader's periodic check, as etcd's checkHashKV:
// before is the leader's hash at the revision the peers were asked for,
// after its hash taken again once a read barrier made it at least as
// recent as every answer. The leader itself is corrupt if its own hash of
// the same history changed; a peer is corrupt if it is ahead of the leader
// (revision or compacted revision), or if at the same compacted revision
// its hash differs. Like etcd, at most one CORRUPT finding is returned
// (the first).
func ComparePeriodic(leader uint64, before, after Hash, peers []PeerHash) []Finding {
	var out []Finding
	alarmed := false
	add := func(member uint64, msg string) {
		out = append(out, Finding{Member: member, Msg: msg, Corrupt: !alarmed})
		alarmed = true
	}
	if after.Hash != before.Hash && after.HashRevision == before.HashRevision && after.CompactRevision == before.CompactRevision {
		add(leader, "found hash mismatch")
	}
	for _, p := range peers {
		if p.Err != nil {
			continue
		}
		h := p.Hash
		if h.Revision > after.Revision {
			add(p.MemberID, "revision from follower must be less than or equal to leader's")
		}
		if h.CompactRevision > after.CompactRevision {
			add(p.MemberID, "compact revision from follower must be less than or equal to leader's")
		}
		if h.CompactRevision == before.CompactRevision && h.Hash != before.Hash {
			add(p.MemberID, "same compact revision then hashes must match")
		}
	}
	return out
}

// CompareCompaction is the leader's check of the hashes of a compacted
// history, as etcd's compaction hash check: local is the leader's hash at
// the compacted revision, peers' answers for the same revision. Peers that
// failed or hashed another compaction are skipped. If all hashes agree,
// done says whether every peer was compared (otherwise the revision is
// checked again later). If they disagree, the members outside a majority
// with one hash are corrupt; without a majority the cluster is (member 0),
// and done is true.
func CompareCompaction(leader uint64, local Hash, peers []PeerHash) (findings []Finding, done bool) {
	groups := map[uint32][]uint64{local.Hash: {leader}}
	order := []uint32{local.Hash}
	checked := 0
	for _, p := range peers {
		switch {
		case p.Err != nil:
			findings = append(findings, Finding{Member: p.MemberID, Msg: "Skipped peer's hash: " + p.Err.Error()})
			continue
		case p.Hash.CompactRevision != local.CompactRevision:
			findings = append(findings, Finding{Member: p.MemberID, Msg: "Skipped peer's hash: different compact revision"})
			continue
		case p.Hash.HashRevision != local.HashRevision:
			findings = append(findings, Finding{Member: p.MemberID, Msg: "Skipped peer's hash: different hash revision"})
			continue
		}
		checked++
		if _, ok := groups[p.Hash.Hash]; !ok {
			order = append(order, p.Hash.Hash)
		}
		groups[p.Hash.Hash] = append(groups[p.Hash.Hash], p.MemberID)
	}
	if len(groups) == 1 {
		return findings, checked == len(peers)
	}
	quorum := (len(peers)+1)/2 + 1
	var majority uint32
	found := false
	for _, h := range order {
		if len(groups[h]) >= quorum {
			majority, found = h, true
			break
		}
	}
	if !found {
		findings = append(findings, Finding{Member: 0, Msg: "Detected compaction hash mismatch but cannot identify the corrupted members, so intentionally set the memberID as 0", Corrupt: true})
		return findings, true
	}
	for _, h := range order {
		if h == majority {
			continue
		}
		for _, m := range groups[h] {
			findings = append(findings, Finding{Member: m, Msg: "Detected compaction hash mismatch", Corrupt: true})
		}
	}
	return findings, true
}
