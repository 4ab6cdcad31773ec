package auth

import (
	"context"
	"errors"

	"github.com/cockroachdb/pebble/v2"
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

// AuthInfo identifies the caller of a request: the user name and the auth
// revision its token (or certificate check) was validated at.
type AuthInfo struct {
	Username string
	Revision uint64
}

// Config configures a Store.
type Config struct {
	// Token is --auth-token: "simple" or "jwt,pub-key=…,priv-key=…,
	// sign-method=…,ttl=…" as etcd's.
	Token string
	// TokenTTL is --auth-token-ttl for simple tokens (etcd: 300s).
	TokenTTL int64 // seconds
	// BcryptCost is --bcrypt-cost (etcd: 10).
	BcryptCost int
}

// Store is the auth state of one member. See the package doc.
type Store struct{}

// NewStore returns a store for cfg; Load fills it from storage. A bad
// --auth-token value is an error with etcd's text.
func NewStore(cfg Config) (*Store, error) { return &Store{}, nil }

// Load replaces the in-memory view with the records in r (at start and
// after a raft snapshot was installed).
func (s *Store) Load(r pebble.Reader) error { return nil }

// Apply applies an auth request of a committed entry (r.AuthEnable …
// r.RoleRevokePermission, r.Authenticate) to w and memory; handled is
// false when r is no auth request. resp is the matching etcdserverpb
// response without its header; err an auth error (nothing changed).
func (s *Store) Apply(w pebble.Writer, r *pb.InternalRaftRequest) (resp proto.Message, handled bool, err error) {
	return nil, false, nil
}

// Enabled reports whether auth is enabled.
func (s *Store) Enabled() bool { return false }

// Revision returns the auth revision.
func (s *Store) Revision() uint64 { return 0 }

// Changed returns a channel closed at the next change of the auth
// revision (watch streams re-check their permissions then).
func (s *Store) Changed() <-chan struct{} { return nil }

// HashPassword returns the bcrypt hash of password at the configured cost;
// called on the member that received UserAdd/UserChangePassword.
func (s *Store) HashPassword(password string) (string, error) { return "", nil }

// CheckPassword verifies name's password off the apply loop and returns
// the auth revision it was checked at; ErrAuthFailed as etcd's.
func (s *Store) CheckPassword(name, password string) (uint64, error) { return 0, nil }

// NewSimpleToken returns the opaque token the receiving member puts in
// InternalAuthenticateRequest.SimpleToken; empty for JWT.
func (s *Store) NewSimpleToken() string { return "" }

// AuthInfoFromContext returns the caller of an incoming gRPC request: the
// user of its "token" metadata (ErrInvalidAuthToken if unknown or
// expired), else the CN of its verified client certificate, else nil.
func (s *Store) AuthInfoFromContext(ctx context.Context) (*AuthInfo, error) { return nil, nil }

// IsRangePermitted reports whether ai may read [key, end) (end empty: the
// key alone), as etcd's: nil, ErrUserEmpty, ErrAuthOldRevision or
// ErrPermissionDenied. Always nil while auth is disabled.
func (s *Store) IsRangePermitted(ai *AuthInfo, key, end []byte) error { return nil }

// IsPutPermitted reports whether ai may write key.
func (s *Store) IsPutPermitted(ai *AuthInfo, key []byte) error { return nil }

// IsDeleteRangePermitted reports whether ai may write [key, end).
func (s *Store) IsDeleteRangePermitted(ai *AuthInfo, key, end []byte) error { return nil }

// IsAdminPermitted reports whether ai holds the root role.
func (s *Store) IsAdminPermitted(ai *AuthInfo) error { return nil }

// UserGet, UserList, RoleGet, RoleList answer the read RPCs from memory.
func (s *Store) UserGet(name string) (*pb.AuthUserGetResponse, error) { return nil, nil }
func (s *Store) UserList() *pb.AuthUserListResponse                   { return nil }
func (s *Store) RoleGet(name string) (*pb.AuthRoleGetResponse, error) { return nil, nil }
func (s *Store) RoleList() *pb.AuthRoleListResponse                   { return nil }
