package server

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"go.uber.org/zap"

	"github.com/concord-kv/concord/config"
	"github.com/concord-kv/concord/membership"
	"github.com/concord-kv/concord/raftnode"
	"github.com/concord-kv/concord/snapshot"
)

// clusterIDHeader carries the cluster ID on peer responses, as etcd's.
const clusterIDHeader = "X-Etcd-Cluster-ID"

// identity is who this member is: its member and cluster IDs; fresh when
// the data dir is new; bootstrap when it starts a new cluster (as opposed
// to joining an existing one, which then sends it the log or a snapshot).
type identity struct {
	member, cluster uint64
	fresh           bool
	bootstrap       bool
	initial         []membership.Member
}

func (id identity) peers(c *membership.Cluster) []raftnode.Peer {
	if !id.fresh {
		return peersOf(c)
	}
	out := make([]raftnode.Peer, len(id.initial))
	for i, m := range id.initial {
		out[i] = raftnode.Peer{ID: m.ID, URLs: m.PeerURLs, Context: m.Marshal()}
	}
	return out
}

// resolveIdentity reads the member and cluster IDs of an initialized data
// dir. For a new data dir it derives them from --initial-cluster and
// --initial-cluster-token (etcd's derivation, so IDs match etcd's for the
// same flags), or, with --initial-cluster-state=existing, learns them from
// the running members listed in --initial-cluster: the member must have
// been added (member add) with this member's peer URLs. A data dir made by
// snapshot restore (snapshot.MarkerKey present) is new in this sense and
// always bootstraps a new cluster, whatever --initial-cluster-state says.
func resolveIdentity(ctx context.Context, db *pebble.DB, cfg *config.Config, lg *zap.Logger, peerTLS *tls.Config) (identity, error) {
	v, c, err := db.Get(keyIdentity)
	if err == nil {
		defer c.Close()
		if len(v) != 16 {
			return identity{}, fmt.Errorf("server: corrupt member identity (%d bytes)", len(v))
		}
		return identity{member: binary.BigEndian.Uint64(v), cluster: binary.BigEndian.Uint64(v[8:])}, nil
	}
	if !errors.Is(err, pebble.ErrNotFound) {
		return identity{}, err
	}
	// A data dir made by `snapshot restore` holds state but no identity:
	// it always starts a new cluster from --initial-cluster.
	restored, ok, err := snapshot.ReadMarker(db)
	if err != nil {
		return identity{}, err
	}
	if ok {
		lg.Info("data dir restored from a snapshot; bootstrapping a new cluster from --initial-cluster",
			zap.Int64("snapshot-revision", restored.SnapshotRevision), zap.Int64("revision", restored.Revision),
			zap.Bool("compacted", restored.Compacted), zap.String("restored-at", restored.RestoredAt))
	}
	if !ok && cfg.JoinsExisting() {
		return joinIdentity(ctx, cfg, lg, peerTLS)
	}
	var id identity
	var ids []uint64
	for _, m := range cfg.InitialCluster {
		urls := urlStrings(m.PeerURLs)
		mid := membership.ComputeMemberID(urls, cfg.InitialClusterToken, nil)
		id.initial = append(id.initial, membership.Member{ID: mid, PeerURLs: urls})
		ids = append(ids, mid)
		if m.Name == cfg.Name {
			id.member = mid
		}
	}
	if id.member == 0 {
		return identity{}, fmt.Errorf("server: --name %q is not in --initial-cluster", cfg.Name)
	}
	id.cluster = membership.ComputeClusterID(ids)
	id.fresh, id.bootstrap = true, true
	return id, nil
}

// joinIdentity asks the other members of --initial-cluster for the member
// list (GET <peer URL>/members) and finds this member by its advertised
// peer URLs. peerTLS (nil: plaintext) is the peer dialing TLS, so https
// peers are asked as raft dials them.
func joinIdentity(ctx context.Context, cfg *config.Config, lg *zap.Logger, peerTLS *tls.Config) (identity, error) {
	mine := urlStrings(cfg.InitialAdvertisePeerURLs)
	sort.Strings(mine)
	hc := &http.Client{Timeout: 2 * time.Second}
	if peerTLS != nil {
		hc.Transport = &http.Transport{TLSClientConfig: peerTLS}
	}
	var lastErr error
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, m := range cfg.InitialCluster {
			if m.Name == cfg.Name {
				continue
			}
			for _, u := range urlStrings(m.PeerURLs) {
				members, cid, err := fetchMembers(ctx, hc, u)
				if err != nil {
					lastErr = err
					continue
				}
				for _, mm := range members {
					urls := append([]string(nil), mm.PeerURLs...)
					sort.Strings(urls)
					if fmt.Sprint(urls) == fmt.Sprint(mine) {
						lg.Info("joining existing cluster", zap.String("member-id", fmt.Sprintf("%x", mm.ID)), zap.String("cluster-id", fmt.Sprintf("%x", cid)))
						return identity{member: mm.ID, cluster: cid, fresh: true, initial: members}, nil
					}
				}
				return identity{}, fmt.Errorf("server: no member of the cluster has peer URLs %v; add this member first (member add)", mine)
			}
		}
		select {
		case <-ctx.Done():
			return identity{}, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
	return identity{}, fmt.Errorf("server: cannot fetch the member list from --initial-cluster: %w", lastErr)
}

func fetchMembers(ctx context.Context, hc *http.Client, peerURL string) ([]membership.Member, uint64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, peerURL+"/members", nil)
	if err != nil {
		return nil, 0, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("GET %s/members: %s", peerURL, resp.Status)
	}
	cid, err := strconv.ParseUint(resp.Header.Get(clusterIDHeader), 16, 64)
	if err != nil {
		return nil, 0, fmt.Errorf("GET %s/members: bad %s header", peerURL, clusterIDHeader)
	}
	var ms []membership.Member
	if err := json.NewDecoder(resp.Body).Decode(&ms); err != nil {
		return nil, 0, err
	}
	return ms, cid, nil
}

// membersHandler serves GET /members on the peer listener: the member
// list as JSON, the cluster ID in the X-Etcd-Cluster-ID header.
func membersHandler(c *membership.Cluster) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set(clusterIDHeader, fmt.Sprintf("%x", c.ID()))
		_ = json.NewEncoder(w).Encode(c.Members())
	})
}

// writeIdentity records the member and cluster IDs and, in the same batch,
// removes the snapshot-restore marker: from then on the data dir restarts
// as an initialized member.
func writeIdentity(db *pebble.DB, id identity) error {
	var v [16]byte
	binary.BigEndian.PutUint64(v[:], id.member)
	binary.BigEndian.PutUint64(v[8:], id.cluster)
	b := db.NewBatch()
	defer b.Close()
	if err := b.Set(keyIdentity, v[:], nil); err != nil {
		return err
	}
	if err := b.Delete(snapshot.MarkerKey, nil); err != nil {
		return err
	}
	return b.Commit(pebble.Sync)
}
