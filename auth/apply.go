package auth

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"

	"github.com/cockroachdb/pebble/v2"
	"go.etcd.io/etcd/api/v3/authpb"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"google.golang.org/protobuf/proto"
)

// change is what one request does to the store: records to write (a nil
// value deletes), the enabled flag, whether the revision moves, and which
// simple tokens die. commitLocked writes it to the batch and then to
// memory, so a refused request changes nothing.
type change struct {
	users      map[string]*authpb.User
	roles      map[string]*authpb.Role
	enabled    *bool
	bump       bool
	dropTokens []string // users whose tokens die
}

func (c *change) putUser(u *authpb.User) {
	if c.users == nil {
		c.users = map[string]*authpb.User{}
	}
	c.users[string(u.Name)] = u
}

func (c *change) putRole(r *authpb.Role) {
	if c.roles == nil {
		c.roles = map[string]*authpb.Role{}
	}
	c.roles[string(r.Name)] = r
}

// isAuthRequest reports whether r is an auth request and whether it needs
// the root role while auth is enabled (all but Authenticate).
func isAuthRequest(r *pb.InternalRaftRequest) (auth, admin bool) {
	switch {
	case r.Authenticate != nil:
		return true, false
	case r.AuthEnable != nil, r.AuthDisable != nil, r.AuthStatus != nil,
		r.AuthUserAdd != nil, r.AuthUserDelete != nil, r.AuthUserGet != nil,
		r.AuthUserChangePassword != nil, r.AuthUserGrantRole != nil,
		r.AuthUserRevokeRole != nil, r.AuthUserList != nil, r.AuthRoleList != nil,
		r.AuthRoleAdd != nil, r.AuthRoleDelete != nil, r.AuthRoleGet != nil,
		r.AuthRoleGrantPermission != nil, r.AuthRoleRevokePermission != nil:
		return true, true
	}
	return false, false
}

// HeaderAuthInfo is the caller a committed entry names: r.Header's
// Username and AuthRevision (nil without a user).
func HeaderAuthInfo(r *pb.InternalRaftRequest) *AuthInfo {
	h := r.GetHeader()
	if h == nil || h.Username == "" {
		return nil
	}
	return &AuthInfo{Username: h.Username, Revision: h.AuthRevision}
}

