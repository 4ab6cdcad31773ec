package auth

import (
	"crypto/rand"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"go.etcd.io/etcd/api/v3/authpb"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/proto"

	"github.com/concord-kv/concord/storage"
)

// Record kinds: the byte after storage.PrefixAuth (see the package doc).
const (
	kindSetting = 0x01
	kindUser    = 0x02
	kindRole    = 0x03
)

var (
	enabledKey  = []byte{storage.PrefixAuth, kindSetting, 'e'}
	revisionKey = []byte{storage.PrefixAuth, kindSetting, 'r'}
)

func userKey(name string) []byte {
	return append([]byte{storage.PrefixAuth, kindUser}, name...)
}

func roleKey(name string) []byte {
	return append([]byte{storage.PrefixAuth, kindRole}, name...)
}

// NewStore returns a store for cfg; Load fills it from storage. A bad
// --auth-token value is an error with etcd's text (ErrInvalidAuthOpts,
// ErrInvalidAuthMethod, ErrMissingKey, ErrKeyMismatch, or a key file's
// read or parse error).
func NewStore(cfg Config) (*Store, error) {
	if cfg.TokenTTL <= 0 {
		cfg.TokenTTL = 300
	}
	if cfg.BcryptCost == 0 {
		cfg.BcryptCost = 10
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	s := &Store{cfg: cfg, now: cfg.Now}
	typ, opts, err := splitTokenOption(cfg.Token)
	if err != nil {
		return nil, err
	}
	switch typ {
	case "", "simple":
		s.tokens = newSimpleTokens(time.Duration(cfg.TokenTTL) * time.Second)
	case "jwt":
		if s.jwt, err = newJWTProvider(opts); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("%w: unknown token type %q", ErrInvalidAuthOpts, typ)
	}
	if s.pw, err = newPasswordCache(cfg.Rand); err != nil {
		return nil, err
	}
	s.resetLocked(false, 1, map[string]*authpb.User{}, map[string]*authpb.Role{})
	return s, nil
}

// splitTokenOption splits --auth-token into its type and key=value
// options, as etcd: an option without exactly one "=" or given twice is
// ErrInvalidAuthOpts.
func splitTokenOption(v string) (string, map[string]string, error) {
	parts := strings.Split(v, ",")
	opts := map[string]string{}
	for _, p := range parts[1:] {
		kv := strings.Split(p, "=")
		if len(kv) != 2 {
			return "", nil, fmt.Errorf("%w: %q", ErrInvalidAuthOpts, p)
		}
		if _, dup := opts[kv[0]]; dup {
			return "", nil, fmt.Errorf("%w: %q given twice", ErrInvalidAuthOpts, kv[0])
		}
		opts[kv[0]] = kv[1]
	}
	return parts[0], opts, nil
}

// resetLocked replaces the whole view; the caller holds mu (or owns s).
func (s *Store) resetLocked(enabled bool, rev uint64, users map[string]*authpb.User, roles map[string]*authpb.Role) {
	s.rev, s.users, s.roles = rev, users, roles
	s.enabled.Store(enabled)
	s.changedLocked()
}

// changedLocked drops the permission cache and wakes Changed's waiters.
func (s *Store) changedLocked() {
	s.pmu.Lock()
	s.perms = map[string]*userPerms{}
	s.pmu.Unlock()
	if s.changed != nil {
		close(s.changed)
	}
	s.changed = make(chan struct{})
}

// Load replaces the in-memory view with the records in r (at start and
// after a raft snapshot was installed). A record that does not parse is
// storage.ErrCorrupt. Simple tokens of users that no longer exist, or all
// of them if auth is now disabled, are dropped.
func (s *Store) Load(r pebble.Reader) error {
	st, err := ReadState(r)
	if err != nil {
		return err
	}
	enabled, rev := st.Enabled, st.Revision
	users, roles := map[string]*authpb.User{}, map[string]*authpb.Role{}
	for _, u := range st.Users {
		users[string(u.Name)] = u
	}
	for _, ro := range st.Roles {
		roles[string(ro.Name)] = ro
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resetLocked(enabled, rev, users, roles)
	if s.tokens != nil {
		if !enabled {
			s.tokens.dropAll()
		} else {
			s.tokens.dropUnless(func(name string) bool { return users[name] != nil })
		}
	}
	return nil
}

// UserGet answers etcd's UserGet: the user's roles, sorted;
// ErrUserNotFound.
func (s *Store) UserGet(name string) (*pb.AuthUserGetResponse, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	u := s.users[name]
	if u == nil {
		return nil, ErrUserNotFound
	}
	return &pb.AuthUserGetResponse{Roles: slices.Clone(u.Roles)}, nil
}

// UserList answers etcd's UserList: all user names, sorted.
func (s *Store) UserList() *pb.AuthUserListResponse {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return &pb.AuthUserListResponse{Users: sortedKeys(s.users)}
}

// RoleGet answers etcd's RoleGet: the role's permissions sorted by key;
// ErrRoleNotFound.
func (s *Store) RoleGet(name string) (*pb.AuthRoleGetResponse, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	ro := s.roles[name]
	if ro == nil {
		return nil, ErrRoleNotFound
	}
	resp := &pb.AuthRoleGetResponse{}
	for _, p := range ro.KeyPermission {
		resp.Perm = append(resp.Perm, proto.Clone(p).(*authpb.Permission))
	}
	return resp, nil
}

// RoleList answers etcd's RoleList: all role names, sorted.
func (s *Store) RoleList() *pb.AuthRoleListResponse {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return &pb.AuthRoleListResponse{Roles: sortedKeys(s.roles)}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func hasRole(u *authpb.User, role string) bool {
	return slices.Contains(u.Roles, role)
}
