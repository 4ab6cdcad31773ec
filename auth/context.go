package auth

import (
	"context"
	"crypto/tls"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
)

// gatewayHeader is set on every call the JSON gateway forwards (its
// Accept header); such a call's TLS peer is this member, not the client.
const gatewayHeader = "grpcgateway-accept"

func (s *Store) authInfoFromContext(ctx context.Context) (*AuthInfo, error) {
	if !s.Enabled() {
		return nil, nil
	}
	md, _ := metadata.FromIncomingContext(ctx)
	tok := first(md, rpctypes.TokenFieldNameGRPC)
	if tok == "" {
		tok = first(md, rpctypes.TokenFieldNameSwagger)
	}
	if tok != "" {
		ai, ok := s.tokenInfo(tok)
		if !ok {
			return nil, ErrInvalidAuthToken
		}
		return ai, nil
	}
	if len(md.Get(gatewayHeader)) > 0 {
		return nil, nil
	}
	if cn := certCommonName(ctx); cn != "" {
		return &AuthInfo{Username: cn, Revision: s.Revision()}, nil
	}
	return nil, nil
}

func first(md metadata.MD, key string) string {
	if v := md.Get(key); len(v) > 0 {
		return v[0]
	}
	return ""
}

// tokenInfo resolves a token: a simple token names a user at the current
// revision (as etcd's); a JWT carries its own revision.
func (s *Store) tokenInfo(tok string) (*AuthInfo, bool) {
	now := s.now()
	if s.jwt != nil {
		return s.jwt.info(tok, now)
	}
	user, ok := s.tokens.lookup(tok, now)
	if !ok {
		return nil, false
	}
	return &AuthInfo{Username: user, Revision: s.Revision()}, true
}

// certCommonName is the CN of the first verified chain's leaf of the
// request's TLS peer, or "".
func certCommonName(ctx context.Context) string {
	p, ok := peer.FromContext(ctx)
	if !ok || p.AuthInfo == nil {
		return ""
	}
	var st tls.ConnectionState
	switch ti := p.AuthInfo.(type) {
	case credentials.TLSInfo:
		st = ti.State
	case *credentials.TLSInfo:
		st = ti.State
	default:
		return ""
	}
	for _, chain := range st.VerifiedChains {
		if len(chain) > 0 {
			return chain[0].Subject.CommonName
		}
	}
	return ""
}
