package concordtest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// BinaryEnv names the environment variable that, when set, gives the path of
// a prebuilt concord binary to use instead of building ./cmd/concord.
const BinaryEnv = "CONCORD_BIN"

// ErrNotReady is returned (wrapped) by Cluster.WaitReady when the cluster did
// not serve linearizable reads on every member, with every member published
// in the member list, before the deadline.
var ErrNotReady = errors.New("concordtest: cluster not ready")

// ErrMemberExited is returned (wrapped) when a member process exits while
// the cluster is being waited on.
var ErrMemberExited = errors.New("concordtest: member exited")

// ErrRunning is returned (wrapped) when a member is started while its
// previous process still runs.
var ErrRunning = errors.New("concordtest: member already running")

// ErrNotRunning is returned (wrapped) by Member.Signal when the member has
// no running process.
var ErrNotRunning = errors.New("concordtest: member not running")

// StopTimeout is how long Stop waits for a member to exit after SIGTERM
// before it sends SIGKILL.
const StopTimeout = 10 * time.Second

// ReadyTimeout bounds Start's wait for the cluster to become ready, and is
// the default of Options.WaitTimeout.
const ReadyTimeout = 60 * time.Second

// LogTailLines is how many lines of each member's log a failed test logs.
const LogTailLines = 60

// DefaultToken is the --initial-cluster-token of a cluster whose
// Options.Token is empty.
const DefaultToken = "concordtest"

// builds holds the binaries Build made, by package path; dir is the
// temporary directory holding them.
var builds struct {
	mu   sync.Mutex
	dir  string
	bins map[string]*builtBinary
}

type builtBinary struct {
	once sync.Once
	path string
	err  error
}

// moduleRoot is the repository root, two directories above this file.
func moduleRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Binary returns the path of the concord binary: $CONCORD_BIN when set,
// else Build(t, "./cmd/concord"). A failed build fails t.
func Binary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv(BinaryEnv); p != "" {
		return p
	}
	return Build(t, "./cmd/concord")
}

// Build returns the path of the command pkg (a package path relative to
// the repository root, such as "./cmd/concordctl"), built once per test
// binary with CGO_ENABLED=0 into a temporary directory that Main removes.
// A failed build fails t (and every later Build of pkg).
func Build(t testing.TB, pkg string) string {
	t.Helper()
	builds.mu.Lock()
	if builds.bins == nil {
		builds.bins = map[string]*builtBinary{}
	}
	b := builds.bins[pkg]
	if b == nil {
		b = &builtBinary{}
		builds.bins[pkg] = b
	}
	builds.mu.Unlock()
	b.once.Do(func() {
		builds.mu.Lock()
		if builds.dir == "" {
			builds.dir, b.err = os.MkdirTemp("", "concordtest-bin-")
		}
		dir := builds.dir
		builds.mu.Unlock()
		if b.err != nil {
			return
		}
		path := filepath.Join(dir, filepath.Base(pkg))
		cmd := exec.Command("go", "build", "-o", path, pkg)
		cmd.Dir = moduleRoot()
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.err = fmt.Errorf("go build %s: %w\n%s", pkg, err, out)
			return
		}
		b.path = path
	})
	if b.err != nil {
		t.Fatalf("concordtest: %v", b.err)
	}
	return b.path
}

// Main runs the tests of m and then removes the binaries Build (and so
// Binary) built, if any; it returns m.Run's exit code. Use it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(concordtest.Main(m)) }
//
// Without it the built binaries (about 40 MB each) are left in the
// temporary directory.
func Main(m *testing.M) int {
	code := m.Run()
	builds.mu.Lock()
	defer builds.mu.Unlock()
	if builds.dir != "" {
		_ = os.RemoveAll(builds.dir)
	}
	return code
}

