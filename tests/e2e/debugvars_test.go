package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"
)

// TestDebugVars: the client listener serves /debug/vars as etcd does, a JSON
// object with the expvar standard entries. etcd's tests/e2e
// TestConnectionMultiplexing decodes it over HTTP/1.1 and HTTP/2.
func TestDebugVars(t *testing.T) {
	c := newCluster(t, 1)
	resp, err := http.Get(c.Members[0].ClientURL + "/debug/vars")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /debug/vars: %s %s", resp.Status, b)
	}
	var vars map[string]json.RawMessage
	if err := json.Unmarshal(b, &vars); err != nil {
		t.Fatalf("GET /debug/vars: %v in %.200s", err, b)
	}
	for _, k := range []string{"cmdline", "memstats"} {
		if _, ok := vars[k]; !ok {
			t.Errorf("GET /debug/vars: no %q in %.200s", k, b)
		}
	}
}
