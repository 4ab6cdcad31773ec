// Package electionpb is the generated Go code for etcd's Election service
// (protobuf package v3electionpb: Campaign, Proclaim, Leader, Observe,
// Resign), compiled from v3election.proto, which Concord writes itself
// because etcd keeps the file in its server module. Message names and field
// numbers equal etcd's, so these stubs and etcd's are interchangeable on the
// wire; headers and key-values are etcdserverpb.ResponseHeader and
// mvccpb.KeyValue from go.etcd.io/etcd/api/v3.
//
// Do not edit the .pb.go files; change v3election.proto and run generate.sh.
package electionpb

//go:generate sh generate.sh
