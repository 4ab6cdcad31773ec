package ctl

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/protobuf/proto"
)

// printer renders responses in one of etcdctl's output formats: simple,
// json, fields, protobuf or table. Every method returns an *ExitCodeError with
// ExitBadFeature when the format does not support the response, with
// etcdctl's message "<format> not supported as output format".
type printer struct {
	format    string
	hex       bool
	valueOnly bool // get --print-value-only
	out       io.Writer
	errOut    io.Writer
}

func (p *printer) unsupported() error {
	return exitErrf(ExitBadFeature, "%s not supported as output format", p.format)
}

func (p *printer) println(a ...any)               { fmt.Fprintln(p.out, a...) }
func (p *printer) printf(f string, a ...any)      { fmt.Fprintf(p.out, f, a...) }
func (p *printer) fieldq(name string, v string)   { fmt.Fprintf(p.out, "%q : %q\n", name, v) }
func (p *printer) field(name string, v any)       { fmt.Fprintf(p.out, "%q : %v\n", name, v) }
func (p *printer) fieldHex(name string, v uint64) { fmt.Fprintf(p.out, "%q : %016x\n", name, v) }

// rpc prints a response that maps to one RPC in json or protobuf; other
// formats are unsupported.
func (p *printer) rpc(v any, m proto.Message) error {
	switch p.format {
	case "json":
		return p.json(v)
	case "protobuf":
		return p.pb(v, m)
	}
	return p.unsupported()
}

func (p *printer) json(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		fmt.Fprintf(p.errOut, "%v\n", err)
		return nil
	}
	p.println(string(b))
	return nil
}

func (p *printer) pb(v any, m proto.Message) error {
	if m == nil {
		return exitErrf(ExitBadFeature, "marshal unsupported for type %T (%v)", v, v)
	}
	b, err := proto.Marshal(m)
	if err != nil {
		fmt.Fprintf(p.errOut, "%v\n", err)
		return nil
	}
	_, _ = p.out.Write(b)
	return nil
}

// kv prints a key-value in simple format: key line (unless value-only), then
// value line.
func (p *printer) kv(kv *mvccpb.KeyValue) {
	k, v := string(kv.Key), string(kv.Value)
	if p.hex {
		k, v = hexBytes(kv.Key), hexBytes(kv.Value)
	}
	if !p.valueOnly {
		p.println(k)
	}
	p.println(v)
}

func (p *printer) fieldsKV(pfx string, kv *mvccpb.KeyValue) {
	p.fieldq(pfx+"Key", string(kv.Key))
	p.field(pfx+"CreateRevision", kv.CreateRevision)
	p.field(pfx+"ModRevision", kv.ModRevision)
	p.field(pfx+"Version", kv.Version)
	p.fieldq(pfx+"Value", string(kv.Value))
	if p.hex {
		p.fieldHex(pfx+"Lease", uint64(kv.Lease))
	} else {
		p.field(pfx+"Lease", kv.Lease)
	}
}

func (p *printer) fieldsID(name string, id uint64) {
	if p.hex {
		p.printf("%q : %x\n", name, id)
	} else {
		p.field(name, id)
	}
}

func (p *printer) fieldsHeader(h *pb.ResponseHeader) {
	p.fieldsID("ClusterID", h.GetClusterId())
	p.fieldsID("MemberID", h.GetMemberId())
	// Revision only means something for key-value responses.
	if h.GetRevision() > 0 {
		p.field("Revision", h.GetRevision())
	}
	p.field("RaftTerm", h.GetRaftTerm())
}

// Get prints a range response.
func (p *printer) Get(r *clientv3.GetResponse) error {
	switch p.format {
	case "simple":
		for _, kv := range r.Kvs {
			p.kv(kv)
		}
		return nil
	case "fields":
		p.fieldsHeader(r.Header)
		for _, kv := range r.Kvs {
			p.fieldsKV("", kv)
		}
		p.field("More", r.More)
		p.field("Count", r.Count)
		return nil
	}
	return p.rpc(r, (*pb.RangeResponse)(r))
}

// Put prints a put response.
func (p *printer) Put(r *clientv3.PutResponse) error {
	switch p.format {
	case "simple":
		p.println("OK")
		if r.PrevKv != nil {
			p.kv(r.PrevKv)
		}
		return nil
	case "fields":
		p.fieldsHeader(r.Header)
		if r.PrevKv != nil {
			p.fieldsKV("Prev", r.PrevKv)
		}
		return nil
	}
	return p.rpc(r, (*pb.PutResponse)(r))
}

