package linearizability

import (
	"fmt"
	"hash/fnv"
	"sort"

	"github.com/anishathalye/porcupine"
)

// OpKind is the kind of one recorded client request.
type OpKind uint8

// The request kinds the traffic issues, each on one key.
const (
	// OpGet is a linearizable Range of one key (etcd's default Get).
	OpGet OpKind = iota
	// OpPut is a Put of a value unique in the whole history.
	OpPut
	// OpDelete is a DeleteRange of one key.
	OpDelete
	// OpCAS is a compare-and-swap Txn: if the key's value equals Input.Expect
	// (or, with Input.ExpectAbsent, its create_revision is 0) then Put
	// Input.Value, else Get the key.
	OpCAS
)

// String returns the kind's lower-case name ("get", "put", "delete", "cas").
func (k OpKind) String() string {
	switch k {
	case OpGet:
		return "get"
	case OpPut:
		return "put"
	case OpDelete:
		return "delete"
	case OpCAS:
		return "cas"
	}
	return fmt.Sprintf("op(%d)", uint8(k))
}

// Input is what a client asked: one request on one key. It is the
// porcupine.Operation Input of every recorded operation.
type Input struct {
	Kind OpKind
	Key  string
	// Value is the value OpPut and OpCAS write; unique in a history, so a
	// read identifies the write it observes.
	Value string
	// Expect is the value OpCAS compares the key's value with (etcd's
	// Compare target VALUE, result EQUAL). Ignored with ExpectAbsent.
	Expect string
	// ExpectAbsent makes OpCAS compare create_revision == 0, which holds
	// only when the key does not exist (a value compare on a missing key
	// always fails in etcd).
	ExpectAbsent bool
}

// Output is what the client observed. It is the porcupine.Operation Output
// of every recorded operation.
type Output struct {
	// Unknown marks a request that failed with an ambiguous error (timeout,
	// unavailable, canceled, connection lost): it may or may not have taken
	// effect. Its operation's Return is Infinity unless a read observed its
	// value (see PatchAmbiguous). The remaining fields are meaningless.
	Unknown bool
	// Err is the error text of an Unknown operation, for the visualization.
	Err string
	// Revision is the response header's revision: the store revision the
	// request was served at. For a request that wrote (Put, Delete that
	// deleted, CAS that succeeded) it is the revision the write created.
	Revision int64
	// Exists, Value and ModRevision describe the key as read by OpGet or by
	// the else branch of an OpCAS whose compare failed.
	Exists      bool
	Value       string
	ModRevision int64
	// Deleted is OpDelete's deleted count (0 or 1).
	Deleted int64
	// Succeeded is OpCAS's Txn succeeded flag.
	Succeeded bool
}

// Infinity is the Return time of an operation whose outcome is unknown:
// porcupine may linearize it at any point after its call, including after
// every other operation (where it has no observable effect).
const Infinity int64 = 1<<63 - 1

// keyState is the model's state of one key (one partition). It is a
// comparable value, so porcupine's default equality and the model's Hash
// work on it.
type keyState struct {
	Exists bool
	Value  string
	// ModRev is the key's mod_revision, 0 while unknown (the last write
	// was an operation whose response was lost; the next read learns it).
	ModRev int64
	// Rev is a lower bound of the store revision at this point of the
	// linearization: the largest revision written or read so far. A later
	// write must create a larger revision; a later read must be served at
	// an equal or larger one.
	Rev int64
}

func (s keyState) String() string {
	if !s.Exists {
		return fmt.Sprintf("absent (rev ≥ %d)", s.Rev)
	}
	mod := "?"
	if s.ModRev != 0 {
		mod = fmt.Sprint(s.ModRev)
	}
	return fmt.Sprintf("%q mod=%s (rev ≥ %d)", s.Value, mod, s.Rev)
}

// stepRead checks a read of the key (a Get, or a CAS's else branch)
// against s and returns the state after it.
func stepRead(s keyState, out Output) (bool, keyState) {
	if out.Revision < s.Rev || out.Exists != s.Exists {
		return false, s
	}
	if !s.Exists {
		return true, keyState{Rev: out.Revision}
	}
	if out.Value != s.Value || out.ModRevision > out.Revision {
		return false, s
	}
	switch {
	case s.ModRev == 0:
		// Learn the mod_revision of a write whose response was lost: it
		// came after everything linearized before it.
		if out.ModRevision <= s.Rev {
			return false, s
		}
	case out.ModRevision != s.ModRev:
		return false, s
	}
	return true, keyState{Exists: true, Value: s.Value, ModRev: out.ModRevision, Rev: out.Revision}
}

