package ctl

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"slices"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/concord-kv/concord/config"
	"github.com/concord-kv/concord/snapshot"
)

func (a *app) newSnapshotCommand() *cobra.Command {
	sc := &cobra.Command{Use: "snapshot <subcommand>", Short: "Manages etcd node snapshots"}
	save := &cobra.Command{
		Use:   "save <filename>",
		Short: "Stores an etcd node backend snapshot to a given file",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return exitErrf(ExitBadArgs, "snapshot save expects one argument <filename>")
			}
			ctx, cancel := context.WithCancel(context.Background())
			if a.root.PersistentFlags().Lookup("command-timeout").Changed {
				cancel()
				ctx, cancel = a.commandCtx()
			}
			defer cancel()
			path := args[0]
			version, err := a.saveSnapshot(ctx, path)
			if err != nil {
				return exitErr(ExitInterrupted, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Snapshot saved at %s\n", path)
			if version != "" {
				fmt.Fprintf(cmd.OutOrStdout(), "Server version %s\n", version)
			}
			return nil
		},
	}
	status := &cobra.Command{
		Use:   "status <filename>",
		Short: "Gets backend snapshot status of a given file",
		Long: "Checks a snapshot file, etcd's (a bbolt database with its SHA-256 trailer, as etcdctl snapshot save\n" +
			"writes it against etcd or Concord) or Concord's own older format, and prints its hash, revision,\n" +
			"total keys, total size and version as etcdutl snapshot status does: for an etcd file the CRC-32 of\n" +
			"its buckets, the last revision, the live keys, the database size and its storageVersion.",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return exitErrf(ExitBadArgs, "snapshot status requires exactly one argument")
			}
			p, err := a.printer(cmd)
			if err != nil {
				return err
			}
			info, err := snapshot.ReadInfo(args[0])
			if err != nil {
				return exitErr(ExitError, err)
			}
			return p.SnapshotStatus(info)
		},
	}
	ro := &restoreOptions{}
	restore := &cobra.Command{
		Use:   "restore <filename> [options]",
		Short: "Restores an etcd member snapshot to an etcd directory",
		Long: "Creates a new member data directory from a snapshot file: etcd's (saved from etcd 3.4-3.6 or Concord;\n" +
			"its SHA-256 trailer is checked unless --skip-hash-check) or Concord's own older format. The member started on it\n" +
			"bootstraps a new cluster from its --initial-cluster; restore every member of the new cluster\n" +
			"from the same file. By default the revision is bumped by 1000000 and marked compacted, so\n" +
			"that clients' watches from older revisions fail with \"compacted\" and re-list.",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return exitErrf(ExitBadArgs, "snapshot restore requires exactly one argument")
			}
			ro.markChanged = cmd.Flags().Lookup("mark-compacted").Changed
			return ro.run(cmd, args[0])
		},
	}
	f := restore.Flags()
	f.StringVar(&ro.dataDir, "data-dir", "", "Path to the data directory (default \"<name>.concord\")")
	f.StringVar(&ro.walDir, "wal-dir", "", "Path to the WAL directory (use --data-dir if none given)")
	f.StringVar(&ro.initialCluster, "initial-cluster", "", "Initial cluster configuration for restore bootstrap (default \"<name>=<initial-advertise-peer-urls>\")")
	f.StringVar(&ro.token, "initial-cluster-token", "etcd-cluster", "Initial cluster token for the etcd cluster during restore bootstrap")
	f.StringVar(&ro.peerURLs, "initial-advertise-peer-urls", "http://localhost:2380", "List of this member's peer URLs to advertise to the rest of the cluster")
	f.StringVar(&ro.name, "name", "default", "Human-readable name for this member")
	f.BoolVar(&ro.skipHashCheck, "skip-hash-check", false, "Ignore snapshot integrity hash value (required if copied from data directory)")
	f.Int64Var(&ro.bump, "bump-revision", defaultBumpRevision, "How much to increase the latest revision after restore")
	f.BoolVar(&ro.markCompacted, "mark-compacted", true, "Mark the latest revision after restore as the point of scheduled compaction (requires --bump-revision > 0)")
	sc.AddCommand(save, restore, status)
	return sc
}

// defaultBumpRevision is concordctl's --bump-revision default. etcdutl's is
// 0; Concord bumps and marks compacted by default so that clients watching
// the old cluster re-list instead of missing changes (etcd issue #16028).
const defaultBumpRevision = 1000000

// restoreOptions are the flags of snapshot restore.
type restoreOptions struct {
	dataDir, walDir                           string
	initialCluster, token, peerURLs, name     string
	skipHashCheck, markCompacted, markChanged bool
	bump                                      int64
}