// Del prints a delete-range response.
func (p *printer) Del(r *clientv3.DeleteResponse) error {
	switch p.format {
	case "simple":
		p.println(r.Deleted)
		for _, kv := range r.PrevKvs {
			p.kv(kv)
		}
		return nil
	case "fields":
		p.fieldsHeader(r.Header)
		p.field("Deleted", r.Deleted)
		for _, kv := range r.PrevKvs {
			p.fieldsKV("Prev", kv)
		}
		return nil
	}
	return p.rpc(r, (*pb.DeleteRangeResponse)(r))
}

// Txn prints a transaction response: SUCCESS/FAILURE then each op's
// response after a blank line (simple).
func (p *printer) Txn(r *clientv3.TxnResponse) error {
	switch p.format {
	case "simple":
		if r.Succeeded {
			p.println("SUCCESS")
		} else {
			p.println("FAILURE")
		}
		for _, op := range r.Responses {
			p.println("")
			p.txnOp(op)
		}
		return nil
	case "fields":
		p.fieldsHeader(r.Header)
		p.field("Succeeded", r.Succeeded)
		for _, op := range r.Responses {
			p.txnOp(op)
		}
		return nil
	}
	return p.rpc(r, (*pb.TxnResponse)(r))
}

func (p *printer) txnOp(op *pb.ResponseOp) {
	switch v := op.Response.(type) {
	case *pb.ResponseOp_ResponseRange:
		_ = p.Get((*clientv3.GetResponse)(v.ResponseRange))
	case *pb.ResponseOp_ResponsePut:
		_ = p.Put((*clientv3.PutResponse)(v.ResponsePut))
	case *pb.ResponseOp_ResponseDeleteRange:
		_ = p.Del((*clientv3.DeleteResponse)(v.ResponseDeleteRange))
	default:
		if p.format == "fields" {
			p.printf("\"Unknown\" : %q\n", fmt.Sprintf("%+v", v))
		} else {
			p.printf("unexpected response %+v\n", op)
		}
	}
}

// Watch prints one watch response's events.
func (p *printer) Watch(r *clientv3.WatchResponse) error {
	switch p.format {
	case "simple":
		for _, e := range r.Events {
			p.println(e.Type)
			if e.PrevKv != nil {
				p.kv(e.PrevKv)
			}
			p.kv(e.Kv)
		}
		return nil
	case "fields":
		p.fieldsHeader(r.Header)
		for _, e := range r.Events {
			p.field("Type", e.Type)
			if e.PrevKv != nil {
				p.fieldsKV("Prev", e.PrevKv)
			}
			p.fieldsKV("", e.Kv)
		}
		return nil
	case "protobuf":
		m := &pb.WatchResponse{
			Header: r.Header, Events: r.Events, CompactRevision: r.CompactRevision,
			Canceled: r.Canceled, Created: r.Created,
		}
		return p.pb(r, m)
	}
	return p.rpc(r, nil)
}

// Grant prints a lease grant response.
func (p *printer) Grant(r *clientv3.LeaseGrantResponse) error {
	switch p.format {
	case "simple":
		p.printf("lease %016x granted with TTL(%ds)\n", r.ID, r.TTL)
		return nil
	case "fields":
		p.fieldsHeader(r.ResponseHeader)
		p.leaseID(int64(r.ID))
		p.field("TTL", r.TTL)
		return nil
	}
	return p.rpc(*r, nil)
}

func (p *printer) leaseID(id int64) {
	if p.hex {
		p.fieldHex("ID", uint64(id))
	} else {
		p.field("ID", id)
	}
}

// Revoke prints a lease revoke response.
func (p *printer) Revoke(id clientv3.LeaseID, r *clientv3.LeaseRevokeResponse) error {
	switch p.format {
	case "simple":
		p.printf("lease %016x revoked\n", id)
		return nil
	case "fields":
		p.fieldsHeader(r.Header)
		return nil
	}
	return p.rpc(r, (*pb.LeaseRevokeResponse)(r))
}

