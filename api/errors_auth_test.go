package api

import (
	"fmt"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/concord-kv/concord/auth"
)

// TestAuthErrorTexts: every auth error leaves with etcd's text — the auth
// package's text with "etcdserver: " in place of "auth: " — and the one
// etcd 3.4 sends unmapped keeps its own text with codes.Unknown.
func TestAuthErrorTexts(t *testing.T) {
	for _, e := range authErrors {
		st, _ := status.FromError(toGRPC(fmt.Errorf("wrapped: %w", e.err)))
		want := "etcdserver: " + strings.TrimPrefix(e.err.Error(), "auth: ")
		if e.err == auth.ErrAuthOldRevision {
			want = "etcdserver: revision of auth store is old" // the sentinel's text differs
		}
		if st.Message() != want {
			t.Errorf("%v: %q, want %q", e.err, st.Message(), want)
		}
	}
	st, _ := status.FromError(toGRPC(auth.ErrNoPasswordUser))
	if st.Code() != codes.Unknown || st.Message() != "auth: authentication failed, password was given for no password user" {
		t.Errorf("no password user: %v", st)
	}
}
