package raftnode

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"
	pb "go.etcd.io/raft/v3/raftpb"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"
)

// HTTP headers on every peer request (etcd's names).
const (
	headerClusterID = "X-Etcd-Cluster-ID"
	headerFrom      = "X-Server-From"
)

const (
	// peerQueueLen bounds the messages queued for one peer; beyond it
	// messages are dropped and the peer reported unreachable.
	peerQueueLen = 4096
	// maxFrameLen bounds one marshalled message on a stream (bytes).
	maxFrameLen = 512 << 20
	// snapshotTimeout bounds one snapshot transfer.
	snapshotTimeout = 30 * time.Minute
	// streamAcceptTimeout bounds the wait for a peer to accept a stream.
	streamAcceptTimeout = 5 * time.Second
	minBackoff          = 50 * time.Millisecond
	maxBackoff          = 2 * time.Second
)

// transport moves raft messages between members; it is the Node's
// http.Handler too.
type transport struct {
	n      *Node
	client *http.Client

	mu    sync.Mutex // guards peers and stopped
	peers map[uint64]*peer
	// stopped is set by stop; update then does nothing.
	stopped bool
}

func newTransport(n *Node) *transport {
	dialer := &net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}
	ht := &http.Transport{
		DialContext:         dialer.DialContext,
		TLSClientConfig:     n.cfg.PeerTLS,
		TLSHandshakeTimeout: 5 * time.Second,
		MaxIdleConnsPerHost: 4,
		IdleConnTimeout:     time.Minute,
	}
	return &transport{n: n, client: &http.Client{Transport: ht}, peers: map[uint64]*peer{}}
}

// activeSince returns when the stream to peer id was last connected, or
// the zero time if it is down or id is not a peer.
func (t *transport) activeSince(id uint64) time.Time {
	t.mu.Lock()
	p := t.peers[id]
	t.mu.Unlock()
	if p == nil {
		return time.Time{}
	}
	if ns := p.since.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

// update reconciles the senders with peers.
func (t *transport) update(peers []Peer) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return
	}
	seen := map[uint64]bool{}
	for _, p := range peers {
		if p.ID == t.n.cfg.ID {
			continue
		}
		seen[p.ID] = true
		if old, ok := t.peers[p.ID]; ok {
			old.setURLs(p.URLs)
			continue
		}
		np := &peer{t: t, id: p.ID, queue: make(chan []byte, peerQueueLen), stopc: make(chan struct{}), donec: make(chan struct{})}
		np.setURLs(p.URLs)
		t.peers[p.ID] = np
		go np.run()
	}
	for id, p := range t.peers {
		if !seen[id] {
			delete(t.peers, id)
			p.stop()
		}
	}
}

// send queues data (a marshalled message) for peer to; false if the peer is
// unknown or its queue is full. Never blocks.
func (t *transport) send(to uint64, data []byte) bool {
	t.mu.Lock()
	p := t.peers[to]
	t.mu.Unlock()
	if p == nil {
		return false
	}
	select {
	case p.queue <- data:
		return true
	default:
		return false
	}
}

// url returns a peer URL of to ("" if unknown).
func (t *transport) url(to uint64) string {
	t.mu.Lock()
	p := t.peers[to]
	t.mu.Unlock()
	if p == nil {
		return ""
	}
	return p.nextURL()
}

func (t *transport) stop() {
	t.mu.Lock()
	t.stopped = true
	peers := t.peers
	t.peers = map[uint64]*peer{}
	t.mu.Unlock()
	for _, p := range peers {
		p.stop()
	}
	t.client.CloseIdleConnections()
}

// header sets the identity headers on a request.
func (t *transport) header(h http.Header) {
	h.Set(headerClusterID, strconv.FormatUint(t.n.cfg.ClusterID, 16))
	h.Set(headerFrom, strconv.FormatUint(t.n.cfg.ID, 16))
	h.Set("Content-Type", "application/octet-stream")
}

// peer is the sending side towards one member.
type peer struct {
	t     *transport
	id    uint64
	queue chan []byte
	stopc chan struct{}
	donec chan struct{}
	once  sync.Once

	mu   sync.Mutex // guards urls and pick
	urls []string
	pick int

	// since is when the current outbound stream was accepted, in Unix
	// nanoseconds; 0 while there is none.
	since atomic.Int64
}

