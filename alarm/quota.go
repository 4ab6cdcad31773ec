package alarm

import pb "go.etcd.io/etcd/api/v3/etcdserverpb"

// Quota sizes, as etcd's: DefaultQuotaBytes is what --quota-backend-bytes=0
// means; a quota above MaxQuotaBytes only draws a warning.
const (
	DefaultQuotaBytes int64 = 2 << 30
	MaxQuotaBytes     int64 = 8 << 30
)

// Costs etcd charges against the quota: a put costs its key and value plus
// kvOverhead, a lease grant leaseOverhead.
const (
	kvOverhead    = 256
	leaseOverhead = 64
)

// Quota is etcd's backend quota: a write that would take the database size
// to the limit or beyond is refused before it is proposed, and the member
// raises NOSPACE. Size reports the database size in bytes (Concord's is the
// replicated state's share of the Pebble engine, see server.dbSize).
type Quota struct {
	// Bytes is the limit; negative disables the quota (etcd's
	// passthroughQuota), 0 is not meaningful here (resolve it to
	// DefaultQuotaBytes first, see QuotaBytes).
	Bytes int64
	Size  func() int64
}

// QuotaBytes resolves --quota-backend-bytes as etcd's NewBackendQuota does:
// 0 means DefaultQuotaBytes, a negative value disables the quota (it is
// returned as is), anything else is the limit.
func QuotaBytes(flag int64) int64 {
	if flag == 0 {
		return DefaultQuotaBytes
	}
	return flag
}

// Enabled reports whether the quota limits anything.
func (q *Quota) Enabled() bool { return q != nil && q.Bytes >= 0 }

// Available reports whether r (a *PutRequest, *TxnRequest or
// *LeaseGrantRequest) fits, as etcd's BackendQuota.Available: requests
// that cost nothing always fit; others fit while size + cost < limit.
func (q *Quota) Available(r any) bool {
	if !q.Enabled() {
		return true
	}
	c := Cost(r)
	if c == 0 {
		return true
	}
	return q.Size()+int64(c) < q.Bytes
}

// Cost is what r charges against the quota, as etcd: a Put its key, value
// and kvOverhead; a Txn the costlier of its success and failure branches,
// counting their top-level puts; a LeaseGrant leaseOverhead; anything else
// (reads, deletes, compactions) nothing.
func Cost(r any) int {
	switch r := r.(type) {
	case *pb.PutRequest:
		return costPut(r)
	case *pb.TxnRequest:
		return max(costOps(r.Success), costOps(r.Failure))
	case *pb.LeaseGrantRequest:
		return leaseOverhead
	}
	return 0
}

func costPut(r *pb.PutRequest) int { return kvOverhead + len(r.Key) + len(r.Value) }

func costOps(ops []*pb.RequestOp) int {
	n := 0
	for _, op := range ops {
		if p := op.GetRequestPut(); p != nil {
			n += costPut(p)
		}
	}
	return n
}
