package config

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"go.uber.org/zap/zapcore"
)

// journalSocket is the systemd journal's native protocol socket; tests
// point it elsewhere.
var journalSocket = "/run/systemd/journal/socket"

// journalSyncer is the "systemd/journal" log output: every log line is one
// datagram of the journal's native protocol on the journal socket, with
// the fields etcd's journal writer sets: MESSAGE (the whole line as
// encoded, without its newline), PRIORITY (syslog level from the entry's
// "level": debug 7, info 6, warn 4, error 3, dpanic/panic/fatal 2),
// PACKAGE (the directory of the entry's "caller") and SYSLOG_IDENTIFIER
// (the program's base name). A line the journal does not take (a
// datagram too large, the journal gone) goes to the fallback writer
// instead, as etcd falls back to stderr.
type journalSyncer struct {
	mu       sync.Mutex // guards conn's writes and buf
	conn     *net.UnixConn
	fallback io.Writer
	ident    string
	buf      bytes.Buffer
}

// newJournalSyncer connects to the journal socket at path. The error is
// the dial's when no journal listens there.
func newJournalSyncer(path string, fallback io.Writer) (zapcore.WriteSyncer, error) {
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return nil, err
	}
	return &journalSyncer{conn: conn, fallback: fallback, ident: filepath.Base(os.Args[0])}, nil
}

// journalPriority maps zap's level names to syslog priorities.
var journalPriority = map[string]int{
	"debug": 7, "info": 6, "warn": 4, "error": 3, "dpanic": 2, "panic": 2, "fatal": 2,
}

func (j *journalSyncer) Write(p []byte) (int, error) {
	line := strings.TrimSuffix(string(p), "\n")
	var rec struct {
		Level  string `json:"level"`
		Caller string `json:"caller"`
	}
	if err := json.Unmarshal([]byte(line), &rec); err != nil {
		// --log-format=console: "<ts>\t<level>\t<caller>\t<msg>...".
		if f := strings.SplitN(line, "\t", 4); len(f) >= 3 {
			rec.Level, rec.Caller = f[1], f[2]
		}
	}
	pri, ok := journalPriority[rec.Level]
	if !ok {
		pri = 6
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	j.buf.Reset()
	journalField(&j.buf, "MESSAGE", line)
	journalField(&j.buf, "PRIORITY", strconv.Itoa(pri))
	if rec.Caller != "" {
		journalField(&j.buf, "PACKAGE", filepath.Dir(rec.Caller))
	}
	journalField(&j.buf, "SYSLOG_IDENTIFIER", j.ident)
	if _, err := j.conn.Write(j.buf.Bytes()); err != nil {
		return j.fallback.Write(p)
	}
	return len(p), nil
}

func (j *journalSyncer) Sync() error { return nil }

// journalField appends one field in the native protocol's form: KEY=value
// and a newline, or, for a value holding a newline, KEY, a newline, the
// value's length as a little-endian uint64, the value and a newline.
func journalField(b *bytes.Buffer, key, value string) {
	if !strings.Contains(value, "\n") {
		b.WriteString(key)
		b.WriteByte('=')
		b.WriteString(value)
		b.WriteByte('\n')
		return
	}
	b.WriteString(key)
	b.WriteByte('\n')
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(value)))
	b.Write(n[:])
	b.WriteString(value)
	b.WriteByte('\n')
}

// stderrSyncer writes to the process's stderr as it is at each write.
type stderrSyncer struct{}

func (stderrSyncer) Write(p []byte) (int, error) { return os.Stderr.Write(p) }
func (stderrSyncer) Sync() error                 { return nil }
