package lease_test

import (
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/concord-kv/concord/lease"
)

// Example shows the calls an apply loop and a leader's expiry loop make:
// grants and attachments go into the apply batch; the leader finds expired
// leases and proposes their revocation; applying the revocation yields the
// keys to delete in one revision.
func Example() {
	db, err := pebble.Open("", &pebble.Options{FS: vfs.NewMem()})
	if err != nil {
		panic(err)
	}
	defer db.Close()

	now := time.Unix(1_700_000_000, 0) // a fake clock
	cfg := lease.DefaultConfig()
	cfg.MinTTL = lease.MinTTLFor(10, 100*time.Millisecond)
	cfg.Now = func() time.Time { return now }
	le, err := lease.New(cfg)
	if err != nil {
		panic(err)
	}
	le.Promote(now) // this member became leader

	// Apply loop: LeaseGrant{ID: 7, TTL: 1}, then Put("lock/a", lease 7).
	b := db.NewBatch()
	ttl, _ := le.Grant(b, 7, 1)
	_ = le.Attach(b, 7, []byte("lock/a"))
	_ = b.Commit(pebble.Sync)
	fmt.Println("granted TTL:", ttl)

	// Leader's expiry loop, two seconds later.
	now = now.Add(2 * time.Second)
	expired := le.Expired(now, 1000)
	fmt.Println("expired:", expired)

	// Apply loop: the committed LeaseRevoke{ID: 7}.
	b = db.NewBatch()
	keys, _ := le.Revoke(b, expired[0])
	_ = b.Commit(pebble.Sync)
	fmt.Printf("delete in one revision: %q\n", keys)
	// Output:
	// granted TTL: 2
	// expired: [7]
	// delete in one revision: ["lock/a"]
}
