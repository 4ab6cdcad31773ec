package snapshot

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"os"
)

// ReadInfo reads the snapshot file at path, checks its SHA-256 trailer and
// its structure, and describes it (as etcd's `snapshot status`). Errors:
// ErrNotSnapshot (wrapped with a hint for an etcd bbolt file),
// ErrUnsupportedVersion, ErrCorrupt, ErrHashMismatch, or the file's I/O
// error.
func ReadInfo(path string) (Info, error) {
	format, size, err := sniff(path)
	if err != nil {
		return Info{}, err
	}
	if format == FormatEtcd {
		ef, err := openEtcd(path, size, true)
		if err != nil {
			return Info{}, err
		}
		defer ef.close()
		return ef.info()
	}
	fr, err := openFile(path)
	if err != nil {
		return Info{}, err
	}
	defer fr.close()
	for {
		_, _, ok, err := fr.next()
		if err != nil {
			return Info{}, fr.damaged(err)
		}
		if !ok {
			break
		}
	}
	info, err := fr.finish(true)
	if err != nil {
		return Info{}, fr.damaged(err)
	}
	return info, nil
}

// fileReader reads a snapshot file's pairs in one pass, hashing as it goes.
type fileReader struct {
	f     *os.File
	br    *bufio.Reader
	body  *io.LimitedReader
	sum   hash.Hash
	crc   hash.Hash32
	info  Info
	read  int
	last  []byte
	k, v  []byte
	first bool
}

// openFile opens path and reads its header.
func openFile(path string) (*fileReader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	if st.IsDir() {
		f.Close()
		return nil, fmt.Errorf("snapshot: %s: %w (a directory)", path, ErrNotSnapshot)
	}
	size := st.Size()
	bodyLen := size - TrailerLen
	if bodyLen < 0 {
		bodyLen = size // too short: the header read fails below
	}
	fr := &fileReader{f: f, sum: sha256.New(), crc: crc32.New(crcTable), first: true}
	fr.body = &io.LimitedReader{R: f, N: bodyLen}
	fr.br = bufio.NewReaderSize(io.TeeReader(fr.body, fr.sum), 256<<10)
	info, err := readHeader(fr.br)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if size < int64(headerLen(len(info.Version)))+TrailerLen {
		f.Close()
		return nil, fmt.Errorf("%s: %w: truncated (%d bytes)", path, ErrCorrupt, size)
	}
	info.TotalSize = size
	info.Format = FormatConcord
	fr.info = info
	return fr, nil
}

func (fr *fileReader) close() { fr.f.Close() }

// next returns the next pair (valid until the following call), or ok=false
// after the last one. Pairs must be in the state range, in strictly
// ascending order.
func (fr *fileReader) next() (k, v []byte, ok bool, err error) {
	if fr.read == fr.info.TotalKey {
		return nil, nil, false, nil
	}
	if fr.k, err = readChunk(fr.br, fr.k[:0]); err != nil {
		return nil, nil, false, fmt.Errorf("%w: pair %d key: %v", ErrCorrupt, fr.read, err)
	}
	if fr.v, err = readChunk(fr.br, fr.v[:0]); err != nil {
		return nil, nil, false, fmt.Errorf("%w: pair %d value: %v", ErrCorrupt, fr.read, err)
	}
	if !inState(fr.k) {
		return nil, nil, false, fmt.Errorf("%w: key %x outside the state range", ErrCorrupt, fr.k)
	}
	if !fr.first && bytes.Compare(fr.last, fr.k) >= 0 {
		return nil, nil, false, fmt.Errorf("%w: key %x out of order", ErrCorrupt, fr.k)
	}
	fr.first = false
	fr.last = append(fr.last[:0], fr.k...)
	fr.crc.Write(fr.k)
	fr.crc.Write(fr.v)
	fr.read++
	return fr.k, fr.v, true, nil
}

// finish checks that nothing follows the last pair and, with checkHash,
// that the trailer matches; it returns the file's Info.
func (fr *fileReader) finish(checkHash bool) (Info, error) {
	if fr.read != fr.info.TotalKey {
		return Info{}, fmt.Errorf("%w: %d of %d pairs read", ErrCorrupt, fr.read, fr.info.TotalKey)
	}
	if fr.info.TotalSize%BlockSize != TrailerLen {
		return Info{}, fmt.Errorf("%w: size %d is not a multiple of %d plus the %d-byte trailer", ErrCorrupt, fr.info.TotalSize, BlockSize, TrailerLen)
	}
	pad, err := io.ReadAll(io.LimitReader(fr.br, BlockSize))
	if err != nil {
		return Info{}, fmt.Errorf("snapshot: %w", err)
	}
	if len(pad) == BlockSize || bytes.ContainsFunc(pad, func(r rune) bool { return r != 0 }) {
		return Info{}, fmt.Errorf("%w: bytes after the last of %d pairs", ErrCorrupt, fr.info.TotalKey)
	}
	var trailer [TrailerLen]byte
	if _, err := io.ReadFull(fr.f, trailer[:]); err != nil {
		return Info{}, fmt.Errorf("%w: trailer: %v", ErrCorrupt, err)
	}
	if got := fr.sum.Sum(nil); checkHash && !bytes.Equal(got, trailer[:]) {
		return Info{}, fmt.Errorf("%w: expected sha256 %x, got %x", ErrHashMismatch, trailer[:], got)
	}
	info := fr.info
	info.Hash = fr.crc.Sum32()
	return info, nil
}

// damaged returns ErrHashMismatch (naming err) instead of a structural
// error err when the file's content does not match its trailer: a file
// damaged in transit is reported as such, whatever byte was hit.
func (fr *fileReader) damaged(err error) error {
	if !errors.Is(err, ErrCorrupt) {
		return err
	}
	if _, cerr := io.Copy(fr.sum, fr.body); cerr != nil {
		return err
	}
	var trailer [TrailerLen]byte
	if _, terr := io.ReadFull(fr.f, trailer[:]); terr != nil {
		return err
	}
	if !bytes.Equal(fr.sum.Sum(nil), trailer[:]) {
		return fmt.Errorf("%w (%v)", ErrHashMismatch, err)
	}
	return err
}

// readChunk reads a uvarint length and that many bytes, appended to buf.
func readChunk(br *bufio.Reader, buf []byte) ([]byte, error) {
	n, err := binary.ReadUvarint(br)
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	if n > maxPairLen {
		return nil, fmt.Errorf("length %d too large", n)
	}
	if cap(buf) < int(n) {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(br, buf); err != nil {
		return nil, err
	}
	return buf, nil
}
