package ctl

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func (a *app) newMemberCommand() *cobra.Command {
	mc := &cobra.Command{Use: "member <subcommand>", Short: "Membership related commands"}
	var peerURLs string
	var learner bool
	add := &cobra.Command{
		Use:   "add <memberName> [options]",
		Short: "Adds a member into the cluster",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) < 1 {
				return exitErrf(ExitBadArgs, "member name not provided")
			}
			if len(args) > 1 {
				ev := "too many arguments"
				for _, s := range args {
					if strings.HasPrefix(strings.ToLower(s), "http") {
						ev += fmt.Sprintf(", did you mean --peer-urls=%s", s)
					}
				}
				return exitErr(ExitBadArgs, errors.New(ev))
			}
			name := args[0]
			if peerURLs == "" {
				return exitErrf(ExitBadArgs, "member peer urls not provided")
			}
			p, err := a.printer(cmd)
			if err != nil {
				return err
			}
			urls := strings.Split(peerURLs, ",")
			cli, err := a.client()
			if err != nil {
				return err
			}
			defer cli.Close()
			ctx, cancel := a.commandCtx()
			var resp *clientv3.MemberAddResponse
			if learner {
				resp, err = cli.MemberAddAsLearner(ctx, urls)
			} else {
				resp, err = cli.MemberAdd(ctx, urls)
			}
			cancel()
			if err != nil {
				return exitErr(ExitError, err)
			}
			if err := p.MemberAdd(resp); err != nil {
				return err
			}
			if p.format != "simple" {
				return nil
			}
			var conf []string
			for _, m := range resp.Members {
				for _, u := range m.PeerURLs {
					n := m.Name
					if m.ID == resp.Member.ID {
						n = name
					}
					conf = append(conf, fmt.Sprintf("%s=%s", n, u))
				}
			}
			out := cmd.OutOrStdout()
			fmt.Fprint(out, "\n")
			fmt.Fprintf(out, "ETCD_NAME=%q\n", name)
			fmt.Fprintf(out, "ETCD_INITIAL_CLUSTER=%q\n", strings.Join(conf, ","))
			fmt.Fprintf(out, "ETCD_INITIAL_ADVERTISE_PEER_URLS=%q\n", peerURLs)
			fmt.Fprint(out, "ETCD_INITIAL_CLUSTER_STATE=\"existing\"\n")
			return nil
		},
	}
	add.Flags().StringVar(&peerURLs, "peer-urls", "", "comma separated peer URLs for the new member.")
	add.Flags().BoolVar(&learner, "learner", false, "indicates if the new member is raft learner")

	idArg := func(args []string) (uint64, error) {
		if len(args) != 1 {
			return 0, exitErrf(ExitBadArgs, "member ID is not provided")
		}
		id, err := parseHexUint(args[0])
		if err != nil {
			return 0, exitErrf(ExitBadArgs, "bad member ID arg (%w), expecting ID in Hex", err)
		}
		return id, nil
	}
	remove := &cobra.Command{
		Use:   "remove <memberID>",
		Short: "Removes a member from the cluster",
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := idArg(args)
			if err != nil {
				return err
			}
			return a.withClient(cmd, func(cli *clientv3.Client, p *printer) error {
				ctx, cancel := a.commandCtx()
				resp, err := cli.MemberRemove(ctx, id)
				cancel()
				if err != nil {
					return exitErr(ExitError, err)
				}
				return p.MemberRemove(id, resp)
			})
		},
	}
	var updURLs string
	update := &cobra.Command{
		Use:   "update <memberID> [options]",
		Short: "Updates a member in the cluster",
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := idArg(args)
			if err != nil {
				return err
			}
			if updURLs == "" {
				return exitErrf(ExitBadArgs, "member peer urls not provided")
			}
			return a.withClient(cmd, func(cli *clientv3.Client, p *printer) error {
				ctx, cancel := a.commandCtx()
				resp, err := cli.MemberUpdate(ctx, id, strings.Split(updURLs, ","))
				cancel()
				if err != nil {
					return exitErr(ExitError, err)
				}
				return p.MemberUpdate(id, resp)
			})
		},
	}
	update.Flags().StringVar(&updURLs, "peer-urls", "", "comma separated peer URLs for the updated member.")
	var consistency string
	list := &cobra.Command{
		Use:   "list",
		Short: "Lists all members in the cluster",
		Long: `When --write-out is set to simple, this command prints out comma-separated member lists for each endpoint.
The items in the lists are ID, Status, Name, Peer Addrs, Client Addrs, Is Learner.
`,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := serializable(consistency)
			if err != nil {
				return err
			}
			var opts []clientv3.OpOption
			if s {
				opts = append(opts, clientv3.WithSerializable())
			}
			return a.withClient(cmd, func(cli *clientv3.Client, p *printer) error {
				ctx, cancel := a.commandCtx()
				resp, err := cli.MemberList(ctx, opts...)
				cancel()
				if err != nil {
					return exitErr(ExitError, err)
				}
				return p.MemberList(resp)
			})
		},
	}
	list.Flags().StringVar(&consistency, "consistency", "l", "Linearizable(l) or Serializable(s)")
	promote := &cobra.Command{
		Use:   "promote <memberID>",
		Short: "Promotes a non-voting member in the cluster",
		Long:  "Promotes a non-voting learner member to a voting one in the cluster.\n",
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := idArg(args)
			if err != nil {
				return err
			}
			return a.withClient(cmd, func(cli *clientv3.Client, p *printer) error {
				ctx, cancel := a.commandCtx()
				resp, err := cli.MemberPromote(ctx, id)
				cancel()
				if err != nil {
					return exitErr(ExitError, err)
				}
				return p.MemberPromote(id, resp)
			})
		},
	}
	mc.AddCommand(add, remove, update, list, promote)
	return mc
}

