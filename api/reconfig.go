package api

import (
	"time"

	"github.com/concord-kv/concord/membership"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// HealthInterval is how long every peer must have been connected before
// this member accepts a membership change that could cost quorum (etcd's
// etcdserver.HealthInterval, 5 s).
const HealthInterval = 5 * time.Second

// reconfigCheck holds the --strict-reconfig-check rules: etcd refuses a
// membership change that would leave the cluster without a quorum of
// started or connected voting members. members is the current member
// list, self this member's ID, activeSince the peer transport's view
// (zero time: not connected) and now the clock reading.
type reconfigCheck struct {
	members     []membership.Member
	self        uint64
	activeSince func(id uint64) time.Time
	now         time.Time
}

func (c reconfigCheck) voters() []membership.Member {
	var vs []membership.Member
	for _, m := range c.members {
		if !m.IsLearner {
			vs = append(vs, m)
		}
	}
	return vs
}

// connectedSince counts the voting members connected to this member since
// t, counting this member itself.
func (c reconfigCheck) connectedSince(vs []membership.Member, t time.Time) int {
	n := 0
	for _, m := range vs {
		if m.ID == c.self {
			n++
			continue
		}
		if since := c.activeSince(m.ID); !since.IsZero() && !since.After(t) {
			n++
		}
	}
	return n
}

// startedAfterAdding reports whether, with one more voter, the started
// voting members (those that published their name) still form a quorum.
// Adding a second member to a one-member cluster is always allowed.
func (c reconfigCheck) startedAfterAdding() bool {
	vs := c.voters()
	started := 0
	for _, m := range vs {
		if m.Name != "" {
			started++
		}
	}
	n := len(vs) + 1
	if started == 1 && n == 2 {
		return true
	}
	return started >= n/2+1
}

// add checks MemberAdd: ErrGRPCMemberNotEnoughStarted if a new voter
// would leave too few started voters; ErrGRPCUnhealthy unless the voters
// connected for HealthInterval (this member included) would be a quorum of
// the voters plus the new member, which is counted as down (for learners
// too). A one-voter cluster may always grow. This is etcd 3.6's rule
// (isConnectedToQuorumAfterAddingNewMemberSince); etcd 3.4 and 3.5 wanted
// every voter connected, so 1 of 4 or 5 members down refused adds there.
func (c reconfigCheck) add(learner bool) error {
	if !learner && !c.startedAfterAdding() {
		return rpctypes.ErrGRPCMemberNotEnoughStarted
	}
	vs := c.voters()
	if len(vs) == 1 {
		return nil
	}
	if c.connectedSince(vs, c.now.Add(-HealthInterval)) < (len(vs)+1)/2+1 {
		return rpctypes.ErrGRPCUnhealthy
	}
	return nil
}

// promote checks MemberPromote: ErrGRPCMemberNotEnoughStarted as add.
func (c reconfigCheck) promote() error {
	if !c.startedAfterAdding() {
		return rpctypes.ErrGRPCMemberNotEnoughStarted
	}
	return nil
}

// remove checks MemberRemove of id: removing a learner or a member that is
// down is always allowed; otherwise the started voters other than id must
// form a quorum of the remaining voters (ErrGRPCMemberNotEnoughStarted),
// and the voters connected for HealthInterval, minus id, must form a
// quorum of the voters less one (ErrGRPCUnhealthy).
func (c reconfigCheck) remove(id uint64) error {
	vs := c.voters()
	for _, m := range c.members {
		if m.ID == id && m.IsLearner {
			return nil
		}
	}
	others, started := 0, 0
	for _, m := range vs {
		if m.ID == id {
			continue
		}
		others++
		if m.Name != "" {
			started++
		}
	}
	if started < others/2+1 {
		return rpctypes.ErrGRPCMemberNotEnoughStarted
	}
	if id != c.self && c.activeSince(id).IsZero() {
		return nil
	}
	active := c.connectedSince(vs, c.now.Add(-HealthInterval))
	if active-1 < 1+(len(vs)-1)/2 {
		return rpctypes.ErrGRPCUnhealthy
	}
	return nil
}
