package api

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/concord-kv/concord/membership"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

func TestReconfigCheck(t *testing.T) {
	now := time.Unix(1000, 0)
	long := now.Add(-time.Minute)   // connected long enough
	recent := now.Add(-time.Second) // connected under HealthInterval
	voter := func(id uint64, name string) membership.Member { return membership.Member{ID: id, Name: name} }
	learner := membership.Member{ID: 9, IsLearner: true}
	three := []membership.Member{voter(1, "a"), voter(2, "b"), voter(3, "c"), learner}
	four := []membership.Member{voter(1, "a"), voter(2, "b"), voter(3, "c"), voter(4, "d")}
	five := append(slices.Clone(four), voter(5, "e"))
	since := func(m map[uint64]time.Time) func(uint64) time.Time {
		return func(id uint64) time.Time { return m[id] }
	}
	healthy := since(map[uint64]time.Time{2: long, 3: long, 9: long})
	cases := []struct {
		name string
		c    reconfigCheck
		op   func(reconfigCheck) error
		want error
	}{
		{"add voter, healthy", reconfigCheck{three, 1, healthy, now}, func(c reconfigCheck) error { return c.add(false) }, nil},
		{"add learner, healthy", reconfigCheck{three, 1, healthy, now}, func(c reconfigCheck) error { return c.add(true) }, nil},
		{"add, a peer just connected", reconfigCheck{three, 1, since(map[uint64]time.Time{2: long, 3: recent}), now},
			func(c reconfigCheck) error { return c.add(true) }, rpctypes.ErrGRPCUnhealthy},
		{"add, a peer down", reconfigCheck{three, 1, since(map[uint64]time.Time{2: long}), now},
			func(c reconfigCheck) error { return c.add(false) }, rpctypes.ErrGRPCUnhealthy},
		// etcd 3.6's tests/e2e TestCtlV3MemberAddAsLearnerWithOneMemberDown.
		{"add learner, 1 of 4 down", reconfigCheck{four, 1, since(map[uint64]time.Time{2: long, 3: long}), now},
			func(c reconfigCheck) error { return c.add(true) }, nil},
		{"add learner, 1 of 5 down", reconfigCheck{five, 1, since(map[uint64]time.Time{2: long, 3: long, 4: long}), now},
			func(c reconfigCheck) error { return c.add(true) }, nil},
		{"add learner, 2 of 5 down", reconfigCheck{five, 1, since(map[uint64]time.Time{2: long, 3: long}), now},
			func(c reconfigCheck) error { return c.add(true) }, rpctypes.ErrGRPCUnhealthy},
		{"add learner, 1 of 3 down", reconfigCheck{three, 1, since(map[uint64]time.Time{2: long}), now},
			func(c reconfigCheck) error { return c.add(true) }, rpctypes.ErrGRPCUnhealthy},
		{"add learner, 1 of 2 down", reconfigCheck{[]membership.Member{voter(1, "a"), voter(2, "b")}, 1, since(nil), now},
			func(c reconfigCheck) error { return c.add(true) }, rpctypes.ErrGRPCUnhealthy},
		{"add to one member, nothing connected", reconfigCheck{[]membership.Member{voter(1, "a")}, 1, since(nil), now},
			func(c reconfigCheck) error { return c.add(true) }, nil},
		{"add voter, two of three never started", reconfigCheck{[]membership.Member{voter(1, "a"), voter(2, ""), voter(3, "")}, 1, healthy, now},
			func(c reconfigCheck) error { return c.add(false) }, rpctypes.ErrGRPCMemberNotEnoughStarted},
		{"add a second member to one", reconfigCheck{[]membership.Member{voter(1, "a")}, 1, healthy, now},
			func(c reconfigCheck) error { return c.add(false) }, nil},
		{"add voter to 2 with one unstarted", reconfigCheck{[]membership.Member{voter(1, "a"), voter(2, "")}, 1, healthy, now},
			func(c reconfigCheck) error { return c.add(false) }, rpctypes.ErrGRPCMemberNotEnoughStarted},
		{"promote, healthy", reconfigCheck{three, 1, healthy, now}, reconfigCheck.promote, nil},
		{"remove learner, peers down", reconfigCheck{three, 1, since(nil), now},
			func(c reconfigCheck) error { return c.remove(9) }, nil},
		{"remove a member that is down", reconfigCheck{three, 1, since(map[uint64]time.Time{2: long}), now},
			func(c reconfigCheck) error { return c.remove(3) }, nil},
		{"remove a voter while another is down", reconfigCheck{three, 1, since(map[uint64]time.Time{2: long}), now},
			func(c reconfigCheck) error { return c.remove(2) }, rpctypes.ErrGRPCUnhealthy},
		{"remove self while another is down", reconfigCheck{three, 1, since(map[uint64]time.Time{2: long}), now},
			func(c reconfigCheck) error { return c.remove(1) }, rpctypes.ErrGRPCUnhealthy},
		{"remove a voter, healthy", reconfigCheck{three, 1, healthy, now},
			func(c reconfigCheck) error { return c.remove(2) }, nil},
		{"remove, the others not started", reconfigCheck{[]membership.Member{voter(1, ""), voter(2, ""), voter(3, "c")}, 3, healthy, now},
			func(c reconfigCheck) error { return c.remove(3) }, rpctypes.ErrGRPCMemberNotEnoughStarted},
	}
	for _, tc := range cases {
		if err := tc.op(tc.c); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}
