package config

import (
	"errors"
	"testing"
	"time"
)

// TestJoinsExisting: --initial-cluster-state auto bootstraps a member named
// in --initial-cluster and joins with one that is not; new and existing
// mean what they mean in etcd.
func TestJoinsExisting(t *testing.T) {
	ic, err := ParseInitialCluster("a=http://10.0.0.1:2380,b=http://10.0.0.2:2380")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		state, name string
		want        bool
	}{
		{ClusterStateNew, "a", false},
		{ClusterStateExisting, "a", true},
		{ClusterStateExisting, "c", true},
		{ClusterStateAuto, "a", false},
		{ClusterStateAuto, "c", true},
	} {
		c := DefaultConfig()
		c.InitialCluster, c.InitialClusterState, c.Name = ic, tc.state, tc.name
		if got := c.JoinsExisting(); got != tc.want {
			t.Errorf("state %s, name %s: JoinsExisting %v, want %v", tc.state, tc.name, got, tc.want)
		}
	}
	c := DefaultConfig()
	c.InitialCluster, c.InitialClusterState, c.Name = ic, ClusterStateAuto, "c"
	if err := c.validateCluster(); err != nil {
		t.Errorf("auto with --name not in --initial-cluster: %v, want valid", err)
	}
}

// TestLearnerPromoteAfter: --learner-promote-after defaults to 5s and may
// not be negative.
func TestLearnerPromoteAfter(t *testing.T) {
	c := DefaultConfig()
	if c.LearnerPromoteAfter != 5*time.Second || !c.AutoPromoteLearners {
		t.Fatalf("defaults: --learner-promote-after %v, --auto-promote-learners %v", c.LearnerPromoteAfter, c.AutoPromoteLearners)
	}
	c.LearnerPromoteAfter = -time.Second
	if err := c.validateMisc(); err == nil || !errors.Is(err, ErrInvalid) {
		t.Fatalf("negative --learner-promote-after: %v, want ErrInvalid", err)
	}
}
