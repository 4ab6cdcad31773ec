package snapshot

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
)

// A read-only reader of bbolt database files, for etcd snapshots: it
// reads one page at a time with ReadAt (no memory map, so memory stays a
// few pages whatever the file's size, and a truncated file cannot fault)
// and checks every page it reads, so a damaged file gives an error naming
// the page instead of bbolt's panics. Layout (bbolt 1.3/1.4, little-endian):
//
//	page:    id u64, flags u16, count u16, overflow u32, then count elements;
//	         a page spans 1+overflow pages
//	branch:  element pos u32, ksize u32, child page id u64 (16 bytes)
//	leaf:    element flags u32, pos u32, ksize u32, vsize u32 (16 bytes);
//	         key at the element's offset + pos, the value right after it
//	meta:    magic, version, page size, flags (u32), root bucket (root page
//	         id, sequence: u64), freelist page id, high-water page id,
//	         txid, checksum (FNV-64a of what precedes it), on pages 0 and 1
//	bucket:  a leaf value with flag 1: root page id u64, sequence u64, and
//	         for root 0 an inline leaf page right after

const (
	boltBranchPage = 0x01
	boltLeafPage   = 0x02
	boltBucketLeaf = 0x01
	boltElemLen    = 16
	boltMaxDepth   = 64
)

// boltFile is a bbolt database at the start of r.
type boltFile struct {
	r        io.ReaderAt
	pageSize int
	hwm      uint64 // pages in use: the database is hwm*pageSize bytes
	root     uint64 // root page of the top-level bucket tree
}

// openBolt reads the meta pages of the database in the first dbSize bytes
// of r, picks the valid one with the highest txid and checks that the
// database it describes fits in dbSize bytes.
func openBolt(r io.ReaderAt, dbSize int64) (*boltFile, error) {
	head := make([]byte, boltPageHeader+boltMetaLen)
	var bf *boltFile
	var txid uint64
	var why []string
	pageSize := int64(0)
	for i := int64(0); i < 2; i++ {
		if i == 1 && pageSize == 0 {
			break
		}
		off := i * pageSize
		if off+int64(len(head)) > dbSize {
			why = append(why, fmt.Sprintf("meta page %d is past the end of the file", i))
			continue
		}
		if _, err := r.ReadAt(head, off); err != nil {
			return nil, err
		}
		m := head[boltPageHeader:]
		if binary.LittleEndian.Uint32(m) != bboltMagic {
			if i == 0 {
				return nil, errors.New("not a bbolt database (no magic on its first page)")
			}
			why = append(why, fmt.Sprintf("meta page %d has no bbolt magic", i))
			continue
		}
		ps := binary.LittleEndian.Uint32(m[8:])
		if i == 0 {
			if ps < 512 || ps > 1<<16 || ps&(ps-1) != 0 {
				return nil, fmt.Errorf("bbolt meta page 0 has page size %d", ps)
			}
			pageSize = int64(ps)
		}
		h := fnv.New64a()
		h.Write(m[:boltMetaLen-8])
		if binary.LittleEndian.Uint32(m[4:]) != boltVersion || h.Sum64() != binary.LittleEndian.Uint64(m[boltMetaLen-8:]) {
			why = append(why, fmt.Sprintf("meta page %d fails its checksum or version", i))
			continue
		}
		if t := binary.LittleEndian.Uint64(m[48:]); bf == nil || t > txid {
			txid = t
			bf = &boltFile{r: r, pageSize: int(ps), root: binary.LittleEndian.Uint64(m[16:]), hwm: binary.LittleEndian.Uint64(m[40:])}
		}
	}
	if bf == nil {
		return nil, fmt.Errorf("no valid bbolt meta page (%v)", why)
	}
	if need := int64(bf.hwm) * int64(bf.pageSize); bf.hwm < 2 || need > dbSize {
		return nil, fmt.Errorf("truncated: the database needs %d bytes (%d pages of %d), the file holds %d", need, bf.hwm, bf.pageSize, dbSize)
	}
	if bf.root < 2 || bf.root >= bf.hwm {
		return nil, fmt.Errorf("bbolt root page %d outside the database's %d pages", bf.root, bf.hwm)
	}
	return bf, nil
}

// size is the database's size in bytes (bbolt's Tx.Size).
func (bf *boltFile) size() int64 { return int64(bf.hwm) * int64(bf.pageSize) }

// readPage reads page id with its overflow pages into buf (grown as
// needed) and checks its header.
func (bf *boltFile) readPage(id uint64, buf []byte) ([]byte, error) {
	if id < 2 || id >= bf.hwm {
		return nil, fmt.Errorf("page %d outside the database's %d pages", id, bf.hwm)
	}
	if cap(buf) < bf.pageSize {
		buf = make([]byte, bf.pageSize)
	}
	buf = buf[:bf.pageSize]
	if _, err := bf.r.ReadAt(buf, int64(id)*int64(bf.pageSize)); err != nil {
		return nil, fmt.Errorf("page %d: %w", id, err)
	}
	if got := binary.LittleEndian.Uint64(buf); got != id {
		return nil, fmt.Errorf("page %d says it is page %d", id, got)
	}
	if over := uint64(binary.LittleEndian.Uint32(buf[12:])); over > 0 {
		if id+over >= bf.hwm {
			return nil, fmt.Errorf("page %d overflows past the database's %d pages", id, bf.hwm)
		}
		n := int(1+over) * bf.pageSize
		if cap(buf) < n {
			nb := make([]byte, n)
			copy(nb, buf)
			buf = nb
		}
		buf = buf[:n]
		if _, err := bf.r.ReadAt(buf[bf.pageSize:], int64(id+1)*int64(bf.pageSize)); err != nil {
			return nil, fmt.Errorf("page %d: %w", id, err)
		}
	}
	return buf, nil
}

