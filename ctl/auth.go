package ctl

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func (a *app) newAuthCommand() *cobra.Command {
	ac := &cobra.Command{Use: "auth <enable or disable>", Short: "Enable or disable authentication"}
	noArgs := func(name string, args []string) error {
		if len(args) != 0 {
			return exitErrf(ExitBadArgs, "auth %s command does not accept any arguments", name)
		}
		return nil
	}
	enable := &cobra.Command{
		Use:   "enable",
		Short: "Enables authentication",
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := noArgs("enable", args); err != nil {
				return err
			}
			cli, err := a.client()
			if err != nil {
				return err
			}
			defer cli.Close()
			ctx, cancel := a.commandCtx()
			defer cancel()
			for {
				_, err = cli.AuthEnable(ctx)
				if err == nil || !errors.Is(err, rpctypes.ErrRootRoleNotExist) {
					break
				}
				// etcdctl creates the root role and grants it to root, then retries.
				if _, err = cli.RoleAdd(ctx, "root"); err != nil {
					break
				}
				if _, err = cli.UserGrantRole(ctx, "root", "root"); err != nil {
					break
				}
			}
			if err != nil {
				return exitErr(ExitError, err)
			}
			fmt.Fprintln(cmd.OutOrStdout(), "Authentication Enabled")
			return nil
		},
	}
	disable := &cobra.Command{
		Use:   "disable",
		Short: "Disables authentication",
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := noArgs("disable", args); err != nil {
				return err
			}
			return a.withClient(cmd, func(cli *clientv3.Client, _ *printer) error {
				ctx, cancel := a.commandCtx()
				_, err := cli.AuthDisable(ctx)
				cancel()
				if err != nil {
					return exitErr(ExitError, err)
				}
				fmt.Fprintln(cmd.OutOrStdout(), "Authentication Disabled")
				return nil
			})
		},
	}
	status := &cobra.Command{
		Use:   "status",
		Short: "Returns authentication status",
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := noArgs("status", args); err != nil {
				return err
			}
			return a.withClient(cmd, func(cli *clientv3.Client, p *printer) error {
				ctx, cancel := a.commandCtx()
				resp, err := cli.AuthStatus(ctx)
				cancel()
				if err != nil {
					return exitErr(ExitError, err)
				}
				return p.AuthStatus(resp)
			})
		},
	}
	ac.AddCommand(enable, disable, status)
	return ac
}

// authCall runs one auth RPC with the command timeout and prints it.
func (a *app) authCall(cmd *cobra.Command, f func(ctx context.Context, cli *clientv3.Client, p *printer) error) error {
	return a.withClient(cmd, func(cli *clientv3.Client, p *printer) error {
		ctx, cancel := a.commandCtx()
		defer cancel()
		return f(ctx, cli, p)
	})
}

func (a *app) readNewPassword(cmd *cobra.Command, name string, interactive bool) (string, error) {
	if !interactive {
		var pw string
		_, _ = fmt.Fscanf(cmd.InOrStdin(), "%s", &pw)
		return pw, nil
	}
	pw1, err := askPassword(cmd.InOrStdin(), cmd.ErrOrStderr(), fmt.Sprintf("Password of %s: ", name))
	if err != nil {
		return "", exitErrf(ExitBadArgs, "failed to ask password: %w", err)
	}
	if pw1 == "" {
		return "", exitErrf(ExitBadArgs, "empty password")
	}
	pw2, err := askPassword(cmd.InOrStdin(), cmd.ErrOrStderr(), fmt.Sprintf("Type password of %s again for confirmation: ", name))
	if err != nil {
		return "", exitErrf(ExitBadArgs, "failed to ask password: %w", err)
	}
	if pw1 != pw2 {
		return "", exitErrf(ExitBadArgs, "given passwords are different")
	}
	return pw1, nil
}