func (p *peer) setURLs(urls []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.urls = append([]string(nil), urls...)
}

// nextURL returns the URL to try now, rotating on each call.
func (p *peer) nextURL() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.urls) == 0 {
		return ""
	}
	u := p.urls[p.pick%len(p.urls)]
	p.pick++
	return strings.TrimSuffix(u, "/")
}

func (p *peer) stop() {
	p.once.Do(func() { close(p.stopc) })
	<-p.donec
}

// run is the peer's sender goroutine: it keeps one stream open and
// reconnects with exponential backoff.
func (p *peer) run() {
	defer close(p.donec)
	backoff := minBackoff
	for {
		connected, err := p.stream()
		select {
		case <-p.stopc:
			return
		default:
		}
		if connected {
			backoff = minBackoff
		}
		p.t.n.lg.Debug("peer stream ended", zap.String("remote", idLabel(p.id)), zap.Error(err))
		p.t.n.m.sendFailed(p.id)
		select {
		case p.t.n.reportc <- report{to: p.id}:
		default:
		}
		timer := time.NewTimer(backoff)
		select {
		case <-p.stopc:
			timer.Stop()
			return
		case <-timer.C:
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// stream opens one streaming POST and feeds queued messages into it until it
// breaks or the peer stops. connected reports whether data got through.
func (p *peer) stream() (connected bool, err error) {
	u := p.nextURL()
	if u == "" {
		return false, errors.New("no peer URL")
	}
	ctx, cancel := context.WithCancel(p.t.n.stopCtx)
	defer cancel()
	pr, pw := io.Pipe()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u+"/raft/stream", pr)
	if err != nil {
		return false, err
	}
	p.t.header(req.Header)
	// The receiver answers 200 before reading; only then do messages flow,
	// so a peer that refuses (412, 503, a proxy) never leaves us writing
	// into a request nobody reads.
	type result struct {
		resp *http.Response
		err  error
	}
	resc := make(chan result, 1)
	go func() {
		resp, err := p.t.client.Do(req)
		resc <- result{resp, err}
	}()
	timer := time.NewTimer(streamAcceptTimeout)
	var res result
	select {
	case res = <-resc:
		timer.Stop()
	case <-timer.C:
		cancel()
		pw.Close()
		res = <-resc
		if res.err == nil {
			res.resp.Body.Close()
		}
		return false, errors.New("peer did not accept the stream in time")
	case <-p.stopc:
		timer.Stop()
		cancel()
		pw.Close()
		if res = <-resc; res.err == nil {
			res.resp.Body.Close()
		}
		return false, nil
	}
	if res.err != nil {
		pw.Close()
		return false, res.err
	}
	resp := res.resp
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		pw.Close()
		err := fmt.Errorf("peer %s answered %d: %s", idLabel(p.id), resp.StatusCode, strings.TrimSpace(string(msg)))
		if resp.StatusCode == http.StatusPreconditionFailed {
			err = fmt.Errorf("%w: %v", ErrClusterIDMismatch, err)
			p.t.n.lg.Warn("peer rejected stream", zap.String("remote", idLabel(p.id)), zap.Error(err))
		}
		return false, err
	}
	connected = true
	p.since.Store(time.Now().UnixNano())
	p.t.n.m.peerActive(p.t.n.cfg.ID, p.id, true)
	respDone := make(chan struct{})
	go func() {
		defer close(respDone)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		pw.CloseWithError(errors.New("stream closed by peer"))
	}()
	defer func() {
		pw.Close()
		cancel()
		<-respDone
		p.since.Store(0)
		p.t.n.m.peerActive(p.t.n.cfg.ID, p.id, false)
	}()

	bw := bufio.NewWriterSize(pw, 64<<10)
	var hdr [4]byte
	for {
		var data []byte
		select {
		case data = <-p.queue:
		case <-p.stopc:
			return connected, nil
		case <-respDone:
			// The peer ended the stream (or died): a member with nothing
			// to send it must notice too, for ActiveSince and the gauge.
			return connected, errors.New("stream closed by peer")
		}
		total := 0
		for {
			binary.BigEndian.PutUint32(hdr[:], uint32(len(data)))
			if _, err := bw.Write(hdr[:]); err != nil {
				return connected, err
			}
			if _, err := bw.Write(data); err != nil {
				return connected, err
			}
			total += 4 + len(data)
			if total >= 1<<20 {
				break
			}
			select {
			case data = <-p.queue:
				continue
			default:
			}
			break
		}
		if err := bw.Flush(); err != nil {
			return connected, err
		}
		p.t.n.m.sent(p.id, total)
	}
}

// ServeHTTP serves the peer endpoints.
func (t *transport) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// HTTP/1.x would otherwise try to drain the (endless) request body
	// before sending an early answer.
	_ = http.NewResponseController(w).EnableFullDuplex()
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if got := r.Header.Get(headerClusterID); got != strconv.FormatUint(t.n.cfg.ClusterID, 16) {
		t.n.lg.Warn("rejected peer request from another cluster",
			zap.String("remote-cluster-id", got), zap.String("local-cluster-id", idLabel(t.n.cfg.ClusterID)))
		http.Error(w, "cluster ID mismatch", http.StatusPreconditionFailed)
		return
	}
	from, err := strconv.ParseUint(r.Header.Get(headerFrom), 16, 64)
	if err != nil || from == 0 {
		http.Error(w, "missing or bad "+headerFrom, http.StatusBadRequest)
		return
	}
	switch {
	case strings.HasSuffix(r.URL.Path, "/stream"):
		t.serveStream(w, r, from)
	case strings.HasSuffix(r.URL.Path, "/snapshot"):
		t.serveSnapshot(w, r, from)
	default:
		http.NotFound(w, r)
	}
}

