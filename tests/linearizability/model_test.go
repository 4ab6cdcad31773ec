package linearizability

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/anishathalye/porcupine"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Builders of hand-made histories. Times are abstract ticks.

func op(client int, call, ret int64, in Input, out Output) porcupine.Operation {
	if out.Unknown {
		ret = Infinity
	}
	return porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret}
}

func get(k string) Input         { return Input{Kind: OpGet, Key: k} }
func put(k, v string) Input      { return Input{Kind: OpPut, Key: k, Value: v} }
func del(k string) Input         { return Input{Kind: OpDelete, Key: k} }
func cas(k, exp, v string) Input { return Input{Kind: OpCAS, Key: k, Expect: exp, Value: v} }
func casAbsent(k, v string) Input {
	return Input{Kind: OpCAS, Key: k, ExpectAbsent: true, Value: v}
}

func wrote(rev int64) Output      { return Output{Revision: rev} }
func absent(rev int64) Output     { return Output{Revision: rev} }
func unknown() Output             { return Output{Unknown: true, Err: "context deadline exceeded"} }
func deleted(n, rev int64) Output { return Output{Revision: rev, Deleted: n} }
func swapped(rev int64) Output    { return Output{Revision: rev, Succeeded: true} }
func found(v string, mod, rev int64) Output {
	return Output{Revision: rev, Exists: true, Value: v, ModRevision: mod}
}
func casFailed(read Output) Output { read.Succeeded = false; return read }

func TestModel(t *testing.T) {
	tests := []struct {
		name    string
		history []porcupine.Operation
		// illegal: porcupine must reject the history; revErr:
		// CheckRevisions must.
		illegal, revErr bool
	}{
		{
			name: "concurrent read linearized before the write",
			history: []porcupine.Operation{
				op(0, 0, 10, put("k", "a"), wrote(2)),
				op(1, 5, 15, get("k"), absent(1)),
				op(1, 16, 20, get("k"), found("a", 2, 2)),
			},
		},
		{
			name: "stale read after a newer write returned",
			history: []porcupine.Operation{
				op(0, 0, 1, put("k", "a"), wrote(2)),
				op(0, 2, 3, put("k", "b"), wrote(3)),
				op(1, 4, 5, get("k"), found("a", 2, 3)),
			},
			illegal: true,
		},
		{
			name: "acknowledged write lost",
			history: []porcupine.Operation{
				op(0, 0, 1, put("k", "a"), wrote(2)),
				op(1, 2, 3, get("k"), absent(2)),
			},
			illegal: true,
		},
		{
			name: "read served at a revision older than a completed write",
			history: []porcupine.Operation{
				op(0, 0, 1, put("k", "a"), wrote(5)),
				op(1, 2, 3, get("k"), found("a", 5, 4)),
			},
			illegal: true, revErr: true,
		},
		{
			name: "read reports the wrong mod_revision",
			history: []porcupine.Operation{
				op(0, 0, 1, put("k", "a"), wrote(5)),
				op(1, 2, 3, get("k"), found("a", 4, 5)),
			},
			illegal: true,
		},
		{
			name: "later write of a key creates a smaller revision",
			history: []porcupine.Operation{
				op(0, 0, 1, put("k", "a"), wrote(5)),
				op(0, 2, 3, put("k", "b"), wrote(4)),
			},
			illegal: true, revErr: true,
		},
		{
			name: "cas succeeded although the value differed",
			history: []porcupine.Operation{
				op(0, 0, 1, put("k", "a"), wrote(2)),
				op(1, 2, 3, cas("k", "b", "c"), swapped(3)),
			},
			illegal: true,
		},
		{
			name: "cas failed although the value matched",
			history: []porcupine.Operation{
				op(0, 0, 1, put("k", "a"), wrote(2)),
				op(1, 2, 3, cas("k", "a", "c"), casFailed(found("a", 2, 2))),
			},
			illegal: true,
		},
		{
			name: "cas chain and put-if-absent",
			history: []porcupine.Operation{
				op(0, 0, 1, casAbsent("k", "a"), swapped(2)),
				op(1, 0, 1, casAbsent("k", "b"), casFailed(found("a", 2, 2))),
				op(0, 2, 3, cas("k", "a", "c"), swapped(3)),
				op(1, 4, 5, del("k"), deleted(1, 4)),
				op(0, 6, 7, cas("k", "c", "d"), casFailed(absent(4))),
			},
		},
		{
			name: "delete of an absent key reports a deletion",
			history: []porcupine.Operation{
				op(0, 0, 1, del("k"), deleted(1, 2)),
			},
			illegal: true,
		},
		{
			name: "write of unknown outcome never observed",
			history: []porcupine.Operation{
				op(0, 0, 0, put("k", "a"), unknown()),
				op(1, 2, 3, get("k"), absent(1)),
			},
		},
		{
			name: "write of unknown outcome observed",
			history: []porcupine.Operation{
				op(0, 0, 0, put("k", "a"), unknown()),
				op(1, 2, 3, get("k"), found("a", 2, 2)),
				op(1, 4, 5, get("k"), found("a", 2, 3)),
			},
		},
		{
			name: "write of unknown outcome observed, then lost",
			history: []porcupine.Operation{
				op(0, 0, 0, put("k", "a"), unknown()),
				op(1, 2, 3, get("k"), found("a", 2, 2)),
				op(1, 4, 5, get("k"), absent(2)),
			},
			illegal: true,
		},
		{
			name: "value read before its write was called",
			history: []porcupine.Operation{
				op(1, 0, 1, get("k"), found("a", 2, 2)),
				op(0, 2, 0, put("k", "a"), unknown()),
			},
			illegal: true,
		},
		{
			name: "delete of unknown outcome explains an absence",
			history: []porcupine.Operation{
				op(0, 0, 1, put("k", "a"), wrote(2)),
				op(0, 2, 0, del("k"), unknown()),
				op(1, 3, 4, get("k"), absent(3)),
			},
		},
		{
			name: "revisions go back across keys",
			history: []porcupine.Operation{
				op(0, 0, 1, put("k1", "a"), wrote(5)),
				op(1, 2, 3, put("k2", "b"), wrote(3)),
			},
			revErr: true,
		},
		{
			name: "read of another key served at an older revision",
			history: []porcupine.Operation{
				op(0, 0, 1, put("k1", "a"), wrote(5)),
				op(1, 2, 3, get("k2"), absent(4)),
			},
			revErr: true,
		},
		{
			name: "two writes share a revision",
			history: []porcupine.Operation{
				op(0, 0, 3, put("k1", "a"), wrote(5)),
				op(1, 0, 3, put("k2", "b"), wrote(5)),
			},
			revErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := PatchAmbiguous(tt.history)
			res := porcupine.CheckOperations(Model(), h)
			if res == tt.illegal {
				t.Errorf("porcupine linearizable = %v, want %v", res, !tt.illegal)
			}
			err := CheckRevisions(h)
			if (err != nil) != tt.revErr {
				t.Errorf("CheckRevisions = %v, want error %v", err, tt.revErr)
			}
			if err != nil && !errors.Is(err, ErrRevisionOrder) {
				t.Errorf("CheckRevisions error %v does not wrap ErrRevisionOrder", err)
			}
		})
	}
}

