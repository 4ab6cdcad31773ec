package e2e

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/concord-kv/concord/internal/electionpb"
	"github.com/concord-kv/concord/internal/lockpb"

	"github.com/concord-kv/concord/tests/concordtest"
)

// retryOp runs op with a fresh 3 s context until it succeeds, for 20 s at
// most; for idempotent operations issued while a member dies and a leader
// is elected.
func retryOp(t *testing.T, what string, op func(ctx context.Context) error) {
	t.Helper()
	var last error
	waitFor(t, 20*time.Second, what, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		last = op(ctx)
		if last != nil {
			t.Logf("%s: %v (retrying)", what, last)
		}
		return last == nil
	})
}

// newSession opens a session with a ttl-second lease on cli; the client
// keeps it alive every ttl/3 seconds.
func newSession(t *testing.T, cli *clientv3.Client, ttl int) *concurrency.Session {
	t.Helper()
	var s *concurrency.Session
	retryOp(t, "a session", func(ctx context.Context) error {
		var err error
		s, err = concurrency.NewSession(cli, concurrency.WithTTL(ttl), concurrency.WithContext(context.Background()))
		return err
	})
	t.Cleanup(func() { s.Orphan() })
	return s
}

// TestConcurrencyMutex runs the Go client's concurrency.Mutex on two
// followers: the second session's Lock waits while the first holds, and
// it keeps waiting across kill -9 of the leader; it gets the lock once the
// first unlocks, a third gets it once the second's lease is revoked, and
// workers that lock, read-modify-write a counter and unlock never overlap
// and lose no increment on the two surviving members.
func TestConcurrencyMutex(t *testing.T) {
	c := newCluster(t, 3)
	waitPublished(t, c)
	leader, others := c.SplitLeader(t)
	cliA, cliB := c.Client(t, others[0]), c.Client(t, others[1])
	ctx := ctxT(t)
	// B's session learns of its revocation at its next keep-alive,
	// every 2 s with a 6 s TTL.
	sA, sB := newSession(t, cliA, 30), newSession(t, cliB, 6)
	mA, mB := concurrency.NewMutex(sA, "/mtx/"), concurrency.NewMutex(sB, "/mtx/")
	if err := mA.Lock(ctx); err != nil {
		t.Fatal(err)
	}
	var aReleasing atomic.Bool
	bLocked := make(chan error, 1)
	go func() {
		err := mB.Lock(ctx)
		if err == nil && !aReleasing.Load() {
			err = errors.New("B locked while A held the lock")
		}
		bLocked <- err
	}()
	waitFor(t, 10*time.Second, "B's waiter key", func() bool { return len(keysUnder(t, cliA, "/mtx/")) == 2 })
	leader.Kill()
	c.Leader(t, others...)
	select {
	case err := <-bLocked:
		t.Fatalf("B's Lock returned while A holds the lock: %v", err)
	default:
	}
	aReleasing.Store(true)
	retryOp(t, "A's unlock", mA.Unlock)
	select {
	case err := <-bLocked:
		if err != nil {
			t.Fatalf("B's Lock: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("B never got the lock after A unlocked")
	}
	select {
	case <-sA.Done():
		t.Fatal("A's session ended across the leader change")
	case <-sB.Done():
		t.Fatal("B's session ended across the leader change")
	default:
	}
	if ks := keysUnder(t, cliA, "/mtx/"); len(ks) != 1 || ks[0] != mB.Key() {
		t.Fatalf("lock keys %v, want only B's %s", ks, mB.Key())
	}

	// Revoking the holder's lease hands the lock on.
	sC := newSession(t, cliA, 30)
	mC := concurrency.NewMutex(sC, "/mtx/")
	var bRevoked atomic.Bool
	cLocked := make(chan error, 1)
	go func() {
		err := mC.Lock(ctx)
		if err == nil && !bRevoked.Load() {
			err = errors.New("C locked while B held the lock")
		}
		cLocked <- err
	}()
	waitFor(t, 10*time.Second, "C's waiter key", func() bool { return len(keysUnder(t, cliB, "/mtx/")) == 2 })
	bRevoked.Store(true)
	if _, err := cliA.Revoke(ctx, sB.Lease()); err != nil {
		t.Fatal(err)
	}
	if err := <-cLocked; err != nil {
		t.Fatalf("C's Lock: %v", err)
	}
	select {
	case <-sB.Done():
	case <-ctx.Done():
		t.Fatal("B's session did not end after its lease was revoked")
	}
	if err := mC.Unlock(ctx); err != nil {
		t.Fatal(err)
	}

	// Workers on both survivors: the critical section is exclusive, so
	// the unguarded read-modify-write of /mtx-counter loses nothing.
	const workers, rounds = 4, 5
	var inside atomic.Int32
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		cli := cliA
		if w%2 == 1 {
			cli = cliB
		}
		s := newSession(t, cli, 30)
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := concurrency.NewMutex(s, "/mtx/")
			for i := 0; i < rounds; i++ {
				if err := m.Lock(ctx); err != nil {
					errs <- fmt.Errorf("worker %d round %d: Lock: %w", w, i, err)
					return
				}
				if n := inside.Add(1); n != 1 {
					errs <- fmt.Errorf("%d holders at once", n)
					return
				}
				g, err := cli.Get(ctx, "/mtx-counter")
				if err != nil {
					errs <- fmt.Errorf("worker %d round %d: Get: %w", w, i, err)
					return
				}
				n := 0
				if len(g.Kvs) == 1 {
					n, _ = strconv.Atoi(string(g.Kvs[0].Value))
				}
				if _, err := cli.Put(ctx, "/mtx-counter", strconv.Itoa(n+1)); err != nil {
					errs <- fmt.Errorf("worker %d round %d: Put: %w", w, i, err)
					return
				}
				inside.Add(-1)
				if err := m.Unlock(ctx); err != nil {
					errs <- fmt.Errorf("worker %d round %d: Unlock: %w", w, i, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}
	g, err := cliB.Get(ctx, "/mtx-counter")
	if err != nil || len(g.Kvs) != 1 || string(g.Kvs[0].Value) != strconv.Itoa(workers*rounds) {
		t.Fatalf("counter after %d exclusive increments: %v %v", workers*rounds, g, err)
	}
}

// observeUntil reads ch until a leader with value want appears; values
// seen on the way are appended to seen.
func observeUntil(t *testing.T, ch <-chan *clientv3.GetResponse, want string, seen *[]string) *clientv3.GetResponse {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case r, ok := <-ch:
			if !ok {
				t.Fatalf("observe channel closed waiting for %q; saw %q", want, *seen)
			}
			if len(r.Kvs) == 0 {
				continue
			}
			v := string(r.Kvs[0].Value)
			if n := len(*seen); n == 0 || (*seen)[n-1] != v {
				*seen = append(*seen, v)
			}
			if v == want {
				return r
			}
		case <-timeout:
			t.Fatalf("observer never saw %q; saw %q", want, *seen)
		}
	}
}

// TestConcurrencyElection runs concurrency.Election: a campaign wins, an
// observer on another member sees the leader, its proclamations and, after
// kill -9 of the raft leader, the resignation that elects the waiting
// candidate.
func TestConcurrencyElection(t *testing.T) {
	c := newCluster(t, 3)
	waitPublished(t, c)
	leader, others := c.SplitLeader(t)
	cli1, cli2 := c.Client(t, others[0]), c.Client(t, others[1])
	ctx := ctxT(t)
	s1, s2, so := newSession(t, cli1, 30), newSession(t, cli2, 30), newSession(t, cli2, 30)
	e1, e2 := concurrency.NewElection(s1, "/elect/"), concurrency.NewElection(s2, "/elect/")
	if err := e1.Campaign(ctx, "one"); err != nil {
		t.Fatal(err)
	}
	obs := concurrency.NewElection(so, "/elect/")
	octx, ocancel := context.WithCancel(ctx)
	defer ocancel()
	ch := obs.Observe(octx)
	var seen []string
	r := observeUntil(t, ch, "one", &seen)
	if string(r.Kvs[0].Key) != e1.Key() {
		t.Fatalf("observed leader key %s, campaigned as %s", r.Kvs[0].Key, e1.Key())
	}
	l, err := obs.Leader(ctx)
	if err != nil || string(l.Kvs[0].Value) != "one" || string(l.Kvs[0].Key) != e1.Key() {
		t.Fatalf("Leader from the other member: %v %v", l, err)
	}
	var oneResigning atomic.Bool
	twoElected := make(chan error, 1)
	go func() {
		err := e2.Campaign(ctx, "two")
		if err == nil && !oneResigning.Load() {
			err = errors.New("two elected while one leads")
		}
		twoElected <- err
	}()
	waitFor(t, 10*time.Second, "two's candidacy key", func() bool { return len(keysUnder(t, cli1, "/elect/")) == 2 })
	if err := e1.Proclaim(ctx, "one-bis"); err != nil {
		t.Fatal(err)
	}
	observeUntil(t, ch, "one-bis", &seen)

	leader.Kill()
	c.Leader(t, others...)
	retryOp(t, "proclaim after the raft leader died", func(ctx context.Context) error { return e1.Proclaim(ctx, "one-ter") })
	observeUntil(t, ch, "one-ter", &seen)
	select {
	case err := <-twoElected:
		t.Fatalf("two's campaign returned while one leads: %v", err)
	default:
	}
	oneResigning.Store(true)
	retryOp(t, "resign", e1.Resign)
	if err := <-twoElected; err != nil {
		t.Fatalf("two's campaign: %v", err)
	}
	r = observeUntil(t, ch, "two", &seen)
	if string(r.Kvs[0].Key) != e2.Key() {
		t.Fatalf("observed leader key %s, two campaigned as %s", r.Kvs[0].Key, e2.Key())
	}
	if want := []string{"one", "one-bis", "one-ter", "two"}; strings.Join(seen, ",") != strings.Join(want, ",") {
		t.Fatalf("observer saw %q, want %q", seen, want)
	}
	l, err = concurrency.NewElection(s1, "/elect/").Leader(ctx)
	if err != nil || string(l.Kvs[0].Value) != "two" {
		t.Fatalf("Leader after resign: %v %v", l, err)
	}
	if err := e1.Proclaim(ctx, "stale"); !errors.Is(err, concurrency.ErrElectionNotLeader) {
		t.Fatalf("proclaim after resign: %v", err)
	}
	if err := e2.Resign(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := obs.Leader(ctx); !errors.Is(err, concurrency.ErrElectionNoLeader) {
		t.Fatalf("Leader with no candidates: %v", err)
	}
}

// TestConcurrencySTM increments one counter from goroutines using
// concurrency.NewSTM through each of the 3 members, and kills -9 a
// follower mid-way; the goroutines that used it carry on through another
// member. Each increment marks a per-increment key in the same STM
// transaction and skips if it is already marked, so a retry after an
// ambiguous failure never counts twice: the counter must reach exactly
// the number of increments, with no lost update.
func TestConcurrencySTM(t *testing.T) {
	const perMember, each = 2, 12
	c := newCluster(t, 3)
	waitPublished(t, c)
	leader, others := c.SplitLeader(t)
	victim := others[1]
	order := []*concordtest.Member{leader, others[0], victim}
	clients := make([]*clientv3.Client, len(order))
	for i, m := range order {
		clients[i] = c.Client(t, m)
	}
	ctx := ctxT(t)
	var done, failovers atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, perMember*len(order))
	for i := range order {
		for j := 0; j < perMember; j++ {
			g := i*perMember + j
			wg.Add(1)
			go func() {
				defer wg.Done()
				via := i
				for k := 0; k < each; k++ {
					mark := fmt.Sprintf("/stm/done/%02d/%03d", g, k)
					for {
						actx, cancel := context.WithTimeout(ctx, 3*time.Second)
						_, err := concurrency.NewSTM(clients[via], func(s concurrency.STM) error {
							if s.Get(mark) != "" {
								return nil
							}
							n := 0
							if v := s.Get("/stm/counter"); v != "" {
								var err error
								if n, err = strconv.Atoi(v); err != nil {
									return err
								}
							}
							s.Put("/stm/counter", strconv.Itoa(n+1))
							s.Put(mark, "1")
							return nil
						}, concurrency.WithAbortContext(actx))
						cancel()
						if err == nil {
							break
						}
						if ctx.Err() != nil {
							errs <- fmt.Errorf("goroutine %d, increment %d: %w", g, k, err)
							return
						}
						failovers.Add(1)
						via = (via + 1) % 2 // carry on through a survivor
					}
					done.Add(1)
				}
			}()
		}
	}
	total := int64(perMember * len(order) * each)
	waitFor(t, 30*time.Second, "a third of the increments", func() bool { return done.Load() >= total/3 })
	victim.Kill()
	t.Logf("killed follower %s after %d of %d increments", victim.Name, done.Load(), total)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	t.Logf("%d STM attempts failed and were retried through a survivor", failovers.Load())
	want := strconv.FormatInt(total, 10)
	for _, cli := range clients[:2] {
		g, err := cli.Get(ctx, "/stm/counter")
		if err != nil || len(g.Kvs) != 1 || string(g.Kvs[0].Value) != want {
			t.Fatalf("counter = %v (%v), want %s", g, err, want)
		}
		marks, err := cli.Get(ctx, "/stm/done/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil || marks.Count != total {
			t.Fatalf("%v increments marked (%v), want %d", marks.Count, err, total)
		}
	}
	// The killed member catches up to the same total.
	victim.Restart(t)
	back := c.Client(t, victim)
	waitFor(t, 20*time.Second, victim.Name+" to catch up after restart", func() bool {
		g, err := back.Get(ctx, "/stm/counter", clientv3.WithSerializable())
		return err == nil && len(g.Kvs) == 1 && string(g.Kvs[0].Value) == want
	})
}

// TestLockElectionGRPC calls the Lock and Election gRPC services with raw
// stubs on different members: Lock with a lease waits for the holder,
// Unlock hands over, revoking the lease frees the key; Campaign, Leader,
// Proclaim, Observe and Resign behave as etcd's v3lock/v3election, with
// etcd's error texts.
func TestLockElectionGRPC(t *testing.T) {
	c := newCluster(t, 3)
	waitPublished(t, c)
	cli := c.Client(t)
	ctx := ctxT(t)
	grant := func() int64 {
		g, err := cli.Grant(ctx, 30)
		if err != nil {
			t.Fatal(err)
		}
		return int64(g.ID)
	}
	lock1, lock2, lock3 := lockpb.NewLockClient(dialRaw(t, c.Members[0])), lockpb.NewLockClient(dialRaw(t, c.Members[1])), lockpb.NewLockClient(dialRaw(t, c.Members[2]))

	l1, l2 := grant(), grant()
	r1, err := lock1.Lock(ctx, &lockpb.LockRequest{Name: []byte("/glock"), Lease: l1})
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("/glock/%x", l1); string(r1.Key) != want || r1.Header.GetRevision() == 0 {
		t.Fatalf("Lock key %q header %v, want %q", r1.Key, r1.Header, want)
	}
	var released atomic.Bool
	type lockResult struct {
		r   *lockpb.LockResponse
		err error
	}
	second := make(chan lockResult, 1)
	go func() {
		r, err := lock2.Lock(ctx, &lockpb.LockRequest{Name: []byte("/glock"), Lease: l2})
		if err == nil && !released.Load() {
			err = errors.New("second Lock returned while the first held")
		}
		second <- lockResult{r, err}
	}()
	waitFor(t, 10*time.Second, "the second locker's key", func() bool { return len(keysUnder(t, cli, "/glock/")) == 2 })
	select {
	case res := <-second:
		t.Fatalf("second Lock returned while the first holds: %v %v", res.r, res.err)
	default:
	}
	released.Store(true)
	if _, err := lock3.Unlock(ctx, &lockpb.UnlockRequest{Key: r1.Key}); err != nil {
		t.Fatal(err)
	}
	res := <-second
	if res.err != nil {
		t.Fatal(res.err)
	}
	if want := fmt.Sprintf("/glock/%x", l2); string(res.r.Key) != want {
		t.Fatalf("second Lock key %q, want %q", res.r.Key, want)
	}
	if _, err := cli.Revoke(ctx, clientv3.LeaseID(l2)); err != nil {
		t.Fatal(err)
	}
	if ks := keysUnder(t, cli, "/glock/"); len(ks) != 0 {
		t.Fatalf("lock keys after Unlock and revoke: %v", ks)
	}
	_, err = lock1.Lock(ctx, &lockpb.LockRequest{Name: []byte("/glock"), Lease: 0x1234})
	if status.Convert(err).Message() != "etcdserver: requested lease not found" {
		t.Fatalf("Lock with an unknown lease: %v", err)
	}
	// A Lock whose caller gives up leaves no key behind.
	l3 := grant()
	if _, err := lock1.Lock(ctx, &lockpb.LockRequest{Name: []byte("/glock"), Lease: l3}); err != nil {
		t.Fatal(err)
	}
	shortCtx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
	_, err = lock2.Lock(shortCtx, &lockpb.LockRequest{Name: []byte("/glock"), Lease: l1})
	cancel()
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("Lock on a held lock with a 500 ms deadline: %v", err)
	}
	waitFor(t, 10*time.Second, "the abandoned waiter's key to go", func() bool {
		ks := keysUnder(t, cli, "/glock/")
		return len(ks) == 1 && ks[0] == fmt.Sprintf("/glock/%x", l3)
	})

	// Election.
	el1, el2, el3 := electionpb.NewElectionClient(dialRaw(t, c.Members[0])), electionpb.NewElectionClient(dialRaw(t, c.Members[1])), electionpb.NewElectionClient(dialRaw(t, c.Members[2]))
	name := []byte("/gelect")
	if _, err := el2.Leader(ctx, &electionpb.LeaderRequest{Name: name}); status.Convert(err).Message() != concurrency.ErrElectionNoLeader.Error() {
		t.Fatalf("Leader with no candidate: %v", err)
	}
	e1, e2 := grant(), grant()
	cr, err := el1.Campaign(ctx, &electionpb.CampaignRequest{Name: name, Lease: e1, Value: []byte("a")})
	if err != nil {
		t.Fatal(err)
	}
	lk := cr.Leader
	if string(lk.Name) != "/gelect" || string(lk.Key) != fmt.Sprintf("/gelect/%x", e1) || lk.Lease != e1 || lk.Rev == 0 {
		t.Fatalf("Campaign leader key %v", lk)
	}
	octx, ocancel := context.WithCancel(ctx)
	defer ocancel()
	stream, err := el3.Observe(octx, &electionpb.LeaderRequest{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	recv := func(want string) *pb.ResponseHeader {
		t.Helper()
		for {
			r, err := stream.Recv()
			if err != nil {
				t.Fatalf("Observe waiting for %q: %v", want, err)
			}
			if string(r.Kv.Value) == want {
				return r.Header
			}
		}
	}
	recv("a")
	lr, err := el2.Leader(ctx, &electionpb.LeaderRequest{Name: name})
	if err != nil || string(lr.Kv.Value) != "a" || string(lr.Kv.Key) != string(lk.Key) || lr.Kv.CreateRevision != lk.Rev {
		t.Fatalf("Leader: %v %v", lr, err)
	}
	campaigned := make(chan error, 1)
	var resigned atomic.Bool
	var lk2 *electionpb.LeaderKey
	go func() {
		r, err := el2.Campaign(ctx, &electionpb.CampaignRequest{Name: name, Lease: e2, Value: []byte("b")})
		if err == nil {
			lk2 = r.Leader
			if !resigned.Load() {
				err = errors.New("second Campaign returned while the first leads")
			}
		}
		campaigned <- err
	}()
	waitFor(t, 10*time.Second, "the second candidate's key", func() bool { return len(keysUnder(t, cli, "/gelect/")) == 2 })
	if _, err := el3.Proclaim(ctx, &electionpb.ProclaimRequest{Leader: lk, Value: []byte("a2")}); err != nil {
		t.Fatal(err)
	}
	recv("a2")
	stale := &electionpb.LeaderKey{Name: lk.Name, Key: lk.Key, Rev: lk.Rev + 1000, Lease: lk.Lease}
	if _, err := el1.Proclaim(ctx, &electionpb.ProclaimRequest{Leader: stale, Value: []byte("x")}); status.Convert(err).Message() != concurrency.ErrElectionNotLeader.Error() {
		t.Fatalf("Proclaim with a stale leader key: %v", err)
	}
	select {
	case err := <-campaigned:
		t.Fatalf("second Campaign returned while the first leads: %v", err)
	default:
	}
	resigned.Store(true)
	if _, err := el2.Resign(ctx, &electionpb.ResignRequest{Leader: lk}); err != nil {
		t.Fatal(err)
	}
	if err := <-campaigned; err != nil {
		t.Fatal(err)
	}
	recv("b")
	if string(lk2.Key) != fmt.Sprintf("/gelect/%x", e2) {
		t.Fatalf("second Campaign leader key %v", lk2)
	}
	lr, err = el1.Leader(ctx, &electionpb.LeaderRequest{Name: name})
	if err != nil || string(lr.Kv.Value) != "b" {
		t.Fatalf("Leader after resign: %v %v", lr, err)
	}
	if _, err := el1.Proclaim(ctx, &electionpb.ProclaimRequest{Leader: lk, Value: []byte("x")}); status.Convert(err).Message() != concurrency.ErrElectionNotLeader.Error() {
		t.Fatalf("Proclaim by the resigned leader: %v", err)
	}
	// Revoking the leader's lease ends its leadership too.
	if _, err := cli.Revoke(ctx, clientv3.LeaseID(e2)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "no leader after the lease is revoked", func() bool {
		_, err := el3.Leader(ctx, &electionpb.LeaderRequest{Name: name})
		return status.Convert(err).Message() == concurrency.ErrElectionNoLeader.Error()
	})
}
