// Package server wires a Concord member together: it opens the storage,
// derives member and cluster IDs from the configuration, starts the raft
// node and the apply loop, and serves the gRPC API, the HTTP endpoints,
// the peer transport and the metrics on the configured URLs, with TLS from
// etcd's transport.TLSInfo (tls.go).
//
// Goroutines started by Run:
//   - the apply loop (runApply): the only writer of the replicated state;
//   - publish: proposes this member's name and client URLs once, after a
//     leader is known (etcd's ClusterMemberAttrSet);
//   - per client URL: cmux's, grpc-go's, net/http's (HTTP/1 and HTTP/2)
//     serving goroutines, and for https the TLS listener's handshake
//     goroutines (listen.go); per peer and metrics URL one net/http
//     server;
//   - the raft node's own goroutines (see package raftnode).
//
// Run returns when its context ends or a component fails; it then stops
// the listeners, the raft node and the apply loop, and closes the storage.
package server
