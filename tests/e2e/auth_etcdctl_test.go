package e2e

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/concord-kv/concord/bench/etcdtest"
)

// ctlSide is one server of a side-by-side etcdctl run: its endpoints and
// the flags every etcdctl call gets (TLS files).
type ctlSide struct {
	name  string
	eps   []string
	flags []string
}

// ctlRun is one etcdctl 3.4 call's normalised stdout, stderr and exit
// code.
type ctlRun struct {
	out, err string
	code     int
}

var (
	// etcdctl 3.4's client logs each failed attempt as a JSON line; the
	// error it carries (gRPC code and text) is what is compared.
	reClientWarn = regexp.MustCompile(`(?m)^\{"level":"warn".*"error":"((?:[^"\\]|\\.)*)"\}$`)
	reRevField   = regexp.MustCompile(`("revision":|"raft_term":|"cluster_id":|"member_id":)\d+`)
)

// normCtl replaces what differs between two clusters by design — the
// client's log lines (kept as their error text, once), member and cluster
// IDs, revisions, endpoints and timings — by placeholders.
func normCtl(s string) string {
	s = reClientWarn.ReplaceAllString(s, "WARN $1")
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, "WARN ") && len(lines) > 0 && lines[len(lines)-1] == l {
			continue // the client's retries of one call
		}
		l = reRevField.ReplaceAllString(l, "${1}N")
		l = reURL.ReplaceAllString(l, "<EP>")
		l = reTook.ReplaceAllString(l, "took = <T>")
		lines = append(lines, l)
	}
	return strings.Join(lines, "\n")
}

// run calls etcdctl 3.4 (ETCDCTL_API=3) against the side with stdin in,
// bounded by 30 s.
func (s ctlSide) run(t *testing.T, in string, args ...string) ctlRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	argv := append([]string{"--endpoints=" + strings.Join(s.eps, ","), "--command-timeout=10s"}, s.flags...)
	cmd := exec.CommandContext(ctx, "etcdctl", append(argv, args...)...)
	cmd.Env = append(os.Environ(), "ETCDCTL_API=3")
	cmd.Stdin = strings.NewReader(in)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("%s: etcdctl %v: %v", s.name, args, err)
	}
	return ctlRun{normCtl(out.String()), normCtl(errb.String()), code}
}

// ctlStep is one etcdctl call of a flow: stdin, extra flags (such as
// another client certificate) and arguments, and whether it must succeed
// (checked on etcd, so a flow that stops testing what it says fails).
type ctlStep struct {
	in    string
	flags []string
	args  []string
	ok    bool
}

func ok(args ...string) ctlStep     { return ctlStep{args: args, ok: true} }
func denied(args ...string) ctlStep { return ctlStep{args: args} }

// as runs the step with flags before its arguments.
func (st ctlStep) as(flags ...string) ctlStep { st.flags = flags; return st }

// stdin gives the step stdin.
func (st ctlStep) stdin(in string) ctlStep { st.in = in; return st }

// sideBySide runs every step on etcd, then on Concord, and fails t where
// stdout, stderr or the exit code differ, or where etcd's exit code is not
// the one the step expects.
func sideBySide(t *testing.T, etcd, concord ctlSide, steps []ctlStep) {
	t.Helper()
	for _, st := range steps {
		args := append(append([]string{}, st.flags...), st.args...)
		want := etcd.run(t, st.in, args...)
		got := concord.run(t, st.in, args...)
		if (want.code == 0) != st.ok {
			t.Errorf("etcd: %q: exit %d, want success %v\nout %q\nerr %q", st.args, want.code, st.ok, want.out, want.err)
		}
		if got != want {
			t.Errorf("%q:\nconcord: exit %d out %q err %q\n   etcd: exit %d out %q err %q",
				st.args, got.code, got.out, got.err, want.code, want.out, want.err)
		}
	}
}

