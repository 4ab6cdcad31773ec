package ctl

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"

	"github.com/spf13/cobra"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

func (a *app) newLockCommand() *cobra.Command {
	ttl := 10
	c := &cobra.Command{
		Use:   "lock <lockname> [exec-command arg1 arg2 ...]",
		Short: "Acquires a named lock",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return exitErrf(ExitBadArgs, "lock takes a lock name argument and an optional command to execute")
			}
			return a.withClient(cmd, func(cli *clientv3.Client, p *printer) error {
				err := a.lockUntilSignal(cmd, cli, p, ttl, args[0], args[1:])
				if err == nil {
					return nil
				}
				var ee *ExitCodeError
				if errors.As(err, &ee) {
					return err
				}
				var xe *exec.ExitError
				if errors.As(err, &xe) {
					return exitErr(xe.ExitCode(), err)
				}
				return exitErr(ExitError, err)
			})
		},
	}
	c.Flags().IntVar(&ttl, "ttl", ttl, "timeout for session")
	return c
}

func (a *app) lockUntilSignal(cmd *cobra.Command, cli *clientv3.Client, p *printer, ttl int, name string, cmdArgs []string) error {
	s, err := concurrency.NewSession(cli, concurrency.WithTTL(ttl))
	if err != nil {
		return err
	}
	defer s.Close()
	ctx, cancel := a.interruptCtx()
	defer cancel()
	m := concurrency.NewMutex(s, name)
	if err := m.Lock(ctx); err != nil {
		return err
	}
	if len(cmdArgs) > 0 {
		c := exec.Command(cmdArgs[0], cmdArgs[1:]...)
		c.Env = append([]string{
			"ETCD_LOCK_KEY=" + m.Key(),
			fmt.Sprintf("ETCD_LOCK_REV=%d", m.Header().GetRevision()),
		}, os.Environ()...)
		c.Stdout, c.Stderr = cmd.OutOrStdout(), cmd.ErrOrStderr()
		err := c.Run()
		uerr := m.Unlock(context.Background())
		if err != nil {
			return err
		}
		return uerr
	}
	k, err := cli.Get(ctx, m.Key())
	if err != nil {
		return err
	}
	if len(k.Kvs) == 0 {
		return errors.New("lock lost on init")
	}
	if err := p.Get(k); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		return m.Unlock(context.Background())
	case <-s.Done():
	}
	return errors.New("session expired")
}

func (a *app) newElectCommand() *cobra.Command {
	var listen bool
	c := &cobra.Command{
		Use:   "elect <election-name> [proposal]",
		Short: "Observes and participates in leader election",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 && len(args) != 2 {
				return exitErrf(ExitBadArgs, "elect takes one election name argument and an optional proposal argument")
			}
			if len(args) == 1 && !listen {
				return exitErrf(ExitBadArgs, "no proposal argument but -l not set")
			}
			if len(args) == 2 && listen {
				return exitErrf(ExitBadArgs, "proposal given but -l is set")
			}
			return a.withClient(cmd, func(cli *clientv3.Client, p *printer) error {
				var err error
				if len(args) == 1 {
					err = a.observe(cli, p, args[0])
				} else {
					err = a.campaign(cli, p, args[0], args[1])
				}
				if err != nil {
					var ee *ExitCodeError
					if errors.As(err, &ee) {
						return err
					}
					return exitErr(ExitError, err)
				}
				return nil
			})
		},
	}
	c.Flags().BoolVarP(&listen, "listen", "l", false, "observation mode")
	return c
}

func (a *app) observe(cli *clientv3.Client, p *printer, election string) error {
	s, err := concurrency.NewSession(cli)
	if err != nil {
		return err
	}
	defer s.Close()
	e := concurrency.NewElection(s, election)
	ctx, cancel := a.interruptCtx()
	defer cancel()
	for resp := range e.Observe(ctx) {
		if err := p.Get(resp); err != nil {
			return err
		}
	}
	if ctx.Err() == nil {
		return errors.New("elect: observer lost")
	}
	return nil
}

func (a *app) campaign(cli *clientv3.Client, p *printer, election, prop string) error {
	s, err := concurrency.NewSession(cli)
	if err != nil {
		return err
	}
	defer s.Close()
	e := concurrency.NewElection(s, election)
	ctx, cancel := a.interruptCtx()
	defer cancel()
	if err := e.Campaign(ctx, prop); err != nil {
		return err
	}
	resp, err := cli.Get(ctx, e.Key())
	if err != nil {
		return err
	}
	if err := p.Get(resp); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
	case <-s.Done():
		return errors.New("elect: session expired")
	}
	return e.Resign(context.Background())
}
