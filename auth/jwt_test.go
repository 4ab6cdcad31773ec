package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// keyFiles writes a fresh key pair for method into dir and returns the
// pub-key and priv-key paths (HS*: priv-key only, the shared secret).
func keyFiles(t *testing.T, method string) (pub, priv string) {
	t.Helper()
	dir := t.TempDir()
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	var key any
	switch method[:2] {
	case "RS", "PS":
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		priv = write("priv.pem", "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(k))
		key = &k.PublicKey
	case "ES":
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		der, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		priv = write("priv.pem", "EC PRIVATE KEY", der)
		key = &k.PublicKey
	case "HS":
		p := filepath.Join(dir, "secret")
		if err := os.WriteFile(p, []byte("a shared secret of enough length"), 0o600); err != nil {
			t.Fatal(err)
		}
		return "", p
	}
	der, err := x509.MarshalPKIXPublicKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return write("pub.pem", "PUBLIC KEY", der), priv
}

// TestJWT signs a token through a committed Authenticate on one member
// and verifies it on a verify-only second member (RS256, ES256) or one
// sharing the secret (HS256): etcd's claims, the expiry from ttl, a
// tampered or foreign token refused.
func TestJWT(t *testing.T) {
	for _, method := range []string{"RS256", "PS256", "ES256", "HS256"} {
		t.Run(method, func(t *testing.T) {
			pub, priv := keyFiles(t, method)
			opt := "jwt,sign-method=" + method + ",priv-key=" + priv + ",ttl=1m"
			verifyOpt := opt
			if pub != "" {
				opt += ",pub-key=" + pub
				verifyOpt = "jwt,sign-method=" + method + ",pub-key=" + pub + ",ttl=1m"
			}
			e := newEnv(t, Config{Token: opt})
			if e.s.NewSimpleToken() != "" {
				t.Fatal("JWT store made a simple token")
			}
			e.must(userAdd("u", e.hash("pw")))
			e.withRoot()
			tok := e.must(authenticate("u", "")).(*pb.AuthenticateResponse).Token

			claims := jwt.MapClaims{}
			if _, _, err := jwt.NewParser().ParseUnverified(tok, claims); err != nil {
				t.Fatal(err)
			}
			if claims["username"] != "u" || claims["revision"] != float64(e.s.Revision()) || claims["exp"] != float64(e.now.Add(time.Minute).Unix()) {
				t.Fatalf("claims %v", claims)
			}

			other := newEnv(t, Config{Token: verifyOpt})
			other.now = e.now
			if err := other.s.Load(e.db); err != nil {
				t.Fatal(err)
			}
			ai, err := other.s.AuthInfoFromContext(tokenCtx("token", tok))
			if err != nil || ai.Username != "u" || ai.Revision != e.s.Revision() {
				t.Fatalf("second member: %v %v", ai, err)
			}
			if pub != "" {
				if _, err := other.apply("", authenticate("u", "")); !errors.Is(err, ErrVerifyOnly) {
					t.Fatalf("verify-only member signed: %v", err)
				}
			}
			// a token from before an auth change is old
			e.must(roleAdd("x"))
			if err := e.s.IsRangePermitted(ai, []byte("k"), nil); !errors.Is(err, ErrAuthOldRevision) {
				t.Fatalf("old JWT: %v", err)
			}
			parts := strings.Split(tok, ".")
			bad := parts[0] + "." + parts[1] + "x." + parts[2]
			if _, err := other.s.AuthInfoFromContext(tokenCtx("token", bad)); !errors.Is(err, ErrInvalidAuthToken) {
				t.Fatalf("tampered: %v", err)
			}
			foreign := newEnv(t, Config{Token: "jwt,sign-method=HS256,priv-key=" + writeSecret(t)})
			foreign.withRoot()
			if _, err := foreign.s.AuthInfoFromContext(tokenCtx("token", tok)); !errors.Is(err, ErrInvalidAuthToken) {
				t.Fatalf("foreign key: %v", err)
			}
			other.now = other.now.Add(time.Minute)
			if _, err := other.s.AuthInfoFromContext(tokenCtx("token", tok)); !errors.Is(err, ErrInvalidAuthToken) {
				t.Fatalf("expired: %v", err)
			}
		})
	}
}

func writeSecret(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "s")
	if err := os.WriteFile(p, []byte("another secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestJWTKeyMismatch(t *testing.T) {
	pub1, _ := keyFiles(t, "RS256")
	_, priv2 := keyFiles(t, "RS256")
	if _, err := NewStore(Config{Token: "jwt,sign-method=RS256,pub-key=" + pub1 + ",priv-key=" + priv2}); !errors.Is(err, ErrKeyMismatch) {
		t.Fatalf("RSA: %v", err)
	}
	pub1, _ = keyFiles(t, "ES256")
	_, priv2 = keyFiles(t, "ES256")
	if _, err := NewStore(Config{Token: "jwt,sign-method=ES256,pub-key=" + pub1 + ",priv-key=" + priv2}); !errors.Is(err, ErrKeyMismatch) {
		t.Fatalf("EC: %v", err)
	}
}
