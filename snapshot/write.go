package snapshot

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"

	"github.com/cockroachdb/pebble/v2"

	"github.com/concord-kv/concord/config"
	"github.com/concord-kv/concord/storage"
)

// Encoder writes one snapshot file of Concord's own (older) format of a
// Pebble reader. Concord sends etcd's format now (BuildEtcd); the Encoder
// remains so that files of the old format can still be made and read back
// (tests, tools). NewEncoder scans the
// state once to learn what the file will hold (so that its size is known
// before the first byte is sent, as the Snapshot RPC's remaining_bytes
// needs); WriteTo reads it a second time to write it.
type Encoder struct {
	r    pebble.Reader
	info Info
}

// NewEncoder scans the state range of r, which should be a Pebble snapshot
// (db.NewSnapshot()) so that the state cannot change between the scan and
// WriteTo. Errors: reading r, or storage.ErrCorrupt for an undecodable
// MVCC meta value.
func NewEncoder(r pebble.Reader) (*Encoder, error) {
	info := Info{
		FormatVersion:   FormatVersion,
		Format:          FormatConcord,
		Version:         config.Version,
		Revision:        1,
		CompactRevision: -1,
	}
	crc := crc32.New(crcTable)
	size := int64(0)
	err := scan(r, func(k, v []byte) error {
		if err := metaInto(&info, k, v); err != nil {
			return err
		}
		info.TotalKey++
		size += pairLen(k, v)
		crc.Write(k)
		crc.Write(v)
		return nil
	})
	if err != nil {
		return nil, err
	}
	info.Hash = crc.Sum32()
	body := int64(headerLen(len(info.Version))) + size
	info.TotalSize = body + padLen(body) + TrailerLen
	return &Encoder{r: r, info: info}, nil
}

// Info returns the description of the file WriteTo writes.
func (e *Encoder) Info() Info { return e.info }

// WriteTo writes the snapshot file to w and returns the bytes written
// (Info().TotalSize on success). It fails with ErrChanged if the state
// read differs from the scan of NewEncoder, and otherwise with w's or the
// reader's error.
func (e *Encoder) WriteTo(w io.Writer) (int64, error) {
	sum := sha256.New()
	cw := &countWriter{w: io.MultiWriter(w, sum)}
	bw := bufio.NewWriterSize(cw, 64<<10)
	if _, err := bw.Write(appendHeader(nil, e.info)); err != nil {
		return cw.n, err
	}
	crc := crc32.New(crcTable)
	count := 0
	var lenBuf [binary.MaxVarintLen64]byte
	err := scan(e.r, func(k, v []byte) error {
		count++
		crc.Write(k)
		crc.Write(v)
		for _, p := range [][]byte{k, v} {
			if _, err := bw.Write(lenBuf[:binary.PutUvarint(lenBuf[:], uint64(len(p)))]); err != nil {
				return err
			}
			if _, err := bw.Write(p); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return cw.n, err
	}
	if count != e.info.TotalKey || crc.Sum32() != e.info.Hash {
		return cw.n, ErrChanged
	}
	body := int64(bw.Buffered()) + cw.n
	if _, err := bw.Write(make([]byte, padLen(body))); err != nil {
		return cw.n, err
	}
	if err := bw.Flush(); err != nil {
		return cw.n, err
	}
	if _, err := w.Write(sum.Sum(nil)); err != nil {
		return cw.n, err
	}
	cw.n += TrailerLen
	return cw.n, nil
}

// Write writes a snapshot file of r's state range to w and describes it;
// r should be a Pebble snapshot (see NewEncoder). Errors as NewEncoder
// and Encoder.WriteTo.
func Write(w io.Writer, r pebble.Reader) (Info, error) {
	e, err := NewEncoder(r)
	if err != nil {
		return Info{}, err
	}
	if _, err := e.WriteTo(w); err != nil {
		return Info{}, err
	}
	return e.info, nil
}

// scan calls fn for every pair of r's state range in key order; k and v are
// valid only during the call.
func scan(r pebble.Reader, fn func(k, v []byte) error) error {
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: storage.StateStart, UpperBound: storage.StateEnd})
	if err != nil {
		return fmt.Errorf("snapshot: read state: %w", err)
	}
	for valid := it.First(); valid; valid = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			it.Close()
			return fmt.Errorf("snapshot: read state: %w", err)
		}
		if err := fn(it.Key(), v); err != nil {
			it.Close()
			return err
		}
	}
	if err := it.Error(); err != nil {
		it.Close()
		return fmt.Errorf("snapshot: read state: %w", err)
	}
	return it.Close()
}

// padLen is the number of zero bytes that make a body of n bytes a
// multiple of BlockSize.
func padLen(n int64) int64 { return (BlockSize - n%BlockSize) % BlockSize }

// metaInto records the MVCC meta value of k, if k is one, in info.
func metaInto(info *Info, k, v []byte) error {
	if len(k) != 2 || k[0] != storage.PrefixMeta {
		return nil
	}
	var dst *int64
	switch {
	case bytes.Equal(k, keyRev):
		dst = &info.Revision
	case bytes.Equal(k, keyCompactRev):
		dst = &info.CompactRevision
	case bytes.Equal(k, keyLiveKeys):
		dst = &info.Keys
	default:
		return nil
	}
	x, err := decodeInt64(k, v)
	if err != nil {
		return err
	}
	if dst == &info.Revision && x == 0 {
		x = 1
	}
	*dst = x
	return nil
}

// countWriter counts the bytes written through it.
type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
