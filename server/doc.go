// Package server wires a Concord member together: it opens the storage,
// derives member and cluster IDs from the configuration, starts the raft
// node and the apply loop, and serves the gRPC API, the HTTP endpoints,
// the peer transport and the metrics on the configured URLs.
//
// Goroutines started by Run:
//   - the apply loop (runApply): the only writer of the replicated state;
//   - publish: proposes this member's name and client URLs once, after a
//     leader is known (etcd's ClusterMemberAttrSet);
//   - one serving goroutine per listener (client gRPC+HTTP via cmux, peer,
//     metrics);
//   - the raft node's own goroutines (see package raftnode).
//
// Run returns when its context ends or a component fails; it then stops
// the listeners, the raft node and the apply loop, and closes the storage.
package server
