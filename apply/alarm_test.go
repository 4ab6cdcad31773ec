package apply

import (
	"errors"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/concord-kv/concord/alarm"
	"github.com/concord-kv/concord/membership"
	"github.com/concord-kv/concord/storage"
)

func alarmReq(action pb.AlarmRequest_AlarmAction, member uint64, t pb.AlarmType) *pb.InternalRaftRequest {
	return &pb.InternalRaftRequest{Alarm: &pb.AlarmRequest{Action: action, MemberID: member, Alarm: t}}
}

func alarmsOf(t *testing.T, res *Result) []string {
	t.Helper()
	if res.Err != nil {
		t.Fatalf("alarm request: %v", res.Err)
	}
	var out []string
	for _, m := range res.Resp.(*pb.AlarmResponse).Alarms {
		out = append(out, alarm.String(m))
	}
	return out
}

func withAlarms(t *testing.T) (*harness, *alarm.Store) {
	h := newHarness(t)
	as := alarm.NewStore()
	a, err := New(Config{DB: h.db, KV: h.kv, Cluster: membership.NewCluster(1), Alarms: as})
	if err != nil {
		t.Fatal(err)
	}
	h.a = a
	return h, as
}

var (
	txnPut = &pb.InternalRaftRequest{Txn: &pb.TxnRequest{Success: []*pb.RequestOp{
		{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte("t"), Value: []byte("1")}}}}}}
	txnDel = &pb.InternalRaftRequest{Txn: &pb.TxnRequest{Success: []*pb.RequestOp{
		{Request: &pb.RequestOp_RequestDeleteRange{RequestDeleteRange: &pb.DeleteRangeRequest{Key: []byte("t")}}}}}}
	delReq   = &pb.InternalRaftRequest{DeleteRange: &pb.DeleteRangeRequest{Key: []byte("a")}}
	grantReq = &pb.InternalRaftRequest{LeaseGrant: &pb.LeaseGrantRequest{ID: 5, TTL: 10}}
)

// TestAlarmRequests applies etcd's AlarmRequest actions and checks the
// answers' shapes: ACTIVATE answers the alarm, GET the alarms of a type
// (NONE: all), DEACTIVATE the alarm cleared or nothing.
func TestAlarmRequests(t *testing.T) {
	h, _ := withAlarms(t)
	steps := []struct {
		req  *pb.InternalRaftRequest
		want []string
	}{
		{alarmReq(pb.AlarmRequest_GET, 0, pb.AlarmType_NONE), nil},
		{alarmReq(pb.AlarmRequest_ACTIVATE, 0xa, pb.AlarmType_NONE), nil},
		{alarmReq(pb.AlarmRequest_ACTIVATE, 0xa, pb.AlarmType_NOSPACE), []string{"memberID:10 alarm:NOSPACE "}},
		{alarmReq(pb.AlarmRequest_ACTIVATE, 0xa, pb.AlarmType_NOSPACE), []string{"memberID:10 alarm:NOSPACE "}},
		{alarmReq(pb.AlarmRequest_ACTIVATE, 0xb, pb.AlarmType_CORRUPT), []string{"memberID:11 alarm:CORRUPT "}},
		{alarmReq(pb.AlarmRequest_GET, 0, pb.AlarmType_NONE), []string{"memberID:10 alarm:NOSPACE ", "memberID:11 alarm:CORRUPT "}},
		{alarmReq(pb.AlarmRequest_GET, 0, pb.AlarmType_CORRUPT), []string{"memberID:11 alarm:CORRUPT "}},
		{alarmReq(pb.AlarmRequest_DEACTIVATE, 0, pb.AlarmType_NONE), nil},
		{alarmReq(pb.AlarmRequest_DEACTIVATE, 0xb, pb.AlarmType_NOSPACE), nil},
		{alarmReq(pb.AlarmRequest_DEACTIVATE, 0xb, pb.AlarmType_CORRUPT), []string{"memberID:11 alarm:CORRUPT "}},
		{alarmReq(pb.AlarmRequest_GET, 0, pb.AlarmType_NONE), []string{"memberID:10 alarm:NOSPACE "}},
	}
	for i, st := range steps {
		got := alarmsOf(t, h.do(st.req)[0])
		if len(got) != len(st.want) {
			t.Fatalf("step %d %v: alarms %q, want %q", i, st.req.Alarm, got, st.want)
		}
		for j := range got {
			if got[j] != st.want[j] {
				t.Fatalf("step %d %v: alarms %q, want %q", i, st.req.Alarm, got, st.want)
			}
		}
	}
}