// withClient resolves the printer, connects, runs f and closes.
func (a *app) withClient(cmd *cobra.Command, f func(*clientv3.Client, *printer) error) error {
	p, err := a.printer(cmd)
	if err != nil {
		return err
	}
	cli, err := a.client()
	if err != nil {
		return err
	}
	defer cli.Close()
	return f(cli, p)
}

// clusterEndpoints returns --endpoints, or with cluster the client URLs of
// every member in the member list.
func (a *app) clusterEndpoints(cluster bool) ([]string, error) {
	if !cluster {
		return a.endpoints()
	}
	cli, err := a.client()
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	ctx, cancel := a.commandCtx()
	defer cancel()
	ms, err := cli.MemberList(ctx)
	if err != nil {
		return nil, exitErrf(ExitError, "failed to fetch endpoints from etcd cluster member list: %w", err)
	}
	var eps []string
	for _, m := range ms.Members {
		eps = append(eps, m.ClientURLs...)
	}
	return eps, nil
}

// oneEndpointClient connects to ep alone with the global settings.
func (a *app) oneEndpointClient(ep string) (*clientv3.Client, error) {
	spec, err := a.clientSpec()
	if err != nil {
		return nil, err
	}
	spec.Endpoints = []string{ep}
	return a.clientFromSpec(spec)
}

