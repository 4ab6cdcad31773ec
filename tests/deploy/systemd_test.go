package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/concord-kv/concord/tests/concordtest"
)

func TestMain(m *testing.M) { os.Exit(concordtest.Main(m)) }

// repoFile is the path of a file of the repository, given relative to its
// root.
func repoFile(rel string) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", filepath.FromSlash(rel))
}

// unitCommand returns the shipped unit, its environment file's variables
// with the test's overrides applied (each must be a variable the file
// sets), and ExecStart expanded with them.
func unitCommand(t *testing.T, overrides map[string]string) (unitFile, []string) {
	t.Helper()
	u, err := parseUnit(repoFile("deploy/systemd/concord.service"))
	if err != nil {
		t.Fatal(err)
	}
	env, _, err := parseEnvFile(repoFile("deploy/systemd/concord.env"))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range overrides {
		if _, ok := env[k]; !ok {
			t.Fatalf("concord.env does not set %s", k)
		}
		env[k] = v
	}
	args, err := execArgs(u.get("Service", "ExecStart"), env)
	if err != nil {
		t.Fatal(err)
	}
	if args[0] != "/usr/local/bin/concord" {
		t.Fatalf("ExecStart runs %q, want /usr/local/bin/concord", args[0])
	}
	return u, args
}

// TestSystemdUnit: the unit's ExecStart, with concord.env's values and
// the test's paths and addresses, starts a TLS member of a 3-member
// cluster; each member sends READY=1 on its $NOTIFY_SOCKET only once it
// serves clients: not while it waits for a quorum, and at the moment it
// arrives a write through that member succeeds.
func TestSystemdUnit(t *testing.T) {
	pki := concordtest.NewPKI(t)
	c := concordtest.New(t, 3, concordtest.Options{Scheme: "https", ClientTLS: pki.ClientTLS, Token: "concord-cluster-0"})
	dir := t.TempDir()
	socks := make([]*net.UnixConn, len(c.Members))
	metrics := make([]string, len(c.Members))
	for i, m := range c.Members {
		second := "https://" + concordtest.FreeAddr(t, "127.0.0.1")
		metrics[i] = "http://" + concordtest.FreeAddr(t, "127.0.0.1")
		u, args := unitCommand(t, map[string]string{
			"CONCORD_NAME":                        m.Name,
			"CONCORD_DATA_DIR":                    m.DataDir,
			"CONCORD_CERT_FILE":                   pki.ServerCert,
			"CONCORD_KEY_FILE":                    pki.ServerKey,
			"CONCORD_PEER_CERT_FILE":              pki.ServerCert,
			"CONCORD_PEER_KEY_FILE":               pki.ServerKey,
			"CONCORD_TRUSTED_CA_FILE":             pki.CA,
			"CONCORD_PEER_TRUSTED_CA_FILE":        pki.CA,
			"CONCORD_INITIAL_ADVERTISE_PEER_URLS": m.PeerURL,
			"CONCORD_LISTEN_PEER_URLS":            m.PeerURL,
			"CONCORD_LISTEN_CLIENT_URLS":          m.ClientURL + "," + second,
			"CONCORD_ADVERTISE_CLIENT_URLS":       m.ClientURL,
			"CONCORD_LISTEN_METRICS_URLS":         metrics[i],
			"CONCORD_INITIAL_CLUSTER":             c.InitialCluster(),
		})
		if i == 0 {
			checkUnitSettings(t, u)
		}
		m.Args = args[1:]
		path := filepath.Join(dir, m.Name+".sock")
		conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		socks[i] = conn
	}

	// The first member alone: it campaigns and cannot win.
	first := c.Members[0]
	start(t, first, socks[0])
	waitLogCount(t, first, "became pre-candidate", 2)
	if msg, err := readNotify(socks[0], time.Now()); !isTimeout(err) {
		t.Fatalf("READY sent while waiting for quorum: %q, %v", msg, err)
	}

	for i, m := range c.Members[1:] {
		start(t, m, socks[i+1])
	}
	for i, m := range c.Members {
		msg, err := readNotify(socks[i], time.Now().Add(concordtest.ReadyTimeout))
		if err != nil || msg != "READY=1" {
			t.Fatalf("%s: notify socket: %q, %v", m.Name, msg, err)
		}
		cl := c.Client(t, m)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err = cl.Put(ctx, "systemd/"+m.Name, "ready")
		cancel()
		if err != nil {
			t.Fatalf("%s: put right after READY=1: %v", m.Name, err)
		}
	}
	for _, m := range c.Members {
		waitLogCount(t, m, "successfully notified init daemon", 1)
	}
	// The status page of a TLS cluster reaches every member's client URL
	// with the member's own client certificate.
	eventually(t, 30*time.Second, "status page listing 3 reachable members", func() error {
		resp, err := http.Get(metrics[0] + "/ui/status.json")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var st struct {
			Members []struct {
				Name      string
				Reachable bool
				Error     string
			}
		}
		if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
			return err
		}
		n := 0
		for _, m := range st.Members {
			if m.Reachable {
				n++
			}
		}
		if n != 3 {
			return fmt.Errorf("members %+v", st.Members)
		}
		return nil
	})
}

