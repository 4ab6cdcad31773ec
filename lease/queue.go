package lease

import (
	"container/heap"
	"time"
)

// Which leader-side queue a lease sits in; indexes lease.at and lease.pos.
const (
	qExpiry     = 0 // keyed by the next time Expired should report the lease
	qCheckpoint = 1 // keyed by the next time Checkpoints should emit it
)

// queue is an indexed min-heap of leases ordered by (at[which], id), so
// that ties break the same way on every run. Each lease records its own
// position (pos[which], -1 when absent), which makes update and removal
// O(log n). Guarded by Lessor.mu.
type queue struct {
	which int
	items []*lease
}

func (q *queue) Len() int { return len(q.items) }

func (q *queue) Less(i, j int) bool {
	a, b := q.items[i], q.items[j]
	if !a.at[q.which].Equal(b.at[q.which]) {
		return a.at[q.which].Before(b.at[q.which])
	}
	return a.id < b.id
}

func (q *queue) Swap(i, j int) {
	q.items[i], q.items[j] = q.items[j], q.items[i]
	q.items[i].pos[q.which] = i
	q.items[j].pos[q.which] = j
}

// Push and Pop are heap.Interface's; use set, remove and peek instead.
func (q *queue) Push(x any) {
	l := x.(*lease)
	l.pos[q.which] = len(q.items)
	q.items = append(q.items, l)
}

func (q *queue) Pop() any {
	n := len(q.items) - 1
	l := q.items[n]
	q.items[n] = nil
	q.items = q.items[:n]
	l.pos[q.which] = -1
	return l
}

// set puts l in the queue at time t, or moves it there.
func (q *queue) set(l *lease, t time.Time) {
	l.at[q.which] = t
	if i := l.pos[q.which]; i >= 0 {
		heap.Fix(q, i)
		return
	}
	heap.Push(q, l)
}

// remove takes l out of the queue if it is there.
func (q *queue) remove(l *lease) {
	if i := l.pos[q.which]; i >= 0 {
		heap.Remove(q, i)
	}
}

// peek returns the lease due first, or nil.
func (q *queue) peek() *lease {
	if len(q.items) == 0 {
		return nil
	}
	return q.items[0]
}

// clear empties the queue.
func (q *queue) clear() {
	for _, l := range q.items {
		l.pos[q.which] = -1
		l.at[q.which] = time.Time{}
	}
	q.items = nil
}
