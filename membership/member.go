package membership

import (
	"crypto/sha1"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/concord-kv/concord/storage"
)

var (
	// ErrMemberNotFound is returned for an unknown member ID (etcd's
	// "member not found").
	ErrMemberNotFound = errors.New("membership: member not found")
	// ErrIDExists is returned when adding a member whose ID is taken.
	ErrIDExists = errors.New("membership: member ID already exist")
	// ErrPeerURLExists is returned when adding a member whose peer URL
	// another member already has.
	ErrPeerURLExists = errors.New("membership: Peer URLs already exists")
)

// Member is one member of the cluster, as etcd's Member: ID is the member
// ID, PeerURLs are its raft URLs, ClientURLs are published by the member
// itself once it runs (empty while "unstarted").
type Member struct {
	ID         uint64   `json:"id"`
	Name       string   `json:"name,omitempty"`
	PeerURLs   []string `json:"peerURLs"`
	ClientURLs []string `json:"clientURLs,omitempty"`
	IsLearner  bool     `json:"isLearner,omitempty"`
}

// ComputeMemberID derives a member ID from its peer URLs and the cluster
// token as etcd does: the first 8 bytes (big endian) of SHA-1 over the
// sorted peer URLs concatenated, then the token, then, for members added at
// runtime, the decimal Unix time of the addition. now is nil at bootstrap.
func ComputeMemberID(peerURLs []string, token string, now *time.Time) uint64 {
	urls := append([]string(nil), peerURLs...)
	sort.Strings(urls)
	b := []byte(strings.Join(urls, ""))
	b = append(b, token...)
	if now != nil {
		b = append(b, fmt.Sprintf("%d", now.Unix())...)
	}
	sum := sha1.Sum(b)
	return binary.BigEndian.Uint64(sum[:8])
}

// ComputeClusterID derives the cluster ID from the initial member IDs as
// etcd does: SHA-1 over the IDs sorted ascending, each 8 bytes big endian,
// first 8 bytes of the digest.
func ComputeClusterID(ids []uint64) uint64 {
	s := append([]uint64(nil), ids...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	b := make([]byte, 8*len(s))
	for i, id := range s {
		binary.BigEndian.PutUint64(b[8*i:], id)
	}
	sum := sha1.Sum(b)
	return binary.BigEndian.Uint64(sum[:8])
}

// Marshal encodes m as carried in a conf change's context and stored.
func (m *Member) Marshal() []byte {
	b, err := json.Marshal(m)
	if err != nil {
		panic(err) // a struct of strings and ints always marshals
	}
	return b
}

// Unmarshal decodes a record written by Marshal.
func Unmarshal(b []byte) (*Member, error) {
	var m Member
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("membership: decode member: %w", err)
	}
	return &m, nil
}

func memberKey(id uint64) []byte {
	k := make([]byte, 9)
	k[0] = storage.PrefixMembers
	binary.BigEndian.PutUint64(k[1:], id)
	return k
}

// removedKey marks a removed member so it can never rejoin (etcd keeps
// removed IDs for the same reason).
func removedKey(id uint64) []byte {
	k := memberKey(id)
	return append(k, 'x')
}

// Cluster is the in-memory view of the membership. The apply loop is its
// only writer (Add, Update, Remove, SetAttributes, Reload); any goroutine
// may read.
type Cluster struct {
	id uint64

	mu      sync.RWMutex // guards members and removed
	members map[uint64]*Member
	removed map[uint64]bool
}

// NewCluster returns an empty view for cluster id.
func NewCluster(id uint64) *Cluster {
	return &Cluster{id: id, members: map[uint64]*Member{}, removed: map[uint64]bool{}}
}

// ID is the cluster ID.
func (c *Cluster) ID() uint64 { return c.id }

// Load reads the member records from r, replacing the in-memory view.
func (c *Cluster) Load(r pebble.Reader) error {
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: []byte{storage.PrefixMembers}, UpperBound: []byte{storage.PrefixMembers + 1}})
	if err != nil {
		return err
	}
	defer it.Close()
	members := map[uint64]*Member{}
	removed := map[uint64]bool{}
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		if len(k) < 9 {
			continue
		}
		id := binary.BigEndian.Uint64(k[1:9])
		if len(k) == 10 && k[9] == 'x' {
			removed[id] = true
			continue
		}
		m, err := Unmarshal(it.Value())
		if err != nil {
			return err
		}
		members[id] = m
	}
	if err := it.Error(); err != nil {
		return err
	}
	c.mu.Lock()
	c.members, c.removed = members, removed
	c.mu.Unlock()
	return nil
}

// Members returns copies of all members sorted by ID.
func (c *Cluster) Members() []Member {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]Member, 0, len(c.members))
	for _, m := range c.members {
		cp := *m
		cp.PeerURLs = append([]string(nil), m.PeerURLs...)
		cp.ClientURLs = append([]string(nil), m.ClientURLs...)
		out = append(out, cp)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Member returns a copy of member id.
func (c *Cluster) Member(id uint64) (Member, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	m, ok := c.members[id]
	if !ok {
		return Member{}, false
	}
	cp := *m
	return cp, true
}

// IsRemoved reports whether id was removed from the cluster.
func (c *Cluster) IsRemoved(id uint64) bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.removed[id]
}

// Add records a new member in w and in memory. ErrIDExists or
// ErrPeerURLExists if it collides with a current member.
func (c *Cluster) Add(w pebble.Writer, m *Member) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.members[m.ID]; ok || c.removed[m.ID] {
		return ErrIDExists
	}
	for _, o := range c.members {
		for _, u := range o.PeerURLs {
			for _, v := range m.PeerURLs {
				if u == v {
					return ErrPeerURLExists
				}
			}
		}
	}
	if err := w.Set(memberKey(m.ID), m.Marshal(), nil); err != nil {
		return err
	}
	cp := *m
	c.members[m.ID] = &cp
	return nil
}

// Remove deletes member id; ErrMemberNotFound if absent.
func (c *Cluster) Remove(w pebble.Writer, id uint64) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.members[id]; !ok {
		return ErrMemberNotFound
	}
	if err := w.Delete(memberKey(id), nil); err != nil {
		return err
	}
	if err := w.Set(removedKey(id), nil, nil); err != nil {
		return err
	}
	delete(c.members, id)
	c.removed[id] = true
	return nil
}

// Update replaces member id's peer URLs (etcd's MemberUpdate).
func (c *Cluster) Update(w pebble.Writer, id uint64, peerURLs []string) error {
	return c.modify(w, id, func(m *Member) { m.PeerURLs = append([]string(nil), peerURLs...) })
}

// Promote turns learner id into a voting member.
func (c *Cluster) Promote(w pebble.Writer, id uint64) error {
	return c.modify(w, id, func(m *Member) { m.IsLearner = false })
}

// SetAttributes records the name and client URLs a member publishes about
// itself once it runs (etcd's ClusterMemberAttrSet).
func (c *Cluster) SetAttributes(w pebble.Writer, id uint64, name string, clientURLs []string) error {
	return c.modify(w, id, func(m *Member) {
		m.Name = name
		m.ClientURLs = append([]string(nil), clientURLs...)
	})
}

func (c *Cluster) modify(w pebble.Writer, id uint64, f func(*Member)) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	m, ok := c.members[id]
	if !ok {
		return ErrMemberNotFound
	}
	cp := *m
	f(&cp)
	if err := w.Set(memberKey(id), cp.Marshal(), nil); err != nil {
		return err
	}
	c.members[id] = &cp
	return nil
}
