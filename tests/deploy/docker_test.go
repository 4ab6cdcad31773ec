package deploy

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// dockerCluster drives deploy/docker/cluster.sh with names of its own, so
// it touches no other containers, volumes, networks or images.
type dockerCluster struct {
	t      *testing.T
	script string
	env    []string
	prefix string
}

func (d *dockerCluster) run(args ...string) (string, error) {
	cmd := exec.Command(d.script, args...)
	cmd.Env = append(os.Environ(), d.env...)
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func (d *dockerCluster) must(args ...string) string {
	d.t.Helper()
	out, err := d.run(args...)
	if err != nil {
		d.t.Fatalf("cluster.sh %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// endpoints returns the members' client URLs on the host, in member order.
func (d *dockerCluster) endpoints() []string {
	d.t.Helper()
	return strings.Split(d.must("endpoints"), ",")
}

func (d *dockerCluster) docker(args ...string) {
	d.t.Helper()
	if out, err := exec.Command("docker", args...).CombinedOutput(); err != nil {
		d.t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// ctl runs Debian's etcdctl 3.4 against eps.
func ctl(t *testing.T, eps []string, args ...string) (string, error) {
	t.Helper()
	path, err := exec.LookPath("etcdctl")
	if err != nil {
		t.Fatalf("etcdctl not found (apt-get install etcd-client): %v", err)
	}
	cmd := exec.Command(path, append([]string{"--endpoints=" + strings.Join(eps, ","), "--command-timeout=3s", "--dial-timeout=2s"}, args...)...)
	cmd.Env = append(os.Environ(), "ETCDCTL_API=3")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// eventually retries f (at a 100 ms pace) until it returns nil, at most d.
func eventually(t *testing.T, d time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %v", what, d, err)
		}
		<-time.After(100 * time.Millisecond) // pacing of a condition wait
	}
}

type endpointStatus struct {
	Endpoint string
	Status   struct {
		Header struct {
			MemberID uint64 `json:"member_id"`
		}
		Leader    uint64
		RaftIndex uint64 `json:"raftIndex"`
	}
}

func statuses(t *testing.T, eps []string) ([]endpointStatus, error) {
	out, err := ctl(t, eps, "endpoint", "status", "-w", "json")
	if err != nil {
		return nil, fmt.Errorf("%v: %s", err, out)
	}
	var st []endpointStatus
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		return nil, fmt.Errorf("%v: %s", err, out)
	}
	if len(st) != len(eps) {
		return nil, fmt.Errorf("%d statuses for %d endpoints: %s", len(st), len(eps), out)
	}
	return st, nil
}

// TestDockerCluster: the image of deploy/docker/Dockerfile, built and run
// by cluster.sh as a 3-member cluster, serves etcdctl; with one container
// killed the others still take writes, and the restarted container rejoins
// with its member ID and catches up to the others' raft index.
func TestDockerCluster(t *testing.T) {
	if out, err := exec.Command("docker", "info").CombinedOutput(); err != nil {
		t.Skipf("docker info fails, no Docker engine to run the image: %v\n%s", err, out)
	}
	prefix := fmt.Sprintf("concordtest%d", os.Getpid())
	d := &dockerCluster{t: t, script: repoFile("deploy/docker/cluster.sh"), prefix: prefix,
		env: []string{"PREFIX=" + prefix, "IMAGE=" + prefix + ":test", "TOKEN=" + prefix}}
	t.Cleanup(func() {
		if t.Failed() {
			for i := 1; i <= 3; i++ {
				out, _ := exec.Command("docker", "logs", "--tail", "30", fmt.Sprintf("%s%d", prefix, i)).CombinedOutput()
				t.Logf("%s%d:\n%s", prefix, i, out)
			}
		}
		if out, err := d.run("clean"); err != nil {
			t.Errorf("cluster.sh clean: %v\n%s", err, out)
		}
	})
	d.must("build")
	d.must("up")
	eps := d.endpoints()
	eventually(t, time.Minute, "endpoint health on all members", func() error {
		out, err := ctl(t, eps, "endpoint", "health")
		if err != nil || strings.Count(out, "is healthy") != 3 {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	})
	if out, err := ctl(t, eps[:1], "put", "docker/a", "1"); err != nil || strings.TrimSpace(out) != "OK" {
		t.Fatalf("put: %v %s", err, out)
	}
	if out, err := ctl(t, eps[2:], "get", "docker/a"); err != nil || out != "docker/a\n1\n" {
		t.Fatalf("get on member 3: %v %q", err, out)
	}
	before, err := statuses(t, eps)
	if err != nil {
		t.Fatal(err)
	}

	// Member 2 dies; members 1 and 3 keep a quorum.
	d.docker("kill", prefix+"2")
	live := []string{eps[0], eps[2]}
	for i := range 5 {
		key := fmt.Sprintf("docker/down%d", i)
		eventually(t, 30*time.Second, "write with member 2 down", func() error {
			out, err := ctl(t, live, "put", key, "v")
			if err != nil {
				return fmt.Errorf("%v: %s", err, out)
			}
			return nil
		})
	}

	d.docker("start", prefix+"2")
	eps = d.endpoints() // the restarted container's host port is new
	eventually(t, time.Minute, "member 2 rejoined at the others' raft index", func() error {
		st, err := statuses(t, eps)
		if err != nil {
			return err
		}
		if st[1].Status.Header.MemberID != before[1].Status.Header.MemberID {
			return fmt.Errorf("member 2 came back as %x, was %x", st[1].Status.Header.MemberID, before[1].Status.Header.MemberID)
		}
		if st[0].Status.RaftIndex <= before[0].Status.RaftIndex {
			return fmt.Errorf("raft index %d, was %d before the writes", st[0].Status.RaftIndex, before[0].Status.RaftIndex)
		}
		for _, s := range st {
			if s.Status.RaftIndex != st[0].Status.RaftIndex || s.Status.Leader == 0 || s.Status.Leader != st[0].Status.Leader {
				return fmt.Errorf("statuses differ: %+v", st)
			}
		}
		return nil
	})
	if out, err := ctl(t, eps[1:2], "get", "--consistency=s", "docker/down4"); err != nil || out != "docker/down4\nv\n" {
		t.Fatalf("serializable get on the rejoined member: %v %q", err, out)
	}
}
