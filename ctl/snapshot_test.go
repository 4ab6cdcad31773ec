package ctl

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/concord-kv/concord/config"
	"github.com/concord-kv/concord/mvcc"
	"github.com/concord-kv/concord/snapshot"
	"github.com/concord-kv/concord/storage"
	"github.com/concord-kv/concord/tests/concordtest"
)

// TestSnapshotSaveStatusRestore saves a snapshot of a one-member Concord
// with concordctl, prints its status in every output format and restores
// it with the flag combinations etcdutl accepts and refuses.
func TestSnapshotSaveStatusRestore(t *testing.T) {
	c := concordtest.Start(t, 1)
	ep := "--endpoints=" + c.Endpoints()[0]
	for i := 0; i < 10; i++ {
		if r := run(t, "", ep, "put", fmt.Sprintf("/k/%d", i), "v"); r.code != 0 {
			t.Fatalf("put: %+v", r)
		}
	}
	rev := syncAll(t, c.Endpoints())
	dir := t.TempDir()
	path := filepath.Join(dir, "snap.db")
	if r := run(t, "", ep, "snapshot", "save", path); r.code != 0 || r.out != "Snapshot saved at "+path+"\nServer version "+config.APIVersion+"\n" {
		t.Fatalf("save: %+v", r)
	}
	if _, err := os.Stat(path + ".part"); !os.IsNotExist(err) {
		t.Fatalf("save left %s.part: %v", path, err)
	}
	info, err := snapshot.ReadInfo(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Revision != rev || info.Keys != 10 {
		t.Fatalf("saved snapshot: revision %d keys %d, want %d 10", info.Revision, info.Keys, rev)
	}
	// An etcd file; its version column is its storageVersion, which
	// Concord leaves out (etcd 3.4.29+ refuses a 3.6 one).
	hash, version := fmt.Sprintf("%x", info.Hash), ""
	size := humanBytes(uint64(info.TotalSize))

	t.Run("status", func(t *testing.T) {
		r := run(t, "", "snapshot", "status", path)
		want := fmt.Sprintf("%s, %d, %d, %s, %s\n", hash, rev, info.TotalKey, size, version)
		if r.code != 0 || r.out != want {
			t.Errorf("simple: %+v, want %q", r, want)
		}
		r = run(t, "", "-w", "table", "snapshot", "status", path)
		hdr, rows := parseTable(t, r.out)
		if strings.Join(hdr, "|") != "HASH|REVISION|TOTAL KEYS|TOTAL SIZE|VERSION" || len(rows) != 1 ||
			strings.Join(rows[0], "|") != strings.Join([]string{hash, strconv.FormatInt(rev, 10), strconv.Itoa(info.TotalKey), size, version}, "|") {
			t.Errorf("table: %q", r.out)
		}
		r = run(t, "", "-w", "json", "snapshot", "status", path)
		want = fmt.Sprintf(`{"hash":%d,"revision":%d,"totalKey":%d,"totalSize":%d,"version":%q}`+"\n", info.Hash, rev, info.TotalKey, info.TotalSize, version)
		if r.out != want {
			t.Errorf("json: %q, want %q", r.out, want)
		}
		var js map[string]any
		if err := json.Unmarshal([]byte(r.out), &js); err != nil {
			t.Errorf("json: %v", err)
		}
		r = run(t, "", "-w", "fields", "snapshot", "status", path)
		want = fmt.Sprintf("\"Hash\" : %d\n\"Revision\" : %d\n\"Keys\" : %d\n\"Size\" : %d\n\"Version\" : %s\n", info.Hash, rev, info.TotalKey, info.TotalSize, version)
		if r.out != want {
			t.Errorf("fields: %q, want %q", r.out, want)
		}
		if r := run(t, "", "-w", "protobuf", "snapshot", "status", path); r.code != ExitBadFeature {
			t.Errorf("protobuf: %+v", r)
		}
		if r := run(t, "", "snapshot", "status"); r.code != ExitBadArgs {
			t.Errorf("no argument: %+v", r)
		}
	})

	t.Run("damaged etcd file", func(t *testing.T) {
		bolt := make([]byte, 8192)
		binary.LittleEndian.PutUint32(bolt[16:], 0xED0CDAED)
		p := filepath.Join(t.TempDir(), "etcd.db")
		if err := os.WriteFile(p, bolt, 0o600); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{{"snapshot", "status", p}, {"snapshot", "restore", p, "--data-dir", filepath.Join(t.TempDir(), "x")}} {
			r := run(t, "", args...)
			if r.code != ExitError || !strings.Contains(r.err, "no sha256 trailer") {
				t.Errorf("%v: %+v", args, r)
			}
		}
	})

	t.Run("restore flags", func(t *testing.T) {
		d := t.TempDir()
		cases := []struct {
			args []string
			code int
			err  string
		}{
			{[]string{"--name", "x", "--initial-cluster", "a=http://127.0.0.1:1"}, ExitBadArgs, `couldn't find local name "x" in the initial cluster configuration`},
			{[]string{"--name", "a", "--initial-cluster", "a=http://127.0.0.1:1"}, ExitBadArgs, "--initial-cluster has http://127.0.0.1:1 but missing from --initial-advertise-peer-urls=http://localhost:2380"},
			{[]string{"--bump-revision", "0", "--mark-compacted"}, ExitBadArgs, "--mark-compacted requires --bump-revision > 0"},
			{[]string{"--bump-revision", "-1"}, ExitBadArgs, "--bump-revision must not be negative"},
		}
		for _, c := range cases {
			args := append([]string{"snapshot", "restore", path, "--data-dir", filepath.Join(d, "never")}, c.args...)
			r := run(t, "", args...)
			if r.code != c.code || !strings.Contains(r.err, c.err) {
				t.Errorf("%v: %+v, want code %d and %q", c.args, r, c.code, c.err)
			}
		}
		if _, err := os.Stat(filepath.Join(d, "never")); !os.IsNotExist(err) {
			t.Errorf("refused restore created its data dir: %v", err)
		}
		// A non-empty data dir is refused.
		if err := os.WriteFile(filepath.Join(d, "file"), nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if r := run(t, "", "snapshot", "restore", path, "--data-dir", d); r.code != ExitError || !strings.Contains(r.err, "data-dir exists and is not empty") {
			t.Errorf("non-empty data dir: %+v", r)
		}
	})

	// restored opens a restored data dir and returns its revisions.
	restored := func(t *testing.T, dataDir string) (rev, compact int64, m snapshot.Marker) {
		db, err := storage.Open(filepath.Join(dataDir, snapshot.DBDir), storage.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		m, ok, err := snapshot.ReadMarker(db)
		if err != nil || !ok {
			t.Fatalf("marker: %v %v", ok, err)
		}
		kv, err := mvcc.Open(db, mvcc.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer kv.Close()
		r, err := kv.Range(context.Background(), []byte("/k/"), []byte("/k0"), mvcc.RangeOptions{CountOnly: true})
		if err != nil || r.Count != 10 {
			t.Fatalf("restored keys: %v %v", r, err)
		}
		return kv.Rev(), kv.CompactRev(), m
	}

	t.Run("restore defaults bump and mark compacted", func(t *testing.T) {
		dd := filepath.Join(t.TempDir(), "m1.concord")
		r := run(t, "", "snapshot", "restore", path, "--data-dir", dd, "--name", "m1",
			"--initial-cluster", "m1=http://127.0.0.1:12380,m2=http://127.0.0.2:12380", "--initial-advertise-peer-urls", "http://127.0.0.1:12380",
			"--initial-cluster-token", "restored")
		if r.code != 0 || !strings.Contains(r.err, fmt.Sprintf("revision %d, marked compacted", rev+defaultBumpRevision)) {
			t.Fatalf("restore: %+v", r)
		}
		gotRev, compact, m := restored(t, dd)
		if gotRev != rev+defaultBumpRevision || compact != gotRev {
			t.Errorf("revision %d compacted %d, want both %d", gotRev, compact, rev+defaultBumpRevision)
		}
		if m.Name != "m1" || m.InitialClusterToken != "restored" || m.InitialCluster != "m1=http://127.0.0.1:12380,m2=http://127.0.0.2:12380" || m.SnapshotRevision != rev {
			t.Errorf("marker %+v", m)
		}
	})

	t.Run("restore as etcdutl: no bump", func(t *testing.T) {
		dd := filepath.Join(t.TempDir(), "default.concord")
		if r := run(t, "", "snapshot", "restore", path, "--data-dir", dd, "--bump-revision", "0"); r.code != 0 {
			t.Fatalf("restore: %+v", r)
		}
		if gotRev, compact, _ := restored(t, dd); gotRev != rev || compact != info.CompactRevision {
			t.Errorf("revision %d compacted %d, want %d %d", gotRev, compact, rev, info.CompactRevision)
		}
	})

	t.Run("restore damaged file", func(t *testing.T) {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)-1] ^= 0xff // the SHA-256 trailer
		bad := filepath.Join(t.TempDir(), "bad.db")
		if err := os.WriteFile(bad, b, 0o600); err != nil {
			t.Fatal(err)
		}
		dd := filepath.Join(t.TempDir(), "d")
		if r := run(t, "", "snapshot", "restore", bad, "--data-dir", dd); r.code != ExitError || !strings.Contains(r.err, "sha256 mismatch") {
			t.Errorf("restore: %+v", r)
		}
		if r := run(t, "", "snapshot", "status", bad); r.code != ExitError || !strings.Contains(r.err, "sha256 mismatch") {
			t.Errorf("status: %+v", r)
		}
		if r := run(t, "", "snapshot", "restore", bad, "--data-dir", dd, "--skip-hash-check"); r.code != 0 {
			t.Errorf("restore --skip-hash-check: %+v", r)
		}
	})
}