// KeepAlive prints one keep-alive response.
func (p *printer) KeepAlive(r *clientv3.LeaseKeepAliveResponse) error {
	switch p.format {
	case "simple":
		p.printf("lease %016x keepalived with TTL(%d)\n", r.ID, r.TTL)
		return nil
	case "fields":
		p.fieldsHeader(r.ResponseHeader)
		p.leaseID(int64(r.ID))
		p.field("TTL", r.TTL)
		return nil
	}
	return p.rpc(*r, nil)
}

// TimeToLive prints a lease time-to-live response.
func (p *printer) TimeToLive(r *clientv3.LeaseTimeToLiveResponse, keys bool) error {
	switch p.format {
	case "simple":
		if r.GrantedTTL == 0 && r.TTL == -1 {
			p.printf("lease %016x already expired\n", r.ID)
			return nil
		}
		txt := fmt.Sprintf("lease %016x granted with TTL(%ds), remaining(%ds)", r.ID, r.GrantedTTL, r.TTL)
		if keys {
			ks := make([]string, len(r.Keys))
			for i, k := range r.Keys {
				ks[i] = string(k)
			}
			txt += fmt.Sprintf(", attached keys(%v)", ks)
		}
		p.println(txt)
		return nil
	case "fields":
		p.fieldsHeader(r.ResponseHeader)
		p.leaseID(int64(r.ID))
		p.field("TTL", r.TTL)
		p.field("GrantedTTL", r.GrantedTTL)
		for _, k := range r.Keys {
			p.fieldq("Key", string(k))
		}
		return nil
	}
	return p.rpc(r, nil)
}

// Leases prints a lease list response.
func (p *printer) Leases(r *clientv3.LeaseLeasesResponse) error {
	switch p.format {
	case "simple":
		p.printf("found %d leases\n", len(r.Leases))
		for _, l := range r.Leases {
			p.printf("%016x\n", l.ID)
		}
		return nil
	case "fields":
		p.fieldsHeader(r.ResponseHeader)
		for _, l := range r.Leases {
			p.leaseID(int64(l.ID))
		}
		return nil
	}
	return p.rpc(r, nil)
}

// Alarm prints an alarm response.
func (p *printer) Alarm(r *clientv3.AlarmResponse) error {
	switch p.format {
	case "simple":
		for _, a := range r.Alarms {
			p.printf("memberID:%d alarm:%s \n", a.MemberID, a.Alarm)
		}
		return nil
	case "fields":
		p.fieldsHeader(r.Header)
		for _, a := range r.Alarms {
			p.fieldsID("MemberID", a.MemberID)
			p.field("AlarmType", a.Alarm)
			p.println()
		}
		return nil
	}
	return p.rpc(r, (*pb.AlarmResponse)(r))
}

// MemberAdd prints a member add response.
func (p *printer) MemberAdd(r *clientv3.MemberAddResponse) error {
	if p.format == "simple" {
		as := " "
		if r.Member.IsLearner {
			as = " as learner "
		}
		p.printf("Member %16x added%sto cluster %16x\n", r.Member.ID, as, r.Header.GetClusterId())
		return nil
	}
	return p.rpc(r, (*pb.MemberAddResponse)(r))
}

// MemberRemove prints a member remove response.
func (p *printer) MemberRemove(id uint64, r *clientv3.MemberRemoveResponse) error {
	if p.format == "simple" {
		p.printf("Member %16x removed from cluster %16x\n", id, r.Header.GetClusterId())
		return nil
	}
	return p.rpc(r, (*pb.MemberRemoveResponse)(r))
}

// MemberUpdate prints a member update response.
func (p *printer) MemberUpdate(id uint64, r *clientv3.MemberUpdateResponse) error {
	if p.format == "simple" {
		p.printf("Member %16x updated in cluster %16x\n", id, r.Header.GetClusterId())
		return nil
	}
	return p.rpc(r, (*pb.MemberUpdateResponse)(r))
}

// MemberPromote prints a member promote response.
func (p *printer) MemberPromote(id uint64, r *clientv3.MemberPromoteResponse) error {
	if p.format == "simple" {
		p.printf("Member %16x promoted in cluster %16x\n", id, r.Header.GetClusterId())
		return nil
	}
	return p.rpc(r, (*pb.MemberPromoteResponse)(r))
}

