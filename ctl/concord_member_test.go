package ctl

import (
	"fmt"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/concord-kv/concord/bench/etcdtest"
	"github.com/concord-kv/concord/tests/concordtest"
)

// TestMemberCommands runs member add/update/promote/remove against a
// 3-member etcd 3.4 (the oracle) and a 3-member Concord with one body.
func TestMemberCommands(t *testing.T) {
	t.Run("etcd 3.4", func(t *testing.T) { memberCommands(t, etcdtest.Start(t, 3).Endpoints()) })
	t.Run("concord", func(t *testing.T) { memberCommands(t, concordtest.Start(t, 3).Endpoints()) })
}

// peerURL returns an http URL on a free port of 127.0.0.4, where no
// member of the test clusters listens.
func peerURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.4:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return "http://" + l.Addr().String()
}

// untilHealthy repeats a membership command while the server refuses it
// with "etcdserver: unhealthy cluster": etcd accepts reconfiguration only
// once every member has been connected for 5 s (its HealthInterval).
func untilHealthy(t *testing.T, cmd func() result) result {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		r := cmd()
		if !strings.Contains(r.err, "etcdserver: unhealthy cluster") || time.Now().After(deadline) {
			return r
		}
		<-tick.C // pacing of a condition wait
	}
}

var memberAddedRE = regexp.MustCompile(`^Member ( *[0-9a-f]+) added (?:as learner )?to cluster ( *[0-9a-f]+)\n\n` +
	`ETCD_NAME="([^"]*)"\nETCD_INITIAL_CLUSTER="([^"]*)"\nETCD_INITIAL_ADVERTISE_PEER_URLS="([^"]*)"\nETCD_INITIAL_CLUSTER_STATE="existing"\n$`)

func memberCommands(t *testing.T, eps []string) {
	// One endpoint: etcd 3.4 serves MemberList from the local member's view
	// and ignores the linearizable flag, so a list sent to another member
	// may not show a change that member has yet to apply. The member that
	// handled a change has applied it before it answers.
	g := "--endpoints=" + eps[0]
	r := run(t, "", g, "member", "list", "-w", "table")
	hdr, rows := parseTable(t, r.out)
	taken := column(t, hdr, rows, "PEER ADDRS")[0]
	r = untilHealthy(t, func() result { return run(t, "", g, "member", "add", "m5", "--learner", "--peer-urls="+taken) })
	if r.code != ExitError || r.err != "Error: etcdserver: Peer URLs already exists\n" {
		t.Errorf("member add with a taken peer URL: %+v", r)
	}
	learnerURL := peerURL(t)
	r = untilHealthy(t, func() result { return run(t, "", g, "member", "add", "m4", "--learner", "--peer-urls="+learnerURL) })
	m := memberAddedRE.FindStringSubmatch(r.out)
	if r.code != 0 || m == nil || !strings.Contains(r.out, " added as learner ") || m[3] != "m4" || m[5] != learnerURL ||
		strings.Count(m[4], ",") != 3 || !strings.Contains(m[4], "m4="+learnerURL) {
		t.Fatalf("member add --learner: %+v", r)
	}
	// etcdctl prints both IDs with %16x (space-padded); commands take them
	// trimmed.
	pid, cid := m[1], m[2]
	id := strings.TrimSpace(pid)
	if len(pid) != 16 || len(cid) != 16 {
		t.Errorf("IDs not printed with %%16x: %q", r.out)
	}
	r = run(t, "", g, "member", "list", "-w", "table")
	hdr, rows = parseTable(t, r.out)
	if len(rows) != 4 {
		t.Fatalf("member list after add:\n%s", r.out)
	}
	for _, row := range rows {
		if row[0] == id {
			if want := []string{id, "unstarted", "", learnerURL, "", "true"}; strings.Join(row, "|") != strings.Join(want, "|") {
				t.Errorf("learner row %q, want %q", row, want)
			}
		}
	}
	if n := count(column(t, hdr, rows, "STATUS"), "started"); n != 3 {
		t.Errorf("%d started members:\n%s", n, r.out)
	}

	// A learner that never started has no log to be in sync with.
	t.Run("promote of a learner that is not in sync fails", func(t *testing.T) {
		r := run(t, "", g, "member", "promote", id)
		if r.code != ExitError || r.err != "Error: etcdserver: can only promote a learner member which is in sync with leader\n" {
			t.Errorf("member promote of an unstarted learner: %+v", r)
		}
		r = run(t, "", g, "member", "list")
		if !strings.Contains(r.out, id+", unstarted, , "+learnerURL+", , true\n") {
			t.Errorf("the learner is no longer a learner:\n%s", r.out)
		}
	})

	movedURL := peerURL(t)
	r = run(t, "", g, "member", "update", id, "--peer-urls="+movedURL)
	if want := fmt.Sprintf("Member %s updated in cluster %s\n", pid, cid); r.out != want || r.code != 0 {
		t.Errorf("member update: %+v, want %q", r, want)
	}
	if r := run(t, "", g, "member", "list"); !strings.Contains(r.out, id+", unstarted, , "+movedURL+", , ") {
		t.Errorf("member list after update:\n%s", r.out)
	}
	r = run(t, "", g, "member", "remove", id)
	if want := fmt.Sprintf("Member %s removed from cluster %s\n", pid, cid); r.out != want || r.code != 0 {
		t.Errorf("member remove: %+v, want %q", r, want)
	}
	r = run(t, "", g, "member", "remove", id)
	if r.code != ExitError || r.err != "Error: etcdserver: member not found\n" {
		t.Errorf("member remove twice: %+v", r)
	}
	r = run(t, "", g, "member", "list")
	if lines := strings.Count(r.out, "\n"); lines != 3 || strings.Contains(r.out, id) {
		t.Errorf("member list after remove:\n%s", r.out)
	}
	// Promoting a voter is refused.
	voter := strings.SplitN(r.out, ",", 2)[0]
	r = run(t, "", g, "member", "promote", voter)
	if r.code != ExitError || r.err != "Error: etcdserver: can only promote a learner member\n" {
		t.Errorf("member promote of a voter: %+v", r)
	}
}
