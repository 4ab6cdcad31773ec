package concordtest_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/concord-kv/concord/tests/concordtest"
)

func TestMain(m *testing.M) { os.Exit(concordtest.Main(m)) }

// TestStartServeStop starts one member, writes through it, and stops it.
func TestStartServeStop(t *testing.T) {
	c := concordtest.Start(t, 1)
	if len(c.Members) != 1 || c.Endpoints()[0] != c.Members[0].ClientURL {
		t.Fatalf("members %+v endpoints %v", c.Members, c.Endpoints())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl := c.Client(t)
	if _, err := cl.Put(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	r, err := cl.Get(ctx, "k")
	if err != nil || len(r.Kvs) != 1 || string(r.Kvs[0].Value) != "v" {
		t.Fatalf("get: %v %v", r, err)
	}
	if l := c.Leader(t); l != c.Members[0] {
		t.Fatalf("leader %s", l.Name)
	}
	id, err := c.Members[0].MemberID(ctx)
	if err != nil || id == 0 || id != r.Header.MemberId {
		t.Fatalf("member ID %x (%v), header says %x", id, err, r.Header.MemberId)
	}
	c.Stop()
	select {
	case <-c.Members[0].Exited():
	default:
		t.Fatal("Stop returned before the member exited")
	}
	c.Stop() // idempotent
	wctx, wcancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer wcancel()
	if err := c.WaitReady(wctx); !errors.Is(err, concordtest.ErrMemberExited) {
		t.Fatalf("WaitReady on a stopped cluster: %v", err)
	}
}

// TestKillPauseRestartAdd kills -9 a one-member cluster and restarts it on
// the same data, pauses and resumes it, then adds a second member built
// with its own command line.
func TestKillPauseRestartAdd(t *testing.T) {
	c := concordtest.StartOptions(t, 1, concordtest.Options{
		Token:       "selftest",
		Args:        []string{"--heartbeat-interval=50", "--election-timeout=500"},
		MemberArgs:  func(i int) []string { return []string{"--snapshot-count=100"} },
		LeaderOnly:  true,
		WaitTimeout: 30 * time.Second,
	})
	m := c.Members[0]
	if got := strings.Join(m.Args, " "); !strings.Contains(got, "--initial-cluster-token=selftest --heartbeat-interval=50 --election-timeout=500 --snapshot-count=100") {
		t.Fatalf("args %s", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := m.Client(t).Put(ctx, "k", "v"); err != nil {
		t.Fatal(err)
	}
	if m.PID() == 0 {
		t.Fatal("no PID for a running member")
	}

	m.Kill()
	select {
	case <-m.Exited():
	default:
		t.Fatal("Kill returned before the member exited")
	}
	if m.PID() != 0 {
		t.Fatal("PID of a killed member")
	}
	if err := m.Signal(syscall.SIGSTOP); !errors.Is(err, concordtest.ErrNotRunning) {
		t.Fatalf("Signal to a killed member: %v", err)
	}
	m.Restart(t)
	c.WaitServing(t, m)
	r, err := c.Client(t).Get(ctx, "k")
	if err != nil || len(r.Kvs) != 1 || string(r.Kvs[0].Value) != "v" {
		t.Fatalf("get after restart: %v %v", r, err)
	}
	if tail := m.LogTail(3); tail == "" || strings.Count(tail, "\n") > 2 {
		t.Fatalf("log tail of 3 lines: %q", tail)
	}

	if err := m.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Status(ctx); err == nil {
		t.Fatal("a paused member answered Status")
	}
	if err := m.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	c.WaitServing(t, m)

	m2 := c.NewMember(t, "m2", "127.0.0.2")
	add, err := c.Client(t).MemberAdd(ctx, []string{m2.PeerURL})
	if err != nil {
		t.Fatal(err)
	}
	m2.Args = []string{"--name=m2", "--data-dir=" + m2.DataDir,
		"--listen-client-urls=" + m2.ClientURL, "--advertise-client-urls=" + m2.ClientURL,
		"--listen-peer-urls=" + m2.PeerURL, "--initial-advertise-peer-urls=" + m2.PeerURL,
		"--initial-cluster=m1=" + m.PeerURL + ",m2=" + m2.PeerURL, "--initial-cluster-state=existing",
		"--heartbeat-interval=50", "--election-timeout=500"}
	c.AddMember(t, m2)
	c.WaitServing(t, m2)
	if l := c.Leader(t); l != m {
		t.Fatalf("leader %s", l.Name)
	}
	if l := c.Leader(t, m2, m); l != m {
		t.Fatalf("leader of m2 and m1: %s", l.Name)
	}
	id, err := m2.MemberID(ctx)
	if err != nil || id != add.Member.ID {
		t.Fatalf("m2's ID %x (%v), added as %x", id, err, add.Member.ID)
	}
	if got := c.Endpoints(m2); len(got) != 1 || got[0] != m2.ClientURL {
		t.Fatalf("endpoints of m2: %v", got)
	}
}
