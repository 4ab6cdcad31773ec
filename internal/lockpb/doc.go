// Package lockpb is the generated Go code for etcd's Lock service
// (protobuf package v3lockpb: Lock/Lock, Lock/Unlock), compiled from
// v3lock.proto, which Concord writes itself because etcd keeps the file in its
// server module. Message names and field numbers equal etcd's, so these
// stubs and etcd's are interchangeable on the wire; headers are
// etcdserverpb.ResponseHeader from go.etcd.io/etcd/api/v3.
//
// Do not edit the .pb.go files; change v3lock.proto and run generate.sh.
package lockpb

//go:generate sh generate.sh
