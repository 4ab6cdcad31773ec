package lockpb

import (
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// TestWireContract pins the names and field numbers that must equal etcd's
// v3lock.proto; the v3lock package's tests check the same against a real
// etcd server.
func TestWireContract(t *testing.T) {
	fd := File_concord_v3lockpb_v3lock_proto
	if fd.Package() != "v3lockpb" {
		t.Fatalf("package %q, want v3lockpb", fd.Package())
	}
	svc := fd.Services().ByName("Lock")
	if svc == nil || svc.Methods().ByName("Lock") == nil || svc.Methods().ByName("Unlock") == nil {
		t.Fatalf("service v3lockpb.Lock with Lock and Unlock missing")
	}
	if got := Lock_Lock_FullMethodName; got != "/v3lockpb.Lock/Lock" {
		t.Fatalf("Lock method %q", got)
	}
	for _, f := range []struct {
		msg, field string
		num        protoreflect.FieldNumber
		typ        string // kind, or message full name
	}{
		{"LockRequest", "name", 1, "bytes"},
		{"LockRequest", "lease", 2, "int64"},
		{"LockResponse", "header", 1, "etcdserverpb.ResponseHeader"},
		{"LockResponse", "key", 2, "bytes"},
		{"UnlockRequest", "key", 1, "bytes"},
		{"UnlockResponse", "header", 1, "etcdserverpb.ResponseHeader"},
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
