package lease

import (
	"errors"
	"fmt"
	"log"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// member is one simulated cluster member: its own Pebble engine and
// Lessor. Replicated operations (the apply path) run on every member, each
// in its own committed batch, as raft would apply them.
type member struct {
	name string
	db   *pebble.DB
	le   *Lessor
}

// env drives a script against a few members sharing one fake clock.
type env struct {
	t       *testing.T
	cfg     Config
	now     time.Time
	members map[string]*member
	order   []string
}

func newEnv(t *testing.T, cfg Config, names ...string) *env {
	t.Helper()
	e := &env{t: t, cfg: cfg, now: time.Unix(1_000_000, 0), members: map[string]*member{}}
	cfg.Now = func() time.Time { return e.now }
	e.cfg = cfg
	for _, n := range names {
		db := openMem(t)
		t.Cleanup(func() { db.Close() })
		le, err := New(e.cfg)
		if err != nil {
			t.Fatal(err)
		}
		e.members[n] = &member{name: n, db: db, le: le}
		e.order = append(e.order, n)
	}
	return e
}

// quietLogger drops Pebble's informational chatter and keeps its errors.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any)         {}
func (quietLogger) Errorf(f string, args ...any) { log.Printf("pebble: "+f, args...) }
func (quietLogger) Fatalf(f string, args ...any) { log.Fatalf("pebble: "+f, args...) }

// openMem opens a Pebble engine on an in-memory filesystem.
func openMem(t testing.TB) *pebble.DB {
	t.Helper()
	db, err := pebble.Open("", &pebble.Options{FS: vfs.NewMem(), Logger: quietLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

var sentinels = []error{ErrLeaseNotFound, ErrLeaseExists, ErrLeaseTTLTooLarge, ErrNoLeaseID, ErrNotPrimary}

func errName(err error) string {
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return "err=" + strings.TrimPrefix(s.Error(), "lease: ")
		}
	}
	return "err=" + err.Error()
}

// apply runs f on every member in its own batch and requires every member
// to answer the same.
func (e *env) apply(f func(w pebble.Writer, le *Lessor) string) string {
	out := ""
	for i, n := range e.order {
		m := e.members[n]
		b := m.db.NewBatch()
		got := f(b, m.le)
		if err := b.Commit(pebble.Sync); err != nil {
			e.t.Fatal(err)
		}
		if i > 0 && got != out {
			e.t.Fatalf("members disagree: %s says %q, %s says %q", e.order[0], out, n, got)
		}
		out = got
	}
	return out
}

func keysString(keys [][]byte) string {
	s := make([]string, len(keys))
	for i, k := range keys {
		s[i] = string(k)
	}
	return "[" + strings.Join(s, " ") + "]"
}

func (e *env) member(name string) *member {
	m := e.members[name]
	if m == nil {
		e.t.Fatalf("no member %q", name)
	}
	return m
}

func (e *env) atoi(s string) int64 {
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		e.t.Fatal(err)
	}
	return v
}

// run executes one command and returns its output.
func (e *env) run(args []string) string {
	cmd, a := args[0], args[1:]
	switch cmd {
	case "grant": // grant <id> <ttl>
		id, ttl := e.atoi(a[0]), e.atoi(a[1])
		return e.apply(func(w pebble.Writer, le *Lessor) string {
			got, err := le.Grant(w, id, ttl)
			if err != nil {
				return errName(err)
			}
			return fmt.Sprintf("ttl=%d", got)
		})
	case "revoke": // revoke <id>
		id := e.atoi(a[0])
		return e.apply(func(w pebble.Writer, le *Lessor) string {
			keys, err := le.Revoke(w, id)
			if err != nil {
				return errName(err)
			}
			return "keys=" + keysString(keys)
		})
	case "attach", "detach": // attach <id> <key>...
		id := e.atoi(a[0])
		return e.apply(func(w pebble.Writer, le *Lessor) string {
			for _, k := range a[1:] {
				f := le.Attach
				if cmd == "detach" {
					f = le.Detach
				}
				if err := f(w, id, []byte(k)); err != nil {
					return errName(err)
				}
			}
			return "ok"
		})
	case "checkpoint": // checkpoint <id> <remaining>
		id, rem := e.atoi(a[0]), e.atoi(a[1])
		return e.apply(func(w pebble.Writer, le *Lessor) string {
			if err := le.ApplyCheckpoint(w, id, rem); err != nil {
				return errName(err)
			}
			return "ok"
		})
	case "advance": // advance <duration>
		d, err := time.ParseDuration(a[0])
		if err != nil {
			e.t.Fatal(err)
		}
		e.now = e.now.Add(d)
		return "ok"
	case "promote": // promote <member>
		e.member(a[0]).le.Promote(e.now)
		return "ok"
	case "demote":
		e.member(a[0]).le.Demote()
		return "ok"
	case "restart": // restart <member>: a fresh Lessor loaded from the member's engine
		m := e.member(a[0])
		le, err := New(e.cfg)
		if err != nil {
			e.t.Fatal(err)
		}
		if err := le.Load(m.db); err != nil {
			return errName(err)
		}
		m.le = le
		return "ok"
	case "renew": // renew <member> <id>
		ttl, err := e.member(a[0]).le.Renew(e.atoi(a[1]), e.now)
		if err != nil {
			return errName(err)
		}
		return fmt.Sprintf("ttl=%d", ttl)
	case "expired": // expired <member> [max]
		max := 0
		if len(a) > 1 {
			max = int(e.atoi(a[1]))
		}
		return fmt.Sprint(e.member(a[0]).le.Expired(e.now, max))
	case "checkpoints": // checkpoints <member>
		var s []string
		for _, c := range e.member(a[0]).le.Checkpoints(e.now) {
			s = append(s, fmt.Sprintf("%d:%d", c.ID, c.RemainingTTL))
		}
		return "[" + strings.Join(s, " ") + "]"
	case "propose-checkpoints": // propose-checkpoints <member>: Checkpoints, then apply them everywhere
		cps := e.member(a[0]).le.Checkpoints(e.now)
		var s []string
		for _, c := range cps {
			s = append(s, fmt.Sprintf("%d:%d", c.ID, c.RemainingTTL))
		}
		e.apply(func(w pebble.Writer, le *Lessor) string {
			for _, c := range cps {
				if err := le.ApplyCheckpoint(w, c.ID, c.RemainingTTL); err != nil {
					e.t.Fatal(err)
				}
			}
			return ""
		})
		return "[" + strings.Join(s, " ") + "]"
	case "ttl": // ttl <member> <id>
		g, r, keys, err := e.member(a[0]).le.TimeToLive(e.atoi(a[1]), e.now)
		if err != nil {
			return errName(err)
		}
		return fmt.Sprintf("granted=%d remaining=%d keys=%s", g, r, keysString(keys))
	case "leases": // leases <member>
		return fmt.Sprint(e.member(a[0]).le.Leases())
	case "exists": // exists <member> <id>
		return fmt.Sprint(e.member(a[0]).le.Exists(e.atoi(a[1])))
	}
	e.t.Fatalf("unknown command %q", cmd)
	return ""
}

// runScript runs a script: one command per line, "-> want" compares its
// output; a line without an arrow must print "ok". '#' starts a comment.
func (e *env) runScript(script string) {
	e.t.Helper()
	for n, line := range strings.Split(script, "\n") {
		if i := strings.Index(line, "#"); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		cmdPart, want, hasWant := strings.Cut(line, "->")
		want = strings.TrimSpace(want)
		if !hasWant {
			want = "ok"
		}
		got := e.run(strings.Fields(cmdPart))
		if got != want {
			e.t.Fatalf("line %d: %s\n got: %s\nwant: %s", n+1, strings.TrimSpace(cmdPart), got, want)
		}
	}
}

func TestScripts(t *testing.T) {
	checkpointing := func(c *Config) { c.CheckpointInterval = 10 * time.Second }
	tests := []struct {
		name   string
		config func(*Config)
		script string
	}{
		{name: "grant applies the minimum TTL and the maximum", config: func(c *Config) { c.MinTTL = 5 }, script: `
			grant 1 60 -> ttl=60
			grant 2 1 -> ttl=5
			grant 3 0 -> ttl=5
			grant 4 -7 -> ttl=5
			grant 5 9000000000 -> ttl=9000000000
			grant 6 9000000001 -> err=too large lease TTL
			grant 1 30 -> err=lease already exists
			grant 0 30 -> err=lease ID 0 is reserved
			grant -9 30 -> ttl=30
			leases a -> [-9 1 2 3 4 5]
			ttl b 2 -> granted=5 remaining=5 keys=[]
			exists a 6 -> false
			exists a 1 -> true
		`},
		{name: "revoke returns the attached keys sorted", script: `
			grant 1 60 -> ttl=60
			grant 2 60 -> ttl=60
			attach 1 zeta alpha mid
			attach 1 alpha            # attaching twice is a no-op
			attach 2 other
			attach 3 x -> err=lease not found
			ttl a 1 -> granted=60 remaining=60 keys=[alpha mid zeta]
			revoke 1 -> keys=[alpha mid zeta]
			revoke 1 -> err=lease not found
			ttl a 1 -> err=lease not found
			detach 1 alpha            # detaching from a revoked lease is a no-op
			leases b -> [2]
			revoke 2 -> keys=[other]
			revoke 9 -> err=lease not found
			leases a -> []
		`},
		{name: "attach and detach", script: `
			grant 7 60 -> ttl=60
			attach 7 a b c
			detach 7 b
			detach 7 nope             # not attached: no-op
			ttl a 7 -> granted=60 remaining=60 keys=[a c]
			detach 7 a c
			revoke 7 -> keys=[]
		`},
		{name: "persistence round trip", script: `
			grant 1 60 -> ttl=60
			grant 2 120 -> ttl=120
			grant 3 30 -> ttl=30
			attach 1 k1 k2
			attach 2 k3 k4
			detach 2 k3
			attach 3 gone
			revoke 3 -> keys=[gone]
			checkpoint 2 70
			restart a
			leases a -> [1 2]
			ttl a 1 -> granted=60 remaining=60 keys=[k1 k2]
			ttl a 2 -> granted=120 remaining=70 keys=[k4]
			ttl a 3 -> err=lease not found
			grant 3 30 -> ttl=30      # the revoked ID's attachments are gone too
			ttl a 3 -> granted=30 remaining=30 keys=[]
			restart a
			revoke 2 -> keys=[k4]
			restart a
			restart b
			leases a -> [1 3]
			ttl b 1 -> granted=60 remaining=60 keys=[k1 k2]
		`},
		{name: "new leader starts from the checkpointed remaining TTL", config: checkpointing, script: `
			promote a
			grant 1 60 -> ttl=60
			advance 40s
			ttl a 1 -> granted=60 remaining=20 keys=[]
			checkpoint 1 20           # the leader's checkpoint, committed
			demote a                  # leader a fails
			promote b
			ttl b 1 -> granted=60 remaining=20 keys=[]
			advance 19s
			expired b -> []
			advance 1s
			expired b -> [1]          # 20 s after the leader change, not 60
			revoke 1 -> keys=[]
		`},
		{name: "without checkpointing a new leader restarts the full TTL", config: func(c *Config) { c.Checkpointing = false }, script: `
			promote a
			grant 1 60 -> ttl=60
			advance 40s
			checkpoint 1 20           # applied (replicated state) but not used
			checkpoints a -> []
			demote a
			promote b
			ttl b 1 -> granted=60 remaining=60 keys=[]
			advance 59s
			expired b -> []
			advance 1s
			expired b -> [1]
		`},
		{name: "checkpoints flow through raft and survive restarts and repeated leader changes", config: checkpointing, script: `
			promote a
			grant 1 60 -> ttl=60
			grant 2 5 -> ttl=5        # not above the interval: never checkpointed
			checkpoints a -> []
			advance 10s
			propose-checkpoints a -> [1:50]
			advance 10s
			propose-checkpoints a -> [1:40]
			advance 3500ms
			checkpoints a -> []
			demote a
			restart b                 # b restarts from disk before becoming leader
			promote b
			ttl b 1 -> granted=60 remaining=40 keys=[]
			ttl b 2 -> granted=5 remaining=5 keys=[]
			advance 10s
			propose-checkpoints b -> [1:30]
			demote b
			promote a
			ttl a 1 -> granted=60 remaining=30 keys=[]
			demote a
			promote b                 # third leader change: still the checkpoint
			ttl b 1 -> granted=60 remaining=30 keys=[]
			advance 30s
			expired b -> [2 1]        # 2 expired 5 s after b became leader
		`},
		{name: "renew resets the expiry and clears the checkpoint", config: checkpointing, script: `
			renew a 1 -> err=not a primary lessor
			promote a
			renew a 1 -> err=lease not found
			grant 1 60 -> ttl=60
			advance 10s
			propose-checkpoints a -> [1:50]
			advance 30s
			ttl a 1 -> granted=60 remaining=20 keys=[]
			renew a 1 -> ttl=60
			ttl a 1 -> granted=60 remaining=60 keys=[]
			propose-checkpoints a -> [1:0]   # renewed: clear the stale checkpoint
			renew a 1 -> ttl=60
			checkpoints a -> []              # nothing to clear any more
			demote a
			promote b
			ttl b 1 -> granted=60 remaining=60 keys=[]
			advance 59s
			expired b -> []
			renew b 1 -> ttl=60
			advance 59s
			expired b -> []
			advance 1s
			expired b -> [1]
			renew b 1 -> err=lease not found # expired: revoke under way
		`},
		{name: "renew clears a checkpoint still in flight", config: checkpointing, script: `
			promote a
			grant 1 60 -> ttl=60
			advance 10s
			checkpoints a -> [1:50]   # proposed, not yet applied
			renew a 1 -> ttl=60
			checkpoint 1 50           # the stale checkpoint commits after the renewal
			checkpoints a -> [1:0]    # and is cleared behind it
			checkpoint 1 0
			demote a
			promote b
			ttl b 1 -> granted=60 remaining=60 keys=[]
		`},
		{name: "expired reports each lease once, in expiry order, up to max", script: `
			promote a
			grant 3 10 -> ttl=10
			grant 1 20 -> ttl=20
			grant 2 10 -> ttl=10
			grant 4 30 -> ttl=30
			advance 9s
			expired a -> []
			advance 1s
			expired a -> [2 3]        # same expiry: by ID
			expired a -> []
			advance 2999ms
			expired a -> []
			advance 1ms               # ExpiredRetry after the report: the revokes were lost
			expired a 1 -> [2]
			expired a 5 -> [3]
			expired a -> []
			revoke 2 -> keys=[]
			revoke 3 -> keys=[]
			advance 7s
			expired a -> [1]
			expired a -> []
			advance 10s
			expired a -> [1 4]        # 1 again (still not revoked), then 4
			revoke 1 -> keys=[]
			revoke 4 -> keys=[]
			advance 1h
			expired a -> []
		`},
		{name: "promote spreads piled-up expiries", config: func(c *Config) { c.RevokeRate = 4 }, script: `
			# 3/4 of 4 revocations per second: expiries at least 1/3 s apart
			grant 1 10 -> ttl=10
			grant 2 10 -> ttl=10
			grant 3 10 -> ttl=10
			grant 4 10 -> ttl=10
			grant 5 10 -> ttl=10
			grant 6 60 -> ttl=60
			promote a
			advance 10s
			expired a -> [1]
			ttl a 5 -> granted=10 remaining=1 keys=[]
			advance 999ms
			expired a -> [2 3]
			advance 1ms
			expired a -> [4]
			advance 333ms
			expired a -> []
			advance 1ms
			expired a -> [5]
			revoke 1 -> keys=[]
			revoke 2 -> keys=[]
			revoke 3 -> keys=[]
			revoke 4 -> keys=[]
			revoke 5 -> keys=[]
			advance 48665ms
			expired a -> []
			advance 1ms
			expired a -> [6]          # never moved forward
		`},
		{name: "demote stops expiry", script: `
			promote a
			grant 1 10 -> ttl=10
			grant 2 100 -> ttl=100
			advance 5s
			demote a
			advance 1h
			expired a -> []
			checkpoints a -> []
			renew a 1 -> err=not a primary lessor
			ttl a 1 -> granted=10 remaining=10 keys=[]
			promote a
			ttl a 1 -> granted=10 remaining=10 keys=[]
			advance 10s
			expired a -> [1]
		`},
		{name: "followers never expire and grants on the leader start at once", script: `
			grant 1 10 -> ttl=10
			advance 1h
			expired a -> []
			promote a
			advance 1h
			grant 2 10 -> ttl=10
			advance 10s
			expired a -> [1 2]
			expired b -> []
			ttl a 2 -> granted=10 remaining=0 keys=[]
		`},
		{name: "time to live truncates to seconds on the leader", script: `
			promote a
			grant 1 10 -> ttl=10
			advance 500ms
			ttl a 1 -> granted=10 remaining=9 keys=[]
			ttl b 1 -> granted=10 remaining=10 keys=[]
			advance 9s
			ttl a 1 -> granted=10 remaining=0 keys=[]
			advance 10s
			ttl a 1 -> granted=10 remaining=0 keys=[]
		`},
		{name: "checkpoint of a revoked lease is a no-op", config: checkpointing, script: `
			promote a
			grant 1 60 -> ttl=60
			advance 10s
			checkpoints a -> [1:50]
			revoke 1 -> keys=[]
			checkpoint 1 50
			advance 10s
			checkpoints a -> []
			leases b -> []
		`},
		{name: "checkpoint batches are bounded", config: func(c *Config) { c.CheckpointInterval = 10 * time.Second; c.MaxCheckpointBatch = 2 }, script: `
			promote a
			grant 1 60 -> ttl=60
			grant 2 60 -> ttl=60
			grant 3 60 -> ttl=60
			advance 10s
			checkpoints a -> [1:50 2:50]
			checkpoints a -> [3:50]
			checkpoints a -> []
		`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			if tc.config != nil {
				tc.config(&cfg)
			}
			newEnv(t, cfg, "a", "b").runScript(tc.script)
		})
	}
}