func (a *app) newUserCommand() *cobra.Command {
	uc := &cobra.Command{Use: "user <subcommand>", Short: "User related commands"}
	var interactive, noPassword bool
	var newPassword string
	add := &cobra.Command{
		Use:   "add <user name or user:password> [options]",
		Short: "Adds a new user",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return exitErrf(ExitBadArgs, "user add command requires user name as its argument")
			}
			user, password := args[0], ""
			opts := &clientv3.UserAddOptions{}
			switch {
			case noPassword:
				opts.NoPassword = true
			case newPassword != "":
				password = newPassword
			default:
				if n, pw, ok := strings.Cut(args[0], ":"); ok {
					if n == "" {
						return exitErrf(ExitBadArgs, "empty user name is not allowed")
					}
					user, password = n, pw
				} else {
					pw, err := a.readNewPassword(cmd, user, interactive)
					if err != nil {
						return err
					}
					password = pw
				}
			}
			return a.authCall(cmd, func(ctx context.Context, cli *clientv3.Client, p *printer) error {
				resp, err := cli.UserAddWithOptions(ctx, user, password, opts)
				if err != nil {
					return exitErr(ExitError, err)
				}
				return p.UserAdd(user, resp)
			})
		},
	}
	add.Flags().BoolVar(&interactive, "interactive", true, "Read password from stdin instead of interactive terminal")
	add.Flags().StringVar(&newPassword, "new-user-password", "", "Supply password from the command line flag")
	add.Flags().BoolVar(&noPassword, "no-password", false, "Create a user without password (CN based auth only)")

	one := func(use, short, msg string, f func(ctx context.Context, cli *clientv3.Client, p *printer, name string) error) *cobra.Command {
		return &cobra.Command{
			Use: use, Short: short,
			RunE: func(cmd *cobra.Command, args []string) error {
				if len(args) != 1 {
					return exitErrf(ExitBadArgs, "%s", msg)
				}
				return a.authCall(cmd, func(ctx context.Context, cli *clientv3.Client, p *printer) error {
					return f(ctx, cli, p, args[0])
				})
			},
		}
	}
	del := one("delete <user name>", "Deletes a user", "user delete command requires user name as its argument",
		func(ctx context.Context, cli *clientv3.Client, p *printer, name string) error {
			resp, err := cli.UserDelete(ctx, name)
			if err != nil {
				return exitErr(ExitError, err)
			}
			return p.UserDelete(name, resp)
		})
	var detail bool
	get := one("get <user name> [options]", "Gets detailed information of a user", "user get command requires user name as its argument",
		func(ctx context.Context, cli *clientv3.Client, p *printer, name string) error {
			resp, err := cli.UserGet(ctx, name)
			if err != nil {
				return exitErr(ExitError, err)
			}
			if !detail {
				return p.UserGet(name, resp)
			}
			p.printf("User: %s\n", name)
			for _, role := range resp.Roles {
				p.printf("\n")
				rr, err := cli.RoleGet(ctx, role)
				if err != nil {
					return exitErr(ExitError, err)
				}
				if err := p.RoleGet(role, rr); err != nil {
					return err
				}
			}
			return nil
		})
	get.Flags().BoolVar(&detail, "detail", false, "Show permissions of roles granted to the user")
	list := &cobra.Command{
		Use: "list", Short: "Lists all users",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 0 {
				return exitErrf(ExitBadArgs, "user list command requires no arguments")
			}
			return a.authCall(cmd, func(ctx context.Context, cli *clientv3.Client, p *printer) error {
				resp, err := cli.UserList(ctx)
				if err != nil {
					return exitErr(ExitError, err)
				}
				return p.UserList(resp)
			})
		},
	}
	var pwInteractive bool
	passwd := &cobra.Command{
		Use: "passwd <user name> [options]", Short: "Changes password of user",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return exitErrf(ExitBadArgs, "user passwd command requires user name as its argument")
			}
			pw, err := a.readNewPassword(cmd, args[0], pwInteractive)
			if err != nil {
				return err
			}
			return a.authCall(cmd, func(ctx context.Context, cli *clientv3.Client, p *printer) error {
				resp, err := cli.UserChangePassword(ctx, args[0], pw)
				if err != nil {
					return exitErr(ExitError, err)
				}
				return p.UserChangePassword(resp)
			})
		},
	}
	passwd.Flags().BoolVar(&pwInteractive, "interactive", true, "If true, read password from stdin instead of interactive terminal")
	two := func(use, short, msg string, f func(ctx context.Context, cli *clientv3.Client, p *printer, user, role string) error) *cobra.Command {
		return &cobra.Command{
			Use: use, Short: short,
			RunE: func(cmd *cobra.Command, args []string) error {
				if len(args) != 2 {
					return exitErrf(ExitBadArgs, "%s", msg)
				}
				return a.authCall(cmd, func(ctx context.Context, cli *clientv3.Client, p *printer) error {
					return f(ctx, cli, p, args[0], args[1])
				})
			},
		}
	}
	grant := two("grant-role <user name> <role name>", "Grants a role to a user", "user grant command requires user name and role name as its argument",
		func(ctx context.Context, cli *clientv3.Client, p *printer, user, role string) error {
			resp, err := cli.UserGrantRole(ctx, user, role)
			if err != nil {
				return exitErr(ExitError, err)
			}
			return p.UserGrantRole(user, role, resp)
		})
	revoke := two("revoke-role <user name> <role name>", "Revokes a role from a user", "user revoke-role requires user name and role name as its argument",
		func(ctx context.Context, cli *clientv3.Client, p *printer, user, role string) error {
			resp, err := cli.UserRevokeRole(ctx, user, role)
			if err != nil {
				return exitErr(ExitError, err)
			}
			return p.UserRevokeRole(user, role, resp)
		})
	uc.AddCommand(add, del, get, list, passwd, grant, revoke)
	return uc
}

// permOptions are the range flags of role grant/revoke-permission.
type permOptions struct{ prefix, fromKey bool }