func (s *Store) apply(w pebble.Writer, r *pb.InternalRaftRequest) (proto.Message, bool, error) {
	isAuth, admin := isAuthRequest(r)
	if !isAuth {
		return nil, false, nil
	}
	if r.Authenticate != nil {
		resp, err := s.applyAuthenticate(r)
		return resp, true, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if admin && s.enabled.Load() {
		if err := s.adminPermittedLocked(HeaderAuthInfo(r)); err != nil {
			return nil, true, err
		}
	}
	var c change
	resp, err := s.decideLocked(r, &c)
	if err != nil {
		return nil, true, err
	}
	if err := s.commitLocked(w, &c); err != nil {
		return nil, true, err
	}
	return resp, true, nil
}

// decideLocked computes the response of r and the change it makes,
// without touching anything.
func (s *Store) decideLocked(r *pb.InternalRaftRequest, c *change) (proto.Message, error) {
	switch {
	case r.AuthEnable != nil:
		return &pb.AuthEnableResponse{}, s.enableLocked(c)
	case r.AuthDisable != nil:
		if s.enabled.Load() {
			f := false
			c.enabled, c.bump = &f, true
		}
		return &pb.AuthDisableResponse{}, nil
	case r.AuthStatus != nil:
		return &pb.AuthStatusResponse{Enabled: s.enabled.Load(), AuthRevision: s.rev}, nil
	case r.AuthUserAdd != nil:
		return &pb.AuthUserAddResponse{}, s.userAddLocked(r.AuthUserAdd, c)
	case r.AuthUserDelete != nil:
		return &pb.AuthUserDeleteResponse{}, s.userDeleteLocked(r.AuthUserDelete.Name, c)
	case r.AuthUserChangePassword != nil:
		return &pb.AuthUserChangePasswordResponse{}, s.userChangePasswordLocked(r.AuthUserChangePassword, c)
	case r.AuthUserGrantRole != nil:
		return &pb.AuthUserGrantRoleResponse{}, s.userGrantRoleLocked(r.AuthUserGrantRole, c)
	case r.AuthUserRevokeRole != nil:
		return &pb.AuthUserRevokeRoleResponse{}, s.userRevokeRoleLocked(r.AuthUserRevokeRole, c)
	case r.AuthRoleAdd != nil:
		return &pb.AuthRoleAddResponse{}, s.roleAddLocked(r.AuthRoleAdd.Name, c)
	case r.AuthRoleDelete != nil:
		return &pb.AuthRoleDeleteResponse{}, s.roleDeleteLocked(r.AuthRoleDelete.Role, c)
	case r.AuthRoleGrantPermission != nil:
		return &pb.AuthRoleGrantPermissionResponse{}, s.roleGrantLocked(r.AuthRoleGrantPermission, c)
	case r.AuthRoleRevokePermission != nil:
		return &pb.AuthRoleRevokePermissionResponse{}, s.roleRevokeLocked(r.AuthRoleRevokePermission, c)
	case r.AuthUserGet != nil:
		u := s.users[r.AuthUserGet.Name]
		if u == nil {
			return nil, ErrUserNotFound
		}
		return &pb.AuthUserGetResponse{Roles: slices.Clone(u.Roles)}, nil
	case r.AuthUserList != nil:
		return &pb.AuthUserListResponse{Users: sortedKeys(s.users)}, nil
	case r.AuthRoleGet != nil:
		ro := s.roles[r.AuthRoleGet.Role]
		if ro == nil {
			return nil, ErrRoleNotFound
		}
		return &pb.AuthRoleGetResponse{Perm: clonePerms(ro.KeyPermission)}, nil
	case r.AuthRoleList != nil:
		return &pb.AuthRoleListResponse{Roles: sortedKeys(s.roles)}, nil
	}
	return nil, fmt.Errorf("auth: no auth request")
}

// enableLocked: as etcd's AuthEnable, a no-op if already enabled, else
// the root user must exist and hold the root role. Enabling does not move
// the revision (etcd's does not either).
func (s *Store) enableLocked(c *change) error {
	if s.enabled.Load() {
		return nil
	}
	u := s.users[RootUser]
	if u == nil {
		return ErrRootUserNotExist
	}
	if !hasRole(u, RootRole) {
		return ErrRootRoleNotExist
	}
	t := true
	c.enabled = &t
	return nil
}

func (s *Store) userAddLocked(r *pb.AuthUserAddRequest, c *change) error {
	if r.Name == "" {
		return ErrUserEmpty
	}
	if s.users[r.Name] != nil {
		return ErrUserAlreadyExist
	}
	opts := r.Options
	if opts == nil {
		opts = &authpb.UserAddOptions{}
	}
	u := &authpb.User{Name: []byte(r.Name), Options: &authpb.UserAddOptions{NoPassword: opts.NoPassword}}
	if !opts.NoPassword {
		h, err := storedHash(r.HashedPassword)
		if err != nil {
			return err
		}
		u.Password = h
	}
	c.putUser(u)
	c.bump = true
	return nil
}

// storedHash is the bcrypt hash to store for a committed HashedPassword:
// the hash itself, or its standard base64 encoding (etcd 3.5+ puts that in
// the entry). The apply loop never hashes: an entry without a hash (a
// clear password only) or with a value that is neither is refused with
// ErrNoPasswordUser, etcd's answer to a hash it cannot decode.
func storedHash(v string) ([]byte, error) {
	if strings.HasPrefix(v, "$2") {
		return []byte(v), nil
	}
	b, err := base64.StdEncoding.DecodeString(v)
	if err != nil || !bytes.HasPrefix(b, []byte("$2")) {
		return nil, ErrNoPasswordUser
	}
	return b, nil
}

func (s *Store) userDeleteLocked(name string, c *change) error {
	if s.enabled.Load() && name == RootUser {
		return ErrInvalidAuthMgmt
	}
	if s.users[name] == nil {
		return ErrUserNotFound
	}
	if c.users == nil {
		c.users = map[string]*authpb.User{}
	}
	c.users[name] = nil
	c.bump = true
	c.dropTokens = append(c.dropTokens, name)
	return nil
}

// userChangePasswordLocked replaces the hash (keeping roles and options)
// and, as etcd, invalidates the user's tokens.
func (s *Store) userChangePasswordLocked(r *pb.AuthUserChangePasswordRequest, c *change) error {
	u := s.users[r.Name]
	if u == nil {
		return ErrUserNotFound
	}
	h, err := storedHash(r.HashedPassword)
	if err != nil {
		return err
	}
	nu := proto.Clone(u).(*authpb.User)
	nu.Password = h
	c.putUser(nu)
	c.bump = true
	c.dropTokens = append(c.dropTokens, r.Name)
	return nil
}

// userGrantRoleLocked: the role must exist unless it is root; granting a
// role the user holds is a no-op (no revision change), as etcd.
func (s *Store) userGrantRoleLocked(r *pb.AuthUserGrantRoleRequest, c *change) error {
	u := s.users[r.User]
	if u == nil {
		return ErrUserNotFound
	}
	if r.Role != RootRole && s.roles[r.Role] == nil {
		return ErrRoleNotFound
	}
	if hasRole(u, r.Role) {
		return nil
	}
	nu := proto.Clone(u).(*authpb.User)
	nu.Roles = append(nu.Roles, r.Role)
	slices.Sort(nu.Roles)
	c.putUser(nu)
	c.bump = true
	return nil
}

func (s *Store) userRevokeRoleLocked(r *pb.AuthUserRevokeRoleRequest, c *change) error {
	if s.enabled.Load() && r.Name == RootUser && r.Role == RootRole {
		return ErrInvalidAuthMgmt
	}
	u := s.users[r.Name]
	if u == nil {
		return ErrUserNotFound
	}
	if !hasRole(u, r.Role) {
		return ErrRoleNotGranted
	}
	nu := proto.Clone(u).(*authpb.User)
	nu.Roles = slices.DeleteFunc(nu.Roles, func(x string) bool { return x == r.Role })
	c.putUser(nu)
	c.bump = true
	return nil
}

func (s *Store) roleAddLocked(name string, c *change) error {
	if name == "" {
		return ErrRoleEmpty
	}
	if s.roles[name] != nil {
		return ErrRoleAlreadyExist
	}
	c.putRole(&authpb.Role{Name: []byte(name)})
	c.bump = true
	return nil
}

// roleDeleteLocked deletes the role and revokes it from every user
// holding it, in one revision, as etcd.
func (s *Store) roleDeleteLocked(name string, c *change) error {
	if s.enabled.Load() && name == RootRole {
		return ErrInvalidAuthMgmt
	}
	if s.roles[name] == nil {
		return ErrRoleNotFound
	}
	c.roles = map[string]*authpb.Role{name: nil}
	for _, un := range sortedKeys(s.users) {
		u := s.users[un]
		if hasRole(u, name) {
			nu := proto.Clone(u).(*authpb.User)
			nu.Roles = slices.DeleteFunc(nu.Roles, func(x string) bool { return x == name })
			c.putUser(nu)
		}
	}
	c.bump = true
	return nil
}

// roleGrantLocked adds a permission to the role, or changes the type of
// the one with the same key and range_end, keeping the permissions sorted
// by key (then range_end), as etcd.
func (s *Store) roleGrantLocked(r *pb.AuthRoleGrantPermissionRequest, c *change) error {
	ro := s.roles[r.Name]
	if ro == nil {
		return ErrRoleNotFound
	}
	if r.Perm == nil {
		return ErrPermissionNotGiven
	}
	nr := proto.Clone(ro).(*authpb.Role)
	i := slices.IndexFunc(nr.KeyPermission, func(p *authpb.Permission) bool {
		return bytes.Equal(p.Key, r.Perm.Key) && bytes.Equal(p.RangeEnd, r.Perm.RangeEnd)
	})
	if i >= 0 {
		nr.KeyPermission[i].PermType = r.Perm.PermType
	} else {
		nr.KeyPermission = append(nr.KeyPermission, &authpb.Permission{PermType: r.Perm.PermType, Key: r.Perm.Key, RangeEnd: r.Perm.RangeEnd})
		slices.SortStableFunc(nr.KeyPermission, func(a, b *authpb.Permission) int {
			return cmp.Or(bytes.Compare(a.Key, b.Key), bytes.Compare(a.RangeEnd, b.RangeEnd))
		})
	}
	c.putRole(nr)
	c.bump = true
	return nil
}

func (s *Store) roleRevokeLocked(r *pb.AuthRoleRevokePermissionRequest, c *change) error {
	ro := s.roles[r.Role]
	if ro == nil {
		return ErrRoleNotFound
	}
	nr := proto.Clone(ro).(*authpb.Role)
	n := len(nr.KeyPermission)
	nr.KeyPermission = slices.DeleteFunc(nr.KeyPermission, func(p *authpb.Permission) bool {
		return bytes.Equal(p.Key, r.Key) && bytes.Equal(p.RangeEnd, r.RangeEnd)
	})
	if len(nr.KeyPermission) == n {
		return ErrPermissionNotGranted
	}
	c.putRole(nr)
	c.bump = true
	return nil
}

// commitLocked writes c to w, then to memory. A write failure wraps
// ErrStorage and leaves memory as it was.
func (s *Store) commitLocked(w pebble.Writer, c *change) error {
	if c.users == nil && c.roles == nil && c.enabled == nil && !c.bump {
		return nil
	}
	if err := writeChange(w, c, s.rev+1); err != nil {
		return fmt.Errorf("%w: %w", ErrStorage, err)
	}
	for name, u := range c.users {
		if u == nil {
			delete(s.users, name)
		} else {
			s.users[name] = u
		}
	}
	for name, ro := range c.roles {
		if ro == nil {
			delete(s.roles, name)
		} else {
			s.roles[name] = ro
		}
	}
	if c.enabled != nil {
		s.enabled.Store(*c.enabled)
		if !*c.enabled && s.tokens != nil {
			s.tokens.dropAll()
		}
	}
	if c.bump {
		s.rev++
	}
	for _, name := range c.dropTokens {
		if s.tokens != nil {
			s.tokens.dropUser(name)
		}
		s.pw.forget(name)
	}
	s.changedLocked()
	return nil
}

func writeChange(w pebble.Writer, c *change, nextRev uint64) error {
	for _, name := range sortedKeys(c.users) {
		if err := putOrDelete(w, userKey(name), c.users[name]); err != nil {
			return err
		}
	}
	for _, name := range sortedKeys(c.roles) {
		if err := putOrDelete(w, roleKey(name), c.roles[name]); err != nil {
			return err
		}
	}
	if c.enabled != nil {
		v := []byte{0}
		if *c.enabled {
			v[0] = 1
		}
		if err := w.Set(enabledKey, v, nil); err != nil {
			return err
		}
	}
	if c.bump {
		if err := w.Set(revisionKey, binary.BigEndian.AppendUint64(nil, nextRev), nil); err != nil {
			return err
		}
	}
	return nil
}

func putOrDelete[M interface {
	proto.Message
	comparable
}](w pebble.Writer, key []byte, m M) error {
	var zero M
	if m == zero {
		return w.Delete(key, nil)
	}
	v, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return err
	}
	return w.Set(key, v, nil)
}

func clonePerms(ps []*authpb.Permission) []*authpb.Permission {
	out := make([]*authpb.Permission, 0, len(ps))
	for _, p := range ps {
		out = append(out, proto.Clone(p).(*authpb.Permission))
	}
	return out
}
