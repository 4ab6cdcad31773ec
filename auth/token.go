package auth

import (
	"io"
	"sync"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/proto"
)

// simpleTokens are etcd's simple tokens: opaque strings naming a user,
// kept in this member's memory, each dying ttl after its last use. There
// is no sweeper goroutine: expired tokens are dropped when met and, at
// most once per second, all at once during a lookup or a registration.
type simpleTokens struct {
	ttl time.Duration

	mu        sync.Mutex // guards tokens and lastSweep
	tokens    map[string]*simpleToken
	lastSweep time.Time
}

type simpleToken struct {
	user     string
	lastUsed time.Time
}

func newSimpleTokens(ttl time.Duration) *simpleTokens {
	return &simpleTokens{ttl: ttl, tokens: map[string]*simpleToken{}}
}

func (t *simpleTokens) sweepLocked(now time.Time) {
	if now.Sub(t.lastSweep) < time.Second {
		return
	}
	t.lastSweep = now
	for k, v := range t.tokens {
		if now.Sub(v.lastUsed) >= t.ttl {
			delete(t.tokens, k)
		}
	}
}

func (t *simpleTokens) register(token, user string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sweepLocked(now)
	t.tokens[token] = &simpleToken{user: user, lastUsed: now}
}

// lookup returns the token's user and restarts its TTL; false if unknown
// or expired.
func (t *simpleTokens) lookup(token string, now time.Time) (string, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sweepLocked(now)
	v := t.tokens[token]
	if v == nil {
		return "", false
	}
	if now.Sub(v.lastUsed) >= t.ttl {
		delete(t.tokens, token)
		return "", false
	}
	v.lastUsed = now
	return v.user, true
}

func (t *simpleTokens) dropUser(user string) {
	t.dropUnless(func(name string) bool { return name != user })
}

func (t *simpleTokens) dropUnless(keep func(user string) bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, v := range t.tokens {
		if !keep(v.user) {
			delete(t.tokens, k)
		}
	}
}

func (t *simpleTokens) dropAll() {
	t.mu.Lock()
	t.tokens = map[string]*simpleToken{}
	t.mu.Unlock()
}

func (t *simpleTokens) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.tokens)
}

const tokenLetters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

// NewSimpleToken returns the opaque token the receiving member puts in
// InternalAuthenticateRequest.SimpleToken: 32 random letters (etcd's are
// 16 letters and the applied index); empty for JWT, or if Config.Rand
// failed.
func (s *Store) NewSimpleToken() string {
	if s.tokens == nil {
		return ""
	}
	b := make([]byte, 32)
	// rejection sampling keeps the letters uniform
	for i := 0; i < len(b); {
		var c [1]byte
		if _, err := io.ReadFull(s.cfg.Rand, c[:]); err != nil {
			return "" // Apply refuses an empty token (ErrInvalidAuthToken)
		}
		if int(c[0]) < 256/len(tokenLetters)*len(tokenLetters) {
			b[i] = tokenLetters[int(c[0])%len(tokenLetters)]
			i++
		}
	}
	return string(b)
}

// applyAuthenticate issues the token of a committed Authenticate (the
// password was checked by the receiving member): the simple token the
// entry carries is registered on this member, or a JWT is signed. As
// etcd: ErrAuthNotEnabled; ErrAuthFailed if the user is gone or has no
// password; ErrAuthOldRevision if the header names no user and carries an
// auth revision (the one CheckPassword returned on the receiving member)
// older than the store's: the password may have changed since.
func (s *Store) applyAuthenticate(r *pb.InternalRaftRequest) (proto.Message, error) {
	a := r.Authenticate
	s.mu.RLock()
	enabled, rev, u := s.enabled.Load(), s.rev, s.users[a.Name]
	s.mu.RUnlock()
	switch {
	case !enabled:
		return nil, ErrAuthNotEnabled
	case u == nil, u.GetOptions().GetNoPassword():
		return nil, ErrAuthFailed
	}
	if h := r.GetHeader(); h != nil && h.Username == "" && h.AuthRevision != 0 && h.AuthRevision < rev {
		return nil, ErrAuthOldRevision
	}
	now := s.now()
	if s.jwt != nil {
		tok, err := s.jwt.sign(a.Name, rev, now)
		if err != nil {
			return nil, err
		}
		return &pb.AuthenticateResponse{Token: tok}, nil
	}
	if a.SimpleToken == "" {
		return nil, ErrInvalidAuthToken
	}
	s.tokens.register(a.SimpleToken, a.Name, now)
	return &pb.AuthenticateResponse{Token: a.SimpleToken}, nil
}
