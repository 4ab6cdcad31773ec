package linearizability

import (
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
)

// ErrRevisionOrder is returned (wrapped) by CheckRevisions when the
// revisions of a history contradict its real-time order.
var ErrRevisionOrder = errors.New("linearizability: revisions contradict real-time order")

// Recorder collects the operations of concurrent clients, with call and
// return times in nanoseconds on one monotonic clock (time since the
// Recorder was made), and annotations of the faults injected meanwhile.
// It is safe for concurrent use.
type Recorder struct {
	origin time.Time

	// mu guards ops and notes.
	mu    sync.Mutex
	ops   []porcupine.Operation
	notes []porcupine.Annotation
}

// NewRecorder returns an empty Recorder whose clock starts now.
func NewRecorder() *Recorder { return &Recorder{origin: time.Now()} }

// Now returns the Recorder's clock: nanoseconds since NewRecorder,
// monotonic.
func (r *Recorder) Now() int64 { return int64(time.Since(r.origin)) }

// Add records one operation of client (a zero-based id, one row of the
// visualization) called at call and returned at ret (Recorder clock). An
// operation with out.Unknown gets Return Infinity whatever ret is.
func (r *Recorder) Add(client int, in Input, call int64, out Output, ret int64) {
	if out.Unknown {
		ret = Infinity
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ops = append(r.ops, porcupine.Operation{ClientId: client, Input: in, Call: call, Output: out, Return: ret})
}

// Note records a fault injected between start and end (Recorder clock),
// shown on the visualization's "nemesis" row.
func (r *Recorder) Note(desc string, start, end int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.notes = append(r.notes, porcupine.Annotation{Tag: "nemesis", Start: start, End: end, Description: desc, BackgroundColor: "#f4cccc"})
}

// History returns a copy of the operations recorded so far, in the order
// they were added.
func (r *Recorder) History() []porcupine.Operation {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]porcupine.Operation(nil), r.ops...)
}

// Notes returns a copy of the fault annotations recorded so far.
func (r *Recorder) Notes() []porcupine.Annotation {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]porcupine.Annotation(nil), r.notes...)
}

// observes reports whether the completed operation op read or compared
// against value v.
func observes(op porcupine.Operation, v string) bool {
	in, out := op.Input.(Input), op.Output.(Output)
	if out.Unknown {
		return false
	}
	switch in.Kind {
	case OpGet:
		return out.Exists && out.Value == v
	case OpCAS:
		if out.Succeeded {
			return !in.ExpectAbsent && in.Expect == v
		}
		return out.Exists && out.Value == v
	}
	return false
}

// PatchAmbiguous returns a copy of history in which every write of unknown
// outcome (Put or CAS, Return Infinity) whose unique value some completed
// operation observed returns at the earliest such observer's return: the
// write must then have taken effect, and before that observer's
// linearization point. Observers that returned before the write was even
// called are left for the checker to reject. Writes nobody observed keep
// Return Infinity (may or may not have happened). This only narrows the
// search; it never changes the verdict.
func PatchAmbiguous(history []porcupine.Operation) []porcupine.Operation {
	out := append([]porcupine.Operation(nil), history...)
	firstSeen := map[string]int64{} // value → earliest observer return
	for _, op := range out {
		in, o := op.Input.(Input), op.Output.(Output)
		if o.Unknown {
			continue
		}
		var v string
		switch {
		case in.Kind == OpCAS && o.Succeeded && !in.ExpectAbsent:
			v = in.Expect
		case (in.Kind == OpGet || in.Kind == OpCAS) && o.Exists:
			v = o.Value
		default:
			continue
		}
		if t, ok := firstSeen[v]; !ok || op.Return < t {
			firstSeen[v] = op.Return
		}
	}
	for i, op := range out {
		in, o := op.Input.(Input), op.Output.(Output)
		if !o.Unknown || (in.Kind != OpPut && in.Kind != OpCAS) {
			continue
		}
		if t, ok := firstSeen[in.Value]; ok && t >= op.Call {
			out[i].Return = t
		}
	}
	return out
}

// revisionEvent is a completed operation's place in revision order.
type revisionEvent struct {
	op    porcupine.Operation
	rev   int64
	write bool // the operation created revision rev
}

func revisionEvents(history []porcupine.Operation) []revisionEvent {
	var evs []revisionEvent
	for _, op := range history {
		in, out := op.Input.(Input), op.Output.(Output)
		if out.Unknown {
			continue
		}
		write := in.Kind == OpPut || (in.Kind == OpDelete && out.Deleted > 0) || (in.Kind == OpCAS && out.Succeeded)
		evs = append(evs, revisionEvent{op: op, rev: out.Revision, write: write})
	}
	return evs
}

// CheckRevisions checks what partitioning by key hides from the model:
// the store revision is one counter across all keys. Every write (a Put,
// a Delete that deleted, a CAS that succeeded — each on one key) must
// create its own revision; a write must create a revision larger than the
// revision of every operation that returned before the write was called;
// a read must be served at a revision no smaller than those. It returns
// an error wrapping ErrRevisionOrder that names the two operations of the
// first contradiction found, or nil.
func CheckRevisions(history []porcupine.Operation) error {
	evs := revisionEvents(history)
	writers := map[int64]porcupine.Operation{}
	for _, e := range evs {
		if !e.write {
			continue
		}
		if prev, dup := writers[e.rev]; dup {
			return fmt.Errorf("%w: two writes created revision %d: %s and %s", ErrRevisionOrder, e.rev,
				describeOp(prev), describeOp(e.op))
		}
		writers[e.rev] = e.op
	}
	byCall := append([]revisionEvent(nil), evs...)
	sort.SliceStable(byCall, func(i, j int) bool { return byCall[i].op.Call < byCall[j].op.Call })
	byReturn := append([]revisionEvent(nil), evs...)
	sort.SliceStable(byReturn, func(i, j int) bool { return byReturn[i].op.Return < byReturn[j].op.Return })
	var maxRev int64
	var maxOp porcupine.Operation
	next := 0
	for _, e := range byCall {
		// Fold in every operation that returned strictly before e's call.
		for next < len(byReturn) && byReturn[next].op.Return < e.op.Call {
			if byReturn[next].rev > maxRev {
				maxRev, maxOp = byReturn[next].rev, byReturn[next].op
			}
			next++
		}
		if (e.write && e.rev <= maxRev) || (!e.write && e.rev < maxRev) {
			return fmt.Errorf("%w: %s was called after %s returned", ErrRevisionOrder, describeOp(e.op), describeOp(maxOp))
		}
	}
	return nil
}

func describeOp(op porcupine.Operation) string {
	return fmt.Sprintf("client %d [%d,%d] %s", op.ClientId, op.Call, op.Return, describe(op.Input.(Input), op.Output.(Output)))
}
