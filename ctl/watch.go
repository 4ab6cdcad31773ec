package ctl

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Watch argument errors, etcdctl's texts.
var (
	errBadArgsNum            = errors.New("bad number of arguments")
	errBadArgsNumConflictEnv = errors.New("bad number of arguments (found conflicting environment key)")
	errBadArgsNumSeparator   = errors.New("bad number of arguments (found separator --, but no commands)")
)

// watchOptions are the flags of "watch".
type watchOptions struct {
	interactive, prefix, prevKV, progressNotify bool
	rev                                         int64
}

func (o *watchOptions) bind(f *pflag.FlagSet) {
	f.BoolVarP(&o.interactive, "interactive", "i", false, "Interactive mode")
	f.BoolVar(&o.prefix, "prefix", false, "Watch on a prefix if prefix is set")
	f.Int64Var(&o.rev, "rev", 0, "Revision to start watching")
	f.BoolVar(&o.prevKV, "prev-kv", false, "get the previous key-value pair before the event happens")
	f.BoolVar(&o.progressNotify, "progress-notify", false, "get periodic watch progress notification from server")
}

func (a *app) newWatchCommand() *cobra.Command {
	o := &watchOptions{}
	cmd := &cobra.Command{
		Use:   "watch [options] [key or prefix] [range_end] [--] [exec-command arg1 arg2 ...]",
		Short: "Watches events stream on keys or prefixes",
		RunE: func(cmd *cobra.Command, args []string) error {
			envKey, _ := a.env.Lookup("ETCDCTL_WATCH_KEY")
			envRange, _ := a.env.Lookup("ETCDCTL_WATCH_RANGE_END")
			if envKey == "" && envRange != "" {
				return exitErrf(ExitBadArgs, "ETCDCTL_WATCH_KEY is empty but got ETCDCTL_WATCH_RANGE_END=%q", envRange)
			}
			p, err := a.printer(cmd)
			if err != nil {
				return err
			}
			if o.interactive {
				return a.watchInteractive(cmd, p, envKey, envRange)
			}
			watchArgs, execArgs := args, []string(nil)
			if d := cmd.ArgsLenAtDash(); d >= 0 {
				watchArgs, execArgs = args[:d], args[d:]
				if len(execArgs) == 0 {
					return exitErr(ExitBadArgs, errBadArgsNumSeparator)
				}
			}
			if envKey != "" {
				if len(watchArgs) > 0 {
					return exitErr(ExitBadArgs, errBadArgsNumConflictEnv)
				}
				watchArgs = []string{envKey}
				if envRange != "" {
					watchArgs = append(watchArgs, envRange)
				}
			}
			if len(watchArgs) < 1 || len(watchArgs) > 2 {
				return exitErr(ExitBadArgs, errBadArgsNum)
			}
			cli, err := a.client()
			if err != nil {
				return err
			}
			defer cli.Close()
			ctx, cancel := a.interruptCtx()
			defer cancel()
			wc, err := o.watch(ctx, cli, watchArgs)
			if err != nil {
				return exitErr(ExitBadArgs, err)
			}
			if err := a.printWatch(ctx, cmd, p, wc, execArgs); err != nil {
				return err
			}
			if ctx.Err() != nil {
				return nil
			}
			return exitErrf(ExitInterrupted, "watch is canceled by the server")
		},
	}
	o.bind(cmd.Flags())
	return cmd
}

func (o *watchOptions) watch(ctx context.Context, cli *clientv3.Client, args []string) (clientv3.WatchChan, error) {
	if len(args) < 1 {
		return nil, errBadArgsNum
	}
	opts := []clientv3.OpOption{clientv3.WithRev(o.rev)}
	if len(args) == 2 {
		if o.prefix {
			return nil, fmt.Errorf("`range_end` and `--prefix` are mutually exclusive")
		}
		opts = append(opts, clientv3.WithRange(args[1]))
	}
	if o.prefix {
		opts = append(opts, clientv3.WithPrefix())
	}
	if o.prevKV {
		opts = append(opts, clientv3.WithPrevKV())
	}
	if o.progressNotify {
		opts = append(opts, clientv3.WithProgressNotify())
	}
	return cli.Watch(clientv3.WithRequireLeader(ctx), args[0], opts...), nil
}