func memberListTable(r *clientv3.MemberListResponse) (hdr []string, rows [][]string) {
	hdr = []string{"ID", "Status", "Name", "Peer Addrs", "Client Addrs", "Is Learner"}
	for _, m := range r.Members {
		status := "started"
		if m.Name == "" {
			status = "unstarted"
		}
		rows = append(rows, []string{
			fmt.Sprintf("%x", m.ID), status, m.Name,
			strings.Join(m.PeerURLs, ","), strings.Join(m.ClientURLs, ","),
			strconv.FormatBool(m.IsLearner),
		})
	}
	return hdr, rows
}

// MemberList prints a member list response; simple prints the table rows
// joined by ", ".
func (p *printer) MemberList(r *clientv3.MemberListResponse) error {
	switch p.format {
	case "simple", "table":
		p.tabular(memberListTable(r))
		return nil
	case "fields":
		p.fieldsHeader(r.Header)
		for _, m := range r.Members {
			p.fieldsID("ID", m.ID)
			p.fieldq("Name", m.Name)
			for _, u := range m.PeerURLs {
				p.fieldq("PeerURL", u)
			}
			for _, u := range m.ClientURLs {
				p.fieldq("ClientURL", u)
			}
			p.field("IsLearner", m.IsLearner)
			p.println()
		}
		return nil
	case "json":
		if p.hex {
			p.println(memberListHexJSON(r))
			return nil
		}
	}
	return p.rpc(r, (*pb.MemberListResponse)(r))
}

// memberListHexJSON renders a member list as JSON with IDs as hex strings,
// the shape etcdctl 3.6 prints for "-w json --hex member list".
func memberListHexJSON(r *clientv3.MemberListResponse) string {
	var b strings.Builder
	fmt.Fprintf(&b, `{"header":{"cluster_id":"%x","member_id":"%x","raft_term":%d}`,
		r.Header.GetClusterId(), r.Header.GetMemberId(), r.Header.GetRaftTerm())
	for i, m := range r.Members {
		if i == 0 {
			b.WriteString(`,"members":[`)
		} else {
			b.WriteString(",")
		}
		peers, _ := json.Marshal(m.PeerURLs)
		clients, _ := json.Marshal(m.ClientURLs)
		fmt.Fprintf(&b, `{"ID":"%x","name":"%s","peerURLs":%s,"clientURLs":%s}`, m.ID, m.Name, peers, clients)
		if i == len(r.Members)-1 {
			b.WriteString("]")
		}
	}
	b.WriteString("}")
	return b.String()
}

func (p *printer) rows(rows [][]string) {
	for _, row := range rows {
		p.println(strings.Join(row, ", "))
	}
}

// epHealth is one endpoint's health, in etcdctl's JSON shape.
type epHealth struct {
	Ep     string `json:"endpoint"`
	Health bool   `json:"health"`
	Took   string `json:"took"`
	Error  string `json:"error,omitempty"`
}

// epStatus is one endpoint's status, in etcdctl's JSON shape.
type epStatus struct {
	Ep   string                   `json:"Endpoint"`
	Resp *clientv3.StatusResponse `json:"Status"`
}

// epHashKV is one endpoint's KV hash, in etcdctl's JSON shape.
type epHashKV struct {
	Ep   string                   `json:"Endpoint"`
	Resp *clientv3.HashKVResponse `json:"HashKV"`
}

func healthTable(hs []epHealth) (hdr []string, rows [][]string) {
	hdr = []string{"endpoint", "health", "took", "error"}
	for _, h := range hs {
		rows = append(rows, []string{h.Ep, strconv.FormatBool(h.Health), h.Took, h.Error})
	}
	return hdr, rows
}

func statusTable(ss []epStatus) (hdr []string, rows [][]string) {
	hdr = []string{
		"endpoint", "ID", "version", "storage version", "db size", "in use", "percentage not in use", "quota",
		"is leader", "is learner", "raft term", "raft index", "raft applied index", "errors",
		"downgrade target version", "downgrade enabled",
	}
	for _, s := range ss {
		r := s.Resp
		notInUse := int64(0)
		if r.DbSize != 0 {
			notInUse = 100 - r.DbSizeInUse*100/r.DbSize
		}
		rows = append(rows, []string{
			s.Ep,
			fmt.Sprintf("%x", r.Header.GetMemberId()),
			r.Version,
			r.StorageVersion,
			humanBytes(uint64(r.DbSize)),
			humanBytes(uint64(r.DbSizeInUse)),
			fmt.Sprintf("%d%%", notInUse),
			humanBytes(uint64(r.DbSizeQuota)),
			strconv.FormatBool(r.Leader == r.Header.GetMemberId()),
			strconv.FormatBool(r.IsLearner),
			strconv.FormatUint(r.RaftTerm, 10),
			strconv.FormatUint(r.RaftIndex, 10),
			strconv.FormatUint(r.RaftAppliedIndex, 10),
			strings.Join(r.Errors, ", "),
			r.DowngradeInfo.GetTargetVersion(),
			strconv.FormatBool(r.DowngradeInfo.GetEnabled()),
		})
	}
	return hdr, rows
}