// TestAlarmRefusals checks which committed requests each alarm refuses,
// as etcd's applierV3Capped (NOSPACE) and applierV3Corrupt (CORRUPT).
func TestAlarmRefusals(t *testing.T) {
	type check struct {
		name string
		req  *pb.InternalRaftRequest
		want error // nil: applied (or refused for a reason of its own)
	}
	cases := []struct {
		alarm  pb.AlarmType
		checks []check
	}{
		{pb.AlarmType_NOSPACE, []check{
			{"put", putReq("a", "2"), ErrNoSpace},
			{"txn with a put", txnPut, ErrNoSpace},
			{"lease grant", grantReq, ErrNoSpace},
			{"txn that only deletes", txnDel, nil},
			{"delete", delReq, nil},
			{"compaction", &pb.InternalRaftRequest{Compaction: &pb.CompactionRequest{Revision: 2}}, nil},
		}},
		{pb.AlarmType_CORRUPT, []check{
			{"put", putReq("a", "2"), ErrCorrupt},
			{"txn with a put", txnPut, ErrCorrupt},
			{"txn that only deletes", txnDel, ErrCorrupt},
			{"delete", delReq, ErrCorrupt},
			{"lease grant", grantReq, ErrCorrupt},
			{"compaction", &pb.InternalRaftRequest{Compaction: &pb.CompactionRequest{Revision: 2}}, nil},
		}},
	}
	for _, c := range cases {
		t.Run(c.alarm.String(), func(t *testing.T) {
			h, _ := withAlarms(t)
			h.do(putReq("a", "1"), putReq("b", "1"))
			h.do(alarmReq(pb.AlarmRequest_ACTIVATE, 7, c.alarm))
			for _, ch := range c.checks {
				res := h.do(ch.req)[0]
				if ch.want != nil && !errors.Is(res.Err, ch.want) {
					t.Errorf("%s under %v: err %v, want %v", ch.name, c.alarm, res.Err, ch.want)
				}
				if ch.want == nil && (errors.Is(res.Err, ErrNoSpace) || errors.Is(res.Err, ErrCorrupt)) {
					t.Errorf("%s under %v refused: %v", ch.name, c.alarm, res.Err)
				}
			}
			rev := h.kv.Rev()
			h.do(alarmReq(pb.AlarmRequest_DEACTIVATE, 7, c.alarm))
			if res := h.do(putReq("a", "3"))[0]; res.Err != nil || res.Resp.(*pb.PutResponse).Header.Revision != rev+1 {
				t.Fatalf("put after disarm: %v", res.Err)
			}
		})
	}
}

// TestAlarmsReload: the alarms are in the applier's batch, so a new
// applier over the same engine (a restart) and a snapshot install both
// see them.
func TestAlarmsReload(t *testing.T) {
	h, _ := withAlarms(t)
	h.do(alarmReq(pb.AlarmRequest_ACTIVATE, 7, pb.AlarmType_NOSPACE))
	as := alarm.NewStore()
	a, err := New(Config{DB: h.db, KV: h.kv, Cluster: membership.NewCluster(1), Alarms: as})
	if err != nil {
		t.Fatal(err)
	}
	if !as.Active(pb.AlarmType_NOSPACE) {
		t.Fatal("restarted applier lost the NOSPACE alarm")
	}
	h.a = a
	if res := h.do(putReq("x", "1"))[0]; !errors.Is(res.Err, ErrNoSpace) {
		t.Fatalf("put after restart: %v", res.Err)
	}
	// A snapshot without alarms replaces the set.
	err = a.Restore(func(b *pebble.Batch) error {
		return b.DeleteRange([]byte{storage.PrefixAlarm}, []byte{storage.PrefixAlarm + 1}, nil)
	})
	if err != nil {
		t.Fatal(err)
	}
	if as.Active(pb.AlarmType_NOSPACE) {
		t.Fatal("Restore kept an alarm the snapshot does not have")
	}
}
