package ctl

import (
	"regexp"
	"testing"

	"github.com/concord-kv/concord/tests/concordtest"
)

// headerIDs matches the response header's cluster and member IDs in the
// json and fields formats: two clusters have different ones.
var headerIDs = regexp.MustCompile(`("cluster_id":|"member_id":|"ClusterID" : |"MemberID" : )\d+`)

// clientWarn matches the client library's log lines etcdctl 3.4 prints on
// stderr when an RPC fails ("retrying of unary invoker failed"); etcdctl
// 3.5 and later, and concordctl, print only the error.
var clientWarn = regexp.MustCompile(`(?m)^\{"level":"warn".*\n`)

func normHeader(s string) string { return headerIDs.ReplaceAllString(s, "${1}ID") }

func normErr(s string) string { return clientWarn.ReplaceAllString(s, "") }

// authStep is one command of the auth flow, with its stdin.
type authStep struct {
	in   string
	args []string
}

// authFlow is every user, role and auth command, with the errors etcdctl
// prints for bad input and for server refusals, in output format w. Names
// carry the format so the flows of several formats run on one server.
// "auth status" is not here: etcd 3.4 has no AuthStatus RPC and etcdctl
// 3.4 no such command (both came with 3.5).
func authFlow(w string) []authStep {
	r, u := "r-"+w, "u-"+w
	f := []string{"-w", w}
	s := func(in string, args ...string) authStep {
		return authStep{in, append(append([]string{}, f...), args...)}
	}
	return []authStep{
		s("", "role", "add", r),
		s("", "role", "add", r),
		s("", "role", "add"),
		s("", "role", "get", r),
		s("", "role", "get", "nosuch-"+w),
		s("", "role", "grant-permission", r, "read", "k1"),
		s("", "role", "grant-permission", "--prefix", r, "readwrite", "/a/"),
		s("", "role", "grant-permission", "--from-key", r, "write", "z"),
		s("", "role", "grant-permission", r, "read", "b", "c"),
		s("", "role", "grant-permission", r, "read", ""),
		s("", "role", "grant-permission", "--prefix", r, "write", ""),
		s("", "role", "grant-permission", r, "bogus", "k"),
		s("", "role", "grant-permission", "--prefix", r, "read", "x", "y"),
		s("", "role", "grant-permission", "--prefix", "--from-key", r, "read", "x"),
		s("", "role", "grant-permission", r),
		s("", "role", "grant-permission", "nosuch-"+w, "read", "k"),
		s("", "role", "get", r),
		s("", "role", "list"),
		s("", "role", "revoke-permission", r, "k1"),
		s("", "role", "revoke-permission", r, "k1"),
		s("", "role", "revoke-permission", "--prefix", r, "/a/"),
		s("", "role", "revoke-permission", "--from-key", r, "z"),
		s("", "role", "revoke-permission", r, "b", "c"),
		s("", "role", "revoke-permission", r),
		s("", "role", "get", r),
		s("", "user", "add", u+":pw"),
		s("", "user", "add", u+":pw"),
		s("", "user", "add", ":pw"),
		s("pw2\n", "user", "add", u+"-stdin", "--interactive=false"),
		s("", "user", "add", u+"-flag", "--new-user-password=pw3"),
		s("", "user", "add", u+"-nopw", "--no-password"),
		s("", "user", "add"),
		s("", "user", "get", u),
		s("", "user", "get", "nosuch-"+w),
		s("", "user", "grant-role", u, r),
		s("", "user", "grant-role", u, r),
		s("", "user", "grant-role", u, "nosuch-"+w),
		s("", "user", "grant-role", "nosuch-"+w, r),
		s("", "user", "grant-role", u),
		s("", "user", "get", u),
		s("", "user", "get", "--detail", u),
		s("", "user", "list"),
		s("newpw\n", "user", "passwd", u, "--interactive=false"),
		s("newpw\n", "user", "passwd", "nosuch-"+w, "--interactive=false"),
		s("", "user", "passwd"),
		s("", "user", "revoke-role", u, r),
		s("", "user", "revoke-role", u, r),
		s("", "user", "revoke-role", u),
		s("", "user", "delete", u+"-flag"),
		s("", "user", "delete", u+"-flag"),
		s("", "user", "delete"),
		s("", "role", "delete", r),
		s("", "role", "delete", r),
		s("", "role", "delete"),
		s("", "user", "list"),
		s("", "role", "list"),
		s("", "auth", "enable", "x"),
		s("", "auth", "disable", "x"),
	}
}

