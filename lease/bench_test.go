package lease

import (
	"strconv"
	"sync"
	"testing"
	"time"
)

// primaryWith returns a primary Lessor holding n leases (IDs 1..n) with
// TTLs spread over 10..1009 s.
func primaryWith(tb testing.TB, n int, now time.Time) *Lessor {
	tb.Helper()
	db := openMem(tb)
	tb.Cleanup(func() { db.Close() })
	cfg := DefaultConfig()
	cfg.Now = func() time.Time { return now }
	le, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	le.Promote(now)
	b := db.NewBatch()
	defer b.Close()
	for i := 1; i <= n; i++ {
		if _, err := le.Grant(b, int64(i), int64(10+i%1000)); err != nil {
			tb.Fatal(err)
		}
	}
	return le
}

// BenchmarkRenew is one keep-alive on a leader holding 100k leases.
func BenchmarkRenew(b *testing.B) {
	now := time.Unix(1_000_000, 0)
	le := primaryWith(b, 100_000, now)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := le.Renew(int64(i%100_000+1), now); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkExpired is one Expired(now, 1000) call on a leader holding
// 100k leases when none (idle) or 1000 (due) are expired.
func BenchmarkExpired(b *testing.B) {
	now := time.Unix(1_000_000, 0)
	b.Run("idle", func(b *testing.B) {
		le := primaryWith(b, 100_000, now)
		for b.Loop() {
			if got := le.Expired(now, 1000); len(got) != 0 {
				b.Fatal(got)
			}
		}
	})
	b.Run("due1000", func(b *testing.B) {
		le := primaryWith(b, 100_000, now)
		at := now.Add(10 * time.Second) // the 100 leases with TTL 10 s are due ...
		for b.Loop() {
			at = at.Add(DefaultExpiredRetry) // ... and due again every retry interval
			if got := le.Expired(at, 1000); len(got) == 0 {
				b.Fatal("nothing expired")
			}
		}
	})
}

// BenchmarkGrantRevoke is a Grant, an Attach and a Revoke on the apply
// path of a leader holding 100k leases.
func BenchmarkGrantRevoke(b *testing.B) {
	now := time.Unix(1_000_000, 0)
	le := primaryWith(b, 100_000, now)
	db := openMem(b)
	defer db.Close()
	w := db.NewBatch()
	key := []byte("key")
	for i := 0; b.Loop(); i++ {
		id := int64(200_000 + i)
		if _, err := le.Grant(w, id, 60); err != nil {
			b.Fatal(err)
		}
		if err := le.Attach(w, id, key); err != nil {
			b.Fatal(err)
		}
		if _, err := le.Revoke(w, id); err != nil {
			b.Fatal(err)
		}
		if i%1024 == 0 {
			w.Reset()
		}
	}
}

// TestConcurrentUse runs the apply path, keep-alives and the expiry loop
// at once; run with -race.
func TestConcurrentUse(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	le := primaryWith(t, 100, now)
	db := openMem(t)
	defer db.Close()
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { // apply loop
		defer wg.Done()
		w := db.NewBatch()
		defer w.Close()
		for i := 0; i < 500; i++ {
			id := int64(1000 + i)
			if _, err := le.Grant(w, id, 5); err != nil {
				t.Error(err)
				return
			}
			if err := le.Attach(w, id, []byte(strconv.Itoa(i))); err != nil {
				t.Error(err)
				return
			}
			le.Revoke(w, int64(i%100+1))
		}
	}()
	go func() { // keep-alives and reads
		defer wg.Done()
		for i := 0; i < 500; i++ {
			le.Renew(int64(1000+i), now)
			le.TimeToLive(int64(i%100+1), now)
			le.Leases()
		}
	}()
	go func() { // leader expiry loop
		defer wg.Done()
		for i := 0; i < 500; i++ {
			at := now.Add(time.Duration(i) * 100 * time.Millisecond)
			le.Expired(at, 10)
			le.Checkpoints(at)
		}
	}()
	wg.Wait()
}
