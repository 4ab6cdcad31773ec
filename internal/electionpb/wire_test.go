package electionpb

import (
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// TestWireContract pins the names and field numbers that must equal etcd's
// v3election.proto; the v3lock package's tests check the same against a
// real etcd server.
func TestWireContract(t *testing.T) {
	fd := File_concord_v3electionpb_v3election_proto
	if fd.Package() != "v3electionpb" {
		t.Fatalf("package %q, want v3electionpb", fd.Package())
	}
	svc := fd.Services().ByName("Election")
	if svc == nil {
		t.Fatal("service v3electionpb.Election missing")
	}
	for _, m := range []string{"Campaign", "Proclaim", "Leader", "Observe", "Resign"} {
		if svc.Methods().ByName(protoreflect.Name(m)) == nil {
			t.Errorf("method %s missing", m)
		}
	}
	if o := svc.Methods().ByName("Observe"); o == nil || !o.IsStreamingServer() || o.IsStreamingClient() {
		t.Errorf("Observe must be server-streaming only")
	}
	for _, f := range []struct {
		msg, field string
		num        protoreflect.FieldNumber
		typ        string // kind, or message full name
	}{
		{"CampaignRequest", "name", 1, "bytes"},
		{"CampaignRequest", "lease", 2, "int64"},
		{"CampaignRequest", "value", 3, "bytes"},
		{"CampaignResponse", "header", 1, "etcdserverpb.ResponseHeader"},
		{"CampaignResponse", "leader", 2, "v3electionpb.LeaderKey"},
		{"LeaderKey", "name", 1, "bytes"},
		{"LeaderKey", "key", 2, "bytes"},
		{"LeaderKey", "rev", 3, "int64"},
		{"LeaderKey", "lease", 4, "int64"},
		{"LeaderRequest", "name", 1, "bytes"},
		{"LeaderResponse", "header", 1, "etcdserverpb.ResponseHeader"},
		{"LeaderResponse", "kv", 2, "mvccpb.KeyValue"},
		{"ResignRequest", "leader", 1, "v3electionpb.LeaderKey"},
		{"ResignResponse", "header", 1, "etcdserverpb.ResponseHeader"},
		{"ProclaimRequest", "leader", 1, "v3electionpb.LeaderKey"},
		{"ProclaimRequest", "value", 2, "bytes"},
		{"ProclaimResponse", "header", 1, "etcdserverpb.ResponseHeader"},
	} {
		md := fd.Messages().ByName(protoreflect.Name(f.msg))
		if md == nil {
			t.Fatalf("message %s missing", f.msg)
		}
		fld := md.Fields().ByNumber(f.num)
		if fld == nil || string(fld.Name()) != f.field {
			t.Fatalf("%s field %d = %v, want %s", f.msg, f.num, fld, f.field)
		}
		typ := fld.Kind().String()
		if fld.Message() != nil {
			typ = string(fld.Message().FullName())
		}
		if typ != f.typ {
			t.Errorf("%s.%s has type %s, want %s", f.msg, f.field, typ, f.typ)
		}
	}
}