// unblockOnStop makes reads on r fail once the node stops; call the
// returned func when done.
func (t *transport) unblockOnStop(w http.ResponseWriter) func() {
	rc := http.NewResponseController(w)
	done := make(chan struct{})
	go func() {
		select {
		case <-t.n.stopc:
			_ = rc.SetReadDeadline(time.Now())
		case <-done:
		}
	}()
	return func() { close(done) }
}

// deliver hands an inbound message to the raft goroutine.
func (t *transport) deliver(m *pb.Message) bool {
	select {
	case t.n.recvc <- m:
		return true
	case <-t.n.stopc:
		return false
	}
}

// serveStream reads length-prefixed messages until the sender closes.
func (t *transport) serveStream(w http.ResponseWriter, r *http.Request, from uint64) {
	defer t.unblockOnStop(w)()
	w.WriteHeader(http.StatusOK)
	if err := http.NewResponseController(w).Flush(); err != nil {
		return
	}
	br := bufio.NewReaderSize(r.Body, 64<<10)
	var hdr [4]byte
	var buf []byte
	for {
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			if !errors.Is(err, io.EOF) {
				t.n.m.receiveFailed(from)
			}
			break
		}
		size := binary.BigEndian.Uint32(hdr[:])
		if size > maxFrameLen {
			t.n.m.receiveFailed(from)
			return
		}
		if cap(buf) < int(size) {
			buf = make([]byte, size)
		}
		buf = buf[:size]
		if _, err := io.ReadFull(br, buf); err != nil {
			t.n.m.receiveFailed(from)
			break
		}
		t.n.m.received(from, int(size)+4)
		m := &pb.Message{}
		if err := proto.Unmarshal(buf, m); err != nil {
			t.n.m.receiveFailed(from)
			return
		}
		if m.GetType() == pb.MsgSnap || m.GetTo() != t.n.cfg.ID {
			t.n.m.receiveFailed(from)
			continue
		}
		if !t.deliver(m) {
			return
		}
	}
}

// serveSnapshot spools a streamed snapshot to <DataDir>/snap and steps it.
func (t *transport) serveSnapshot(w http.ResponseWriter, r *http.Request, from uint64) {
	defer t.unblockOnStop(w)()
	received := t.n.m.snapshotReceiving(from)
	path, m, err := t.receiveSnapshot(r.Body)
	if err != nil {
		received(false)
		t.n.lg.Warn("receive snapshot failed", zap.String("from", idLabel(from)), zap.Error(err))
		http.Error(w, "bad snapshot: "+err.Error(), http.StatusBadRequest)
		return
	}
	m.Snapshot.Data = spoolToken(path)
	if !t.deliver(m) {
		received(false)
		_ = os.Remove(path)
		http.Error(w, "stopping", http.StatusServiceUnavailable)
		return
	}
	received(true)
	t.n.lg.Info("received snapshot", zap.String("from", idLabel(from)),
		zap.Uint64("index", m.GetSnapshot().GetMetadata().GetIndex()))
	w.WriteHeader(http.StatusNoContent)
}

