package api

import (
	"context"
	"errors"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/concord-kv/concord/auth"
)

// Access control: every gRPC call passes the server's interceptors, which
// resolve the caller once (Store.AuthInfoFromContext: the "token" metadata,
// else the client certificate's CN) and apply the method's rule from
// methodRules before the handler runs. Handlers whose decision depends on
// the request's keys (KV, Watch, the lease key checks) get the caller with
// callerFrom: the one the interceptor stored for a unary call, resolved
// anew for each request of a stream. A method without a rule is refused
// unless the caller holds the root role, so a new RPC cannot slip through
// unchecked. While auth is disabled nothing is checked and no token is
// looked at.

// rule is what a method needs of its caller while auth is enabled.
type rule int

const (
	// ruleAdmin: the root role (etcd's AuthAdmin.isPermitted).
	ruleAdmin rule = iota
	// ruleKeys: any caller, even anonymous; a token present must be valid;
	// the handler checks the request's keys.
	ruleKeys
	// ruleUser: an authenticated user (etcd 3.7's requireAuthInfo); the
	// handler may check more.
	ruleUser
	// ruleNone: nothing is looked at (Authenticate, which a client with an
	// expired token calls to get a new one, and the health service).
	ruleNone
)

// methodRules maps full gRPC method names to their rule, as etcd 3.7:
// KV reads and writes are checked per key; Compact, the auth management
// RPCs (user and role writes and lists) and the maintenance RPCs that
// expose or change the whole store need root; Status, MemberList, Alarm
// GET and the lease RPCs need a user; Lock and Election act through an
// inner client that carries the caller's token, so the key checks happen
// there.
var methodRules = map[string]rule{
	"/etcdserverpb.KV/Range":       ruleKeys,
	"/etcdserverpb.KV/RangeStream": ruleKeys,
	"/etcdserverpb.KV/Put":         ruleKeys,
	"/etcdserverpb.KV/DeleteRange": ruleKeys,
	"/etcdserverpb.KV/Txn":         ruleKeys,
	"/etcdserverpb.KV/Compact":     ruleAdmin,

	"/etcdserverpb.Watch/Watch": ruleKeys,

	"/etcdserverpb.Lease/LeaseGrant":      ruleUser,
	"/etcdserverpb.Lease/LeaseRevoke":     ruleUser,
	"/etcdserverpb.Lease/LeaseKeepAlive":  ruleKeys,
	"/etcdserverpb.Lease/LeaseTimeToLive": ruleUser,
	"/etcdserverpb.Lease/LeaseLeases":     ruleUser,

	"/etcdserverpb.Cluster/MemberAdd":     ruleAdmin,
	"/etcdserverpb.Cluster/MemberRemove":  ruleAdmin,
	"/etcdserverpb.Cluster/MemberUpdate":  ruleAdmin,
	"/etcdserverpb.Cluster/MemberList":    ruleUser,
	"/etcdserverpb.Cluster/MemberPromote": ruleAdmin,

	"/etcdserverpb.Maintenance/Alarm":      ruleUser, // ACTIVATE/DEACTIVATE: root, in Alarm
	"/etcdserverpb.Maintenance/Status":     ruleUser,
	"/etcdserverpb.Maintenance/Defragment": ruleAdmin,
	"/etcdserverpb.Maintenance/Hash":       ruleAdmin,
	"/etcdserverpb.Maintenance/HashKV":     ruleAdmin,
	"/etcdserverpb.Maintenance/Snapshot":   ruleAdmin,
	"/etcdserverpb.Maintenance/MoveLeader": ruleAdmin,
	"/etcdserverpb.Maintenance/Downgrade":  ruleAdmin,

	"/etcdserverpb.Auth/AuthEnable":           ruleAdmin,
	"/etcdserverpb.Auth/AuthDisable":          ruleAdmin,
	"/etcdserverpb.Auth/AuthStatus":           ruleKeys,
	"/etcdserverpb.Auth/Authenticate":         ruleNone,
	"/etcdserverpb.Auth/UserAdd":              ruleAdmin,
	"/etcdserverpb.Auth/UserGet":              ruleKeys, // self or root, in UserGet
	"/etcdserverpb.Auth/UserList":             ruleAdmin,
	"/etcdserverpb.Auth/UserDelete":           ruleAdmin,
	"/etcdserverpb.Auth/UserChangePassword":   ruleAdmin,
	"/etcdserverpb.Auth/UserGrantRole":        ruleAdmin,
	"/etcdserverpb.Auth/UserRevokeRole":       ruleAdmin,
	"/etcdserverpb.Auth/RoleAdd":              ruleAdmin,
	"/etcdserverpb.Auth/RoleGet":              ruleKeys, // own role or root, in RoleGet
	"/etcdserverpb.Auth/RoleList":             ruleAdmin,
	"/etcdserverpb.Auth/RoleDelete":           ruleAdmin,
	"/etcdserverpb.Auth/RoleGrantPermission":  ruleAdmin,
	"/etcdserverpb.Auth/RoleRevokePermission": ruleAdmin,

	"/v3lockpb.Lock/Lock":             ruleKeys,
	"/v3lockpb.Lock/Unlock":           ruleKeys,
	"/v3electionpb.Election/Campaign": ruleKeys,
	"/v3electionpb.Election/Proclaim": ruleKeys,
	"/v3electionpb.Election/Leader":   ruleKeys,
	"/v3electionpb.Election/Observe":  ruleKeys,
	"/v3electionpb.Election/Resign":   ruleKeys,
	"/grpc.health.v1.Health/Check":    ruleNone,
	"/grpc.health.v1.Health/List":     ruleNone,
	"/grpc.health.v1.Health/Watch":    ruleNone,
}

