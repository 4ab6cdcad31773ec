package lease

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// TestCrashRecovery commits lease changes in synced batches, as the apply
// loop does, crashes the filesystem after each, and checks that Load on
// the recovered engine sees exactly the committed state: every committed
// grant, attachment, checkpoint and revocation, nothing half-applied.
func TestCrashRecovery(t *testing.T) {
	fs := vfs.NewCrashableMem()
	db, err := pebble.Open("data", &pebble.Options{FS: fs, Logger: quietLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	le, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	// summary renders a Lessor's replicated view.
	summary := func(le *Lessor) string {
		s := ""
		for _, id := range le.Leases() {
			g, r, keys, err := le.TimeToLive(id, time.Time{})
			if err != nil {
				t.Fatal(err)
			}
			s += fmt.Sprintf("%d:%d:%d:%s ", id, g, r, keysString(keys))
		}
		return s
	}
	steps := []func(w pebble.Writer) error{
		func(w pebble.Writer) error { _, err := le.Grant(w, 1, 60); return err },
		func(w pebble.Writer) error {
			if _, err := le.Grant(w, 2, 600); err != nil {
				return err
			}
			return le.Attach(w, 2, []byte("a"))
		},
		func(w pebble.Writer) error { return le.Attach(w, 1, []byte("b")) },
		func(w pebble.Writer) error { return le.ApplyCheckpoint(w, 2, 300) },
		func(w pebble.Writer) error { _, err := le.Revoke(w, 1); return err },
		func(w pebble.Writer) error { return le.Detach(w, 2, []byte("a")) },
	}
	var states []string
	for i, step := range steps {
		b := db.NewBatch()
		if err := step(b); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if err := b.Commit(pebble.Sync); err != nil {
			t.Fatal(err)
		}
		states = append(states, summary(le))

		crashed := fs.CrashClone(vfs.CrashCloneCfg{})
		rdb, err := pebble.Open("data", &pebble.Options{FS: crashed, Logger: quietLogger{}})
		if err != nil {
			t.Fatalf("step %d: reopen: %v", i, err)
		}
		rle, err := New(DefaultConfig())
		if err != nil {
			t.Fatal(err)
		}
		if err := rle.Load(rdb); err != nil {
			t.Fatalf("step %d: load: %v", i, err)
		}
		if got := summary(rle); got != states[i] {
			t.Fatalf("step %d: recovered %q, committed %q", i, got, states[i])
		}
		rdb.Close()
	}
	if !slices.Equal(states[len(states)-1:], []string{"2:600:300:[] "}) {
		t.Fatalf("final state %q", states[len(states)-1])
	}
}
