package linearizability

import (
	"os"
	"testing"
	"time"

	"github.com/concord-kv/concord/tests/concordtest"
)

// TestMain removes the concord binary concordtest builds on first use.
func TestMain(m *testing.M) { os.Exit(concordtest.Main(m)) }

// newCluster starts n members (fast elections: 50 ms heartbeat, 500 ms
// election timeout; snapshots every 500 entries) and waits until they
// agree on a leader; the harness's waits are bounded by 30 s.
func newCluster(t testing.TB, n int) *concordtest.Cluster {
	t.Helper()
	return concordtest.StartOptions(t, n, concordtest.Options{
		Token:       "linearizability",
		Args:        []string{"--heartbeat-interval=50", "--election-timeout=500", "--snapshot-count=500"},
		LeaderOnly:  true,
		WaitTimeout: 30 * time.Second,
	})
}
