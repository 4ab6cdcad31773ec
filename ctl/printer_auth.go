package ctl

import (
	"fmt"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// RoleAdd prints a role add response.
func (p *printer) RoleAdd(role string, r *clientv3.AuthRoleAddResponse) error {
	switch p.format {
	case "simple":
		p.printf("Role %s created\n", role)
		return nil
	case "fields":
		p.fieldsHeader(r.Header)
		return nil
	}
	return p.rpc(r, (*pb.AuthRoleAddResponse)(r))
}

// RoleDelete prints a role delete response.
func (p *printer) RoleDelete(role string, r *clientv3.AuthRoleDeleteResponse) error {
	switch p.format {
	case "simple":
		p.printf("Role %s deleted\n", role)
		return nil
	case "fields":
		p.fieldsHeader(r.Header)
		return nil
	}
	return p.rpc(r, (*pb.AuthRoleDeleteResponse)(r))
}

// RoleGet prints a role's permissions: "KV Read:" and "KV Write:" blocks
// listing keys or [key, range_end) ranges.
func (p *printer) RoleGet(role string, r *clientv3.AuthRoleGetResponse) error {
	switch p.format {
	case "simple":
		p.printf("Role %s\n", role)
		if role == "root" && r.Perm == nil {
			p.println("KV Read:")
			p.println("\t[, <open ended>")
			p.println("KV Write:")
			p.println("\t[, <open ended>")
			return nil
		}
		printPerm := func(perm *clientv3.Permission) {
			if len(perm.RangeEnd) == 0 {
				p.printf("\t%s\n", perm.Key)
				return
			}
			key, end := string(perm.Key), string(perm.RangeEnd)
			if end != "\x00" {
				p.printf("\t[%s, %s)", key, end)
			} else {
				p.printf("\t[%s, <open ended>", key)
			}
			if key != "" && clientv3.GetPrefixRangeEnd(key) == end {
				p.printf(" (prefix %s)", key)
			}
			p.printf("\n")
		}
		p.println("KV Read:")
		for _, perm := range r.Perm {
			if perm.PermType == clientv3.PermRead || perm.PermType == clientv3.PermReadWrite {
				printPerm((*clientv3.Permission)(perm))
			}
		}
		p.println("KV Write:")
		for _, perm := range r.Perm {
			if perm.PermType == clientv3.PermWrite || perm.PermType == clientv3.PermReadWrite {
				printPerm((*clientv3.Permission)(perm))
			}
		}
		return nil
	case "fields":
		p.fieldsHeader(r.Header)
		for _, perm := range r.Perm {
			p.println(`"PermType" : `, perm.PermType.String())
			p.fieldq("Key", string(perm.Key))
			p.fieldq("RangeEnd", string(perm.RangeEnd))
		}
		return nil
	}
	return p.rpc(r, (*pb.AuthRoleGetResponse)(r))
}

// RoleList prints role names, one per line.
func (p *printer) RoleList(r *clientv3.AuthRoleListResponse) error {
	switch p.format {
	case "simple":
		for _, role := range r.Roles {
			p.printf("%s\n", role)
		}
		return nil
	case "fields":
		p.fieldsHeader(r.Header)
		fmt.Fprint(p.out, `"Roles" :`)
		for _, role := range r.Roles {
			p.printf(" %q", role)
		}
		p.println()
		return nil
	}
	return p.rpc(r, (*pb.AuthRoleListResponse)(r))
}

// RoleGrantPermission prints a grant-permission response.
func (p *printer) RoleGrantPermission(role string, r *clientv3.AuthRoleGrantPermissionResponse) error {
	switch p.format {
	case "simple":
		p.printf("Role %s updated\n", role)
		return nil
	case "fields":
		p.fieldsHeader(r.Header)
		return nil
	}
	return p.rpc(r, (*pb.AuthRoleGrantPermissionResponse)(r))
}

// RoleRevokePermission prints a revoke-permission response.
func (p *printer) RoleRevokePermission(role, key, end string, r *clientv3.AuthRoleRevokePermissionResponse) error {
	switch p.format {
	case "simple":
		switch {
		case end == "":
			p.printf("Permission of key %s is revoked from role %s\n", key, role)
		case end != "\x00":
			p.printf("Permission of range [%s, %s) is revoked from role %s\n", key, end, role)
		default:
			p.printf("Permission of range [%s, <open ended> is revoked from role %s\n", key, role)
		}
		return nil
	case "fields":
		p.fieldsHeader(r.Header)
		return nil
	}
	return p.rpc(r, (*pb.AuthRoleRevokePermissionResponse)(r))
}

// UserAdd prints a user add response.
func (p *printer) UserAdd(user string, r *clientv3.AuthUserAddResponse) error {
	switch p.format {
	case "simple":
		p.printf("User %s created\n", user)
		return nil
	case "fields":
		p.fieldsHeader(r.Header)
		return nil
	}
	return p.rpc(r, (*pb.AuthUserAddResponse)(r))
}

// UserDelete prints a user delete response.
func (p *printer) UserDelete(user string, r *clientv3.AuthUserDeleteResponse) error {
	switch p.format {
	case "simple":
		p.printf("User %s deleted\n", user)
		return nil
	case "fields":
		p.fieldsHeader(r.Header)
		return nil
	}
	return p.rpc(r, (*pb.AuthUserDeleteResponse)(r))
}

// UserGet prints a user and its roles.
func (p *printer) UserGet(user string, r *clientv3.AuthUserGetResponse) error {
	if p.format == "simple" {
		p.printf("User: %s\n", user)
		fmt.Fprint(p.out, "Roles:")
		for _, role := range r.Roles {
			p.printf(" %s", role)
		}
		p.printf("\n")
		return nil
	}
	return p.rpc(r, (*pb.AuthUserGetResponse)(r))
}

// UserList prints user names, one per line.
func (p *printer) UserList(r *clientv3.AuthUserListResponse) error {
	if p.format == "simple" {
		for _, u := range r.Users {
			p.printf("%s\n", u)
		}
		return nil
	}
	return p.rpc(r, (*pb.AuthUserListResponse)(r))
}

// UserChangePassword prints a password change response.
func (p *printer) UserChangePassword(r *clientv3.AuthUserChangePasswordResponse) error {
	switch p.format {
	case "simple":
		p.println("Password updated")
		return nil
	case "fields":
		p.fieldsHeader(r.Header)
		return nil
	}
	return p.rpc(r, (*pb.AuthUserChangePasswordResponse)(r))
}

// UserGrantRole prints a grant-role response.
func (p *printer) UserGrantRole(user, role string, r *clientv3.AuthUserGrantRoleResponse) error {
	switch p.format {
	case "simple":
		p.printf("Role %s is granted to user %s\n", role, user)
		return nil
	case "fields":
		p.fieldsHeader(r.Header)
		return nil
	}
	return p.rpc(r, (*pb.AuthUserGrantRoleResponse)(r))
}

// UserRevokeRole prints a revoke-role response.
func (p *printer) UserRevokeRole(user, role string, r *clientv3.AuthUserRevokeRoleResponse) error {
	switch p.format {
	case "simple":
		p.printf("Role %s is revoked from user %s\n", role, user)
		return nil
	case "fields":
		p.fieldsHeader(r.Header)
		return nil
	}
	return p.rpc(r, (*pb.AuthUserRevokeRoleResponse)(r))
}

// AuthStatus prints whether authentication is enabled and the auth
// revision.
func (p *printer) AuthStatus(r *clientv3.AuthStatusResponse) error {
	if p.format == "simple" {
		p.println("Authentication Status:", r.Enabled)
		p.println("AuthRevision:", r.AuthRevision)
		return nil
	}
	return p.rpc(r, (*pb.AuthStatusResponse)(r))
}
