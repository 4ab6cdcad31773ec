// Package watch delivers MVCC events to watchers with etcd's guarantees
// (ordered, unique, no gaps, whole revisions, resumable, progress
// notifications) while never letting a slow watcher stall writes.
//
// A Hub keeps every watcher in one of two states:
//
//   - synced: it has been sent, or has queued, every event up to the last
//     revision the apply loop published; new events are appended to its
//     bounded pending queue by Notify.
//   - unsynced: it is behind (it started from an old revision, or its
//     pending queue overflowed); the catch-up goroutine reads its events
//     from storage (mvcc.Store.Events) in bounded chunks and moves it back
//     to synced once it reached the last published revision.
//
// Notify therefore costs the apply loop O(watchers × events) appends and
// never blocks, and memory per stream is bounded by MaxPending events.
//
// Locks: Hub.mu guards the synced/unsynced sets and lastRev; Stream.mu
// guards a stream's watchers' pending queues and its control queue. Lock
// order: Hub.mu before Stream.mu.
//
// Goroutines: the catch-up goroutine (Hub.runCatchUp), the progress ticker
// (Hub.runProgress), and one sender per Stream (Stream.run), which is the
// only goroutine calling the stream's send function.
package watch