func hashKVTable(hs []epHashKV) (hdr []string, rows [][]string) {
	hdr = []string{"endpoint", "hash", "hash_revision"}
	for _, h := range hs {
		rows = append(rows, []string{h.Ep, strconv.FormatUint(uint64(h.Resp.Hash), 10), strconv.FormatInt(h.Resp.HashRevision, 10)})
	}
	return hdr, rows
}

// EndpointHealth prints health results; simple writes healthy endpoints to
// stdout and unhealthy ones to stderr.
func (p *printer) EndpointHealth(hs []epHealth) error {
	switch p.format {
	case "simple":
		for _, h := range hs {
			if h.Error == "" {
				p.printf("%s is healthy: successfully committed proposal: took = %v\n", h.Ep, h.Took)
			} else {
				fmt.Fprintf(p.errOut, "%s is unhealthy: failed to commit proposal: %v\n", h.Ep, h.Error)
			}
		}
		return nil
	case "table":
		hdr, rows := healthTable(hs)
		renderTable(p.out, hdr, rows)
		return nil
	case "fields":
		for _, h := range hs {
			p.fieldq("Endpoint", h.Ep)
			p.field("Health", h.Health)
			p.field("Took", h.Took)
			p.field("Error", h.Error)
			p.println()
		}
		return nil
	case "json":
		return p.json(hs)
	}
	return p.unsupported()
}

// EndpointStatus prints status results.
func (p *printer) EndpointStatus(ss []epStatus) error {
	switch p.format {
	case "simple", "table":
		p.tabular(statusTable(ss))
		return nil
	case "fields":
		for _, s := range ss {
			r := s.Resp
			p.fieldsHeader(r.Header)
			p.fieldq("Version", r.Version)
			p.fieldq("StorageVersion", r.StorageVersion)
			p.field("DBSize", r.DbSize)
			p.field("DBSizeInUse", r.DbSizeInUse)
			p.field("DBSizeQuota", r.DbSizeQuota)
			p.field("Leader", r.Leader)
			p.field("IsLearner", r.IsLearner)
			p.field("RaftIndex", r.RaftIndex)
			p.field("RaftTerm", r.RaftTerm)
			p.field("RaftAppliedIndex", r.RaftAppliedIndex)
			p.field("Errors", r.Errors)
			p.fieldq("Endpoint", s.Ep)
			p.fieldq("DowngradeTargetVersion", r.DowngradeInfo.GetTargetVersion())
			p.field("DowngradeEnabled", r.DowngradeInfo.GetEnabled())
			p.println()
		}
		return nil
	case "json":
		return p.json(ss)
	}
	return p.unsupported()
}

// EndpointHashKV prints hash results.
func (p *printer) EndpointHashKV(hs []epHashKV) error {
	switch p.format {
	case "simple", "table":
		p.tabular(hashKVTable(hs))
		return nil
	case "fields":
		for _, h := range hs {
			p.fieldsHeader(h.Resp.Header)
			p.fieldq("Endpoint", h.Ep)
			p.field("Hash", h.Resp.Hash)
			p.field("HashRevision", h.Resp.HashRevision)
			p.println()
		}
		return nil
	case "json":
		return p.json(hs)
	}
	return p.unsupported()
}

// MoveLeader prints a leadership transfer.
func (p *printer) MoveLeader(leader, target uint64, r *clientv3.MoveLeaderResponse) error {
	if p.format == "simple" {
		p.printf("Leadership transferred from %x to %x\n", leader, target)
		return nil
	}
	return p.unsupported()
}

// tabular prints rows under hdr as a table (-w table) or as etcdctl's
// comma-joined simple lines (-w simple).
func (p *printer) tabular(hdr []string, rows [][]string) {
	if p.format == "table" {
		renderTable(p.out, hdr, rows)
		return
	}
	p.rows(rows)
}
