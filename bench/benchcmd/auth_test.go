package benchcmd_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/concord-kv/concord/bench/benchcmd"
	"github.com/concord-kv/concord/bench/etcdtest"
	"github.com/concord-kv/concord/tests/concordtest"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// runIn executes concord-bench with stdin in and returns stdout, stderr
// and the command's error.
func runIn(t *testing.T, in string, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	root := benchcmd.NewRootCommand()
	var out, errOut bytes.Buffer
	root.SetIn(strings.NewReader(in))
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	return out.String(), errOut.String(), err
}

// enableAuth adds root and a user "bencher" (password "bpw") who may
// read and write keys under "b/" only, then turns auth on.
func enableAuth(t *testing.T, c *clientv3.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, step := range []func() error{
		func() error { _, err := c.UserAdd(ctx, "root", "rootpw"); return err },
		func() error { _, err := c.RoleAdd(ctx, "root"); return err },
		func() error { _, err := c.UserGrantRole(ctx, "root", "root"); return err },
		func() error { _, err := c.UserAdd(ctx, "bencher", "bpw"); return err },
		func() error { _, err := c.RoleAdd(ctx, "rb"); return err },
		func() error {
			_, err := c.RoleGrantPermission(ctx, "rb", "b/", clientv3.GetPrefixRangeEnd("b/"), clientv3.PermissionType(clientv3.PermReadWrite))
			return err
		},
		func() error { _, err := c.UserGrantRole(ctx, "bencher", "rb"); return err },
		func() error { _, err := c.AuthEnable(ctx); return err },
	} {
		if err := step(); err != nil {
			t.Fatalf("auth set-up: %v", err)
		}
	}
}

// benchUser is concord-bench --user against eps, whose auth enableAuth
// turned on: name:password and a prompted password work and write what
// the summary says; a wrong password and a missing user fail with the
// server's error; a user without permission gets errors, not requests.
func benchUser(t *testing.T, eps []string) {
	ep := "--endpoints=" + strings.Join(eps, ",")
	put := []string{"put", "--prefix=b/", "--sequential-keys", "--key-space-size=40", "--total=40"}
	out, errOut, err := runIn(t, "", append([]string{ep, "--user=bencher:bpw", "--clients=2"}, put...)...)
	if err != nil {
		t.Fatalf("--user bencher:bpw: %v\n%s%s", err, out, errOut)
	}
	eq(t, "summary count", summaries(t, out)[0], 40)
	out, errOut, err = runIn(t, "bpw\n", append([]string{ep, "--user=bencher", "-w", "json"}, put...)...)
	if err != nil {
		t.Fatalf("--user bencher (prompted): %v\n%s%s", err, out, errOut)
	}
	if s := jsonStats(t, out); s[0].Count != 40 || s[0].Errors != 0 {
		t.Fatalf("prompted password: %+v", s[0])
	}
	if !strings.HasPrefix(errOut, "Password: ") {
		t.Fatalf("no prompt on stderr: %q", errOut)
	}
	root, err := clientv3.New(clientv3.Config{Endpoints: eps, Username: "root", Password: "rootpw", Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	eq(t, "keys under b/", countKeys(t, root, "b/"), 40)

	if _, _, err := runIn(t, "", append([]string{ep, "--user=bencher:wrong"}, put...)...); err == nil ||
		!strings.Contains(err.Error(), "etcdserver: authentication failed, invalid user ID or password") {
		t.Fatalf("wrong password: %v", err)
	}
	for _, c := range []struct{ what, user, prefix, msg string }{
		{"no --user", "", "b/", "etcdserver: user name is empty"},
		{"put outside the user's keys", "--user=bencher:bpw", "other/", "etcdserver: permission denied"},
	} {
		args := []string{ep, "-w", "json", "put", "--prefix=" + c.prefix, "--total=10"}
		if c.user != "" {
			args = append([]string{c.user}, args...)
		}
		out, errOut, err := runIn(t, "", args...)
		if err != nil {
			t.Fatalf("%s: %v\n%s", c.what, err, errOut)
		}
		s := jsonStats(t, out)[0]
		if s.Count != 0 || s.Errors != 10 || len(s.ErrorDist) != 1 || !strings.Contains(s.ErrorDist[0].Error, c.msg) {
			t.Fatalf("%s: want 10 errors %q, got %s", c.what, c.msg, out)
		}
	}
}

// TestUserAgainstEtcd checks --user against etcd 3.4, the oracle.
func TestUserAgainstEtcd(t *testing.T) {
	cl := etcdtest.Start(t, 1)
	enableAuth(t, cl.Client(t))
	benchUser(t, cl.Endpoints())
}

// TestUserAgainstConcord checks --user against a 3-member Concord.
func TestUserAgainstConcord(t *testing.T) {
	cl := concordtest.Start(t, 3)
	enableAuth(t, cl.Client(t))
	benchUser(t, cl.Endpoints())
}
