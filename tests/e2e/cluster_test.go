package e2e

import (
	"crypto/tls"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/concord-kv/concord/tests/concordtest"
)

// TestMain removes the binaries concordtest builds on first use.
func TestMain(m *testing.M) { os.Exit(concordtest.Main(m)) }

// clusterOptions is the configuration of every e2e cluster: fast elections
// (50 ms heartbeat, 500 ms election timeout), info logs, extra flags
// appended to every member, a wait of at most 30 s until the members agree
// on a leader (not until they published their client URLs: some tests
// probe that window).
func clusterOptions(token string, extra ...string) concordtest.Options {
	return concordtest.Options{
		Token:       token,
		Args:        append([]string{"--heartbeat-interval=50", "--election-timeout=500", "--log-level=info"}, extra...),
		LeaderOnly:  true,
		WaitTimeout: 30 * time.Second,
	}
}

// newCluster starts n members, member i on 127.0.0.(i+1), with the flag set
// an etcd systemd unit uses; extra flags are appended to every member.
func newCluster(t testing.TB, n int, extra ...string) *concordtest.Cluster {
	t.Helper()
	return newClusterScheme(t, n, "http", nil, extra...)
}

// newClusterScheme is newCluster with client and peer URLs of scheme
// (http or https); clientTLS is what clients of an https cluster use.
func newClusterScheme(t testing.TB, n int, scheme string, clientTLS *tls.Config, extra ...string) *concordtest.Cluster {
	t.Helper()
	o := clusterOptions("e2e-cluster", extra...)
	o.Scheme, o.ClientTLS = scheme, clientTLS
	return concordtest.StartOptions(t, n, o)
}

// etcdctl runs Debian's etcdctl 3.4 against eps with stdin in.
func etcdctl(t *testing.T, eps []string, in string, args ...string) (string, error) {
	t.Helper()
	path, err := exec.LookPath("etcdctl")
	if err != nil {
		t.Fatalf("etcdctl not found (apt-get install etcd-client): %v", err)
	}
	cmd := exec.Command(path, append([]string{"--endpoints=" + strings.Join(eps, ",")}, args...)...)
	cmd.Env = append(os.Environ(), "ETCDCTL_API=3")
	cmd.Stdin = strings.NewReader(in)
	out, err := cmd.CombinedOutput()
	return string(out), err
}