// TestBrokenHistoryVisualized builds a history of four clients that a
// cluster which served a stale read from a partitioned old leader would
// produce, and checks that the checker rejects it and writes a
// visualization naming the operations.
func TestBrokenHistoryVisualized(t *testing.T) {
	var h []porcupine.Operation
	rev := int64(1)
	// Clients 0-2 write and read k0..k2 correctly.
	for i := range 30 {
		k := fmt.Sprintf("k%d", i%3)
		v := fmt.Sprintf("c%d-%d", i%3, i)
		rev++
		call := int64(i * 10)
		h = append(h, op(i%3, call, call+4, put(k, v), wrote(rev)))
		h = append(h, op(i%3, call+5, call+9, get(k), found(v, rev, rev)))
	}
	// Client 3 reads k1 after the writes above returned but sees the
	// value of an earlier write: a stale read.
	h = append(h, op(3, 400, 410, get("k1"), found("c1-1", 3, rev)))
	v := check(t, h, []porcupine.Annotation{{Tag: "nemesis", Start: 395, End: 400, Description: "partition old leader"}})
	if v.result != porcupine.Illegal {
		t.Fatalf("checker verdict %v, want %v", v.result, porcupine.Illegal)
	}
	t.Cleanup(func() { os.Remove(v.vizPath) })
	b, err := os.ReadFile(v.vizPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`get(\"k1\")`, "c1-1", "partition old leader"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("visualization %s lacks %q", v.vizPath, want)
		}
	}
	if v.revisions != nil {
		t.Errorf("CheckRevisions: %v (the stale read is at a current revision)", v.revisions)
	}
}

// TestPatchAmbiguous: an unknown write returns at its first observer;
// unobserved ones and observers before the call leave it at Infinity.
func TestPatchAmbiguous(t *testing.T) {
	h := []porcupine.Operation{
		op(0, 0, 0, put("k", "a"), unknown()),
		op(1, 5, 9, get("k"), found("a", 2, 2)),
		op(2, 3, 7, cas("k", "a", "b"), swapped(3)),
		op(0, 1, 0, put("k", "never"), unknown()),
		op(3, 0, 2, get("k"), found("late", 9, 9)),
		op(0, 4, 0, cas("k", "x", "late"), unknown()),
	}
	got := PatchAmbiguous(h)
	for i, want := range []int64{7, 9, 7, Infinity, 2, Infinity} {
		if got[i].Return != want {
			t.Errorf("op %d: Return %d, want %d", i, got[i].Return, want)
		}
	}
	if h[0].Return != Infinity {
		t.Error("PatchAmbiguous modified its input")
	}
}

func TestDefinite(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{context.DeadlineExceeded, false},
		{fmt.Errorf("wrapped: %w", context.Canceled), false},
		{status.Error(codes.Unavailable, "connection refused"), false},
		{status.Error(codes.DeadlineExceeded, "deadline"), false},
		{rpctypes.ErrTimeout, false},
		{rpctypes.ErrNoLeader, false},
		{rpctypes.ErrLeaderChanged, false},
		{rpctypes.ErrGRPCTimeoutDueToLeaderFail, false},
		{errors.New("transport is closing"), false},
		{rpctypes.ErrEmptyKey, true},
		{rpctypes.ErrGRPCDuplicateKey, true},
		{status.Error(codes.InvalidArgument, "bad"), true},
		{ErrUnexpectedResponse, false},
	}
	for _, tt := range tests {
		if got := Definite(tt.err); got != tt.want {
			t.Errorf("Definite(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}
