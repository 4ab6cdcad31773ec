// Package linearizability checks that a Concord cluster is linearizable
// under process crashes, the way etcd's robustness tests do: concurrent
// clients (the official Go client, each pinned to one member or to all
// endpoints) send Get (linearizable), Put, Delete and compare-and-swap Txn
// requests on a few keys with values unique in the run, while the test
// kills -9 the leader, pauses a leader (SIGSTOP) until it is deposed and
// resumes it, kills -9 a follower and finally every member, restarting
// each. Every request's call and return times and response are recorded
// (Recorder); the history is then checked by porcupine against Model, a
// per-key model of an etcd v3 store that also checks revisions, and by
// CheckRevisions, which checks the one revision counter shared by all
// keys against real-time order.
//
// A request that failed with an ambiguous error (see Definite) may or may
// not have taken effect: it is recorded with Output.Unknown and Return
// Infinity, so porcupine may place it anywhere after its call, including
// after everything (no effect). PatchAmbiguous narrows that window for
// writes whose unique value was later read. Failed reads are not recorded.
// When a history is not linearizable, the test writes porcupine's HTML
// visualization (faults on a "nemesis" row) to a temporary file and logs
// its path.
//
// The cluster is tests/concordtest's, which kills, pauses and restarts
// its members.
//
// The library part (Model, Recorder, Do, PatchAmbiguous, CheckRevisions)
// has no goroutines. The tests start one goroutine per traffic client
// (ending when the traffic context is canceled; the test waits for all);
// concordtest starts one per member process, reaping it.
package linearizability
