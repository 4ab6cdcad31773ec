package ctl

import (
	"context"
	"fmt"
	"strconv"

	"github.com/spf13/cobra"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func leaseArg(s string) (clientv3.LeaseID, error) {
	id, err := strconv.ParseInt(s, 16, 64)
	if err != nil {
		return 0, exitErrf(ExitBadArgs, "bad lease ID arg (%w), expecting ID in Hex", err)
	}
	return clientv3.LeaseID(id), nil
}

func (a *app) newLeaseCommand() *cobra.Command {
	lc := &cobra.Command{Use: "lease <subcommand>", Short: "Lease related commands"}
	grant := &cobra.Command{
		Use:   "grant <ttl>",
		Short: "Creates leases",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return exitErrf(ExitBadArgs, "lease grant command needs TTL argument")
			}
			ttl, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil {
				return exitErrf(ExitBadArgs, "bad TTL (%w)", err)
			}
			return a.withClient(cmd, func(cli *clientv3.Client, p *printer) error {
				ctx, cancel := a.commandCtx()
				resp, err := cli.Grant(ctx, ttl)
				cancel()
				if err != nil {
					return exitErrf(ExitError, "failed to grant lease (%w)", err)
				}
				return p.Grant(resp)
			})
		},
	}
	revoke := &cobra.Command{
		Use:   "revoke <leaseID>",
		Short: "Revokes leases",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return exitErrf(ExitBadArgs, "lease revoke command needs 1 argument")
			}
			id, err := leaseArg(args[0])
			if err != nil {
				return err
			}
			return a.withClient(cmd, func(cli *clientv3.Client, p *printer) error {
				ctx, cancel := a.commandCtx()
				resp, err := cli.Revoke(ctx, id)
				cancel()
				if err != nil {
					return exitErrf(ExitError, "failed to revoke lease (%w)", err)
				}
				return p.Revoke(id, resp)
			})
		},
	}
	var withKeys bool
	ttl := &cobra.Command{
		Use:   "timetolive <leaseID> [options]",
		Short: "Get lease information",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return exitErrf(ExitBadArgs, "lease timetolive command needs lease ID as argument")
			}
			id, err := leaseArg(args[0])
			if err != nil {
				return err
			}
			var opts []clientv3.LeaseOption
			if withKeys {
				opts = append(opts, clientv3.WithAttachedKeys())
			}
			return a.withClient(cmd, func(cli *clientv3.Client, p *printer) error {
				ctx, cancel := a.commandCtx()
				resp, err := cli.TimeToLive(ctx, id, opts...)
				cancel()
				if err != nil {
					return exitErr(ExitBadConnection, err)
				}
				return p.TimeToLive(resp, withKeys)
			})
		},
	}
	ttl.Flags().BoolVar(&withKeys, "keys", false, "Get keys attached to this lease")
	list := &cobra.Command{
		Use:   "list",
		Short: "List all active leases",
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withClient(cmd, func(cli *clientv3.Client, p *printer) error {
				ctx, cancel := a.commandCtx()
				resp, err := cli.Leases(ctx)
				cancel()
				if err != nil {
					return exitErr(ExitBadConnection, err)
				}
				return p.Leases(resp)
			})
		},
	}
	var once bool
	keepAlive := &cobra.Command{
		Use:   "keep-alive [options] <leaseID>",
		Short: "Keeps leases alive (renew)",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return exitErrf(ExitBadArgs, "lease keep-alive command needs lease ID as argument")
			}
			id, err := leaseArg(args[0])
			if err != nil {
				return err
			}
			return a.withClient(cmd, func(cli *clientv3.Client, p *printer) error {
				if once {
					ctx, cancel := a.commandCtx()
					resp, err := cli.KeepAliveOnce(ctx, id)
					cancel()
					if err != nil {
						return exitErr(ExitBadConnection, err)
					}
					return p.KeepAlive(resp)
				}
				ctx, cancel := a.interruptCtx()
				defer cancel()
				ch, err := cli.KeepAlive(ctx, id)
				if err != nil {
					return exitErr(ExitBadConnection, err)
				}
				for resp := range ch {
					if err := p.KeepAlive(resp); err != nil {
						return err
					}
				}
				if ctx.Err() != nil && ctx.Err() != context.DeadlineExceeded {
					return nil
				}
				if p.format == "simple" {
					fmt.Fprintf(cmd.OutOrStdout(), "lease %016x expired or revoked.\n", id)
				}
				return nil
			})
		},
	}
	keepAlive.Flags().BoolVar(&once, "once", false, "Resets the keep-alive time to its original value and exits immediately")
	lc.AddCommand(grant, revoke, ttl, list, keepAlive)
	return lc
}
