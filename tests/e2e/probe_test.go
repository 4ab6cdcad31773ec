package e2e

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// probe GETs (or POSTs) url and returns the status code and body.
func probe(t *testing.T, method, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// TestLivezReadyz checks /livez and /readyz as etcd 3.6 serves them: named
// checks, ?verbose, ?exclude=, one check by sub-path, GET only, and a 503
// naming the failed check once the member has lost its quorum.
func TestLivezReadyz(t *testing.T) {
	c := newCluster(t, 3)
	m := c.Members[0]
	base := m.ClientURL
	for _, tc := range []struct {
		method, path string
		code         int
		body         string
	}{
		{"GET", "/livez", 200, "ok\n"},
		{"GET", "/livez?verbose", 200, "[+]serializable_read ok\nok\n"},
		{"GET", "/readyz", 200, "ok\n"},
		{"GET", "/readyz?verbose", 200, "[+]data_corruption ok\n[+]serializable_read ok\n[+]linearizable_read ok\n[+]non_learner ok\nok\n"},
		{"GET", "/readyz?verbose&exclude=linearizable_read&exclude=non_learner", 200, "[+]data_corruption ok\n[+]serializable_read ok\nok\n"},
		{"GET", "/readyz/non_learner?verbose", 200, "[+]non_learner ok\nok\n"},
		{"GET", "/livez/serializable_read", 200, "ok\n"},
		{"GET", "/readyz/no_such_check", 404, "404 page not found\n"},
		{"POST", "/readyz", 405, "Method Not Allowed\n"},
	} {
		code, body := probe(t, tc.method, base+tc.path)
		if code != tc.code || body != tc.body {
			t.Errorf("%s %s: %d %q, want %d %q", tc.method, tc.path, code, body, tc.code, tc.body)
		}
	}

	// Without a quorum the local read still works (live) but the
	// linearizable one does not (not ready).
	c.Members[1].Kill()
	c.Members[2].Kill()
	if code, body := probe(t, "GET", base+"/livez"); code != 200 || body != "ok\n" {
		t.Errorf("/livez without quorum: %d %q, want 200 ok", code, body)
	}
	code, body := probe(t, "GET", base+"/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "[+]serializable_read ok\n") ||
		!strings.Contains(body, "[-]linearizable_read failed: ") {
		t.Errorf("/readyz without quorum: %d %q, want 503 naming linearizable_read", code, body)
	}
}