// Options configures StartOptions and New. The zero value starts what Start starts:
// http URLs, token DefaultToken, etcd's default timing, and a wait until
// the cluster is ready (WaitReady) of at most ReadyTimeout.
type Options struct {
	// Scheme is the scheme of the members' client and peer URLs: "http"
	// when empty, or "https" (then Args must carry the server's
	// certificate flags and ClientTLS the client's configuration).
	Scheme string
	// ClientTLS is the TLS configuration of every client the harness opens
	// (Client, Member.Client, Leader, WaitReady, Member.Status); nil for
	// plain http.
	ClientTLS *tls.Config
	// Token is the --initial-cluster-token; DefaultToken when empty.
	Token string
	// NamePrefix is the prefix of the members' names, followed by 1, 2,
	// ...; "m" when empty.
	NamePrefix string
	// Args are appended to every member's command line, after the flags
	// that name the member and its cluster.
	Args []string
	// MemberArgs, when set, returns flags appended to member i's (0-based)
	// command line after Args.
	MemberArgs func(i int) []string
	// LeaderOnly makes Launch (and so StartOptions) return as soon as
	// every member reports the same leader (Leader) instead of waiting
	// until the cluster is ready (WaitReady): members may not yet have
	// published their names and client URLs.
	LeaderOnly bool
	// WaitTimeout bounds the start-up wait, Leader and WaitServing;
	// ReadyTimeout when zero.
	WaitTimeout time.Duration
	// Username and Password, when set, are the credentials of the
	// harness's own requests (Member.Status, Leader, WaitReady,
	// WaitServing), for clusters with auth enabled, where etcd 3.6's
	// Status and every read need them. Client and Member.Client stay
	// anonymous.
	Username, Password string
}

// Member is one concord member of a Cluster: its identity, its command
// line and its current process, which Kill, Stop and Restart replace.
type Member struct {
	Name      string
	ClientURL string // scheme://127.0.0.x:port
	PeerURL   string
	DataDir   string
	// LogFile receives the process's stdout and stderr; every start of the
	// member appends to it.
	LogFile string
	// Args is the member's command line without the binary; Restart runs
	// it again. Set it before AddMember for a member from NewMember.
	Args []string
	// TLS is the client TLS configuration for the member's https client
	// URL, nil for http.
	TLS *tls.Config

	bin                string
	username, password string // Options.Username and Password
	// mu guards cmd and exited, both replaced by every start.
	mu     sync.Mutex
	cmd    *exec.Cmd     // nil when stopped or killed through the harness
	exited chan struct{} // closed once the current (or last) process is reaped
}

// newMember returns a member named name listening on free ports of host,
// its data directory and log file under dir, not started.
func newMember(t testing.TB, bin, dir, scheme, name, host string, clientTLS *tls.Config) *Member {
	t.Helper()
	exited := make(chan struct{})
	close(exited)
	return &Member{
		Name:      name,
		ClientURL: scheme + "://" + FreeAddr(t, host),
		PeerURL:   scheme + "://" + FreeAddr(t, host),
		DataDir:   filepath.Join(dir, name+".concord"),
		LogFile:   filepath.Join(dir, name+".log"),
		TLS:       clientTLS,
		bin:       bin,
		exited:    exited,
	}
}

// launch starts m's process with m.Args, appending its output to m.LogFile.
// It returns an error wrapping ErrRunning when the previous process has not
// exited.
func (m *Member) launch() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !isClosed(m.exited) {
		return fmt.Errorf("%w: %s", ErrRunning, m.Name)
	}
	log, err := os.OpenFile(m.LogFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("concordtest: %s log: %w", m.Name, err)
	}
	cmd := exec.Command(m.bin, m.Args...)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		_ = log.Close()
		return fmt.Errorf("concordtest: start %s: %w", m.Name, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		_ = log.Close()
		close(exited)
	}()
	m.cmd, m.exited = cmd, exited
	return nil
}

// Restart starts m's process again with m.Args on the same data
// directory and ports, after Kill or Stop (or after it exited by itself),
// appending to m.LogFile. It does not wait for the member to serve (see
// Cluster.WaitServing and Cluster.Leader). It fails t when the previous
// process still runs or the new one cannot start.
func (m *Member) Restart(t testing.TB) {
	t.Helper()
	if err := m.launch(); err != nil {
		t.Fatal(err)
	}
}

