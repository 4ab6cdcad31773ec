package lease

import (
	"fmt"

	"github.com/cockroachdb/pebble/v2"
)

// This file is the lessor's side of package snapshot's etcd format:
// reading the lease records of an engine and writing imported ones into an
// empty engine, offline (never on a loaded Lessor).

// ScanLeases calls fn, in ID order, for every lease record of r: its ID,
// TTL in seconds and checkpointed remaining TTL in seconds (0: none), as
// etcd's leasepb.Lease. Errors: reading r, storage.ErrCorrupt, fn's.
func ScanLeases(r pebble.Reader, fn func(id, ttl, remaining int64) error) error {
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: leaseStart, UpperBound: leaseEnd})
	if err != nil {
		return fmt.Errorf("lease: scan: %w", err)
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			return fmt.Errorf("lease: scan: %w", err)
		}
		id, ttl, rem, err := decodeLease(it.Key(), v)
		if err != nil {
			return err
		}
		if err := fn(id, ttl, rem); err != nil {
			return err
		}
	}
	return it.Error()
}

// ImportLease writes the record of lease id (TTL and checkpointed
// remaining TTL in seconds) to w, for an engine being built offline.
func ImportLease(w pebble.Writer, id, ttl, remaining int64) error {
	return w.Set(leaseKey(id), encodeLease(ttl, remaining), nil)
}

// ImportAttachment records key as attached to lease id in w, for an
// engine being built offline; the lease's record must be written too
// (Load refuses an attachment to a missing lease).
func ImportAttachment(w pebble.Writer, id int64, key []byte) error {
	return w.Set(attachKey(id, key), nil, nil)
}