// MethodRuleKnown reports whether the full method name has an access rule
// (tests check every registered method has one).
func MethodRuleKnown(fullMethod string) bool {
	_, ok := methodRules[fullMethod]
	return ok
}

// callerKey keys the caller resolved by the interceptor in a context.
type callerKey struct{}

// caller is what the interceptor learned: ai is nil for an anonymous call
// (or while auth is disabled).
type caller struct{ ai *auth.AuthInfo }

// authorize resolves the caller of fullMethod and applies its rule; it
// returns ctx carrying the caller for the handler.
func (s *Server) authorize(ctx context.Context, fullMethod string) (context.Context, error) {
	st := s.cfg.Auth
	if st == nil || !st.Enabled() {
		return ctx, nil
	}
	r, ok := methodRules[fullMethod]
	if !ok {
		r = ruleAdmin
	}
	if r == ruleNone {
		return ctx, nil
	}
	ai, err := st.AuthInfoFromContext(ctx)
	if errors.Is(err, auth.ErrInvalidAuthToken) {
		// A simple token handed out moments ago by another member, in an
		// Authenticate entry this member has not applied yet, is known once
		// everything committed before this call is applied (etcd waits for a
		// ReadIndex before its token lookup too).
		if berr := s.linearizableBarrier(ctx); berr == nil {
			ai, err = st.AuthInfoFromContext(ctx)
		}
	}
	if err != nil {
		return ctx, toGRPC(err)
	}
	switch r {
	case ruleAdmin:
		if err := st.IsAdminPermitted(orEmpty(ai)); err != nil {
			return ctx, toGRPC(err)
		}
	case ruleUser:
		if ai == nil {
			return ctx, toGRPC(auth.ErrUserEmpty)
		}
	}
	return context.WithValue(ctx, callerKey{}, caller{ai}), nil
}

// authorizeStream is authorize for a stream: the rule is applied when the
// stream opens, but the caller is not kept, so each request of a
// long-lived stream is checked with the caller resolved at that moment
// (a simple token names the current auth revision).
func (s *Server) authorizeStream(ctx context.Context, fullMethod string) error {
	_, err := s.authorize(ctx, fullMethod)
	return err
}

// callerFrom returns the caller the interceptor stored in ctx, resolving
// it now when the call did not come through the interceptor (nil while
// auth is disabled or for an anonymous caller).
func (s *Server) callerFrom(ctx context.Context) (*auth.AuthInfo, error) {
	st := s.cfg.Auth
	if st == nil || !st.Enabled() {
		return nil, nil
	}
	if c, ok := ctx.Value(callerKey{}).(caller); ok {
		return c.ai, nil
	}
	return st.AuthInfoFromContext(ctx)
}

// orEmpty is ai, or the empty AuthInfo the store's checks refuse with
// ErrUserEmpty, as etcd passes for an anonymous caller.
func orEmpty(ai *auth.AuthInfo) *auth.AuthInfo {
	if ai == nil {
		return &auth.AuthInfo{}
	}
	return ai
}

