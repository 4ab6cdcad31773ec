package ctl

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// datascaleLoad is one "check datascale" workload, etcdctl's presets:
// key-value pairs, bytes per pair, concurrent clients.
type datascaleLoad struct {
	limit, kvSize, clients int
}

var datascaleLoads = map[string]datascaleLoad{
	"s":  {limit: 10000, kvSize: 1024, clients: 50},
	"m":  {limit: 100000, kvSize: 1024, clients: 200},
	"l":  {limit: 1000000, kvSize: 1024, clients: 500},
	"xl": {limit: 3000000, kvSize: 1024, clients: 1000},
}

func (a *app) newCheckDatascaleCommand() *cobra.Command {
	var load, prefix string
	var autoCompact, autoDefrag bool
	c := &cobra.Command{
		Use:   "datascale [options]",
		Short: "Check the memory usage of holding data for different workloads on a given server endpoint.",
		Long:  "If no endpoint is provided, localhost will be used. If multiple endpoints are provided, first endpoint will be used.",
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, ok := datascaleLoads[load]
			if !ok {
				return exitErrf(ExitBadFeature, "unknown load option %v", load)
			}
			return a.withClient(cmd, func(cli *clientv3.Client, _ *printer) error {
				return a.checkDatascale(cmd, cli, cfg, prefix, autoCompact, autoDefrag)
			})
		},
	}
	c.Flags().StringVar(&load, "load", "s", "The datascale check's workload model. Accepted workloads: s(small), m(medium), l(large), xl(xLarge)")
	c.Flags().StringVar(&prefix, "prefix", "/etcdctl-check-datascale/", "The prefix for writing the datascale check's keys.")
	c.Flags().BoolVar(&autoCompact, "auto-compact", false, "Compact storage with last revision after test is finished.")
	c.Flags().BoolVar(&autoDefrag, "auto-defrag", false, "Defragment storage after test is finished.")
	return c
}

// checkDatascale writes the load's key-value pairs and reports how much
// the first endpoint's resident memory grew (read from its /metrics), as
// etcdctl's check datascale; the keys are deleted afterwards.
func (a *app) checkDatascale(cmd *cobra.Command, cli *clientv3.Client, cfg datascaleLoad, prefix string, compact, defrag bool) error {
	out := cmd.OutOrStdout()
	eps := cli.Endpoints()
	if len(eps) == 0 {
		return exitErrf(ExitBadArgs, "no endpoint given")
	}
	ep := eps[0]
	gctx, gcancel := a.commandCtx()
	resp, err := cli.Get(gctx, prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	gcancel()
	if err != nil {
		return exitErr(ExitError, err)
	}
	if resp.Count > 0 {
		return exitErrf(ExitInvalidInput, "prefix %q has keys. Delete with etcdctl del --prefix %s first", prefix, prefix)
	}
	before, err := residentMemory(ep)
	if err != nil {
		return exitErr(ExitError, err)
	}
	fmt.Fprintf(out, "Start data scale check for work load [%d key-value pairs, %d bytes per key-value, %d concurrent clients].\n",
		cfg.limit, cfg.kvSize, cfg.clients)
	ctx, cancel := a.interruptCtx()
	defer cancel()
	keys := make(chan string, cfg.clients)
	value := strings.Repeat("x", cfg.kvSize)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failed error
	for i := 0; i < cfg.clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range keys {
				if _, err := cli.Put(ctx, k, value); err != nil {
					mu.Lock()
					if failed == nil {
						failed = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for i := 0; i < cfg.limit && ctx.Err() == nil; i++ {
		keys <- fmt.Sprintf("%s%016x", prefix, i)
	}
	close(keys)
	wg.Wait()
	after, merr := residentMemory(ep)
	dctx, dcancel := context.WithTimeout(context.Background(), 60*time.Second)
	dresp, derr := cli.Delete(dctx, prefix, clientv3.WithPrefix())
	dcancel()
	if failed != nil {
		return exitErr(ExitError, failed)
	}
	if merr != nil {
		return exitErr(ExitError, merr)
	}
	if derr != nil {
		return exitErr(ExitError, derr)
	}
	// etcdctl's datascale defragments only the endpoint it measured.
	if err := compactAndDefrag(out, cli, dresp.Header.GetRevision(), compact, defrag, []string{ep}); err != nil {
		return err
	}
	used := (after - before) / (1 << 20)
	if used < 0 {
		used = 0 // the server gave memory back while loading
	}
	fmt.Fprintf(out, "PASS: Approximate system memory used : %.2f MB.\n", used)
	return nil
}

// residentMemory reads process_resident_memory_bytes from the /metrics of
// the endpoint's HTTP side (same host and port as the gRPC endpoint).
func residentMemory(ep string) (float64, error) {
	u := ep
	if !strings.Contains(u, "://") {
		u = "http://" + u
	}
	hc := &http.Client{Timeout: 10 * time.Second}
	if strings.HasPrefix(u, "https://") {
		// Only the endpoint's public metrics are read.
		hc.Transport = &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} // #nosec G402
	}
	resp, err := hc.Get(strings.TrimSuffix(u, "/") + "/metrics")
	if err != nil {
		return 0, fmt.Errorf("reading %s/metrics: %w", u, err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "process_resident_memory_bytes ") {
			return strconv.ParseFloat(strings.TrimSpace(strings.TrimPrefix(line, "process_resident_memory_bytes")), 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("%s/metrics has no process_resident_memory_bytes", u)
}
