#!/bin/sh
# Regenerates v3election.pb.go and v3election_grpc.pb.go from v3election.proto.
# The generated files are committed; builds and CI never need protoc.
#
# Needs: protoc (Debian: apt-get install -y protobuf-compiler, 3.21 used),
#   go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12   (= go.mod's google.golang.org/protobuf)
#   go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
#
# Include path: etcd's api/v3 module (for etcd/api/etcdserverpb/rpc.proto, etcd/api/mvccpb/kv.proto and
# what it imports), grpc-gateway v2's openapiv2 options and googleapis'
# google/api (rpc.proto imports them), all taken from the Go module cache.
# The file is compiled as concord/v3electionpb/v3election.proto so its registered
# path cannot collide with etcd's own v3election.proto.
set -eu
cd "$(dirname "$0")"
here=$(pwd)
root=$(cd ../.. && pwd)
PATH="$(go env GOPATH)/bin:$PATH"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

moddir() { # module@version -> directory in the module cache (downloads if missing)
	(cd "$tmp" && GOFLAGS=-mod=mod GO111MODULE=on go mod download -json "$1") |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p'
}
etcdapi=$(moddir "go.etcd.io/etcd/api/v3@$(cd "$root" && go list -m -f '{{.Version}}' go.etcd.io/etcd/api/v3)")
gwv2=$(moddir "github.com/grpc-ecosystem/grpc-gateway/v2@$(cd "$root" && go list -m -f '{{.Version}}' github.com/grpc-ecosystem/grpc-gateway/v2)")
gwv1=$(moddir github.com/grpc-ecosystem/grpc-gateway@v1.16.0)

mkdir -p "$tmp/inc/etcd" "$tmp/inc/concord" "$tmp/out"
ln -s "$etcdapi" "$tmp/inc/etcd/api"
ln -s "$here" "$tmp/inc/concord/v3electionpb"

protoc \
	-I "$tmp/inc" \
	-I "$gwv2" \
	-I "$gwv1/third_party/googleapis" \
	--go_out="$tmp/out" --go_opt=paths=source_relative \
	--go-grpc_out="$tmp/out" --go-grpc_opt=paths=source_relative \
	concord/v3electionpb/v3election.proto

cp "$tmp/out/concord/v3electionpb/v3election.pb.go" "$tmp/out/concord/v3electionpb/v3election_grpc.pb.go" .