// walker visits the pairs of one bucket tree in key order, checking that
// keys ascend.
type walker struct {
	bf   *boltFile
	bufs [][]byte // one page buffer per depth
	last []byte
	any  bool
	fn   func(k, v []byte, flags uint32) error
}

// forEach calls fn for every pair of the tree whose root is page root, or
// of the inline leaf page inline when root is 0. k and v are valid only
// during the call.
func (bf *boltFile) forEach(root uint64, inline []byte, fn func(k, v []byte, flags uint32) error) error {
	w := &walker{bf: bf, fn: fn}
	if root == 0 {
		return w.visit(inline, "inline page")
	}
	return w.page(root, 0)
}

func (w *walker) page(id uint64, depth int) error {
	if depth >= boltMaxDepth {
		return fmt.Errorf("page %d: tree deeper than %d (a cycle)", id, boltMaxDepth)
	}
	for len(w.bufs) <= depth {
		w.bufs = append(w.bufs, nil)
	}
	p, err := w.bf.readPage(id, w.bufs[depth])
	if err != nil {
		return err
	}
	w.bufs[depth] = p
	flags := binary.LittleEndian.Uint16(p[8:])
	if flags&boltBranchPage != 0 {
		count := int(binary.LittleEndian.Uint16(p[10:]))
		if count == 0 || boltPageHeader+count*boltElemLen > len(p) {
			return fmt.Errorf("branch page %d has %d elements", id, count)
		}
		for i := 0; i < count; i++ {
			e := boltPageHeader + i*boltElemLen
			child := binary.LittleEndian.Uint64(p[e+8:])
			if err := w.page(child, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	return w.visit(p, fmt.Sprintf("page %d", id))
}

// visit calls fn for the elements of the leaf page p.
func (w *walker) visit(p []byte, what string) error {
	if len(p) < boltPageHeader {
		return fmt.Errorf("%s is %d bytes", what, len(p))
	}
	if flags := binary.LittleEndian.Uint16(p[8:]); flags&boltLeafPage == 0 {
		return fmt.Errorf("%s has page type %#x, want a branch or leaf page", what, flags)
	}
	count := int(binary.LittleEndian.Uint16(p[10:]))
	if boltPageHeader+count*boltElemLen > len(p) {
		return fmt.Errorf("%s has %d elements, more than fit", what, count)
	}
	for i := 0; i < count; i++ {
		e := boltPageHeader + i*boltElemLen
		flags := binary.LittleEndian.Uint32(p[e:])
		pos := uint64(binary.LittleEndian.Uint32(p[e+4:]))
		ks := uint64(binary.LittleEndian.Uint32(p[e+8:]))
		vs := uint64(binary.LittleEndian.Uint32(p[e+12:]))
		start := uint64(e) + pos
		if start+ks+vs > uint64(len(p)) {
			return fmt.Errorf("%s element %d runs past the page", what, i)
		}
		k, v := p[start:start+ks], p[start+ks:start+ks+vs]
		if w.any && bytes.Compare(k, w.last) <= 0 {
			return fmt.Errorf("%s element %d: key %x not after %x", what, i, k, w.last)
		}
		w.any, w.last = true, append(w.last[:0], k...)
		if err := w.fn(k, v, flags); err != nil {
			return err
		}
	}
	return nil
}

// boltBucket is a top-level bucket: its tree's root page, or its inline
// page (copied).
type boltBucket struct {
	name   []byte
	root   uint64
	inline []byte
}

// buckets lists the top-level buckets in name order.
func (bf *boltFile) buckets() ([]boltBucket, error) {
	var out []boltBucket
	err := bf.forEach(bf.root, nil, func(k, v []byte, flags uint32) error {
		if flags&boltBucketLeaf == 0 {
			return fmt.Errorf("%q at the top level is not a bucket", k)
		}
		if len(v) < 16 {
			return fmt.Errorf("bucket %q has a %d-byte header", k, len(v))
		}
		b := boltBucket{name: append([]byte(nil), k...), root: binary.LittleEndian.Uint64(v)}
		if b.root == 0 {
			b.inline = append([]byte(nil), v[16:]...)
		}
		out = append(out, b)
		return nil
	})
	return out, err
}

// bucketPairs calls fn for every pair of bucket b in key order; a nested
// bucket is an error (etcd's buckets have none).
func (bf *boltFile) bucketPairs(b boltBucket, fn func(k, v []byte) error) error {
	return bf.forEach(b.root, b.inline, func(k, v []byte, flags uint32) error {
		if flags&boltBucketLeaf != 0 {
			return fmt.Errorf("bucket %q holds a nested bucket %q", b.name, k)
		}
		return fn(k, v)
	})
}
