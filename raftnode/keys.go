package raftnode

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	pb "go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/concord-kv/concord/storage"
)

var (
	keyHardState = []byte{storage.PrefixLocal, 'h'}
	keySnapMeta  = []byte{storage.PrefixLocal, 's'}
	// keyLogEnd bounds the log entry keys: every 'l' key sorts below it.
	keyLogEnd = []byte{storage.PrefixLocal, 'l' + 1}
	// keyConfState is the replicated ConfState (written by the apply loop).
	keyConfState = []byte{storage.PrefixMeta, 'C'}
)

// logKey is the Pebble key of the raft log entry at index.
func logKey(index uint64) []byte {
	k := make([]byte, 10)
	k[0], k[1] = storage.PrefixLocal, 'l'
	binary.BigEndian.PutUint64(k[2:], index)
	return k
}

// logKeyIndex decodes a key made by logKey.
func logKeyIndex(k []byte) (uint64, error) {
	if len(k) != 10 || k[0] != storage.PrefixLocal || k[1] != 'l' {
		return 0, fmt.Errorf("%w: log key %x", ErrCorrupt, k)
	}
	return binary.BigEndian.Uint64(k[2:]), nil
}

// logKeyAll returns bounds covering every log entry key.
func logKeyAll() (lo, hi []byte) { return logKey(0), keyLogEnd }

// WriteConfState records the ConfState the state machine reflects. The apply
// loop calls it in the batch that also writes the applied index whenever an
// Apply carries a ConfState; it lives in the replicated range, so snapshots
// carry it.
func WriteConfState(w pebble.Writer, cs *pb.ConfState) error {
	b, err := proto.Marshal(cs)
	if err != nil {
		return fmt.Errorf("raftnode: marshal conf state: %w", err)
	}
	return w.Set(keyConfState, b, nil)
}

// ReadConfState returns the ConfState written by WriteConfState; an empty
// (non-nil) ConfState if none was written. Errors wrap ErrCorrupt when the
// value cannot be decoded.
func ReadConfState(r pebble.Reader) (*pb.ConfState, error) {
	cs := &pb.ConfState{}
	if err := getProto(r, keyConfState, cs); err != nil {
		return nil, err
	}
	return pb.EnsureConfState(cs), nil
}

// getProto unmarshals the value at key into m; m is left untouched (and no
// error returned) when the key is absent.
func getProto(r pebble.Reader, key []byte, m proto.Message) error {
	v, c, err := r.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("raftnode: read %x: %w", key, err)
	}
	defer c.Close()
	if err := proto.Unmarshal(v, m); err != nil {
		return fmt.Errorf("%w: key %x: %v", ErrCorrupt, key, err)
	}
	return nil
}

// putProto marshals m into w at key.
func putProto(w pebble.Writer, key []byte, m proto.Message) error {
	b, err := proto.Marshal(m)
	if err != nil {
		return fmt.Errorf("raftnode: marshal %x: %w", key, err)
	}
	return w.Set(key, b, nil)
}
