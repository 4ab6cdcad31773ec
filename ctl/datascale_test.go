package ctl

import (
	"regexp"
	"strings"
	"testing"

	"github.com/concord-kv/concord/tests/concordtest"
)

// TestCheckDatascale runs etcdctl's small data-scale workload (10 000
// pairs of 1 KiB) against a Concord member: it reports the memory growth
// read from the member's /metrics and leaves no key behind.
func TestCheckDatascale(t *testing.T) {
	c := concordtest.Start(t, 1)
	ep := "--endpoints=" + c.Endpoints()[0]
	r := run(t, "", ep, "check", "datascale", "--load=s", "--auto-compact")
	if r.code != 0 {
		t.Fatalf("exit %d\nstdout %s\nstderr %s", r.code, r.out, r.err)
	}
	if !strings.HasPrefix(r.out, "Start data scale check for work load [10000 key-value pairs, 1024 bytes per key-value, 50 concurrent clients].\n") ||
		!regexp.MustCompile(`(?m)^PASS: Approximate system memory used : \d+\.\d\d MB\.$`).MatchString(r.out) ||
		!strings.Contains(r.out, "Compacted with revision") {
		t.Fatalf("output:\n%s", r.out)
	}
	if g := run(t, "", ep, "get", "--prefix", "/etcdctl-check-datascale/", "--count-only", "-w", "fields"); !strings.Contains(g.out, `"Count" : 0`) {
		t.Fatalf("keys left behind: %s", g.out)
	}
	if r := run(t, "", ep, "check", "datascale", "--load=xxl"); r.code == 0 || !strings.Contains(r.err, "unknown load option") {
		t.Fatalf("bad load: exit %d %s", r.code, r.err)
	}
}
