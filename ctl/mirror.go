package ctl

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/mirror"
)

// mirrorOptions are the flags of "make-mirror".
type mirrorOptions struct {
	prefix, destPrefix            string
	noDestPrefix                  bool
	rev                           int64
	maxTxnOps                     uint
	destCert, destKey, destCACert string
	destUser, destPassword        string
	destInsecureTransport         bool
}

func (a *app) newMakeMirrorCommand() *cobra.Command {
	o := &mirrorOptions{}
	c := &cobra.Command{
		Use:   "make-mirror [options] <destination>",
		Short: "Makes a mirror at the destination etcd cluster",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return exitErrf(ExitBadArgs, "make-mirror takes one destination argument")
			}
			spec, err := a.clientSpec()
			if err != nil {
				return err
			}
			src, err := a.clientFromSpec(spec)
			if err != nil {
				return err
			}
			defer src.Close()
			dspec := &clientv3.ConfigSpec{
				Endpoints:        []string{args[0]},
				DialTimeout:      a.g.DialTimeout,
				KeepAliveTime:    a.g.KeepAliveTime,
				KeepAliveTimeout: a.g.KeepAliveTimeout,
				Secure: &clientv3.SecureConfig{
					Cert: o.destCert, Key: o.destKey, Cacert: o.destCACert,
					InsecureTransport: o.destInsecureTransport,
				},
			}
			if o.destUser != "" {
				dspec.Auth = &clientv3.AuthConfig{Username: o.destUser, Password: o.destPassword}
				if n, pw, ok := strings.Cut(o.destUser, ":"); ok && o.destPassword == "" {
					dspec.Auth = &clientv3.AuthConfig{Username: n, Password: pw}
				}
			}
			dst, err := a.clientFromSpec(dspec)
			if err != nil {
				return err
			}
			defer dst.Close()
			ctx, cancel := a.interruptCtx()
			defer cancel()
			err = o.run(ctx, cmd, src, dst)
			if ctx.Err() != nil {
				return nil
			}
			return exitErr(ExitError, err)
		},
	}
	f := c.Flags()
	f.StringVar(&o.prefix, "prefix", "", "Key-value prefix to mirror")
	f.Int64Var(&o.rev, "rev", 0, "Specify the kv revision to start to mirror")
	f.UintVar(&o.maxTxnOps, "max-txn-ops", 128, "Maximum number of operations permitted in a transaction during syncing updates.")
	f.StringVar(&o.destPrefix, "dest-prefix", "", "destination prefix to mirror a prefix to a different prefix in the destination cluster")
	f.BoolVar(&o.noDestPrefix, "no-dest-prefix", false, "mirror key-values to the root of the destination cluster")
	f.StringVar(&o.destCert, "dest-cert", "", "Identify secure client using this TLS certificate file for the destination cluster")
	f.StringVar(&o.destKey, "dest-key", "", "Identify secure client using this TLS key file")
	f.StringVar(&o.destCACert, "dest-cacert", "", "Verify certificates of TLS enabled secure servers using this CA bundle")
	f.BoolVar(&o.destInsecureTransport, "dest-insecure-transport", true, "Disable transport security for client connections")
	f.StringVar(&o.destUser, "dest-user", "", "Destination username[:password] for authentication (prompt if password is not supplied)")
	f.StringVar(&o.destPassword, "dest-password", "", "Destination password for authentication (if this option is used, --user option shouldn't include password)")
	return c
}

func (o *mirrorOptions) run(ctx context.Context, cmd *cobra.Command, src, dst *clientv3.Client) error {
	var total atomic.Int64
	done := make(chan struct{})
	defer close(done)
	go func() {
		t := time.NewTicker(30 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				fmt.Fprintln(cmd.OutOrStdout(), total.Load())
			case <-done:
				return
			}
		}
	}()
	rename := func(k []byte) string {
		if o.noDestPrefix {
			return strings.TrimPrefix(string(k), o.prefix)
		}
		if o.destPrefix != "" {
			return o.destPrefix + strings.TrimPrefix(string(k), o.prefix)
		}
		return string(k)
	}
	startRev := o.rev - 1
	if startRev < 0 {
		startRev = 0
	}
	s := mirror.NewSyncer(src, o.prefix, startRev)
	if o.rev == 0 {
		rc, errc := s.SyncBase(ctx)
		for r := range rc {
			for _, kv := range r.Kvs {
				if _, err := dst.Put(ctx, rename(kv.Key), string(kv.Value)); err != nil {
					return err
				}
				total.Add(1)
			}
		}
		if err := <-errc; err != nil {
			return err
		}
	}
	for wr := range s.SyncUpdates(ctx) {
		if err := wr.Err(); err != nil {
			return err
		}
		var ops []clientv3.Op
		var lastRev int64
		flush := func() error {
			if len(ops) == 0 {
				return nil
			}
			_, err := dst.Txn(ctx).Then(ops...).Commit()
			ops = ops[:0]
			return err
		}
		for _, ev := range wr.Events {
			if lastRev != 0 && ev.Kv.ModRevision > lastRev || uint(len(ops)) >= o.maxTxnOps {
				if err := flush(); err != nil {
					return err
				}
			}
			lastRev = ev.Kv.ModRevision
			switch ev.Type {
			case mvccpb.Event_PUT:
				ops = append(ops, clientv3.OpPut(rename(ev.Kv.Key), string(ev.Kv.Value)))
			case mvccpb.Event_DELETE:
				ops = append(ops, clientv3.OpDelete(rename(ev.Kv.Key)))
			}
			total.Add(1)
		}
		if err := flush(); err != nil {
			return err
		}
	}
	return errors.New("make-mirror: watch on the source ended")
}
