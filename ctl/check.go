package ctl

import (
	"context"
	"fmt"
	"io"
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// checkLoad is one "check perf" workload, etcdctl's s/m/l/xl presets.
type checkLoad struct {
	clients, putSize, limit int
	duration                time.Duration
}

var checkLoads = map[string]checkLoad{
	"s":  {clients: 50, putSize: 150, limit: 150, duration: 60 * time.Second},
	"m":  {clients: 200, putSize: 1000, limit: 1000, duration: 60 * time.Second},
	"l":  {clients: 500, putSize: 8000, limit: 8000, duration: 60 * time.Second},
	"xl": {clients: 1000, putSize: 15000, limit: 15000, duration: 60 * time.Second},
}

func (a *app) newCheckCommand() *cobra.Command {
	cc := &cobra.Command{Use: "check <subcommand>", Short: "commands for checking properties of the etcd cluster"}
	var load, prefix string
	var autoCompact, autoDefrag bool
	var duration time.Duration
	perf := &cobra.Command{
		Use:   "perf [options]",
		Short: "Check the performance of the etcd cluster",
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, ok := checkLoads[load]
			if !ok {
				return exitErrf(ExitBadFeature, "unknown load option %v", load)
			}
			if duration > 0 {
				cfg.duration = duration
			}
			return a.withClient(cmd, func(cli *clientv3.Client, _ *printer) error {
				return a.checkPerf(cmd, cli, cfg, prefix, autoCompact, autoDefrag)
			})
		},
	}
	perf.Flags().StringVar(&load, "load", "s", "The performance check's workload model. Accepted workloads: s(small), m(medium), l(large), xl(xLarge)")
	perf.Flags().StringVar(&prefix, "prefix", "/etcdctl-check-perf/", "The prefix for writing the performance check's keys.")
	perf.Flags().BoolVar(&autoCompact, "auto-compact", false, "Compact storage with last revision after test is finished.")
	perf.Flags().BoolVar(&autoDefrag, "auto-defrag", false, "Defragment storage after test is finished.")
	perf.Flags().DurationVar(&duration, "duration", 0, "Override the workload's duration (concordctl extension; 0 keeps 60s).")
	cc.AddCommand(perf, a.newCheckDatascaleCommand())
	return cc
}

// checkPerf writes at the load's rate for its duration, then reports
// throughput and latency pass/fail as etcdctl's check perf.
func (a *app) checkPerf(cmd *cobra.Command, cli *clientv3.Client, cfg checkLoad, prefix string, compact, defrag bool) error {
	out := cmd.OutOrStdout()
	ctx, cancel := a.interruptCtx()
	defer cancel()
	gctx, gcancel := a.commandCtx()
	resp, err := cli.Get(gctx, prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	gcancel()
	if err != nil {
		return exitErr(ExitError, err)
	}
	if resp.Count > 0 {
		return exitErrf(ExitInvalidInput, "prefix %q has keys. Delete with 'etcdctl del --prefix %s' first", prefix, prefix)
	}
	value := strings.Repeat("x", cfg.putSize)
	rctx, rcancel := context.WithTimeout(ctx, cfg.duration)
	defer rcancel()
	tick := time.NewTicker(time.Second / time.Duration(cfg.limit))
	defer tick.Stop()
	reqs := make(chan string, cfg.clients)
	var mu sync.Mutex
	var lat []time.Duration
	var failures int
	var wg sync.WaitGroup
	for i := 0; i < cfg.clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range reqs {
				st := time.Now()
				// Each put runs to completion (only Ctrl-C stops it), as
				// etcdctl's: the run's deadline must not cancel a put in flight.
				_, err := cli.Put(ctx, k, value)
				d := time.Since(st)
				mu.Lock()
				if err != nil {
					failures++
				} else {
					lat = append(lat, d)
				}
				mu.Unlock()
			}
		}()
	}
	start := time.Now()
	n := 0
loop:
	for {
		select {
		case <-rctx.Done():
			break loop
		case <-tick.C:
			n++
			select {
			case reqs <- fmt.Sprintf("%s%016x", prefix, n):
			case <-rctx.Done():
				break loop
			}
		}
	}
	close(reqs)
	wg.Wait()
	elapsed := time.Since(start)
	dctx, dcancel := a.commandCtx()
	dresp, derr := cli.Delete(dctx, prefix, clientv3.WithPrefix())
	dcancel()
	if derr != nil {
		return exitErr(ExitError, derr)
	}
	if err := compactAndDefrag(out, cli, dresp.Header.GetRevision(), compact, defrag, cli.Endpoints()); err != nil {
		return err
	}
	ok := true
	throughput := float64(len(lat)) / elapsed.Seconds()
	if throughput < 0.9*float64(cfg.limit) {
		fmt.Fprintf(out, "FAIL: Throughput too low: %d writes/s\n", int(throughput))
		ok = false
	} else {
		fmt.Fprintf(out, "PASS: Throughput is %d writes/s\n", int(throughput))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	if len(lat) > 0 {
		slowest := lat[len(lat)-1]
		if slowest > 500*time.Millisecond {
			fmt.Fprintf(out, "FAIL: Slowest request took too long: %fs\n", slowest.Seconds())
			ok = false
		} else {
			fmt.Fprintf(out, "PASS: Slowest request took %fs\n", slowest.Seconds())
		}
		var sum time.Duration
		for _, d := range lat {
			sum += d
		}
		mean := sum / time.Duration(len(lat))
		fmt.Fprintf(out, "PASS: Stddev is %fs\n", stddev(lat, mean).Seconds())
	}
	if failures > 0 {
		fmt.Fprintf(out, "FAIL: %d requests failed\n", failures)
		ok = false
	}
	if ok {
		fmt.Fprintln(out, "PASS")
		return nil
	}
	fmt.Fprintln(out, "FAIL")
	return silentExit(ExitError)
}

// compactAndDefrag runs the optional clean-up of etcdctl's check commands:
// a physical compaction at rev, then defragmentation of eps.
func compactAndDefrag(out io.Writer, cli *clientv3.Client, rev int64, compact, defrag bool, eps []string) error {
	if compact {
		fmt.Fprintf(out, "Compacting with revision %d\n", rev)
		cctx, ccancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, err := cli.Compact(cctx, rev, clientv3.WithCompactPhysical())
		ccancel()
		if err != nil {
			return exitErr(ExitError, err)
		}
		fmt.Fprintf(out, "Compacted with revision %d\n", rev)
	}
	if defrag {
		for _, ep := range eps {
			fmt.Fprintf(out, "Defragmenting %q\n", ep)
			cctx, ccancel := context.WithTimeout(context.Background(), 30*time.Second)
			_, err := cli.Defragment(cctx, ep)
			ccancel()
			if err != nil {
				return exitErr(ExitError, err)
			}
			fmt.Fprintf(out, "Defragmented %q\n", ep)
		}
	}
	return nil
}

func stddev(ds []time.Duration, mean time.Duration) time.Duration {
	var s float64
	for _, d := range ds {
		x := float64(d - mean)
		s += x * x
	}
	return time.Duration(math.Sqrt(s / float64(len(ds))))
}
