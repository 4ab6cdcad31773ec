package auth

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
)

func tokenCtx(key, tok string) context.Context {
	return metadata.NewIncomingContext(context.Background(), metadata.Pairs(key, tok))
}

// TestSimpleTokens: a token registered by a committed Authenticate names
// its user until TokenTTL passes without use (each use restarts it); the
// fake clock drives expiry, no sleeping.
func TestSimpleTokens(t *testing.T) {
	e := newEnv(t, Config{TokenTTL: 10})
	e.must(userAdd("u", e.hash("pw")))
	e.withRoot()
	tok := e.s.NewSimpleToken()
	if len(tok) != 32 || tok == e.s.NewSimpleToken() {
		t.Fatalf("token %q", tok)
	}
	resp := e.must(authenticate("u", tok)).(*pb.AuthenticateResponse)
	if resp.Token != tok {
		t.Fatalf("Authenticate answered %q, want %q", resp.Token, tok)
	}
	ai, err := e.s.AuthInfoFromContext(tokenCtx("token", tok))
	if err != nil || ai.Username != "u" || ai.Revision != e.s.Revision() {
		t.Fatalf("token: %v %v", ai, err)
	}
	// the gateway's Authorization header
	if ai, err := e.s.AuthInfoFromContext(tokenCtx("authorization", tok)); err != nil || ai.Username != "u" {
		t.Fatalf("authorization: %v %v", ai, err)
	}
	e.now = e.now.Add(9 * time.Second) // used: TTL restarts
	if _, err := e.s.AuthInfoFromContext(tokenCtx("token", tok)); err != nil {
		t.Fatal(err)
	}
	e.now = e.now.Add(9 * time.Second)
	if _, err := e.s.AuthInfoFromContext(tokenCtx("token", tok)); err != nil {
		t.Fatalf("within TTL of last use: %v", err)
	}
	e.now = e.now.Add(10 * time.Second)
	if _, err := e.s.AuthInfoFromContext(tokenCtx("token", tok)); !errors.Is(err, ErrInvalidAuthToken) {
		t.Fatalf("expired: %v", err)
	}
	if _, err := e.s.AuthInfoFromContext(tokenCtx("token", "bogus")); !errors.Is(err, ErrInvalidAuthToken) {
		t.Fatalf("unknown: %v", err)
	}
	// the sweep drops expired tokens no one asks about
	for range 5 {
		e.must(authenticate("u", e.s.NewSimpleToken()))
	}
	e.now = e.now.Add(11 * time.Second)
	e.must(authenticate("u", "fresh"))
	if n := e.s.tokens.len(); n != 1 {
		t.Fatalf("%d tokens after the sweep, want 1", n)
	}
	if ai, err := e.s.AuthInfoFromContext(context.Background()); ai != nil || err != nil {
		t.Fatalf("no token: %v %v", ai, err)
	}
}

// TestSimpleTokensInvalidated: deleting a user or changing its password
// drops its tokens, AuthDisable drops all, as etcd.
func TestSimpleTokensInvalidated(t *testing.T) {
	e := newEnv(t, Config{})
	e.must(userAdd("u", e.hash("pw")))
	e.must(userAdd("v", e.hash("pw")))
	e.withRoot()
	e.must(authenticate("u", "tu"))
	e.must(authenticate("v", "tv"))
	e.must(authenticate(RootUser, "tr"))
	e.must(changePassword("u", e.hash("pw2")))
	if _, ok := e.s.tokenInfo("tu"); ok {
		t.Fatal("token survived the password change")
	}
	e.must(userDelete("v"))
	if _, ok := e.s.tokenInfo("tv"); ok {
		t.Fatal("token survived the user's deletion")
	}
	if _, ok := e.s.tokenInfo("tr"); !ok {
		t.Fatal("root's token died")
	}
	e.must(disableReq)
	if _, ok := e.s.tokenInfo("tr"); ok {
		t.Fatal("token survived AuthDisable")
	}
}

// TestCertCommonName: without a token, the CN of a verified client
// certificate is the user, at the current revision; not for calls the
// gateway forwards.
func TestCertCommonName(t *testing.T) {
	e := newEnv(t, Config{})
	e.withRoot()
	cert := &x509.Certificate{Subject: pkix.Name{CommonName: "alice"}}
	p := &peer.Peer{AuthInfo: credentials.TLSInfo{State: tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{cert}}}}}
	ctx := peer.NewContext(context.Background(), p)
	ai, err := e.s.AuthInfoFromContext(ctx)
	if err != nil || ai == nil || ai.Username != "alice" || ai.Revision != e.s.Revision() {
		t.Fatalf("CN: %v %v", ai, err)
	}
	gw := metadata.NewIncomingContext(ctx, metadata.Pairs("grpcgateway-accept", "application/json"))
	if ai, err := e.s.AuthInfoFromContext(gw); ai != nil || err != nil {
		t.Fatalf("gateway call: %v %v", ai, err)
	}
	unverified := peer.NewContext(context.Background(), &peer.Peer{AuthInfo: credentials.TLSInfo{}})
	if ai, err := e.s.AuthInfoFromContext(unverified); ai != nil || err != nil {
		t.Fatalf("no verified chain: %v %v", ai, err)
	}
	// a token wins over the certificate
	e.must(authenticate(RootUser, "tr"))
	tctx := metadata.NewIncomingContext(ctx, metadata.Pairs("token", "tr"))
	if ai, err := e.s.AuthInfoFromContext(tctx); err != nil || ai.Username != RootUser {
		t.Fatalf("token and cert: %v %v", ai, err)
	}
}

func TestTokenOptionErrors(t *testing.T) {
	for _, c := range []struct {
		opt string
		err error
	}{
		{"bogus", ErrInvalidAuthOpts},
		{"simple,x", ErrInvalidAuthOpts},
		{"jwt,sign-method=RS256,sign-method=RS256", ErrInvalidAuthOpts},
		{"jwt,priv-key=/dev/null", ErrInvalidAuthMethod},
		{"jwt,sign-method=XX256", ErrInvalidAuthMethod},
		{"jwt,sign-method=RS256", ErrMissingKey},
		{"jwt,sign-method=ES256", ErrMissingKey},
		{"jwt,sign-method=HS256", ErrMissingKey},
		{"jwt,sign-method=HS256,priv-key=/dev/null,ttl=forever", ErrInvalidAuthOpts},
	} {
		if _, err := NewStore(Config{Token: c.opt}); !errors.Is(err, c.err) {
			t.Errorf("%q: %v, want %v", c.opt, err, c.err)
		}
	}
	if _, err := NewStore(Config{Token: "simple"}); err != nil {
		t.Fatal(err)
	}
}
