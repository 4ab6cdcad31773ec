package ctl

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/concord-kv/concord/tests/concordtest"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// TestMain removes the concord binary concordtest built for this package.
func TestMain(m *testing.M) { os.Exit(concordtest.Main(m)) }

// waitTimeout bounds every condition wait of the cluster tests.
const waitTimeout = 30 * time.Second

// lockedBuf is an io.Writer that commands running on other goroutines (or
// child processes) write to while the test waits for content to appear.
type lockedBuf struct {
	mu     sync.Mutex
	b      bytes.Buffer
	notify chan struct{} // one pending wake-up, for the single waiter
}

func newLockedBuf() *lockedBuf { return &lockedBuf{notify: make(chan struct{}, 1)} }

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	n, err := l.b.Write(p)
	l.mu.Unlock()
	select {
	case l.notify <- struct{}{}:
	default:
	}
	return n, err
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// waitFor waits until pred holds for the content written so far and
// returns that content; it fails t after waitTimeout.
func (l *lockedBuf) waitFor(t *testing.T, what string, pred func(string) bool) string {
	t.Helper()
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	for {
		s := l.String()
		if pred(s) {
			return s
		}
		select {
		case <-l.notify:
		case <-timer.C:
			t.Fatalf("timed out waiting for %s; output so far:\n%s", what, s)
		}
	}
}

// bgCtl is a concordctl command running in process on its own goroutine
// until interrupted (as by Ctrl-C) or done.
type bgCtl struct {
	out, err *lockedBuf
	stop     chan struct{}
	once     sync.Once
	done     chan result
}

// startCtl runs concordctl with args on a goroutine; Env.Interrupt is the
// command's Ctrl-C. The test's cleanup interrupts it if still running.
func startCtl(t *testing.T, stdin string, args ...string) *bgCtl {
	t.Helper()
	return startCtlIn(t, strings.NewReader(stdin), args...)
}

// startCtlIn is startCtl reading stdin from in.
func startCtlIn(t *testing.T, in io.Reader, args ...string) *bgCtl {
	t.Helper()
	b := &bgCtl{out: newLockedBuf(), err: newLockedBuf(), stop: make(chan struct{}), done: make(chan result, 1)}
	root := NewRootCommand(Env{
		In: in, Out: b.out, Err: b.err,
		Lookup:    func(string) (string, bool) { return "", false },
		Interrupt: b.stop,
	})
	root.SetArgs(args)
	go func() {
		err := root.Execute()
		if err != nil && !strings.Contains(err.Error(), ErrNoReport.Error()) {
			b.err.Write([]byte("Error: " + err.Error() + "\n"))
		}
		b.done <- result{b.out.String(), b.err.String(), CodeOf(err)}
	}()
	t.Cleanup(func() { b.interrupt(t) })
	return b
}

// waitOut waits until pred holds for the command's stdout and returns it;
// on timeout it fails t with the command's stderr and state.
func (b *bgCtl) waitOut(t *testing.T, what string, pred func(string) bool) string {
	t.Helper()
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	for {
		s := b.out.String()
		if pred(s) {
			return s
		}
		select {
		case <-b.out.notify:
		case <-timer.C:
			t.Fatalf("timed out waiting for %s; %s", what, b.state())
		}
	}
}

// state describes the command for failure messages.
func (b *bgCtl) state() string {
	st := "still running"
	select {
	case r := <-b.done:
		b.done <- r
		st = fmt.Sprintf("returned with code %d", r.code)
	default:
	}
	return fmt.Sprintf("command %s; stdout %q; stderr %q", st, b.out.String(), b.err.String())
}

// interrupt closes the command's interrupt channel and waits for it to
// return; it is idempotent and returns the command's result.
func (b *bgCtl) interrupt(t *testing.T) result {
	t.Helper()
	b.once.Do(func() { close(b.stop) })
	return b.wait(t)
}

// wait waits (up to waitTimeout) for the command to return by itself.
func (b *bgCtl) wait(t *testing.T) result {
	t.Helper()
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	select {
	case r := <-b.done:
		b.done <- r // keep it for later callers
		return r
	case <-timer.C:
		t.Fatalf("command did not return within %v; stdout %q stderr %q", waitTimeout, b.out.String(), b.err.String())
		return result{}
	}
}

// bgEtcdctl is Debian's etcdctl 3.4 running as a child process.
type bgEtcdctl struct {
	out    *lockedBuf
	cmd    *exec.Cmd
	exited chan struct{}
}

// startEtcdctl starts /usr/bin/etcdctl (ETCDCTL_API=3) with args; the test
// skips when it is absent and its cleanup kills the process.
func startEtcdctl(t *testing.T, args ...string) *bgEtcdctl {
	t.Helper()
	if _, err := os.Stat("/usr/bin/etcdctl"); err != nil {
		t.Skip("SKIPPING: /usr/bin/etcdctl absent")
	}
	b := &bgEtcdctl{out: newLockedBuf(), exited: make(chan struct{})}
	b.cmd = exec.Command("/usr/bin/etcdctl", args...)
	b.cmd.Env = append(os.Environ(), "ETCDCTL_API=3")
	b.cmd.Stdout = b.out
	b.cmd.Stderr = &bytes.Buffer{}
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = b.cmd.Wait()
		close(b.exited)
	}()
	t.Cleanup(b.kill)
	return b
}

func (b *bgEtcdctl) kill() {
	_ = b.cmd.Process.Kill()
	<-b.exited
}

// errLines keeps the "Error: ..." lines of a stderr text (etcdctl 3.4 also
// logs zap warnings there).
func errLines(s string) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, "Error:") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

// parseTable splits a table printed by etcdctl's table writer into its
// header cells and row cells, trimmed.
func parseTable(t *testing.T, out string) (header []string, rows [][]string) {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, "|") {
			continue
		}
		cells := strings.Split(line, "|")
		cells = cells[1 : len(cells)-1]
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		if header == nil {
			header = cells
			continue
		}
		if len(cells) != len(header) {
			t.Fatalf("row %q has %d cells, header %d:\n%s", line, len(cells), len(header), out)
		}
		rows = append(rows, cells)
	}
	if header == nil {
		t.Fatalf("no table in %q", out)
	}
	return header, rows
}

// column returns the cells of the named column.
func column(t *testing.T, header []string, rows [][]string, name string) []string {
	t.Helper()
	for i, h := range header {
		if h == name {
			var col []string
			for _, r := range rows {
				col = append(col, r[i])
			}
			return col
		}
	}
	t.Fatalf("no column %q in %q", name, header)
	return nil
}

// memberClient returns a client of one endpoint, closed at test cleanup.
func memberClient(t *testing.T, ep string) *clientv3.Client {
	t.Helper()
	cl, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cl.Close() })
	return cl
}

// syncAll makes every endpoint serve a linearizable read, so each has
// applied everything committed before the call.
func syncAll(t *testing.T, eps []string) int64 {
	t.Helper()
	var rev int64
	for _, ep := range eps {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		r, err := memberClient(t, ep).Get(ctx, "sync-probe")
		cancel()
		if err != nil {
			t.Fatalf("linearizable get on %s: %v", ep, err)
		}
		if r.Header.Revision > rev {
			rev = r.Header.Revision
		}
	}
	return rev
}