// current returns m's process (nil when stopped or killed through the
// harness) and the channel closed when it exits.
func (m *Member) current() (*exec.Cmd, chan struct{}) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.cmd, m.exited
}

// Exited returns a channel closed when m's current process has exited;
// it is closed already when m has no process.
func (m *Member) Exited() <-chan struct{} {
	_, exited := m.current()
	return exited
}

// PID returns the process ID of m's running process, 0 when it has none.
func (m *Member) PID() int {
	cmd, exited := m.current()
	if cmd == nil || isClosed(exited) {
		return 0
	}
	return cmd.Process.Pid
}

// Signal sends sig to m's process, such as syscall.SIGSTOP to pause it and
// syscall.SIGCONT to resume it. It returns an error wrapping ErrNotRunning
// when m has no running process.
func (m *Member) Signal(sig os.Signal) error {
	cmd, exited := m.current()
	if cmd == nil || isClosed(exited) {
		return fmt.Errorf("%w: %s", ErrNotRunning, m.Name)
	}
	if err := cmd.Process.Signal(sig); err != nil {
		return fmt.Errorf("concordtest: signal %s: %w", m.Name, err)
	}
	return nil
}

// Kill sends SIGKILL to m's process (kill -9: no shutdown, no final sync)
// and waits until it has exited. It does nothing when m has no process.
func (m *Member) Kill() {
	cmd, exited := m.take()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-exited
}

// Stop resumes m's process (SIGCONT, in case it was paused), sends it
// SIGTERM and waits for it to exit, sending SIGKILL after StopTimeout. It
// is idempotent and does nothing when m has no process.
func (m *Member) Stop() {
	cmd, exited := m.take()
	if cmd == nil || isClosed(exited) {
		return
	}
	terminate(cmd)
	awaitExit(cmd, exited)
}

// take returns m's process and its exit channel and forgets the process,
// which the caller is about to end.
func (m *Member) take() (*exec.Cmd, chan struct{}) {
	m.mu.Lock()
	defer m.mu.Unlock()
	cmd := m.cmd
	m.cmd = nil
	return cmd, m.exited
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// terminate resumes cmd (in case it was paused) and asks it to shut down.
func terminate(cmd *exec.Cmd) {
	_ = cmd.Process.Signal(syscall.SIGCONT)
	_ = cmd.Process.Signal(syscall.SIGTERM)
}

// awaitExit waits until exited is closed, killing cmd after StopTimeout.
func awaitExit(cmd *exec.Cmd, exited chan struct{}) {
	t := time.NewTimer(StopTimeout)
	defer t.Stop()
	select {
	case <-exited:
	case <-t.C:
		_ = cmd.Process.Kill()
		<-exited
	}
}

// Client returns a client of m's client URL alone, closed at test
// cleanup.
func (m *Member) Client(t testing.TB) *clientv3.Client {
	t.Helper()
	return newClient(t, []string{m.ClientURL}, m.TLS)
}

// Status returns m's own Status (its member ID in Header.MemberId, the
// leader it knows in Leader, 0 when none). One attempt is bounded by a
// second and by ctx.
func (m *Member) Status(ctx context.Context) (*clientv3.StatusResponse, error) {
	cl, err := clientv3.New(m.harnessConfig(ctx))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	sctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	return cl.Status(sctx, m.ClientURL)
}

// harnessConfig is the client configuration of the harness's own requests
// to m: its TLS and Options' credentials.
func (m *Member) harnessConfig(ctx context.Context) clientv3.Config {
	return clientv3.Config{Endpoints: []string{m.ClientURL}, Logger: zap.NewNop(), TLS: m.TLS,
		Username: m.username, Password: m.password, Context: ctx}
}

// MemberID returns m's member ID as its own Status reports it.
func (m *Member) MemberID(ctx context.Context) (uint64, error) {
	st, err := m.Status(ctx)
	if err != nil {
		return 0, err
	}
	return st.Header.MemberId, nil
}

// LogTail returns the last n lines of m's log file (all of it when
// shorter; "" when it cannot be read).
func (m *Member) LogTail(n int) string {
	b, _ := os.ReadFile(m.LogFile)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Cluster is a set of concord members started together with
// --initial-cluster, plus any added later with AddMember.
type Cluster struct {
	// Members are the cluster's members in start order; Stop and the
	// test's cleanup stop every member listed here.
	Members []*Member

	opts Options
	bin  string
	dir  string // data directories and logs
}

// Endpoints returns the client URLs of ms, in order; of every member when
// ms is empty.
func (c *Cluster) Endpoints(ms ...*Member) []string {
	if len(ms) == 0 {
		ms = c.Members
	}
	eps := make([]string, len(ms))
	for i, m := range ms {
		eps[i] = m.ClientURL
	}
	return eps
}

// ClientURLs is Endpoints of every member (the name etcd's own test
// harness uses).
func (c *Cluster) ClientURLs() []string { return c.Endpoints() }

// Client returns a client of the endpoints of ms (of every member when ms
// is empty), with the cluster's client TLS configuration, closed at test
// cleanup.
func (c *Cluster) Client(t testing.TB, ms ...*Member) *clientv3.Client {
	t.Helper()
	return newClient(t, c.Endpoints(ms...), c.opts.ClientTLS)
}

func newClient(t testing.TB, eps []string, tc *tls.Config) *clientv3.Client {
	t.Helper()
	cl, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 10 * time.Second, Logger: zap.NewNop(), TLS: tc})
	if err != nil {
		t.Fatalf("concordtest: client: %v", err)
	}
	t.Cleanup(func() { _ = cl.Close() })
	return cl
}