// step is the sequential specification of one key of an etcd v3 store.
func step(s keyState, in Input, out Output) (bool, keyState) {
	switch in.Kind {
	case OpGet:
		if out.Unknown {
			return true, s // reads have no effect
		}
		return stepRead(s, out)
	case OpPut:
		if out.Unknown {
			return true, keyState{Exists: true, Value: in.Value, Rev: s.Rev}
		}
		if out.Revision <= s.Rev {
			return false, s
		}
		return true, keyState{Exists: true, Value: in.Value, ModRev: out.Revision, Rev: out.Revision}
	case OpDelete:
		if out.Unknown {
			return true, keyState{Rev: s.Rev}
		}
		if out.Deleted > 0 {
			// A delete that deleted creates a revision.
			if !s.Exists || out.Deleted != 1 || out.Revision <= s.Rev {
				return false, s
			}
			return true, keyState{Rev: out.Revision}
		}
		// Deleting nothing creates no revision.
		if s.Exists || out.Revision < s.Rev {
			return false, s
		}
		return true, keyState{Rev: out.Revision}
	case OpCAS:
		holds := !s.Exists
		if !in.ExpectAbsent {
			holds = s.Exists && s.Value == in.Expect
		}
		if out.Unknown {
			if holds {
				return true, keyState{Exists: true, Value: in.Value, Rev: s.Rev}
			}
			return true, s
		}
		if out.Succeeded != holds {
			return false, s
		}
		if out.Succeeded {
			if out.Revision <= s.Rev {
				return false, s
			}
			return true, keyState{Exists: true, Value: in.Value, ModRev: out.Revision, Rev: out.Revision}
		}
		// A Txn whose compare failed ran only the Get of its else branch:
		// no revision is created.
		return stepRead(s, out)
	}
	return false, s
}

// partitionByKey splits a history into one partition per key: operations
// on different keys commute in the model, so the history is linearizable
// if and only if every key's sub-history is.
func partitionByKey(history []porcupine.Operation) [][]porcupine.Operation {
	byKey := map[string][]porcupine.Operation{}
	var keys []string
	for _, op := range history {
		k := op.Input.(Input).Key
		if _, ok := byKey[k]; !ok {
			keys = append(keys, k)
		}
		byKey[k] = append(byKey[k], op)
	}
	sort.Strings(keys)
	parts := make([][]porcupine.Operation, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, byKey[k])
	}
	return parts
}

// describe renders one operation for porcupine's visualization, e.g.
// `put("k1", "c2-17") → rev 34` or `get("k1") → "c2-17" mod=34 @34`.
func describe(in Input, out Output) string {
	var req string
	switch in.Kind {
	case OpGet, OpDelete:
		req = fmt.Sprintf("%s(%q)", in.Kind, in.Key)
	case OpPut:
		req = fmt.Sprintf("put(%q, %q)", in.Key, in.Value)
	case OpCAS:
		cond := fmt.Sprintf("value==%q", in.Expect)
		if in.ExpectAbsent {
			cond = "absent"
		}
		req = fmt.Sprintf("cas(%q, if %s then %q)", in.Key, cond, in.Value)
	}
	if out.Unknown {
		return req + " → unknown (" + out.Err + ")"
	}
	read := func() string {
		if !out.Exists {
			return fmt.Sprintf("absent @%d", out.Revision)
		}
		return fmt.Sprintf("%q mod=%d @%d", out.Value, out.ModRevision, out.Revision)
	}
	switch in.Kind {
	case OpGet:
		return req + " → " + read()
	case OpDelete:
		return fmt.Sprintf("%s → deleted %d @%d", req, out.Deleted, out.Revision)
	case OpCAS:
		if out.Succeeded {
			return fmt.Sprintf("%s → succeeded @%d", req, out.Revision)
		}
		return req + " → failed, " + read()
	}
	return fmt.Sprintf("%s → rev %d", req, out.Revision)
}

// Model is the porcupine model of a Concord (etcd v3) key space accessed
// one key per request with Get, Put, Delete and compare-and-swap Txns,
// partitioned by key. Besides values it checks revisions: along the
// linearization of a key every write creates a revision larger than every
// revision read or written before it, every read is served at a revision
// no smaller than those, and a read's mod_revision is the revision of the
// write it observes.
func Model() porcupine.Model {
	return porcupine.Model{
		Partition: partitionByKey,
		Init:      func() interface{} { return keyState{} },
		Step: func(state, input, output interface{}) (bool, interface{}) {
			return step(state.(keyState), input.(Input), output.(Output))
		},
		Hash: func(state interface{}) uint64 {
			s := state.(keyState)
			h := fnv.New64a()
			fmt.Fprintf(h, "%t\x00%s\x00%d\x00%d", s.Exists, s.Value, s.ModRev, s.Rev)
			return h.Sum64()
		},
		DescribeOperation: func(input, output interface{}) string {
			return describe(input.(Input), output.(Output))
		},
		DescribeState: func(state interface{}) string { return state.(keyState).String() },
	}
}
