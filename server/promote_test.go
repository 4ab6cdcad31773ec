package server

import (
	"testing"
	"time"
)

// TestPromotionPolicy drives one learner through a sequence of checks:
// etcd's 90% rule, the caught-up streak of --learner-promote-after (reset
// by any lagging check), the connected stream, and the quorum guard.
func TestPromotionPolicy(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	up := func(match, leader uint64) learnerView {
		return learnerView{match: match, leaderMatch: leader, connected: true}
	}
	p := newPromotionPolicy(2 * time.Second)
	for i, step := range []struct {
		now               time.Time
		v                 learnerView
		voters, connected int
		want              string
	}{
		{at(0), up(0, 100), 3, 3, verdictLagging},
		{at(0.5), up(89, 100), 3, 3, verdictLagging},                               // 89 < 90% of 100
		{at(1), up(90, 100), 3, 3, verdictWaiting},                                 // streak starts
		{at(2.9), up(95, 100), 3, 3, verdictWaiting},                               // 1.9 s caught up
		{at(3), up(10, 200), 3, 3, verdictLagging},                                 // fell behind: streak reset
		{at(3.5), up(200, 200), 3, 3, verdictWaiting},                              // new streak
		{at(5.4), up(200, 200), 3, 3, verdictWaiting},                              // 1.9 s
		{at(5.5), learnerView{match: 200, leaderMatch: 200}, 3, 3, verdictLagging}, // stream down
		{at(6), up(200, 200), 3, 3, verdictWaiting},
		{at(8), up(200, 200), 1, 1, verdictPromote}, // 1 voter + learner: quorum 2 of 2
		{at(8), up(200, 200), 3, 1, verdictQuorum},  // 1 of 3 voters up: 2 < quorum 3 of 4
		{at(8), up(200, 200), 3, 2, verdictPromote}, // 2 of 3 up + learner: 3 ≥ 3 of 4
		{at(8), up(200, 200), 4, 2, verdictQuorum},  // 2 of 4 up + learner: 3 < 3? no: quorum of 5 is 3
	} {
		if step.voters == 4 {
			step.want = verdictPromote // 2 + 1 = 3 ≥ 5/2+1 = 3
		}
		if got := p.check(step.now, 7, step.v, step.voters, step.connected); got != step.want {
			t.Errorf("step %d: %s, want %s", i, got, step.want)
		}
	}
	p.forget(map[uint64]bool{})
	if got := p.check(at(9), 7, up(200, 200), 3, 3); got != verdictWaiting {
		t.Errorf("after forget: %s, want a new streak (waiting)", got)
	}
	if got := newPromotionPolicy(0).check(at(0), 7, up(9, 10), 3, 3); got != verdictPromote {
		t.Errorf("--learner-promote-after=0: %s, want promote at the first caught-up check", got)
	}
}
