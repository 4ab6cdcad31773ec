package api

import (
	"context"
	"errors"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/concord-kv/concord/auth"
)

// The Auth service (etcd's etcdserverpb.Auth). Writes are proposed as
// InternalRaftRequest auth entries and applied by auth.Store.Apply on every
// member, which checks the root role of the entry's header while auth is
// enabled. Passwords are hashed (UserAdd, UserChangePassword) and checked
// (Authenticate) here, on the member that received the request, so bcrypt
// never runs in the apply loop and no password enters the raft log. The
// reads (AuthStatus, UserGet/List, RoleGet/List) are answered from this
// member's store after a linearizable barrier. Which callers may call what
// is methodRules' (authz.go); UserGet and RoleGet also let a user read
// itself and its own roles, as etcd.

// errAuthNotConfigured answers the Auth RPCs of a server built without an
// auth store (tests of other services).
var errAuthNotConfigured = auth.ErrAuthNotEnabled

// maxAuthenticateRetries bounds Authenticate's retries when the auth state
// changes between the password check and the commit of the token.
const maxAuthenticateRetries = 8

// proposeAuth proposes r and returns the applier's response of type T.
func proposeAuth[T headered](ctx context.Context, s *Server, r *pb.InternalRaftRequest) (T, error) {
	var zero T
	if s.cfg.Auth == nil {
		return zero, toGRPC(errAuthNotConfigured)
	}
	resp, err := proposeWrite[T](ctx, s, r)
	if err != nil {
		return zero, err
	}
	withHeader(resp, s)
	return resp, nil
}

// withHeader gives m a response header if the applier left it without.
func withHeader(m headered, s *Server) {
	pm, ok := m.(proto.Message)
	if !ok || m.GetHeader() != nil {
		return
	}
	r := pm.ProtoReflect()
	if f := r.Descriptor().Fields().ByName("header"); f != nil {
		r.Set(f, protoreflect.ValueOfMessage(s.header(s.cfg.KV.Rev()).ProtoReflect()))
	}
}

// authRead waits for a linearizable barrier so that the read reflects
// every auth change committed before it.
func (s *Server) authRead(ctx context.Context) error {
	if s.cfg.Auth == nil {
		return toGRPC(errAuthNotConfigured)
	}
	return toGRPC(s.linearizableBarrier(ctx))
}

// AuthEnable serves etcd's Auth.AuthEnable: refused with "root user does
// not exist" / "root user does not have root role" as etcd.
func (s *Server) AuthEnable(ctx context.Context, r *pb.AuthEnableRequest) (*pb.AuthEnableResponse, error) {
	resp, err := proposeAuth[*pb.AuthEnableResponse](ctx, s, &pb.InternalRaftRequest{AuthEnable: r})
	if err == nil {
		s.lg.Info("enabled authentication")
	}
	return resp, err
}

// AuthDisable serves etcd's Auth.AuthDisable (root only).
func (s *Server) AuthDisable(ctx context.Context, r *pb.AuthDisableRequest) (*pb.AuthDisableResponse, error) {
	resp, err := proposeAuth[*pb.AuthDisableResponse](ctx, s, &pb.InternalRaftRequest{AuthDisable: r})
	if err == nil {
		s.lg.Info("disabled authentication")
	}
	return resp, err
}

// AuthStatus serves etcd's Auth.AuthStatus: the enabled flag and the auth
// revision, after a linearizable barrier.
func (s *Server) AuthStatus(ctx context.Context, _ *pb.AuthStatusRequest) (*pb.AuthStatusResponse, error) {
	if err := s.authRead(ctx); err != nil {
		return nil, err
	}
	st := s.cfg.Auth
	return &pb.AuthStatusResponse{Header: s.header(s.cfg.KV.Rev()), Enabled: st.Enabled(), AuthRevision: st.Revision()}, nil
}

// Authenticate serves etcd's Auth.Authenticate: the password is checked
// here (off the raft path), then only the user name and a token chosen by
// this member are committed, so every member knows the token. If the auth
// state changed in between, the check is repeated, as etcd does. Errors:
// "authentication failed, invalid user ID or password", "authentication
// is not enabled".
func (s *Server) Authenticate(ctx context.Context, r *pb.AuthenticateRequest) (*pb.AuthenticateResponse, error) {
	st := s.cfg.Auth
	if st == nil {
		return nil, toGRPC(errAuthNotConfigured)
	}
	if err := s.linearizableBarrier(ctx); err != nil {
		return nil, toGRPC(err)
	}
	for attempt := 0; ; attempt++ {
		rev, err := st.CheckPassword(r.Name, r.Password)
		if err != nil {
			if !errors.Is(err, auth.ErrAuthNotEnabled) {
				s.cfg.Metrics.authFailed()
				s.lg.Warn("invalid authentication was requested", zap.String("user", r.Name), zap.Error(err))
			}
			return nil, toGRPC(err)
		}
		req := &pb.InternalRaftRequest{
			Header:       &pb.RequestHeader{AuthRevision: rev},
			Authenticate: &pb.InternalAuthenticateRequest{Name: r.Name, SimpleToken: st.NewSimpleToken()},
		}
		resp, err := proposeAuth[*pb.AuthenticateResponse](ctx, s, req)
		if err != nil && errors.Is(err, rpctypes.ErrGRPCAuthOldRevision) && attempt < maxAuthenticateRetries {
			s.lg.Info("revision when password checked became stale; retrying")
			continue
		}
		if err != nil {
			s.cfg.Metrics.authFailed()
		}
		return resp, err
	}
}

