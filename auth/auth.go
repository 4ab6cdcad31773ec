package auth

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"go.etcd.io/etcd/api/v3/authpb"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/proto"
)

// RootUser and RootRole are etcd's built-in names: AuthEnable needs the
// root user holding the root role, and the root role may do everything.
const (
	RootUser = "root"
	RootRole = "root"
)

// Errors, each with etcd's meaning; the API layer maps them to the
// rpctypes values of the same text.
var (
	ErrRootUserNotExist     = errors.New("auth: root user does not exist")
	ErrRootRoleNotExist     = errors.New("auth: root user does not have root role")
	ErrUserAlreadyExist     = errors.New("auth: user name already exists")
	ErrUserEmpty            = errors.New("auth: user name is empty")
	ErrUserNotFound         = errors.New("auth: user name not found")
	ErrRoleAlreadyExist     = errors.New("auth: role name already exists")
	ErrRoleNotFound         = errors.New("auth: role name not found")
	ErrRoleEmpty            = errors.New("auth: role name is empty")
	ErrAuthFailed           = errors.New("auth: authentication failed, invalid user ID or password")
	ErrNoPasswordUser       = errors.New("auth: authentication failed, password was given for no password user")
	ErrPermissionDenied     = errors.New("auth: permission denied")
	ErrRoleNotGranted       = errors.New("auth: role is not granted to the user")
	ErrPermissionNotGranted = errors.New("auth: permission is not granted to the role")
	ErrAuthNotEnabled       = errors.New("auth: authentication is not enabled")
	ErrAuthOldRevision      = errors.New("auth: revision in header is old")
	ErrInvalidAuthToken     = errors.New("auth: invalid auth token")
	ErrInvalidAuthMgmt      = errors.New("auth: invalid auth management")
)

// Errors of the --auth-token option and of JWT signing, with etcd's texts
// (NewStore and Apply of Authenticate return them).
var (
	// ErrPermissionNotGiven: RoleGrantPermission without a permission
	// (etcd's "permission not given").
	ErrPermissionNotGiven = errors.New("auth: permission not given")
	// ErrInvalidAuthOpts: --auth-token is neither "simple" nor "jwt,…", or
	// an option is not key=value or repeated.
	ErrInvalidAuthOpts = errors.New("auth: invalid auth options")
	// ErrInvalidAuthMethod: sign-method is missing or unknown.
	ErrInvalidAuthMethod = errors.New("auth: invalid auth signing method")
	// ErrMissingKey: the sign method needs a key file that was not given.
	ErrMissingKey = errors.New("auth: missing key data")
	// ErrKeyMismatch: pub-key is not the public half of priv-key.
	ErrKeyMismatch = errors.New("auth: public and private keys don't match")
	// ErrVerifyOnly: only pub-key was given, so this member cannot sign
	// tokens (Authenticate fails on it).
	ErrVerifyOnly = errors.New("auth: token signing attempted with verify-only key")
	// ErrStorage wraps a failure to write the apply batch; unlike the
	// errors above it is no answer to the request: the member must stop.
	ErrStorage = errors.New("auth: storage failure")
)

// AuthInfo identifies the caller of a request: the user name and the auth
// revision its token (or certificate check) was validated at.
type AuthInfo struct {
	Username string
	Revision uint64
}

// Config configures a Store.
type Config struct {
	// Token is --auth-token: "simple" or "jwt,pub-key=…,priv-key=…,
	// sign-method=…,ttl=…" as etcd's. Empty means "simple".
	Token string
	// TokenTTL is --auth-token-ttl for simple tokens (etcd: 300s; 0 or
	// less means 300).
	TokenTTL int64 // seconds
	// BcryptCost is --bcrypt-cost (etcd: 10; 0 means 10).
	BcryptCost int
	// Now is the clock for token expiry (simple tokens' TTL, JWT exp);
	// nil means time.Now.
	Now func() time.Time
	// Rand is the source of simple tokens and of the password cache key;
	// nil means crypto/rand.
	Rand io.Reader
}

// Store is the auth state of one member. See the package doc.
type Store struct {
	cfg    Config
	now    func() time.Time
	tokens *simpleTokens // nil with JWT
	jwt    *jwtProvider  // nil with simple tokens
	pw     *passwordCache

	// enabled is read without mu on every request (Enabled); it is
	// stored only under mu held for writing, beside the rest.
	enabled atomic.Bool

	mu      sync.RWMutex // guards the fields below; Apply and Load hold it for writing
	rev     uint64
	users   map[string]*authpb.User
	roles   map[string]*authpb.Role
	changed chan struct{} // closed and replaced at every change

	pmu   sync.Mutex            // guards perms; taken under mu (read or write)
	perms map[string]*userPerms // merged permissions per user, dropped at every change
}

// Apply applies an auth request of a committed entry (r.AuthEnable …
// r.RoleRevokePermission, r.Authenticate, and the read requests etcd 3.4
// also sent through raft: AuthStatus, UserGet/List, RoleGet/List) to w and
// memory; handled is false when r is no auth request. resp is the matching
// etcdserverpb response without its header; err an auth error (nothing
// changed), or one wrapping ErrStorage (the member must stop).
//
// While auth is enabled, every request but Authenticate needs the root
// role of r.Header.Username at r.Header.AuthRevision (IsAdminPermitted), as
// etcd's authApplierV3. An Authenticate whose header names no user but
// carries an auth revision (set by the receiving member to the revision
// CheckPassword returned) older than the current one is
// ErrAuthOldRevision: the password was checked against an older state and
// the receiving member should check again. With a Username in the header
// (the caller's token), the revision is not checked for Authenticate.
func (s *Store) Apply(w pebble.Writer, r *pb.InternalRaftRequest) (resp proto.Message, handled bool, err error) {
	return s.apply(w, r)
}

// Enabled reports whether auth is enabled.
func (s *Store) Enabled() bool { return s.enabled.Load() }

// Revision returns the auth revision (1 in a new cluster, as etcd's).
func (s *Store) Revision() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.rev
}

// Changed returns a channel closed at the next change of the auth
// revision or of the enabled flag (watch streams re-check their
// permissions then).
func (s *Store) Changed() <-chan struct{} {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.changed
}

// AuthInfoFromContext returns the caller of an incoming gRPC request: the
// user of its "token" metadata, or of its "authorization" metadata (the
// JSON gateway's Authorization header), ErrInvalidAuthToken if unknown or
// expired; else the CN of its verified client certificate (at the current
// revision; not for requests the gateway forwards, whose TLS peer is this
// member); else nil. Always nil, nil while auth is disabled.
func (s *Store) AuthInfoFromContext(ctx context.Context) (*AuthInfo, error) {
	return s.authInfoFromContext(ctx)
}
