package membership

import (
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// The IDs below are what etcd prints for the same flags: a single member
// started with defaults (default=http://localhost:2380, token etcd-cluster)
// has member ID 8e9e05c52164694d and cluster ID cdf818194e3a8c32.
func TestIDsMatchEtcd(t *testing.T) {
	id := ComputeMemberID([]string{"http://localhost:2380"}, "etcd-cluster", nil)
	if got, want := id, uint64(0x8e9e05c52164694d); got != want {
		t.Fatalf("member ID = %x, want %x", got, want)
	}
	if got, want := ComputeClusterID([]uint64{id}), uint64(0xcdf818194e3a8c32); got != want {
		t.Fatalf("cluster ID = %x, want %x", got, want)
	}
}

func TestClusterPersistence(t *testing.T) {
	db, err := pebble.Open("", &pebble.Options{FS: vfs.NewMem()})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	c := NewCluster(1)
	b := db.NewBatch()
	if err := c.Add(b, &Member{ID: 10, Name: "a", PeerURLs: []string{"http://a:2380"}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Add(b, &Member{ID: 11, Name: "b", PeerURLs: []string{"http://a:2380"}}); err != ErrPeerURLExists {
		t.Fatalf("duplicate peer URL: err = %v", err)
	}
	if err := c.Add(b, &Member{ID: 12, Name: "c", PeerURLs: []string{"http://c:2380"}}); err != nil {
		t.Fatal(err)
	}
	if err := c.SetAttributes(b, 10, "a", []string{"http://a:2379"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Remove(b, 12); err != nil {
		t.Fatal(err)
	}
	if err := c.Remove(b, 12); err != ErrMemberNotFound {
		t.Fatalf("second remove: %v", err)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		t.Fatal(err)
	}
	d := NewCluster(1)
	if err := d.Load(db); err != nil {
		t.Fatal(err)
	}
	ms := d.Members()
	if len(ms) != 1 || ms[0].ID != 10 || ms[0].ClientURLs[0] != "http://a:2379" {
		t.Fatalf("loaded members = %+v", ms)
	}
	if !d.IsRemoved(12) {
		t.Fatal("removed member 12 not remembered")
	}
	if err := d.Add(db, &Member{ID: 12, PeerURLs: []string{"http://z:1"}}); err != ErrIDExists {
		t.Fatalf("re-adding removed ID: %v", err)
	}
}