// keyRange turns <key> [endkey] and the flags into a permission range, as
// etcdctl: empty key means all keys with --prefix/--from-key.
func (o *permOptions) keyRange(args []string) (string, string, error) {
	key := args[0]
	if key == "" {
		if o.prefix && o.fromKey {
			return "", "", exitErrf(ExitBadArgs, "--from-key and --prefix flags are mutually exclusive")
		}
		if o.prefix || o.fromKey {
			return "\x00", "\x00", nil
		}
		return "\x00", "", nil
	}
	if len(args) == 1 {
		switch {
		case o.prefix && o.fromKey:
			return "", "", exitErrf(ExitBadArgs, "--from-key and --prefix flags are mutually exclusive")
		case o.prefix:
			return key, clientv3.GetPrefixRangeEnd(key), nil
		case o.fromKey:
			return key, "\x00", nil
		}
		return key, "", nil
	}
	if o.prefix {
		return "", "", exitErrf(ExitBadArgs, "unexpected endkey argument with --prefix flag")
	}
	if o.fromKey {
		return "", "", exitErrf(ExitBadArgs, "unexpected endkey argument with --from-key flag")
	}
	return key, args[1], nil
}

func (a *app) newRoleCommand() *cobra.Command {
	rc := &cobra.Command{Use: "role <subcommand>", Short: "Role related commands"}
	one := func(use, short, msg string, f func(ctx context.Context, cli *clientv3.Client, p *printer, name string) error) *cobra.Command {
		return &cobra.Command{
			Use: use, Short: short,
			RunE: func(cmd *cobra.Command, args []string) error {
				if len(args) != 1 {
					return exitErrf(ExitBadArgs, "%s", msg)
				}
				return a.authCall(cmd, func(ctx context.Context, cli *clientv3.Client, p *printer) error {
					return f(ctx, cli, p, args[0])
				})
			},
		}
	}
	add := one("add <role name>", "Adds a new role", "role add command requires role name as its argument",
		func(ctx context.Context, cli *clientv3.Client, p *printer, name string) error {
			resp, err := cli.RoleAdd(ctx, name)
			if err != nil {
				return exitErr(ExitError, err)
			}
			return p.RoleAdd(name, resp)
		})
	del := one("delete <role name>", "Deletes a role", "role delete command requires role name as its argument",
		func(ctx context.Context, cli *clientv3.Client, p *printer, name string) error {
			resp, err := cli.RoleDelete(ctx, name)
			if err != nil {
				return exitErr(ExitError, err)
			}
			return p.RoleDelete(name, resp)
		})
	get := one("get <role name>", "Gets detailed information of a role", "role get command requires role name as its argument",
		func(ctx context.Context, cli *clientv3.Client, p *printer, name string) error {
			resp, err := cli.RoleGet(ctx, name)
			if err != nil {
				return exitErr(ExitError, err)
			}
			return p.RoleGet(name, resp)
		})
	list := &cobra.Command{
		Use: "list", Short: "Lists all roles",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 0 {
				return exitErrf(ExitBadArgs, "role list command requires no arguments")
			}
			return a.authCall(cmd, func(ctx context.Context, cli *clientv3.Client, p *printer) error {
				resp, err := cli.RoleList(ctx)
				if err != nil {
					return exitErr(ExitError, err)
				}
				return p.RoleList(resp)
			})
		},
	}
	gopts := &permOptions{}
	grant := &cobra.Command{
		Use:   "grant-permission [options] <role name> <permission type> <key> [endkey]",
		Short: "Grants a key to a role",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) < 3 {
				return exitErrf(ExitBadArgs, "role grant command requires role name, permission type, and key [endkey] as its argument")
			}
			perm, err := clientv3.StrToPermissionType(args[1])
			if err != nil {
				return exitErr(ExitBadArgs, err)
			}
			key, end, err := gopts.keyRange(args[2:])
			if err != nil {
				return err
			}
			return a.authCall(cmd, func(ctx context.Context, cli *clientv3.Client, p *printer) error {
				resp, err := cli.RoleGrantPermission(ctx, args[0], key, end, perm)
				if err != nil {
					return exitErr(ExitError, err)
				}
				return p.RoleGrantPermission(args[0], resp)
			})
		},
	}
	grant.Flags().BoolVar(&gopts.prefix, "prefix", false, "grant a prefix permission")
	grant.Flags().BoolVar(&gopts.fromKey, "from-key", false, "grant a permission of keys that are greater than or equal to the given key using byte compare")
	ropts := &permOptions{}
	revoke := &cobra.Command{
		Use:   "revoke-permission <role name> <key> [endkey]",
		Short: "Revokes a key from a role",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) < 2 {
				return exitErrf(ExitBadArgs, "role revoke-permission command requires role name and key [endkey] as its argument")
			}
			key, end, err := ropts.keyRange(args[1:])
			if err != nil {
				return err
			}
			return a.authCall(cmd, func(ctx context.Context, cli *clientv3.Client, p *printer) error {
				resp, err := cli.RoleRevokePermission(ctx, args[0], key, end)
				if err != nil {
					return exitErr(ExitError, err)
				}
				return p.RoleRevokePermission(args[0], args[1], end, resp)
			})
		},
	}
	revoke.Flags().BoolVar(&ropts.prefix, "prefix", false, "revoke a prefix permission")
	revoke.Flags().BoolVar(&ropts.fromKey, "from-key", false, "revoke a permission of keys that are greater than or equal to the given key using byte compare")
	rc.AddCommand(add, del, get, list, grant, revoke)
	return rc
}