func (a *app) newEndpointCommand() *cobra.Command {
	var cluster bool
	var hashRev int64
	ec := &cobra.Command{Use: "endpoint <subcommand>", Short: "Endpoint related commands"}
	ec.PersistentFlags().BoolVar(&cluster, "cluster", false, "use all endpoints from the cluster member list")
	health := &cobra.Command{
		Use:   "health",
		Short: "Checks the healthiness of endpoints specified in `--endpoints` flag",
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := a.printer(cmd)
			if err != nil {
				return err
			}
			eps, err := a.clusterEndpoints(cluster)
			if err != nil {
				return err
			}
			hs := make([]epHealth, len(eps))
			var wg sync.WaitGroup
			for i, ep := range eps {
				wg.Add(1)
				go func() {
					defer wg.Done()
					hs[i] = a.checkHealth(ep)
				}()
			}
			wg.Wait()
			if err := p.EndpointHealth(hs); err != nil {
				return err
			}
			for _, h := range hs {
				if h.Error != "" {
					return exitErrf(ExitError, "unhealthy cluster")
				}
			}
			return nil
		},
	}
	status := &cobra.Command{
		Use:   "status",
		Short: "Prints out the status of endpoints specified in `--endpoints` flag",
		Long: `When --write-out is set to simple, this command prints out comma-separated status lists for each endpoint.
The items in the lists are endpoint, ID, version, storage version, db size, in use, percentage not in use, quota, is leader, is learner, raft term, raft index, raft applied index, errors, downgrade target version, downgrade enabled.
`,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := a.printer(cmd)
			if err != nil {
				return err
			}
			eps, err := a.clusterEndpoints(cluster)
			if err != nil {
				return err
			}
			var list []epStatus
			failed := false
			for _, ep := range eps {
				resp, err := a.endpointCall(ep, func(cli *clientv3.Client) (any, error) {
					ctx, cancel := a.commandCtx()
					defer cancel()
					return cli.Status(ctx, ep)
				})
				if err != nil {
					failed = true
					fmt.Fprintf(cmd.ErrOrStderr(), "Failed to get the status of endpoint %s (%v)\n", ep, err)
					continue
				}
				list = append(list, epStatus{Ep: ep, Resp: resp.(*clientv3.StatusResponse)})
			}
			if err := p.EndpointStatus(list); err != nil {
				return err
			}
			if failed {
				return silentExit(ExitError)
			}
			return nil
		},
	}
	hashkv := &cobra.Command{
		Use:   "hashkv",
		Short: "Prints the KV history hash for each endpoint in --endpoints",
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := a.printer(cmd)
			if err != nil {
				return err
			}
			eps, err := a.clusterEndpoints(cluster)
			if err != nil {
				return err
			}
			var list []epHashKV
			var lastErr error
			for _, ep := range eps {
				resp, err := a.endpointCall(ep, func(cli *clientv3.Client) (any, error) {
					ctx, cancel := a.commandCtx()
					defer cancel()
					return cli.HashKV(ctx, ep, hashRev)
				})
				if err != nil {
					lastErr = err
					fmt.Fprintf(cmd.ErrOrStderr(), "Failed to get the hash of endpoint %s (%v)\n", ep, err)
					continue
				}
				list = append(list, epHashKV{Ep: ep, Resp: resp.(*clientv3.HashKVResponse)})
			}
			if err := p.EndpointHashKV(list); err != nil {
				return err
			}
			if lastErr != nil {
				return exitErr(ExitError, lastErr)
			}
			return nil
		},
	}
	hashkv.PersistentFlags().Int64Var(&hashRev, "rev", 0, "maximum revision to hash (default: latest revision)")
	ec.AddCommand(health, status, hashkv)
	return ec
}

// endpointCall connects to ep alone and runs f.
func (a *app) endpointCall(ep string, f func(*clientv3.Client) (any, error)) (any, error) {
	cli, err := a.oneEndpointClient(ep)
	if err != nil {
		var ee *ExitCodeError
		if errors.As(err, &ee) && ee.Err != nil {
			return nil, ee.Err
		}
		return nil, err
	}
	defer cli.Close()
	return f(cli)
}

// checkHealth is etcdctl's health probe: a linearizable Get("health")
// (permission denied counts as healthy), then no active alarms.
func (a *app) checkHealth(ep string) epHealth {
	cli, err := a.oneEndpointClient(ep)
	if err != nil {
		var ee *ExitCodeError
		if errors.As(err, &ee) && ee.Err != nil {
			err = ee.Err
		}
		return epHealth{Ep: ep, Error: err.Error()}
	}
	defer cli.Close()
	start := time.Now()
	ctx, cancel := a.commandCtx()
	defer cancel()
	_, err = cli.Get(ctx, "health")
	h := epHealth{Ep: ep, Took: time.Since(start).String()}
	if err == nil || errors.Is(err, rpctypes.ErrPermissionDenied) {
		h.Health = true
	} else {
		h.Error = err.Error()
	}
	if h.Health {
		resp, err := cli.AlarmList(ctx)
		switch {
		case err != nil:
			h.Health = false
			h.Error = "Unable to fetch the alarm list"
		case len(resp.Alarms) > 0:
			h.Health = false
			h.Error = "Active Alarm(s): "
			for _, al := range resp.Alarms {
				switch al.Alarm {
				case pb.AlarmType_NOSPACE:
					h.Error += "NOSPACE "
				case pb.AlarmType_CORRUPT:
					h.Error += "CORRUPT "
				default:
					h.Error += "UNKNOWN "
				}
			}
		}
	}
	return h
}