func TestMinTTLFor(t *testing.T) {
	for _, tc := range []struct {
		ticks int
		hb    time.Duration
		want  int64
	}{
		{10, 100 * time.Millisecond, 2}, // etcd's defaults: 1.5 s rounded up
		{11, 100 * time.Millisecond, 2}, // (3*11)/2 = 16 ticks: 1.6 s
		{50, 100 * time.Millisecond, 8}, // 7.5 s
		{10, time.Second, 15},
		{0, time.Second, 0},
	} {
		if got := MinTTLFor(tc.ticks, tc.hb); got != tc.want {
			t.Errorf("MinTTLFor(%d, %v) = %d, want %d", tc.ticks, tc.hb, got, tc.want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []func(*Config){
		func(c *Config) { c.MinTTL = -1 },
		func(c *Config) { c.MinTTL = MaxLeaseTTL + 1 },
		func(c *Config) { c.CheckpointInterval = -time.Second },
		func(c *Config) { c.MaxCheckpointBatch = -1 },
		func(c *Config) { c.ExpiredRetry = -time.Second },
		func(c *Config) { c.RevokeRate = -1 },
	} {
		c := DefaultConfig()
		bad(&c)
		if _, err := New(c); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("New(%+v) = %v, want ErrInvalidConfig", c, err)
		}
	}
}

func TestLoadReplacesStateAndDemotes(t *testing.T) {
	e := newEnv(t, DefaultConfig(), "a", "b")
	e.runScript(`
		grant 1 60 -> ttl=60
		attach 1 k
	`)
	// b's engine holds only lease 1; a's Lessor is primary and has more in
	// memory than b's engine, as after a snapshot install.
	a, b := e.member("a"), e.member("b")
	a.le.Promote(e.now)
	if _, err := a.le.Grant(a.db.NewBatch(), 2, 10); err != nil { // never committed
		t.Fatal(err)
	}
	if err := a.le.Load(b.db); err != nil {
		t.Fatal(err)
	}
	if a.le.IsPrimary() {
		t.Fatal("Load left the lessor primary")
	}
	if got := a.le.Leases(); !slices.Equal(got, []int64{1}) {
		t.Fatalf("leases after Load = %v, want [1]", got)
	}
}

func TestLoadCorrupt(t *testing.T) {
	db := openMem(t)
	defer db.Close()
	le, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	// An attachment without its lease.
	if err := db.Set(attachKey(5, []byte("k")), nil, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := le.Load(db); err == nil {
		t.Fatal("Load accepted an attachment to a missing lease")
	}
	if err := db.Delete(attachKey(5, []byte("k")), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	// A lease record with a truncated value.
	if err := db.Set(leaseKey(5), []byte{0x80}, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := le.Load(db); err == nil {
		t.Fatal("Load accepted a corrupt lease record")
	}
}

func TestKeysEncoding(t *testing.T) {
	for _, id := range []int64{1, -1, 1 << 62, -1 << 63, 0x7fffffffffffffff} {
		k := attachKey(id, []byte("a\x00b"))
		gid, key, err := decodeAttach(k)
		if err != nil || gid != id || string(key) != "a\x00b" {
			t.Fatalf("decodeAttach(attachKey(%d)) = %d %q %v", id, gid, key, err)
		}
		lo, hi := attachPrefix(id), attachPrefixEnd(id)
		if string(k) < string(lo) || string(k) >= string(hi) {
			t.Fatalf("attachment key of %d outside [%x, %x)", id, lo, hi)
		}
		if string(hi) > string(attachEnd) {
			t.Fatalf("prefix end of %d beyond the attachment range", id)
		}
		gid, ttl, rem, err := decodeLease(leaseKey(id), encodeLease(MaxLeaseTTL, 17))
		if err != nil || gid != id || ttl != MaxLeaseTTL || rem != 17 {
			t.Fatalf("decodeLease = %d %d %d %v", gid, ttl, rem, err)
		}
	}
}