func (t *transport) receiveSnapshot(body io.Reader) (path string, m *pb.Message, err error) {
	br := bufio.NewReaderSize(body, 256<<10)
	var hdr [4]byte
	if _, err := io.ReadFull(br, hdr[:]); err != nil {
		return "", nil, err
	}
	size := binary.BigEndian.Uint32(hdr[:])
	if size > maxFrameLen {
		return "", nil, errors.New("message frame too large")
	}
	buf := make([]byte, size)
	if _, err := io.ReadFull(br, buf); err != nil {
		return "", nil, err
	}
	m = &pb.Message{}
	if err := proto.Unmarshal(buf, m); err != nil {
		return "", nil, err
	}
	if m.GetType() != pb.MsgSnap || m.GetSnapshot() == nil || m.GetTo() != t.n.cfg.ID {
		return "", nil, errors.New("not a MsgSnap for this member")
	}
	dir := spoolDir(t.n.cfg.DataDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", nil, err
	}
	meta := m.GetSnapshot().GetMetadata()
	f, err := os.CreateTemp(dir, fmt.Sprintf("%016x-%016x-*.spool", meta.GetTerm(), meta.GetIndex()))
	if err != nil {
		return "", nil, err
	}
	path = f.Name()
	start := time.Now()
	fw := bufio.NewWriterSize(f, 256<<10)
	err = spoolState(br, fw)
	// Synced, as etcd fsyncs its received .snap.db, so that an install
	// that outlives a crash reads the whole state.
	syncStart := time.Now()
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		t.n.m.snapDBSaved(time.Since(start), time.Since(syncStart))
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
		return "", nil, err
	}
	return path, m, nil
}

// sendSnapshot streams the state of snap with the MsgSnap m and reports the
// outcome to raft. It owns snap and closes it.
func (n *Node) sendSnapshot(m *pb.Message, snap *pebble.Snapshot) {
	to := m.GetTo()
	sent := n.m.snapshotSending(to)
	err := n.postSnapshot(m, snap)
	snap.Close()
	ok := err == nil
	sent(ok)
	if ok {
		n.lg.Info("sent snapshot", zap.String("to", idLabel(to)), zap.Uint64("index", m.GetSnapshot().GetMetadata().GetIndex()))
	} else {
		n.lg.Warn("send snapshot failed", zap.String("to", idLabel(to)), zap.Error(err))
	}
	select {
	case n.reportc <- report{to: to, snapshot: true, ok: ok}:
	case <-n.stopc:
	}
}

func (n *Node) postSnapshot(m *pb.Message, snap *pebble.Snapshot) error {
	u := n.tr.url(m.GetTo())
	if u == "" {
		return fmt.Errorf("no URL for member %s", idLabel(m.GetTo()))
	}
	head := proto.Clone(m).(*pb.Message)
	head.Snapshot.Data = nil
	frame, err := proto.Marshal(head)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(n.stopCtx, snapshotTimeout)
	defer cancel()
	pr, pw := io.Pipe()
	counter := &countingWriter{w: pw}
	writeDone := make(chan struct{})
	go func() {
		defer close(writeDone)
		bw := bufio.NewWriterSize(counter, 256<<10)
		var hdr [4]byte
		binary.BigEndian.PutUint32(hdr[:], uint32(len(frame)))
		_, err := bw.Write(hdr[:])
		if err == nil {
			_, err = bw.Write(frame)
		}
		if err == nil {
			err = writeState(bw, snap)
		}
		pw.CloseWithError(err)
	}()
	defer func() {
		pr.CloseWithError(errors.New("snapshot send ended"))
		<-writeDone
		n.m.sent(m.GetTo(), int(counter.n.Load()))
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u+"/raft/snapshot", pr)
	if err != nil {
		return err
	}
	n.tr.header(req.Header)
	resp, err := n.tr.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("peer answered %d: %s", resp.StatusCode, strings.TrimSpace(string(msg)))
	}
	return nil
}

type countingWriter struct {
	w io.Writer
	n atomic.Int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	k, err := c.w.Write(p)
	c.n.Add(int64(k))
	return k, err
}