// checkUnitSettings checks the unit settings the deployment relies on.
func checkUnitSettings(t *testing.T, u unitFile) {
	t.Helper()
	for _, want := range [][3]string{
		{"Service", "Type", "notify"},
		{"Service", "EnvironmentFile", "/etc/concord/concord.env"},
		{"Service", "Restart", "on-failure"},
		{"Service", "LimitNOFILE", "65536"},
		{"Service", "NoNewPrivileges", "yes"},
		{"Service", "ProtectSystem", "strict"},
		{"Install", "WantedBy", "multi-user.target"},
	} {
		if got := u.get(want[0], want[1]); got != want[2] {
			t.Errorf("[%s] %s=%q, want %q", want[0], want[1], got, want[2])
		}
	}
}

// start launches m (its Args already set) with $NOTIFY_SOCKET naming
// sock's path.
func start(t *testing.T, m *concordtest.Member, sock *net.UnixConn) {
	t.Helper()
	t.Setenv("NOTIFY_SOCKET", sock.LocalAddr().String())
	m.Restart(t)
}

// readNotify reads one datagram from sock, waiting until deadline (a
// deadline in the past reads only what is already queued).
func readNotify(sock *net.UnixConn, deadline time.Time) (string, error) {
	_ = sock.SetReadDeadline(deadline)
	buf := make([]byte, 512)
	n, err := sock.Read(buf)
	return string(buf[:n]), err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// waitLogCount waits until m's log has at least n lines containing msg.
func waitLogCount(t *testing.T, m *concordtest.Member, msg string, n int) {
	t.Helper()
	deadline := time.Now().Add(concordtest.ReadyTimeout)
	for {
		data, _ := os.ReadFile(m.LogFile)
		if strings.Count(string(data), msg) >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d log lines %q not seen within %v", m.Name, n, msg, concordtest.ReadyTimeout)
		}
		select {
		case <-m.Exited():
			t.Fatalf("%s exited while waiting for log %q", m.Name, msg)
		case <-time.After(20 * time.Millisecond): // pacing of a condition wait
		}
	}
}

var exposure = regexp.MustCompile(`Overall exposure level for concord\.service: ([0-9.]+)`)

// TestSystemdAnalyze: systemd-analyze verify accepts the unit (with the
// binary path pointing at a built concord), and its security analysis
// rates the hardening at most 2.0 ("OK"; 10 is an unhardened service).
func TestSystemdAnalyze(t *testing.T) {
	tool, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed; the unit is still run by TestSystemdUnit")
	}
	data, err := os.ReadFile(repoFile("deploy/systemd/concord.service"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "concord")
	if err := os.Symlink(concordtest.Binary(t), bin); err != nil {
		t.Fatal(err)
	}
	unit := filepath.Join(dir, "concord.service")
	if err := os.WriteFile(unit, []byte(strings.ReplaceAll(string(data), "/usr/local/bin/concord", bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(tool, "verify", "--man=no", unit).CombinedOutput()
	if err != nil || len(out) != 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, err = exec.Command(tool, "security", "--offline=true", unit).CombinedOutput()
	m := exposure.FindSubmatch(out)
	if m == nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	if level, _ := strconv.ParseFloat(string(m[1]), 64); level > 2.0 {
		t.Errorf("exposure level %v, want ≤ 2.0\n%s", level, out)
	}
}
