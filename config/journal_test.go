package config

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
)

// parseJournal decodes one datagram of the journal's native protocol.
func parseJournal(t *testing.T, d []byte) map[string]string {
	t.Helper()
	out := map[string]string{}
	for len(d) > 0 {
		nl := bytes.IndexByte(d, '\n')
		if nl < 0 {
			t.Fatalf("field without newline: %q", d)
		}
		if eq := bytes.IndexByte(d[:nl], '='); eq >= 0 {
			out[string(d[:eq])] = string(d[eq+1 : nl])
			d = d[nl+1:]
			continue
		}
		key := string(d[:nl])
		d = d[nl+1:]
		n := binary.LittleEndian.Uint64(d[:8])
		out[key] = string(d[8 : 8+n])
		if d[8+n] != '\n' {
			t.Fatalf("binary field %s not ended by a newline", key)
		}
		d = d[8+n+1:]
	}
	return out
}

func TestJournalOutput(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "journal.sock")
	l, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	old := journalSocket
	journalSocket = sock
	defer func() { journalSocket = old }()

	c := DefaultConfig()
	c.LogOutputs = []string{"systemd/journal"}
	lg, err := c.NewLogger()
	if err != nil {
		t.Fatal(err)
	}
	lg.Warn("slow fdatasync", zap.Duration("took", 1500*time.Millisecond))
	lg.Info("two\nlines")
	buf := make([]byte, 64<<10)
	read := func() map[string]string {
		_ = l.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := l.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		return parseJournal(t, buf[:n])
	}
	f := read()
	if f["PRIORITY"] != "4" || f["PACKAGE"] != "config" || f["SYSLOG_IDENTIFIER"] == "" {
		t.Errorf("fields = %v", f)
	}
	var rec map[string]any
	if err := json.Unmarshal([]byte(f["MESSAGE"]), &rec); err != nil {
		t.Fatalf("MESSAGE is not a JSON entry: %q", f["MESSAGE"])
	}
	if rec["msg"] != "slow fdatasync" || rec["level"] != "warn" || rec["took"] != "1.5s" {
		t.Errorf("entry = %v", rec)
	}
	// JSON escapes the newline, so MESSAGE stays one line; PRIORITY info.
	f = read()
	if f["PRIORITY"] != "6" || !strings.Contains(f["MESSAGE"], `two\nlines`) {
		t.Errorf("fields = %v", f)
	}

	// The binary form for values holding a newline.
	var b bytes.Buffer
	journalField(&b, "MESSAGE", "a\nb")
	if got := parseJournal(t, b.Bytes()); got["MESSAGE"] != "a\nb" {
		t.Errorf("binary field round trip = %q", got)
	}

	// No journal listening: etcd's error.
	journalSocket = filepath.Join(t.TempDir(), "none.sock")
	if _, err := c.NewLogger(); err == nil || !strings.HasPrefix(err.Error(), "can't find journal (dial unixgram ") {
		t.Errorf("NewLogger without a journal: %v", err)
	}
}
