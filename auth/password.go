package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"io"
	"sync"
	"sync/atomic"

	"golang.org/x/crypto/bcrypt"
)

// HashPassword returns the bcrypt hash of password at the configured cost
// (Config.BcryptCost); called on the member that received
// UserAdd/UserChangePassword, whose committed entry carries the hash in
// HashedPassword. bcrypt refuses passwords over 72 bytes.
func (s *Store) HashPassword(password string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(password), s.cfg.BcryptCost)
	if err != nil {
		return "", err
	}
	return string(h), nil
}

// CheckPassword verifies name's password off the apply loop and returns
// the auth revision it was checked at, as etcd's: ErrAuthNotEnabled while
// auth is disabled; ErrAuthFailed for an unknown user or a wrong password;
// ErrNoPasswordUser for a user added with no_password.
//
// A verified password is remembered (see passwordCache), so repeated
// checks of the same user and password cost a keyed hash, not a bcrypt,
// and concurrent checks of the same pair run bcrypt once.
func (s *Store) CheckPassword(name, password string) (uint64, error) {
	s.mu.RLock()
	enabled, rev, u := s.enabled.Load(), s.rev, s.users[name]
	s.mu.RUnlock()
	if !enabled {
		return 0, ErrAuthNotEnabled
	}
	if u == nil {
		return 0, ErrAuthFailed
	}
	if u.GetOptions().GetNoPassword() {
		return 0, ErrNoPasswordUser
	}
	if !s.pw.check(name, u.Password, password) {
		return 0, ErrAuthFailed
	}
	return rev, nil
}

// passwordCache remembers, per user, one (stored hash, password) pair
// bcrypt verified. It never holds a password: an entry is the stored
// bcrypt hash and an HMAC-SHA256, under a random key made at start and
// kept only in memory, of the user name, the hash and the password. A
// check hits only if the user's current stored hash is the cached one
// (so a changed password, or a deleted and re-added user, misses) and the
// MACs are equal (compared in constant time). Concurrent checks of the
// same pair wait for one bcrypt (the thundering herd after a leader
// change). A wrong password is never cached.
type passwordCache struct {
	key     []byte
	bcrypts atomic.Int64 // bcrypt comparisons run, for tests

	mu       sync.Mutex // guards verified and inflight
	verified map[string]cachedPassword
	inflight map[[sha256.Size]byte]*pwCall
}

type cachedPassword struct {
	hash string
	mac  [sha256.Size]byte
}

type pwCall struct {
	done chan struct{}
	ok   bool
}

func newPasswordCache(rnd io.Reader) (*passwordCache, error) {
	key := make([]byte, 32)
	if _, err := io.ReadFull(rnd, key); err != nil {
		return nil, err
	}
	return &passwordCache{key: key, verified: map[string]cachedPassword{}, inflight: map[[sha256.Size]byte]*pwCall{}}, nil
}

func (c *passwordCache) mac(name string, hash []byte, password string) [sha256.Size]byte {
	m := hmac.New(sha256.New, c.key)
	var n [8]byte
	for _, part := range [][]byte{[]byte(name), hash, []byte(password)} {
		l := len(part)
		for i := range n {
			n[i] = byte(l >> (8 * i))
		}
		m.Write(n[:])
		m.Write(part)
	}
	var out [sha256.Size]byte
	copy(out[:], m.Sum(nil))
	return out
}

// check reports whether password matches the bcrypt hash stored for name.
func (c *passwordCache) check(name string, hash []byte, password string) bool {
	if len(hash) == 0 {
		return false
	}
	mac := c.mac(name, hash, password)
	c.mu.Lock()
	if e, ok := c.verified[name]; ok && e.hash == string(hash) && hmac.Equal(e.mac[:], mac[:]) {
		c.mu.Unlock()
		return true
	}
	if call, ok := c.inflight[mac]; ok {
		c.mu.Unlock()
		<-call.done
		return call.ok
	}
	call := &pwCall{done: make(chan struct{})}
	c.inflight[mac] = call
	c.mu.Unlock()

	c.bcrypts.Add(1)
	call.ok = bcrypt.CompareHashAndPassword(hash, []byte(password)) == nil

	c.mu.Lock()
	delete(c.inflight, mac)
	if call.ok {
		c.verified[name] = cachedPassword{hash: string(hash), mac: mac}
	}
	c.mu.Unlock()
	close(call.done)
	return call.ok
}

// forget drops name's entry (the user was deleted or its password
// changed; the hash check would miss anyway, this frees the memory).
func (c *passwordCache) forget(name string) {
	c.mu.Lock()
	delete(c.verified, name)
	c.mu.Unlock()
}