// Stop stops every member (SIGCONT and SIGTERM to all, then SIGKILL to
// any still running after StopTimeout) and waits until all have exited.
// It is idempotent; StartOptions registers it as a test cleanup.
func (c *Cluster) Stop() {
	type proc struct {
		cmd    *exec.Cmd
		exited chan struct{}
	}
	var ps []proc
	for _, m := range c.Members {
		cmd, exited := m.take()
		if cmd == nil || isClosed(exited) {
			continue
		}
		terminate(cmd)
		ps = append(ps, proc{cmd, exited})
	}
	for _, p := range ps {
		awaitExit(p.cmd, p.exited)
	}
}

// FreeAddr returns "host:port" with a TCP port that was free on host a
// moment ago.
func FreeAddr(t testing.TB, host string) string {
	t.Helper()
	l, err := net.Listen("tcp", host+":0")
	if err != nil {
		t.Fatalf("concordtest: free port on %s: %v", host, err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Start launches an n-member Concord cluster (n ≥ 1) with extra appended
// to every member's command line and waits until it is ready: it is
// StartOptions with Options{Args: extra}.
func Start(t testing.TB, n int, extra ...string) *Cluster {
	t.Helper()
	return StartOptions(t, n, Options{Args: extra})
}

// StartOptions launches an n-member Concord cluster (n ≥ 1) configured
// by o: New, then Launch.
func StartOptions(t testing.TB, n int, o Options) *Cluster {
	t.Helper()
	c := New(t, n, o)
	c.Launch(t)
	return c
}

// New prepares an n-member Concord cluster (n ≥ 1) without starting it:
// member i is named o.NamePrefix+(i+1) (m1, m2, ...) and listens on free
// ports of 127.0.0.(i+1), with its data directory and log under the
// test's temporary directory (nothing is created there yet). Its Args are
// the flags of an etcd systemd unit (--name, --data-dir, the listen and
// advertise URLs, --initial-cluster, --initial-cluster-state=new,
// --initial-cluster-token) followed by o.Args and o.MemberArgs(i). At test
// cleanup New stops the cluster and, when the test failed, logs the last
// LogTailLines lines of every member's log.
func New(t testing.TB, n int, o Options) *Cluster {
	t.Helper()
	if n < 1 {
		t.Fatalf("concordtest: a cluster needs n ≥ 1 members, got %d", n)
	}
	if o.Scheme == "" {
		o.Scheme = "http"
	}
	if o.Token == "" {
		o.Token = DefaultToken
	}
	if o.NamePrefix == "" {
		o.NamePrefix = "m"
	}
	if o.WaitTimeout == 0 {
		o.WaitTimeout = ReadyTimeout
	}
	c := &Cluster{opts: o, bin: Binary(t), dir: t.TempDir()}
	for i := range n {
		c.Members = append(c.Members, c.NewMember(t, fmt.Sprintf("%s%d", o.NamePrefix, i+1), fmt.Sprintf("127.0.0.%d", i+1)))
	}
	initial := c.InitialCluster()
	for i, m := range c.Members {
		m.Args = append([]string{
			"--name=" + m.Name,
			"--data-dir=" + m.DataDir,
			"--listen-client-urls=" + m.ClientURL,
			"--advertise-client-urls=" + m.ClientURL,
			"--listen-peer-urls=" + m.PeerURL,
			"--initial-advertise-peer-urls=" + m.PeerURL,
			"--initial-cluster=" + initial,
			"--initial-cluster-state=new",
			"--initial-cluster-token=" + o.Token,
		}, o.Args...)
		if o.MemberArgs != nil {
			m.Args = append(m.Args, o.MemberArgs(i)...)
		}
	}
	t.Cleanup(func() {
		c.Stop()
		if t.Failed() {
			c.dumpLogs(t)
		}
	})
	return c
}

// Launch starts every member of c that has no running process and waits
// until the cluster is ready (WaitReady), or with Options.LeaderOnly
// until the members agree on a leader (Leader), at most
// Options.WaitTimeout; it fails t otherwise.
func (c *Cluster) Launch(t testing.TB) {
	t.Helper()
	for _, m := range c.Members {
		if m.PID() != 0 {
			continue
		}
		if err := m.launch(); err != nil {
			t.Fatal(err)
		}
	}
	if c.opts.LeaderOnly {
		c.Leader(t)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.WaitTimeout)
	defer cancel()
	if err := c.WaitReady(ctx); err != nil {
		t.Fatalf("concordtest: %v", err)
	}
}

// InitialCluster returns the --initial-cluster value naming every member
// of c: "name=peerURL,..." in member order.
func (c *Cluster) InitialCluster() string {
	s := make([]string, len(c.Members))
	for i, m := range c.Members {
		s[i] = m.Name + "=" + m.PeerURL
	}
	return strings.Join(s, ",")
}

// NewMember returns a member named name listening on free ports of host
// (such as 127.0.0.4), with the cluster's URL scheme and client TLS
// configuration and its data directory and log under the cluster's
// directory. It is not started and not in Members: set its Args (for
// example --initial-cluster-state=existing after a member add) and pass
// it to AddMember.
func (c *Cluster) NewMember(t testing.TB, name, host string) *Member {
	t.Helper()
	m := newMember(t, c.bin, c.dir, c.opts.Scheme, name, host, c.opts.ClientTLS)
	m.username, m.password = c.opts.Username, c.opts.Password
	return m
}

// AddMember appends m (from NewMember, with its Args set) to Members and
// starts it; it does not wait for it to serve. The test's cleanup stops
// it. It fails t when m cannot start.
func (c *Cluster) AddMember(t testing.TB, m *Member) {
	t.Helper()
	c.Members = append(c.Members, m)
	t.Cleanup(m.Stop)
	if err := m.launch(); err != nil {
		t.Fatal(err)
	}
}

// WaitReady waits until every member serves a linearizable Get (so a leader
// is elected and every member has joined) and the member list shows every
// member started, with its name and client URL published (so "--cluster"
// commands see all members). It returns an error wrapping ErrNotReady when
// ctx ends first, or ErrMemberExited when a member process exits.
func (c *Cluster) WaitReady(ctx context.Context) error {
	for _, m := range c.Members {
		if err := c.waitMember(ctx, m); err != nil {
			return err
		}
	}
	cl, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints(), Logger: zap.NewNop(), TLS: c.opts.ClientTLS,
		Username: c.opts.Username, Password: c.opts.Password})
	if err != nil {
		return err
	}
	defer cl.Close()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		resp, err := cl.MemberList(rctx)
		cancel()
		if err == nil && published(resp, len(c.Members)) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: member list: %v (last error %v)", ErrNotReady, resp, err)
		case <-tick.C: // pacing of a condition wait
		}
	}
}