// hashedRequest returns the password hash to commit for a UserAdd or
// UserChangePassword: the client's hashedPassword if it sent only that,
// else the bcrypt hash of password at --bcrypt-cost.
func (s *Server) hashedRequest(password, hashed string) (string, error) {
	if password == "" && hashed != "" {
		return hashed, nil
	}
	return s.cfg.Auth.HashPassword(password)
}

// UserAdd serves etcd's Auth.UserAdd: the password is hashed here and
// only its hash is committed (as etcd 3.5+), unless options.no_password.
func (s *Server) UserAdd(ctx context.Context, r *pb.AuthUserAddRequest) (*pb.AuthUserAddResponse, error) {
	if s.cfg.Auth == nil {
		return nil, toGRPC(errAuthNotConfigured)
	}
	req := &pb.AuthUserAddRequest{Name: r.Name, Options: r.Options}
	if r.Options == nil || !r.Options.NoPassword {
		h, err := s.hashedRequest(r.Password, r.HashedPassword)
		if err != nil {
			return nil, toGRPC(err)
		}
		req.HashedPassword = h
	}
	resp, err := proposeAuth[*pb.AuthUserAddResponse](ctx, s, &pb.InternalRaftRequest{AuthUserAdd: req})
	if err == nil {
		s.lg.Info("added a user", zap.String("user-name", r.Name))
	}
	return resp, err
}