// printWatch prints responses until the channel closes, running execArgs
// once per event with ETCD_WATCH_* in its environment.
func (a *app) printWatch(ctx context.Context, cmd *cobra.Command, p *printer, wc clientv3.WatchChan, execArgs []string) error {
	for resp := range wc {
		if resp.Canceled {
			fmt.Fprintf(cmd.ErrOrStderr(), "watch was canceled (%v)\n", resp.Err())
		}
		if resp.IsProgressNotify() {
			fmt.Fprintf(cmd.OutOrStdout(), "progress notify: %d\n", resp.Header.GetRevision())
		}
		if err := p.Watch(&resp); err != nil {
			return err
		}
		if len(execArgs) == 0 {
			continue
		}
		for _, ev := range resp.Events {
			c := exec.CommandContext(ctx, execArgs[0], execArgs[1:]...)
			c.Env = append(os.Environ(),
				fmt.Sprintf("ETCD_WATCH_REVISION=%d", resp.Header.GetRevision()),
				fmt.Sprintf("ETCD_WATCH_EVENT_TYPE=%q", ev.Type),
				fmt.Sprintf("ETCD_WATCH_KEY=%q", ev.Kv.Key),
				fmt.Sprintf("ETCD_WATCH_VALUE=%q", ev.Kv.Value))
			c.Stdout, c.Stderr = cmd.OutOrStdout(), cmd.ErrOrStderr()
			if err := c.Run(); err != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "command %q error (%v)\n", execArgs, err)
				return silentExit(ExitError)
			}
		}
	}
	return nil
}

// watchInteractive reads "watch ..." and "progress" lines from stdin, one
// watch per line, until end of input or interrupt.
func (a *app) watchInteractive(cmd *cobra.Command, p *printer, envKey, envRange string) error {
	cli, err := a.client()
	if err != nil {
		return err
	}
	defer cli.Close()
	ctx, cancel := a.interruptCtx()
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	var mu sync.Mutex // serializes printing of concurrent watches
	r := bufio.NewReader(cmd.InOrStdin())
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			if errors.Is(err, io.EOF) && ctx.Err() == nil {
				return exitErrf(ExitInvalidInput, "error reading watch request line: %w", err)
			}
			return exitErrf(ExitInvalidInput, "error reading watch request line: %w", err)
		}
		l = strings.TrimSuffix(l, "\n")
		args, aerr := argify(l)
		if aerr != nil || len(args) < 1 {
			fmt.Fprintf(cmd.ErrOrStderr(), "Invalid command: %s (watch and progress supported)\n", l)
			continue
		}
		switch args[0] {
		case "watch":
			if len(args) < 2 && envKey == "" {
				fmt.Fprintf(cmd.ErrOrStderr(), "Invalid command %s (command type or key is not provided)\n", l)
				continue
			}
			o := &watchOptions{}
			fs := pflag.NewFlagSet("watch", pflag.ContinueOnError)
			fs.SetOutput(io.Discard)
			o.bind(fs)
			if err := fs.Parse(args[1:]); err != nil {
				return exitErr(ExitBadArgs, err)
			}
			wargs, execArgs := fs.Args(), []string(nil)
			if d := fs.ArgsLenAtDash(); d >= 0 {
				wargs, execArgs = fs.Args()[:d], fs.Args()[d:]
				if len(execArgs) == 0 {
					return exitErr(ExitBadArgs, errBadArgsNumSeparator)
				}
			}
			if envKey != "" {
				if len(wargs) > 0 {
					return exitErr(ExitBadArgs, errBadArgsNumConflictEnv)
				}
				wargs = []string{envKey}
				if envRange != "" {
					wargs = append(wargs, envRange)
				}
			}
			wc, err := o.watch(ctx, cli, wargs)
			if err != nil {
				fmt.Fprintf(cmd.ErrOrStderr(), "Invalid command %s (%v)\n", l, err)
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				for resp := range wc {
					mu.Lock()
					_ = a.printWatch(ctx, cmd, p, oneResponse(resp), execArgs)
					mu.Unlock()
				}
			}()
		case "progress":
			if err := cli.RequestProgress(clientv3.WithRequireLeader(ctx)); err != nil {
				return exitErr(ExitError, err)
			}
		default:
			fmt.Fprintf(cmd.ErrOrStderr(), "Invalid command %s (only support watch)\n", l)
		}
	}
}

// oneResponse is a closed channel holding just r.
func oneResponse(r clientv3.WatchResponse) clientv3.WatchChan {
	c := make(chan clientv3.WatchResponse, 1)
	c <- r
	close(c)
	return c
}