// published reports whether resp lists n started voting members, each with
// a name and a client URL.
func published(resp *clientv3.MemberListResponse, n int) bool {
	if len(resp.Members) != n {
		return false
	}
	for _, m := range resp.Members {
		if m.Name == "" || len(m.ClientURLs) == 0 {
			return false
		}
	}
	return true
}

// WaitServing waits (at most the cluster's WaitTimeout) until m answers a
// linearizable Get, as after Restart; it fails t when m does not or its
// process exits.
func (c *Cluster) WaitServing(t testing.TB, m *Member) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.WaitTimeout)
	defer cancel()
	if err := c.waitMember(ctx, m); err != nil {
		t.Fatalf("concordtest: %s does not serve linearizable reads within %v: %v", m.Name, c.opts.WaitTimeout, err)
	}
}

// waitMember retries a linearizable Get on m until it answers, m exits or
// ctx ends. Each attempt blocks in the client for up to a second, so the
// loop does not spin.
func (c *Cluster) waitMember(ctx context.Context, m *Member) error {
	cl, err := clientv3.New(m.harnessConfig(ctx))
	if err != nil {
		return err
	}
	defer cl.Close()
	exited := m.Exited()
	var last error
	for {
		select {
		case <-exited:
			return fmt.Errorf("%w: %s while waited on", ErrMemberExited, m.Name)
		case <-ctx.Done():
			return fmt.Errorf("%w: %s: %w", ErrNotReady, m.Name, errors.Join(ctx.Err(), last))
		default:
		}
		actx, cancel := context.WithTimeout(ctx, time.Second)
		_, last = cl.Get(actx, "concordtest-ready")
		if last == nil {
			cancel()
			return nil
		}
		// An attempt that failed sooner than its window (a hard error such
		// as connection refused) waits out the window.
		<-actx.Done()
		cancel()
	}
}