// checkKeys resolves the caller of ctx and runs check with it while auth
// is enabled; errors are gRPC statuses.
func (s *Server) checkKeys(ctx context.Context, check func(st *auth.Store, ai *auth.AuthInfo) error) error {
	st := s.cfg.Auth
	if st == nil || !st.Enabled() {
		return nil
	}
	ai, err := s.callerFrom(ctx)
	if err != nil {
		return toGRPC(err)
	}
	return toGRPC(check(st, orEmpty(ai)))
}

// authRevision is the auth revision while auth is enabled, else 0.
func (s *Server) authRevision() uint64 {
	if st := s.cfg.Auth; st != nil && st.Enabled() {
		return st.Revision()
	}
	return 0
}

// authUnchanged refuses a read whose permission check (at auth revision
// rev, 0 for none) an auth change may have overtaken while it ran, with
// etcd's "revision of auth store is old", on which clients renew their
// token and retry (as etcd's doSerialize).
func (s *Server) authUnchanged(rev uint64) error {
	if rev != 0 && s.authRevision() != rev {
		return rpctypes.ErrGRPCAuthOldRevision
	}
	return nil
}

// checkAdmin refuses a caller without the root role while auth is enabled.
func (s *Server) checkAdmin(ctx context.Context) error {
	return s.checkKeys(ctx, func(st *auth.Store, ai *auth.AuthInfo) error { return st.IsAdminPermitted(ai) })
}

// checkRangeAuth is etcd's read check of a Range.
func checkRangeAuth(st *auth.Store, ai *auth.AuthInfo, r *pb.RangeRequest) error {
	return st.IsRangePermitted(ai, r.Key, r.RangeEnd)
}

// checkPutAuth is etcd's check of a Put: write on the key, read too with
// prev_kv, and write on every key already attached to its lease (a user
// who could not revoke the lease must not attach to it).
func (s *Server) checkPutAuth(st *auth.Store, ai *auth.AuthInfo, r *pb.PutRequest) error {
	if err := st.IsPutPermitted(ai, r.Key); err != nil {
		return err
	}
	if r.Lease != 0 {
		if err := s.checkLeaseKeys(st, ai, r.Lease, false); err != nil {
			return err
		}
	}
	if r.PrevKv {
		return st.IsRangePermitted(ai, r.Key, nil)
	}
	return nil
}

// checkDeleteAuth is etcd's check of a DeleteRange: write on the range,
// read too with prev_kv.
func checkDeleteAuth(st *auth.Store, ai *auth.AuthInfo, r *pb.DeleteRangeRequest) error {
	if err := st.IsDeleteRangePermitted(ai, r.Key, r.RangeEnd); err != nil {
		return err
	}
	if r.PrevKv {
		return st.IsRangePermitted(ai, r.Key, r.RangeEnd)
	}
	return nil
}

// checkTxnAuth is etcd's check of a Txn: read on every compare, and every
// op of both branches, nested txns included.
func (s *Server) checkTxnAuth(st *auth.Store, ai *auth.AuthInfo, r *pb.TxnRequest) error {
	for _, c := range r.Compare {
		if err := st.IsRangePermitted(ai, c.Key, c.RangeEnd); err != nil {
			return err
		}
	}
	for _, ops := range [][]*pb.RequestOp{r.Success, r.Failure} {
		for _, op := range ops {
			var err error
			switch {
			case op.GetRequestRange() != nil:
				err = checkRangeAuth(st, ai, op.GetRequestRange())
			case op.GetRequestPut() != nil:
				err = s.checkPutAuth(st, ai, op.GetRequestPut())
			case op.GetRequestDeleteRange() != nil:
				err = checkDeleteAuth(st, ai, op.GetRequestDeleteRange())
			case op.GetRequestTxn() != nil:
				err = s.checkTxnAuth(st, ai, op.GetRequestTxn())
			}
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// checkLeaseKeys checks ai's permission on every key attached to lease id
// (read if read, else write), as etcd's lease checks: root may do all; an
// unknown lease has no keys to check.
func (s *Server) checkLeaseKeys(st *auth.Store, ai *auth.AuthInfo, id int64, read bool) error {
	if st.IsAdminPermitted(ai) == nil || s.cfg.Lessor == nil {
		return nil
	}
	_, _, keys, err := s.cfg.Lessor.TimeToLive(id, s.now())
	if err != nil {
		return nil
	}
	for _, k := range keys {
		check := st.IsPutPermitted(ai, k)
		if read {
			check = st.IsRangePermitted(ai, k, nil)
		}
		if check != nil {
			return check
		}
	}
	return nil
}
