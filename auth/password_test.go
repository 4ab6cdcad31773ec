package auth

import (
	"errors"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"golang.org/x/crypto/bcrypt"

	"github.com/concord-kv/concord/storage"
)

// TestCheckPasswordCache: a verified pair is answered without bcrypt; a
// wrong password is never cached; a changed password (a new stored hash)
// misses, so the old password fails and the new one works; concurrent
// checks of one pair run one bcrypt.
func TestCheckPasswordCache(t *testing.T) {
	e := newEnv(t, Config{})
	e.must(userAdd("u", e.hash("pw")))
	e.must(userAddNoPassword("np"))
	if _, err := e.s.CheckPassword("u", "pw"); !errors.Is(err, ErrAuthNotEnabled) {
		t.Fatalf("disabled: %v", err)
	}
	e.withRoot()
	pc := e.s.pw
	check := func(name, pw string, want error) {
		t.Helper()
		rev, err := e.s.CheckPassword(name, pw)
		if !errors.Is(err, want) || (err == nil) != (want == nil) {
			t.Fatalf("CheckPassword(%s, %s): %v, want %v", name, pw, err, want)
		}
		if err == nil && rev != e.s.Revision() {
			t.Fatalf("checked at %d, revision %d", rev, e.s.Revision())
		}
	}
	check("u", "pw", nil)
	n := pc.bcrypts.Load()
	check("u", "pw", nil)
	check("u", "pw", nil)
	if got := pc.bcrypts.Load(); got != n {
		t.Fatalf("cached check ran bcrypt (%d → %d)", n, got)
	}
	check("u", "wrong", ErrAuthFailed)
	check("u", "wrong", ErrAuthFailed)
	if got := pc.bcrypts.Load(); got != n+2 {
		t.Fatalf("wrong password: %d bcrypts, want %d", got, n+2)
	}
	check("u", "pw", nil) // a failure does not evict the verified pair
	check("nobody", "pw", ErrAuthFailed)
	check("np", "", ErrNoPasswordUser)
	check("np", "x", ErrNoPasswordUser)

	e.must(changePassword("u", e.hash("pw2")))
	check("u", "pw", ErrAuthFailed)
	check("u", "pw2", nil)
	// a changed hash misses even if forget were not called
	e.must(changePassword("u", e.hash("pw3")))
	pc.mu.Lock()
	pc.verified["u"] = cachedPassword{hash: "stale", mac: pc.mac("u", []byte("stale"), "pw2")}
	pc.mu.Unlock()
	check("u", "pw2", ErrAuthFailed)
	check("u", "pw3", nil)

	// the cache holds no clear password
	pc.mu.Lock()
	for _, v := range pc.verified {
		if v.hash == "pw3" || string(v.mac[:]) == "pw3" {
			t.Fatal("clear password in the cache")
		}
	}
	pc.mu.Unlock()

	e.must(userDelete("u"))
	check("u", "pw3", ErrAuthFailed)

	// 100 concurrent checks of a new pair: one bcrypt
	e.must(userAdd("herd", e.hash("hpw")))
	n = pc.bcrypts.Load()
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for range 100 {
		wg.Go(func() {
			if _, err := e.s.CheckPassword("herd", "hpw"); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := pc.bcrypts.Load() - n; got != 1 {
		t.Fatalf("100 concurrent checks ran %d bcrypts, want 1", got)
	}
}

// BenchmarkCheckPassword compares a check the cache answers with one
// that runs bcrypt, at etcd's default cost 10.
func BenchmarkCheckPassword(b *testing.B) {
	s, err := NewStore(Config{BcryptCost: bcrypt.DefaultCost})
	if err != nil {
		b.Fatal(err)
	}
	h, err := s.HashPassword("secret")
	if err != nil {
		b.Fatal(err)
	}
	db, err := storage.Open("", storage.Options{FS: vfs.NewMem()})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	apply := func(r *pb.InternalRaftRequest) {
		bt := db.NewIndexedBatch()
		defer bt.Close()
		if _, _, err := s.Apply(bt, r); err != nil {
			b.Fatal(err)
		}
		if err := bt.Commit(pebble.NoSync); err != nil {
			b.Fatal(err)
		}
	}
	apply(userAdd(RootUser, h))
	apply(grantRole(RootUser, RootRole))
	apply(enableReq)
	b.Run("cached", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.CheckPassword(RootUser, "secret"); err != nil {
				b.Fatal(err)
			}
		}
	})
	// 1,000 clients re-authenticating at once with a cold cache (a new
	// leader): one bcrypt, the others wait for it.
	b.Run("herd1000-cold", func(b *testing.B) {
		for b.Loop() {
			s.pw.forget(RootUser)
			var wg sync.WaitGroup
			for range 1000 {
				wg.Go(func() {
					if _, err := s.CheckPassword(RootUser, "secret"); err != nil {
						b.Error(err)
					}
				})
			}
			wg.Wait()
		}
	})
	b.Run("uncached", func(b *testing.B) {
		for b.Loop() {
			s.pw.forget(RootUser)
			if _, err := s.CheckPassword(RootUser, "secret"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