// passwordFlow is seed 004's user, role and auth commands: the set-up,
// auth enable, a non-root user's allowed and denied get/put/del/txn, wrong
// and missing credentials, root's operations with --user name:password and
// --user/--password, a password change, revoking permissions and roles,
// auth disable.
func passwordFlow() []ctlStep {
	alice := []string{"--user", "alice:alicepw"}
	root := []string{"--user", "root:rootpw"}
	txnOK := "mod(\"/alice/a\") > \"0\"\n\nput /alice/b \"2\"\n\nget /alice/a\n\n"
	txnCmpDenied := "mod(\"/bob/x\") > \"0\"\n\nput /alice/b \"3\"\n\n\n"
	txnOpDenied := "mod(\"/alice/a\") > \"0\"\n\nput /alice/b \"4\"\nput /bob/x \"4\"\n\n\n"
	txnElseDenied := "value(\"/alice/a\") = \"nope\"\n\nput /alice/b \"5\"\n\ndel /bob/x\n\n"
	return []ctlStep{
		ok("user", "add", "root:rootpw"),
		ok("role", "add", "ra"),
		ok("role", "grant-permission", "--prefix", "ra", "readwrite", "/alice/"),
		ok("role", "grant-permission", "ra", "read", "/shared"),
		ok("role", "get", "ra"),
		ok("user", "add", "alice:alicepw"),
		ok("user", "grant-role", "alice", "ra"),
		ok("user", "get", "alice"),
		ok("user", "get", "--detail", "alice"),
		ok("user", "list"),
		ok("role", "list"),
		ok("put", "/bob/x", "0"),
		ok("put", "/shared", "s"),
		ok("auth", "enable"),
		denied("put", "k", "v"),
		denied("get", "/shared"),
		denied("get", "/alice/a").as("--user", "alice:wrong"),
		denied("get", "/alice/a").as("--user", "nobody:pw"),
		ok("put", "/alice/a", "1").as(alice...),
		ok("get", "/alice/a").as(alice...),
		ok("get", "--prefix", "/alice/").as(alice...),
		ok("get", "/shared").as(alice...),
		denied("put", "/shared", "v").as(alice...),
		denied("put", "/bob/x", "1").as(alice...),
		denied("get", "/bob/x").as(alice...),
		denied("get", "--prefix", "/").as(alice...),
		denied("del", "/bob/x").as(alice...),
		ok("txn").as(alice...).stdin(txnOK),
		denied("txn").as(alice...).stdin(txnCmpDenied),
		denied("txn").as(alice...).stdin(txnOpDenied),
		denied("txn").as(alice...).stdin(txnElseDenied),
		ok("del", "/alice/b").as(alice...),
		ok("del", "--prefix", "/alice/").as(alice...),
		denied("del", "--prefix", "/").as(alice...),
		denied("user", "list").as(alice...),
		denied("role", "add", "rb").as(alice...),
		denied("auth", "disable").as(alice...),
		ok("get", "/bob/x").as(root...),
		ok("put", "/bob/x", "2").as(root...),
		ok("user", "list").as("--user", "root", "--password", "rootpw"),
		ok("role", "get", "root").as(root...),
		ok("user", "get", "root").as(root...),
		ok("user", "passwd", "alice", "--interactive=false").as(root...).stdin("newpw\n"),
		denied("get", "/alice/a").as(alice...),
		ok("put", "/alice/a", "3").as("--user", "alice:newpw"),
		ok("role", "revoke-permission", "--prefix", "ra", "/alice/").as(root...),
		ok("role", "get", "ra").as(root...),
		denied("get", "/alice/a").as("--user", "alice:newpw"),
		ok("get", "/shared").as("--user", "alice:newpw"),
		ok("user", "revoke-role", "alice", "ra").as(root...),
		ok("user", "get", "alice").as(root...),
		denied("get", "/shared").as("--user", "alice:newpw"),
		denied("user", "delete", "root").as("--user", "alice:newpw"),
		ok("auth", "disable").as(root...),
		ok("get", "/alice/a"),
		ok("user", "delete", "alice"),
		ok("role", "delete", "ra"),
		ok("user", "list"),
		ok("role", "list"),
	}
}

// TestAuthEtcdctlSideBySide runs seed 004's auth flow with Debian's
// etcdctl 3.4 against a 3-member etcd 3.4 and a 3-member Concord, and
// compares every call's output and exit code; then a watch that is
// allowed and one that is denied.
func TestAuthEtcdctlSideBySide(t *testing.T) {
	etcd := ctlSide{name: "etcd", eps: etcdtest.Start(t, 3).Endpoints()}
	concord := ctlSide{name: "concord", eps: newCluster(t, 3).Endpoints()}
	sideBySide(t, etcd, concord, passwordFlow())
	if t.Failed() {
		return
	}
	sideBySide(t, etcd, concord, []ctlStep{
		ok("user", "add", "wanda:wpw"),
		ok("role", "add", "rw"),
		ok("role", "grant-permission", "--prefix", "rw", "readwrite", "/w/"),
		ok("user", "grant-role", "wanda", "rw"),
		ok("auth", "enable"),
		ok("put", "/w/a", "1").as("--user", "wanda:wpw"),
	})
	for _, side := range []ctlSide{etcd, concord} {
		w := watchOutput(t, side, "PUT\n/w/a\n1\n", "--user", "wanda:wpw", "watch", "--rev=1", "/w/a")
		if w != "PUT\n/w/a\n1\n" {
			t.Errorf("%s: allowed watch printed %q", side.name, w)
		}
	}
	want := etcd.run(t, "", "--user", "wanda:wpw", "watch", "/other")
	got := concord.run(t, "", "--user", "wanda:wpw", "watch", "/other")
	if want.code == 0 || got != want {
		t.Errorf("denied watch:\nconcord: %+v\n   etcd: %+v", got, want)
	}
}