// run validates the flags as etcdutl does and restores path.
func (o *restoreOptions) run(cmd *cobra.Command, path string) error {
	peerURLs, err := config.ParseURLs(o.peerURLs)
	if err != nil {
		return exitErr(ExitBadArgs, err)
	}
	ic := config.InitialClusterFromName(o.name, peerURLs)
	if o.initialCluster != "" {
		if ic, err = config.ParseInitialCluster(o.initialCluster); err != nil {
			return exitErr(ExitBadArgs, err)
		}
	}
	m, ok := ic.Lookup(o.name)
	if !ok {
		return exitErrf(ExitBadArgs, "couldn't find local name %q in the initial cluster configuration", o.name)
	}
	if !sameURLs(m.PeerURLs, peerURLs) {
		return exitErrf(ExitBadArgs, "--initial-cluster has %s but missing from --initial-advertise-peer-urls=%s",
			config.URLsString(m.PeerURLs), config.URLsString(peerURLs))
	}
	if o.bump < 0 {
		return exitErrf(ExitBadArgs, "--bump-revision must not be negative")
	}
	mark := o.markCompacted
	if o.bump == 0 {
		if mark && o.markChanged {
			return exitErrf(ExitBadArgs, "--mark-compacted requires --bump-revision > 0")
		}
		mark = false
	}
	dataDir := o.dataDir
	if dataDir == "" {
		dataDir = config.DefaultDataDir(o.name)
	}
	info, err := snapshot.Restore(path, snapshot.RestoreOptions{
		DataDir:                  dataDir,
		WALDir:                   o.walDir,
		Name:                     o.name,
		InitialCluster:           ic.String(),
		InitialClusterToken:      o.token,
		InitialAdvertisePeerURLs: config.URLsString(peerURLs),
		SkipHashCheck:            o.skipHashCheck,
		BumpRevision:             o.bump,
		MarkCompacted:            mark,
	})
	if err != nil {
		return exitErr(ExitError, err)
	}
	compacted := ""
	if mark {
		compacted = ", marked compacted"
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "restored snapshot %s into %s for member %q: revision %d%s; start the member with --initial-cluster=%s\n",
		path, dataDir, o.name, info.Revision, compacted, ic.String())
	return nil
}

// sameURLs says whether a and b hold the same URLs in any order.
func sameURLs(a, b []url.URL) bool {
	if len(a) != len(b) {
		return false
	}
	as, bs := make([]string, len(a)), make([]string, len(b))
	for i := range a {
		as[i], bs[i] = a[i].String(), b[i].String()
	}
	slices.Sort(as)
	slices.Sort(bs)
	return slices.Equal(as, bs)
}

// snapshotStatusJSON is etcdutl's snapshot status JSON shape.
type snapshotStatusJSON struct {
	Hash      uint32 `json:"hash"`
	Revision  int64  `json:"revision"`
	TotalKey  int    `json:"totalKey"`
	TotalSize int64  `json:"totalSize"`
	Version   string `json:"version"`
}

func snapshotStatusTable(info snapshot.Info) (hdr []string, rows [][]string) {
	hdr = []string{"hash", "revision", "total keys", "total size", "version"}
	rows = [][]string{{
		fmt.Sprintf("%x", info.Hash),
		strconv.FormatInt(info.Revision, 10),
		strconv.Itoa(info.TotalKey),
		humanBytes(uint64(info.TotalSize)),
		info.Version,
	}}
	return hdr, rows
}

// SnapshotStatus prints a snapshot file's status in etcdutl's shapes.
func (p *printer) SnapshotStatus(info snapshot.Info) error {
	switch p.format {
	case "simple":
		_, rows := snapshotStatusTable(info)
		p.rows(rows)
		return nil
	case "table":
		hdr, rows := snapshotStatusTable(info)
		renderTable(p.out, hdr, rows)
		return nil
	case "fields":
		p.field("Hash", info.Hash)
		p.field("Revision", info.Revision)
		p.field("Keys", info.TotalKey)
		p.field("Size", info.TotalSize)
		p.field("Version", info.Version)
		return nil
	case "json":
		return p.json(snapshotStatusJSON{Hash: info.Hash, Revision: info.Revision, TotalKey: info.TotalKey, TotalSize: info.TotalSize, Version: info.Version})
	}
	return p.unsupported()
}

// saveSnapshot streams a snapshot from the first endpoint into path
// (written to path.part, synced, then renamed) and returns the server
// version the stream reported. Like etcdctl it needs exactly one endpoint.
func (a *app) saveSnapshot(ctx context.Context, path string) (string, error) {
	eps, err := a.endpoints()
	if err != nil {
		return "", err
	}
	if len(eps) != 1 {
		return "", fmt.Errorf("snapshot must be requested to one selected node, not multiple %v", eps)
	}
	cli, err := a.client()
	if err != nil {
		return "", err
	}
	defer cli.Close()
	part := path + ".part"
	defer os.Remove(part)
	f, err := os.OpenFile(part, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return "", fmt.Errorf("could not open %s (%w)", part, err)
	}
	resp, err := cli.SnapshotWithVersion(ctx)
	if err != nil {
		f.Close()
		return "", err
	}
	defer resp.Snapshot.Close()
	size, err := io.Copy(f, resp.Snapshot)
	if err != nil {
		f.Close()
		return resp.Version, err
	}
	// As etcdctl: a complete snapshot (a bbolt file) is a multiple of 512
	// bytes followed by a sha256.
	if size%snapshot.BlockSize != snapshot.TrailerLen {
		f.Close()
		return resp.Version, fmt.Errorf("sha256 checksum not found [bytes: %d]", size)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return resp.Version, err
	}
	if err := f.Close(); err != nil {
		return resp.Version, err
	}
	if err := os.Rename(part, path); err != nil {
		return resp.Version, fmt.Errorf("could not rename %s to %s (%w)", part, path, err)
	}
	return resp.Version, nil
}