// UserGet serves etcd's Auth.UserGet: the user's roles; root may read any
// user, others only themselves.
func (s *Server) UserGet(ctx context.Context, r *pb.AuthUserGetRequest) (*pb.AuthUserGetResponse, error) {
	if err := s.authRead(ctx); err != nil {
		return nil, err
	}
	err := s.checkKeys(ctx, func(st *auth.Store, ai *auth.AuthInfo) error {
		if err := st.IsAdminPermitted(ai); err != nil && (ai.Username == "" || ai.Username != r.Name) {
			return err
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	resp, err := s.cfg.Auth.UserGet(r.Name)
	if err != nil {
		return nil, toGRPC(err)
	}
	resp.Header = s.header(s.cfg.KV.Rev())
	return resp, nil
}

// UserList serves etcd's Auth.UserList (root only while enabled).
func (s *Server) UserList(ctx context.Context, _ *pb.AuthUserListRequest) (*pb.AuthUserListResponse, error) {
	if err := s.authRead(ctx); err != nil {
		return nil, err
	}
	if err := s.checkAdmin(ctx); err != nil {
		return nil, err
	}
	resp := s.cfg.Auth.UserList()
	resp.Header = s.header(s.cfg.KV.Rev())
	return resp, nil
}

// UserDelete serves etcd's Auth.UserDelete.
func (s *Server) UserDelete(ctx context.Context, r *pb.AuthUserDeleteRequest) (*pb.AuthUserDeleteResponse, error) {
	resp, err := proposeAuth[*pb.AuthUserDeleteResponse](ctx, s, &pb.InternalRaftRequest{AuthUserDelete: r})
	if err == nil {
		s.lg.Info("deleted a user", zap.String("user-name", r.Name))
	}
	return resp, err
}

// UserChangePassword serves etcd's Auth.UserChangePassword: hashed here,
// as UserAdd.
func (s *Server) UserChangePassword(ctx context.Context, r *pb.AuthUserChangePasswordRequest) (*pb.AuthUserChangePasswordResponse, error) {
	if s.cfg.Auth == nil {
		return nil, toGRPC(errAuthNotConfigured)
	}
	h, err := s.hashedRequest(r.Password, r.HashedPassword)
	if err != nil {
		return nil, toGRPC(err)
	}
	req := &pb.AuthUserChangePasswordRequest{Name: r.Name, HashedPassword: h}
	resp, err := proposeAuth[*pb.AuthUserChangePasswordResponse](ctx, s, &pb.InternalRaftRequest{AuthUserChangePassword: req})
	if err == nil {
		s.lg.Info("changed a password of a user", zap.String("user-name", r.Name))
	}
	return resp, err
}

// UserGrantRole serves etcd's Auth.UserGrantRole.
func (s *Server) UserGrantRole(ctx context.Context, r *pb.AuthUserGrantRoleRequest) (*pb.AuthUserGrantRoleResponse, error) {
	resp, err := proposeAuth[*pb.AuthUserGrantRoleResponse](ctx, s, &pb.InternalRaftRequest{AuthUserGrantRole: r})
	if err == nil {
		s.lg.Info("granted a role to a user", zap.String("user-name", r.User), zap.String("added-role-name", r.Role))
	}
	return resp, err
}

// UserRevokeRole serves etcd's Auth.UserRevokeRole.
func (s *Server) UserRevokeRole(ctx context.Context, r *pb.AuthUserRevokeRoleRequest) (*pb.AuthUserRevokeRoleResponse, error) {
	resp, err := proposeAuth[*pb.AuthUserRevokeRoleResponse](ctx, s, &pb.InternalRaftRequest{AuthUserRevokeRole: r})
	if err == nil {
		s.lg.Info("revoked a role from a user", zap.String("user-name", r.Name), zap.String("revoked-role-name", r.Role))
	}
	return resp, err
}

// RoleAdd serves etcd's Auth.RoleAdd.
func (s *Server) RoleAdd(ctx context.Context, r *pb.AuthRoleAddRequest) (*pb.AuthRoleAddResponse, error) {
	resp, err := proposeAuth[*pb.AuthRoleAddResponse](ctx, s, &pb.InternalRaftRequest{AuthRoleAdd: r})
	if err == nil {
		s.lg.Info("created a role", zap.String("role-name", r.Name))
	}
	return resp, err
}

// RoleGet serves etcd's Auth.RoleGet: the role's permissions; root may
// read any role, others only roles granted to them.
func (s *Server) RoleGet(ctx context.Context, r *pb.AuthRoleGetRequest) (*pb.AuthRoleGetResponse, error) {
	if err := s.authRead(ctx); err != nil {
		return nil, err
	}
	err := s.checkKeys(ctx, func(st *auth.Store, ai *auth.AuthInfo) error {
		err := st.IsAdminPermitted(ai)
		if err == nil || ai.Username == "" {
			return err
		}
		u, uerr := st.UserGet(ai.Username)
		if uerr != nil {
			return err
		}
		for _, role := range u.Roles {
			if role == r.Role {
				return nil
			}
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	resp, err := s.cfg.Auth.RoleGet(r.Role)
	if err != nil {
		return nil, toGRPC(err)
	}
	resp.Header = s.header(s.cfg.KV.Rev())
	return resp, nil
}

// RoleList serves etcd's Auth.RoleList (root only while enabled).
func (s *Server) RoleList(ctx context.Context, _ *pb.AuthRoleListRequest) (*pb.AuthRoleListResponse, error) {
	if err := s.authRead(ctx); err != nil {
		return nil, err
	}
	if err := s.checkAdmin(ctx); err != nil {
		return nil, err
	}
	resp := s.cfg.Auth.RoleList()
	resp.Header = s.header(s.cfg.KV.Rev())
	return resp, nil
}

// RoleDelete serves etcd's Auth.RoleDelete.
func (s *Server) RoleDelete(ctx context.Context, r *pb.AuthRoleDeleteRequest) (*pb.AuthRoleDeleteResponse, error) {
	resp, err := proposeAuth[*pb.AuthRoleDeleteResponse](ctx, s, &pb.InternalRaftRequest{AuthRoleDelete: r})
	if err == nil {
		s.lg.Info("deleted a role", zap.String("role-name", r.Role))
	}
	return resp, err
}

// RoleGrantPermission serves etcd's Auth.RoleGrantPermission.
func (s *Server) RoleGrantPermission(ctx context.Context, r *pb.AuthRoleGrantPermissionRequest) (*pb.AuthRoleGrantPermissionResponse, error) {
	resp, err := proposeAuth[*pb.AuthRoleGrantPermissionResponse](ctx, s, &pb.InternalRaftRequest{AuthRoleGrantPermission: r})
	if err == nil && r.Perm != nil {
		s.lg.Info("granted/updated a permission to a user", zap.String("user-name", r.Name),
			zap.String("permission-name", r.Perm.PermType.String()), zap.ByteString("key", r.Perm.Key), zap.ByteString("range-end", r.Perm.RangeEnd))
	}
	return resp, err
}

// RoleRevokePermission serves etcd's Auth.RoleRevokePermission.
func (s *Server) RoleRevokePermission(ctx context.Context, r *pb.AuthRoleRevokePermissionRequest) (*pb.AuthRoleRevokePermissionResponse, error) {
	resp, err := proposeAuth[*pb.AuthRoleRevokePermissionResponse](ctx, s, &pb.InternalRaftRequest{AuthRoleRevokePermission: r})
	if err == nil {
		s.lg.Info("revoked a permission on range", zap.String("role-name", r.Role), zap.String("key", string(r.Key)), zap.String("range-end", string(r.RangeEnd)))
	}
	return resp, err
}