// authEnableFlow turns auth on and off with etcdctl's global credentials
// flags: root missing, root without its role (etcdctl adds it), the ways
// of giving a password, wrong and missing credentials.
func authEnableFlow() []authStep {
	s := func(args ...string) authStep { return authStep{"", args} }
	return []authStep{
		s("auth", "enable"),
		s("user", "add", "root:rootpw"),
		s("user", "add", "alice:alicepw"),
		s("role", "add", "ra"),
		s("role", "grant-permission", "--prefix", "ra", "readwrite", "/alice/"),
		s("user", "grant-role", "alice", "ra"),
		s("auth", "enable"),
		s("role", "list"),
		s("user", "get", "root"),
		s("role", "get", "root"),
		s("put", "k", "v"),
		s("--user", "root:wrong", "put", "k", "v"),
		s("--user", "nobody:pw", "put", "k", "v"),
		s("--user", "root:rootpw", "put", "k", "v"),
		s("--user", "root", "--password", "rootpw", "get", "k"),
		s("--user", "alice:alicepw", "put", "/alice/x", "1"),
		s("--user", "alice:alicepw", "get", "/alice/x"),
		s("--user", "alice:alicepw", "put", "/bob/x", "1"),
		s("--user", "alice:alicepw", "get", "k"),
		s("--user", "alice:alicepw", "del", "k"),
		s("--user", "alice:alicepw", "user", "list"),
		s("--user", "alice:alicepw", "role", "get", "ra"),
		s("--user", "alice:alicepw", "user", "get", "alice"),
		s("--user", "alice:alicepw", "auth", "disable"),
		s("--user", "root:rootpw", "user", "revoke-role", "root", "root"),
		s("--user", "root:rootpw", "role", "delete", "root"),
		s("--user", "root:rootpw", "user", "delete", "root"),
		s("--user", "root:rootpw", "auth", "disable"),
		s("get", "k"),
	}
}

// TestAuthCommandsAgainstEtcdctl runs every user, role and auth command in
// every output format with etcdctl 3.4 against an etcd 3.4, and with
// concordctl against another etcd 3.4 and against a 1-member Concord, and
// compares stdout, stderr and the exit code of each with etcdctl's.
func TestAuthCommandsAgainstEtcdctl(t *testing.T) {
	epE, epC := startEtcd(t), startEtcd(t)
	epConcord := concordtest.Start(t, 1).Endpoints()[0]
	var steps []authStep
	for _, w := range []string{"simple", "json", "fields", "table"} {
		steps = append(steps, authFlow(w)...)
	}
	steps = append(steps, authEnableFlow()...)
	for _, st := range steps {
		want := etcdctlIn(t, st.in, append([]string{"--endpoints=" + epE}, st.args...)...)
		for _, ep := range []string{epC, epConcord} {
			got := run(t, st.in, append([]string{"--endpoints=" + ep}, st.args...)...)
			if normHeader(got.out) != normHeader(want.out) || got.err != normErr(want.err) || got.code != want.code {
				t.Errorf("%s %q:\n got (code %d) out %q err %q\nwant (code %d) out %q err %q",
					ep, st.args, got.code, got.out, got.err, want.code, want.out, want.err)
			}
		}
	}
	// etcdctl 3.5's auth status, which 3.4 lacks, after the flow: etcd
	// 3.6.14 reports auth revision 89 after the same steps.
	if r := run(t, "", "--endpoints="+epConcord, "auth", "status"); r.out != "Authentication Status: false\nAuthRevision: 89\n" {
		t.Errorf("auth status: %+v", r)
	}
}