// watchOutput starts etcdctl watch on side, waits until its output is
// want (or 30 s pass), kills it and returns what it printed.
func watchOutput(t *testing.T, side ctlSide, want string, args ...string) string {
	t.Helper()
	p := startEtcdctl(t, side.eps, append(append([]string{}, side.flags...), args...)...)
	waitCond(t, 30*time.Second, side.name+": watch output", func() bool {
		return p.out.String() == want || p.exited()
	})
	_ = p.cmd.Process.Kill()
	<-p.done
	return normCtl(p.out.String())
}

// certFlow is the flow with client certificates (--client-cert-auth): a
// request with no token is made as the user named by its certificate's
// common name, including a user without a password; a token (--user)
// wins over the certificate; a CN that names no user is denied.
func certFlow(root, alice, carol, mallory []string) []ctlStep {
	return []ctlStep{
		ok("user", "add", "root:rootpw").as(root...),
		ok("role", "add", "ra").as(root...),
		ok("role", "grant-permission", "--prefix", "ra", "readwrite", "/alice/").as(root...),
		ok("user", "add", "alice:alicepw").as(root...),
		ok("user", "grant-role", "alice", "ra").as(root...),
		ok("user", "add", "carol", "--no-password").as(root...),
		ok("user", "grant-role", "carol", "ra").as(root...),
		ok("put", "/bob/x", "0").as(root...),
		ok("auth", "enable").as(root...),
		ok("put", "/alice/x", "1").as(alice...),
		ok("get", "/alice/x").as(alice...),
		denied("put", "/bob/x", "1").as(alice...),
		denied("get", "/bob/x").as(alice...),
		denied("del", "/bob/x").as(alice...),
		ok("txn").as(alice...).stdin("mod(\"/alice/x\") > \"0\"\n\nput /alice/y \"2\"\n\n\n"),
		denied("txn").as(alice...).stdin("mod(\"/bob/x\") > \"0\"\n\nput /alice/y \"3\"\n\n\n"),
		ok("del", "/alice/y").as(alice...),
		denied("user", "list").as(alice...),
		denied("auth", "disable").as(alice...),
		ok("put", "/alice/c", "1").as(carol...),
		denied("put", "/bob/c", "1").as(carol...),
		denied("get", "/alice/c").as(append(carol, "--user", "carol:x")...),
		ok("user", "list").as(append(alice, "--user", "root:rootpw")...),
		denied("get", "/alice/x").as(append(root, "--user", "alice:wrong")...),
		denied("get", "/alice/x").as(mallory...),
		denied("put", "/alice/m", "1").as(mallory...),
		ok("get", "/bob/x").as(root...),
		ok("user", "get", "carol").as(root...),
		ok("user", "revoke-role", "alice", "ra").as(root...),
		denied("get", "/alice/x").as(alice...),
		ok("auth", "disable").as(root...),
		ok("get", "/bob/x").as(alice...),
	}
}

// TestAuthEtcdctlClientCertSideBySide is certFlow with etcdctl 3.4 side by
// side on a 3-member etcd 3.4 and a 3-member Concord serving https with
// --client-cert-auth.
func TestAuthEtcdctlClientCertSideBySide(t *testing.T) {
	p := newPKI(t)
	ec := etcdtest.StartOptions(t, 3, etcdtest.Options{Scheme: "https", ClientTLS: p.clientTLS, Args: []string{
		"--cert-file=" + p.serverCert, "--key-file=" + p.serverKey, "--trusted-ca-file=" + p.ca, "--client-cert-auth"}})
	cc := newClusterScheme(t, 3, "https", p.clientTLS, p.ServerArgs()...)
	etcd := ctlSide{name: "etcd", eps: ec.Endpoints(), flags: []string{"--cacert=" + p.ca}}
	concord := ctlSide{name: "concord", eps: cc.Endpoints(), flags: []string{"--cacert=" + p.ca}}
	ident := func(cert, key string) []string { return []string{"--cert=" + cert, "--key=" + key} }
	aliceCert, aliceKey, _ := p.issue("alice", "alice")
	carolCert, carolKey, _ := p.issue("carol", "carol")
	malloryCert, malloryKey, _ := p.issue("mallory", "mallory")
	sideBySide(t, etcd, concord, certFlow(ident(p.clientCert, p.clientKey), ident(aliceCert, aliceKey),
		ident(carolCert, carolKey), ident(malloryCert, malloryKey)))
}