func (a *app) newAlarmCommand() *cobra.Command {
	ac := &cobra.Command{Use: "alarm <subcommand>", Short: "Alarm related commands"}
	disarm := &cobra.Command{
		Use:   "disarm",
		Short: "Disarms all alarms",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 0 {
				return exitErrf(ExitBadArgs, "alarm disarm command accepts no arguments")
			}
			return a.withClient(cmd, func(cli *clientv3.Client, p *printer) error {
				ctx, cancel := a.commandCtx()
				resp, err := cli.AlarmDisarm(ctx, &clientv3.AlarmMember{})
				cancel()
				if err != nil {
					return exitErr(ExitError, err)
				}
				return p.Alarm(resp)
			})
		},
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "Lists all alarms",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 0 {
				return exitErrf(ExitBadArgs, "alarm list command accepts no arguments")
			}
			return a.withClient(cmd, func(cli *clientv3.Client, p *printer) error {
				ctx, cancel := a.commandCtx()
				resp, err := cli.AlarmList(ctx)
				cancel()
				if err != nil {
					return exitErr(ExitError, err)
				}
				return p.Alarm(resp)
			})
		},
	}
	ac.AddCommand(disarm, list)
	return ac
}

func (a *app) newDefragCommand() *cobra.Command {
	var cluster bool
	cmd := &cobra.Command{
		Use:   "defrag",
		Short: "Defragments the storage of the etcd members with given endpoints",
		RunE: func(cmd *cobra.Command, args []string) error {
			eps, err := a.clusterEndpoints(cluster)
			if err != nil {
				return err
			}
			failures := 0
			for _, ep := range eps {
				start := time.Now()
				_, err := a.endpointCall(ep, func(cli *clientv3.Client) (any, error) {
					ctx, cancel := a.commandCtx()
					defer cancel()
					return cli.Defragment(ctx, ep)
				})
				d := time.Since(start)
				if err != nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "Failed to defragment etcd member[%s]. took %s. (%v)\n", ep, d, err)
					failures++
					continue
				}
				fmt.Fprintf(cmd.OutOrStdout(), "Finished defragmenting etcd member[%s]. took %s\n", ep, d)
			}
			if failures != 0 {
				return silentExit(ExitError)
			}
			return nil
		},
	}
	cmd.PersistentFlags().BoolVar(&cluster, "cluster", false, "use all endpoints from the cluster member list")
	return cmd
}

func (a *app) newMoveLeaderCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "move-leader <transferee-member-id>",
		Short: "Transfers leadership to another etcd cluster member.",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return exitErrf(ExitBadArgs, "move-leader command needs 1 argument")
			}
			target, err := parseHexUint(args[0])
			if err != nil {
				return exitErr(ExitBadArgs, err)
			}
			p, err := a.printer(cmd)
			if err != nil {
				return err
			}
			eps, err := a.endpoints()
			if err != nil {
				return exitErr(ExitError, err)
			}
			ctx, cancel := a.commandCtx()
			defer cancel()
			for _, ep := range eps {
				cli, err := a.oneEndpointClient(ep)
				if err != nil {
					return err
				}
				st, err := cli.Status(ctx, ep)
				if err != nil {
					cli.Close()
					return exitErr(ExitError, err)
				}
				if st.Header.GetMemberId() != st.Leader {
					cli.Close()
					continue
				}
				resp, err := cli.MoveLeader(ctx, target)
				cli.Close()
				if err != nil {
					return exitErr(ExitError, err)
				}
				return p.MoveLeader(st.Leader, target, resp)
			}
			return exitErrf(ExitBadArgs, "no leader endpoint given at %v", eps)
		},
	}
}
