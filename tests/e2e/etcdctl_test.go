package e2e

import (
	"regexp"
	"strings"
	"testing"
)

// TestEtcdctl drives a 3-member cluster with Debian's etcdctl 3.4, as the
// seed articles do.
func TestEtcdctl(t *testing.T) {
	c := newCluster(t, 3)
	eps := c.Endpoints()
	run := func(in string, args ...string) string {
		t.Helper()
		out, err := etcdctl(t, eps, in, args...)
		if err != nil {
			t.Fatalf("etcdctl %v: %v\n%s", args, err, out)
		}
		return out
	}
	for i, kv := range [][2]string{{"/registry/pods/default/a", "1"}, {"/registry/pods/default/b", "2"}, {"/calico/ipam/x", "3"}} {
		if out := run("", "put", kv[0], kv[1]); out != "OK\n" {
			t.Fatalf("put %d printed %q", i, out)
		}
	}
	if out, want := run("", "get", "--prefix", "/registry/"), "/registry/pods/default/a\n1\n/registry/pods/default/b\n2\n"; out != want {
		t.Fatalf("get --prefix = %q, want %q", out, want)
	}
	if out := run("", "get", "/registry/pods/default/a", "-w", "json"); !strings.Contains(out, `"kvs":[{"key":"L3JlZ2lzdHJ5L3BvZHMvZGVmYXVsdC9h"`) || !strings.Contains(out, `"count":1`) {
		t.Fatalf("get -w json = %s", out)
	}
	if out := run("", "del", "/calico/ipam/x"); out != "1\n" {
		t.Fatalf("del printed %q", out)
	}
	if out := run("", "get", "/calico/ipam/x"); out != "" {
		t.Fatalf("get after del printed %q", out)
	}

	// Interactive txn, answered on stdin as a person would type it.
	txnIn := "mod(\"/registry/pods/default/a\") > \"0\"\n\nput /registry/pods/default/a \"overwrote\"\n\nput /registry/pods/default/a \"created\"\n\n"
	if out := run(txnIn, "txn", "-i"); !strings.Contains(out, "SUCCESS") || !strings.Contains(out, "OK") {
		t.Fatalf("txn -i printed %q", out)
	}
	if out := run("", "get", "/registry/pods/default/a", "--print-value-only"); out != "overwrote\n" {
		t.Fatalf("value after txn = %q", out)
	}
	txnIn = "value(\"/registry/pods/default/a\") = \"nope\"\n\nput k1 v1\n\nput k2 v2\n\n"
	if out := run(txnIn, "txn"); !strings.HasPrefix(out, "FAILURE") {
		t.Fatalf("failing txn printed %q", out)
	}
	if out := run("", "get", "k2", "--print-value-only"); out != "v2\n" {
		t.Fatalf("failure branch not applied: %q", out)
	}

	// Compaction and a read below it.
	out := run("", "get", "k2", "-w", "fields")
	rev := regexp.MustCompile(`"Revision" : (\d+)`).FindStringSubmatch(out)
	if rev == nil {
		t.Fatalf("no revision in %q", out)
	}
	if out := run("", "compaction", rev[1]); out != "compacted revision "+rev[1]+"\n" {
		t.Fatalf("compaction printed %q", out)
	}
	if out, err := etcdctl(t, eps, "", "get", "k2", "--rev=2"); err == nil || !strings.Contains(out, "mvcc: required revision has been compacted") {
		t.Fatalf("get below compaction: err=%v out=%q", err, out)
	}

	// Status and membership tables.
	out = run("", "endpoint", "status", "-w", "table")
	for _, h := range []string{"ENDPOINT", "ID", "VERSION", "DB SIZE", "IS LEADER", "IS LEARNER", "RAFT TERM", "RAFT INDEX", "RAFT APPLIED INDEX", "ERRORS"} {
		if !strings.Contains(out, h) {
			t.Fatalf("endpoint status table lacks %q:\n%s", h, out)
		}
	}
	if n := len(regexp.MustCompile(`\|\s+true\s+\|`).FindAllString(out, -1)); n != 1 {
		t.Fatalf("endpoint status shows %d leaders:\n%s", n, out)
	}
	for _, ep := range eps {
		if !strings.Contains(out, strings.TrimPrefix(ep, "http://")) {
			t.Fatalf("endpoint status lacks %s:\n%s", ep, out)
		}
	}
	out = run("", "member", "list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("member list has %d lines:\n%s", len(lines), out)
	}
	for _, m := range c.Members {
		if !strings.Contains(out, ", started, "+m.Name+", "+m.PeerURL+", "+m.ClientURL+", false") {
			t.Fatalf("member list lacks %s:\n%s", m.Name, out)
		}
	}
	out = run("", "endpoint", "health")
	if strings.Count(out, "is healthy") != 3 {
		t.Fatalf("endpoint health:\n%s", out)
	}
}
