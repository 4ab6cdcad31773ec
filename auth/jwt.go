package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"fmt"
	"os"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// jwtProvider signs and verifies etcd's JWT tokens: claims "username"
// (string), "revision" (the auth revision at Authenticate) and "exp"
// (Unix seconds), so tokens an etcd member signed with the same key
// verify here and the other way round.
type jwtProvider struct {
	method  jwt.SigningMethod
	signKey any // nil: verify-only
	verify  any
	ttl     time.Duration
}

// newJWTProvider reads etcd's jwt options: sign-method (required; RS*,
// PS*, ES*, HS*), pub-key and priv-key (file paths), ttl (a Go duration,
// default 5m). RSA/PS and ES need priv-key, pub-key or both (pub-key only:
// verify-only; both: they must match); HS needs priv-key, the shared
// secret.
func newJWTProvider(opts map[string]string) (*jwtProvider, error) {
	p := &jwtProvider{ttl: 5 * time.Minute}
	if v := opts["ttl"]; v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return nil, fmt.Errorf("%w: ttl: %v", ErrInvalidAuthOpts, err)
		}
		p.ttl = d
	}
	var pub, priv []byte
	var err error
	if f := opts["pub-key"]; f != "" {
		if pub, err = os.ReadFile(f); err != nil {
			return nil, err
		}
	}
	if f := opts["priv-key"]; f != "" {
		if priv, err = os.ReadFile(f); err != nil {
			return nil, err
		}
	}
	p.method = jwt.GetSigningMethod(opts["sign-method"])
	if p.method == nil {
		return nil, ErrInvalidAuthMethod
	}
	switch p.method.(type) {
	case *jwt.SigningMethodRSA, *jwt.SigningMethodRSAPSS:
		p.signKey, p.verify, err = keyPair(pub, priv, jwt.ParseRSAPublicKeyFromPEM, jwt.ParseRSAPrivateKeyFromPEM,
			func(k *rsa.PrivateKey) *rsa.PublicKey { return &k.PublicKey })
	case *jwt.SigningMethodECDSA:
		p.signKey, p.verify, err = keyPair(pub, priv, jwt.ParseECPublicKeyFromPEM, jwt.ParseECPrivateKeyFromPEM,
			func(k *ecdsa.PrivateKey) *ecdsa.PublicKey { return &k.PublicKey })
	case *jwt.SigningMethodHMAC:
		if len(priv) == 0 {
			return nil, ErrMissingKey
		}
		p.signKey, p.verify = priv, priv
	default:
		return nil, ErrInvalidAuthMethod
	}
	if err != nil {
		return nil, err
	}
	return p, nil
}

// keyPair loads an asymmetric key pair from PEM: pub only (verify-only),
// priv only, or both, which must match (ErrKeyMismatch); neither is
// ErrMissingKey. public derives the public half of a private key.
func keyPair[Pub interface{ Equal(crypto.PublicKey) bool }, Priv any](
	pubPEM, privPEM []byte, parsePub func([]byte) (Pub, error), parsePriv func([]byte) (Priv, error), public func(Priv) Pub,
) (sign, verify any, err error) {
	var pub Pub
	hasPub := len(pubPEM) > 0
	if hasPub {
		if pub, err = parsePub(pubPEM); err != nil {
			return nil, nil, err
		}
	}
	if len(privPEM) == 0 {
		if !hasPub {
			return nil, nil, ErrMissingKey
		}
		return nil, pub, nil
	}
	priv, err := parsePriv(privPEM)
	if err != nil {
		return nil, nil, err
	}
	if hasPub && !pub.Equal(public(priv)) {
		return nil, nil, ErrKeyMismatch
	}
	return priv, public(priv), nil
}

// sign returns a token for user at auth revision rev, expiring ttl after
// now; ErrVerifyOnly without a private key.
func (p *jwtProvider) sign(user string, rev uint64, now time.Time) (string, error) {
	if p.signKey == nil {
		return "", ErrVerifyOnly
	}
	t := jwt.NewWithClaims(p.method, jwt.MapClaims{
		"username": user,
		"revision": rev,
		"exp":      now.Add(p.ttl).Unix(),
	})
	return t.SignedString(p.signKey)
}

// info verifies token at now: its signature under this member's key and
// method, its expiry, and its username and revision claims.
func (p *jwtProvider) info(token string, now time.Time) (*AuthInfo, bool) {
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(token, claims, func(*jwt.Token) (any, error) { return p.verify, nil },
		jwt.WithValidMethods([]string{p.method.Alg()}), jwt.WithTimeFunc(func() time.Time { return now }),
		jwt.WithExpirationRequired())
	if err != nil {
		return nil, false
	}
	user, ok := claims["username"].(string)
	rev, ok2 := claims["revision"].(float64)
	if !ok || !ok2 || user == "" || rev < 0 {
		return nil, false
	}
	return &AuthInfo{Username: user, Revision: uint64(rev)}, true
}