// SplitLeader waits for an agreed leader as Leader and returns it with
// the other members, in c.Members order.
func (c *Cluster) SplitLeader(t testing.TB) (leader *Member, others []*Member) {
	t.Helper()
	leader = c.Leader(t)
	for _, m := range c.Members {
		if m != leader {
			others = append(others, m)
		}
	}
	return leader, others
}

// Leader waits (at most the cluster's WaitTimeout) until every member of
// ms (every member when ms is empty) reports the same leader, one of ms,
// and returns that member; after a Kill of the leader, pass the others.
// It fails t when ms agree on no leader among them in time.
func (c *Cluster) Leader(t testing.TB, ms ...*Member) *Member {
	t.Helper()
	if len(ms) == 0 {
		ms = c.Members
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.WaitTimeout)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if m := agreedLeader(ctx, ms); m != nil {
			return m
		}
		select {
		case <-ctx.Done():
			t.Fatalf("concordtest: members %v agree on no leader among them within %v", names(ms), c.opts.WaitTimeout)
			return nil
		case <-tick.C: // pacing of a condition wait
		}
	}
}

// agreedLeader returns the member of ms every member of ms names as
// leader, else nil.
func agreedLeader(ctx context.Context, ms []*Member) *Member {
	var leader uint64
	var lm *Member
	for _, m := range ms {
		st, err := m.Status(ctx)
		if err != nil || st.Leader == 0 || (leader != 0 && st.Leader != leader) {
			return nil
		}
		leader = st.Leader
		if st.Header.MemberId == leader {
			lm = m
		}
	}
	return lm
}

func names(ms []*Member) []string {
	s := make([]string, len(ms))
	for i, m := range ms {
		s[i] = m.Name
	}
	return s
}

func (c *Cluster) dumpLogs(t testing.TB) {
	for _, m := range c.Members {
		t.Logf("concordtest: last log lines of %s:\n%s", m.Name, m.LogTail(LogTailLines))
	}
}
