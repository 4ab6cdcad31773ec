package server

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.uber.org/zap"

	"github.com/concord-kv/concord/api"
	"github.com/concord-kv/concord/membership"
	"github.com/concord-kv/concord/raftnode"
)

// promoteTick is how often the leader checks its learners for
// --auto-promote-learners.
const promoteTick = 250 * time.Millisecond

// Verdicts of a learner check, the result label of
// concord_server_learner_promote_checks_total.
const (
	verdictLagging = "lagging" // its log is behind etcd's 90% rule, or its stream is down
	verdictWaiting = "waiting" // caught up, for less than --learner-promote-after
	verdictQuorum  = "quorum"  // caught up, but promoting it would leave too few connected voters
	verdictPromote = "promote" // promote it now
)

// learnerView is what the leader knows of one learner at a check.
type learnerView struct {
	match, leaderMatch uint64 // raft Progress.Match of the learner and of the leader
	connected          bool   // the leader's stream to it is up
}

// caughtUp is etcd's MemberPromote rule: the learner's log matches at
// least 90% of the leader's.
func (v learnerView) caughtUp() bool {
	return v.connected && float64(v.match) >= float64(v.leaderMatch)*0.9
}

// promotionPolicy decides, check by check, when a learner is promoted. It
// is pure: the time and the cluster's state come in as arguments.
type promotionPolicy struct {
	after time.Duration        // --learner-promote-after
	since map[uint64]time.Time // learner → start of its current caught-up streak
}

func newPromotionPolicy(after time.Duration) *promotionPolicy {
	return &promotionPolicy{after: after, since: map[uint64]time.Time{}}
}

// check returns the verdict for learner id at now. voters is the number of
// voting members, connected how many of them the leader reaches (itself
// included). A promotion makes voters+1 members vote; it is refused while
// the connected voters plus the learner would not reach that quorum.
func (p *promotionPolicy) check(now time.Time, id uint64, v learnerView, voters, connected int) string {
	if !v.caughtUp() {
		delete(p.since, id)
		return verdictLagging
	}
	start, ok := p.since[id]
	if !ok {
		start = now
		p.since[id] = now
	}
	if now.Sub(start) < p.after {
		return verdictWaiting
	}
	if connected+1 < (voters+1)/2+1 {
		return verdictQuorum
	}
	return verdictPromote
}

// forget drops the streaks of members that are no longer learners.
func (p *promotionPolicy) forget(learners map[uint64]bool) {
	for id := range p.since {
		if !learners[id] {
			delete(p.since, id)
		}
	}
}

// newPromoteChecks registers concord_server_learner_promote_checks_total
// (Concord only): the leader's learner checks by verdict.
func newPromoteChecks(reg prometheus.Registerer) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "concord", Subsystem: "server", Name: "learner_promote_checks_total",
		Help: "The leader's checks of its learners for --auto-promote-learners, by result (lagging, waiting, quorum, promote)."}, []string{"result"})
	for _, r := range []string{verdictLagging, verdictWaiting, verdictQuorum, verdictPromote} {
		c.WithLabelValues(r)
	}
	reg.MustRegister(c)
	return c
}

// runLearnerPromotion is --auto-promote-learners: while this member leads,
// every promoteTick it checks each learner (promotionPolicy) and promotes
// the ready ones through MemberPromote, which applies etcd's readiness and
// --strict-reconfig-check rules again and counts
// etcd_server_learner_promote_successes / _failures. Verdict changes are
// logged.
func runLearnerPromotion(ctx context.Context, lg *zap.Logger, node *raftnode.Node, svc *api.Server, cluster *membership.Cluster,
	after time.Duration, checks *prometheus.CounterVec) {
	policy := newPromotionPolicy(after)
	last := map[uint64]string{}
	t := time.NewTicker(promoteTick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		st := node.Status()
		if !st.IsLeader {
			policy.forget(nil)
			clear(last)
			continue
		}
		members := cluster.Members()
		learners := map[uint64]bool{}
		voters, connected := 0, 0
		for _, m := range members {
			switch {
			case m.IsLearner:
				learners[m.ID] = true
			case m.ID == st.ID:
				voters++
				connected++
			default:
				voters++
				if !node.ActiveSince(m.ID).IsZero() {
					connected++
				}
			}
		}
		policy.forget(learners)
		for id := range last {
			if !learners[id] {
				delete(last, id)
			}
		}
		for id := range learners {
			cctx, cancel := context.WithTimeout(ctx, time.Second)
			match, leaderMatch, err := node.Match(cctx, id)
			cancel()
			if err != nil {
				continue // not leader any more, or raft does not track it yet
			}
			v := learnerView{match: match, leaderMatch: leaderMatch, connected: !node.ActiveSince(id).IsZero()}
			verdict := policy.check(time.Now(), id, v, voters, connected)
			checks.WithLabelValues(verdict).Inc()
			fields := []zap.Field{zap.String("learner-id", fmt.Sprintf("%x", id)), zap.Uint64("learner-match", match),
				zap.Uint64("leader-match", leaderMatch), zap.Bool("connected", v.connected)}
			if verdict != last[id] {
				last[id] = verdict
				switch verdict {
				case verdictLagging:
					lg.Info("learner is not in sync with the leader; not promoting it", fields...)
				case verdictWaiting:
					lg.Info("learner is in sync with the leader; promoting it once it stays in sync", append(fields, zap.Duration("learner-promote-after", after))...)
				case verdictQuorum:
					// etcd's text for its own (MemberPromote) quorum refusal.
					lg.Warn("rejecting member promote; started member will be less than quorum",
						append(fields, zap.Int("number-of-started-member", connected+1), zap.Int("quorum", (voters+1)/2+1))...)
				}
			}
			if verdict != verdictPromote {
				continue
			}
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			_, err = svc.MemberPromote(pctx, &pb.MemberPromoteRequest{ID: id})
			cancel()
			if err != nil {
				lg.Warn("failed to promote learner; will retry", append(fields, zap.Error(err))...)
				continue
			}
			lg.Info("promote member", append(fields, zap.String("promoted-member-id", fmt.Sprintf("%x", id)), zap.Bool("auto-promote-learners", true))...)
			delete(last, id)
		}
	}
}
