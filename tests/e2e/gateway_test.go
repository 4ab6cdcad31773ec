package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestJSONGateway: etcd's /v3 JSON paths (base64 bytes, 64-bit integers as
// strings), the /v3beta alias, and the streamed /v3/watch.
func TestJSONGateway(t *testing.T) {
	c := newCluster(t, 1)
	base := c.Members[0].ClientURL
	post := func(path, body string) map[string]any {
		t.Helper()
		resp, err := http.Post(base+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("POST %s: %s %s", path, resp.Status, b)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("POST %s: %v in %s", path, err, b)
		}
		return m
	}
	// key "foo" = Zm9v, value "bar" = YmFy
	put := post("/v3/kv/put", `{"key":"Zm9v","value":"YmFy"}`)
	rev := put["header"].(map[string]any)["revision"]
	if _, ok := rev.(string); !ok {
		t.Fatalf("revision is not a JSON string: %#v", put)
	}
	rng := post("/v3beta/kv/range", `{"key":"Zm9v"}`)
	kvs := rng["kvs"].([]any)
	if kv := kvs[0].(map[string]any); kv["value"] != "YmFy" || kv["mod_revision"] != rev || rng["count"] != "1" {
		t.Fatalf("range: %#v", rng)
	}
	st := post("/v3/maintenance/status", `{}`)
	if st["version"] == "" || st["leader"] == nil {
		t.Fatalf("status: %#v", st)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v3/watch", strings.NewReader(`{"create_request":{"key":"Zm9v"}}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	lines := bufio.NewScanner(resp.Body)
	if !lines.Scan() || !strings.Contains(lines.Text(), `"created":true`) {
		t.Fatalf("first watch line: %q", lines.Text())
	}
	post("/v3/kv/put", `{"key":"Zm9v","value":"YmF6"}`)
	if !lines.Scan() || !strings.Contains(lines.Text(), `"value":"YmF6"`) || !strings.HasPrefix(lines.Text(), `{"result":`) {
		t.Fatalf("event line: %q", lines.Text())
	}
}
