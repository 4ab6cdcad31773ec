package lease

import (
	"cmp"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// modelLease is the naive model's view of a lease on the leader.
type modelLease struct {
	id, ttl int64
	expiry  time.Time
	due     time.Time // next time Expired may report it
}

// TestExpiryAgainstModel drives a primary Lessor with random grants,
// renewals, revocations, clock steps and Expired calls, and compares every
// answer with a naive model that scans all leases.
func TestExpiryAgainstModel(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		rng := rand.New(rand.NewPCG(seed, seed*7919))
		now := time.Unix(5_000_000, 0)
		cfg := DefaultConfig()
		cfg.MinTTL = 2
		cfg.Now = func() time.Time { return now }
		le, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		le.Promote(now)
		db := openMem(t)
		defer db.Close()
		b := db.NewBatch() // never committed: the model checks the in-memory view
		defer b.Close()
		model := map[int64]*modelLease{}
		for step := 0; step < 3000; step++ {
			id := int64(rng.IntN(200) + 1)
			switch op := rng.IntN(10); {
			case op < 3: // grant
				ttl := int64(rng.IntN(30))
				got, err := le.Grant(b, id, ttl)
				if _, ok := model[id]; ok {
					if err == nil {
						t.Fatalf("seed %d step %d: grant of existing %d succeeded", seed, step, id)
					}
					continue
				}
				if err != nil {
					t.Fatalf("seed %d step %d: grant %d: %v", seed, step, id, err)
				}
				want := max(ttl, 2)
				if got != want {
					t.Fatalf("seed %d step %d: grant ttl %d, want %d", seed, step, got, want)
				}
				exp := now.Add(time.Duration(want) * time.Second)
				model[id] = &modelLease{id: id, ttl: want, expiry: exp, due: exp}
			case op < 5: // renew
				got, err := le.Renew(id, now)
				m := model[id]
				if m == nil || !m.expiry.After(now) {
					if err == nil {
						t.Fatalf("seed %d step %d: renew of missing or expired %d succeeded", seed, step, id)
					}
					continue
				}
				if err != nil || got != m.ttl {
					t.Fatalf("seed %d step %d: renew %d = %d, %v; want %d", seed, step, id, got, err, m.ttl)
				}
				m.expiry = now.Add(time.Duration(m.ttl) * time.Second)
				m.due = m.expiry
			case op < 6: // revoke
				_, err := le.Revoke(b, id)
				if (model[id] == nil) != (err != nil) {
					t.Fatalf("seed %d step %d: revoke %d: %v", seed, step, id, err)
				}
				delete(model, id)
			case op < 8: // advance
				now = now.Add(time.Duration(rng.IntN(3000)) * time.Millisecond)
			default: // expired
				lim := rng.IntN(5)
				got := le.Expired(now, lim)
				var due []*modelLease
				for _, m := range model {
					if !m.due.After(now) {
						due = append(due, m)
					}
				}
				slices.SortFunc(due, func(x, y *modelLease) int {
					if c := x.due.Compare(y.due); c != 0 {
						return c
					}
					return cmp.Compare(x.id, y.id)
				})
				if lim > 0 && len(due) > lim {
					due = due[:lim]
				}
				var want []int64
				for _, m := range due {
					want = append(want, m.id)
					m.due = now.Add(DefaultExpiredRetry)
				}
				if !slices.Equal(got, want) {
					t.Fatalf("seed %d step %d: Expired(max %d) = %v, want %v", seed, step, lim, got, want)
				}
			}
			if step%100 == 0 {
				ids := make([]int64, 0, len(model))
				for id := range model {
					ids = append(ids, id)
				}
				slices.Sort(ids)
				if got := le.Leases(); !slices.Equal(got, ids) {
					t.Fatalf("seed %d step %d: Leases = %v, want %v", seed, step, got, ids)
				}
				for _, m := range model {
					_, rem, _, err := le.TimeToLive(m.id, now)
					want := max(int64(m.expiry.Sub(now)/time.Second), 0)
					if err != nil || rem != want {
						t.Fatalf("seed %d step %d: TimeToLive(%d) = %d, %v; want %d", seed, step, m.id, rem, err, want)
					}
				}
			}
		}
	}
}
