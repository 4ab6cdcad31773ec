#!/usr/bin/env bash
# Starts a local 3-member Concord cluster with etcd's flags:
# members m1..m3 on 127.0.0.1..3, client port 2379, peer port 2380,
# data under ./local-cluster/. Ctrl-C stops all three.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bin local-cluster
CGO_ENABLED=0 go build -o bin/concord ./cmd/concord
cluster="m1=http://127.0.0.1:2380,m2=http://127.0.0.2:2380,m3=http://127.0.0.3:2380"
pids=()
for i in 1 2 3; do
  ip="127.0.0.$i"
  bin/concord --name "m$i" --data-dir "local-cluster/m$i.concord" \
    --listen-client-urls "http://$ip:2379" --advertise-client-urls "http://$ip:2379" \
    --listen-peer-urls "http://$ip:2380" --initial-advertise-peer-urls "http://$ip:2380" \
    --initial-cluster "$cluster" --initial-cluster-state new --initial-cluster-token local-cluster \
    >"local-cluster/m$i.log" 2>&1 &
  pids+=($!)
done
trap 'kill "${pids[@]}" 2>/dev/null; wait' INT TERM EXIT
echo "cluster up: ETCDCTL_API=3 etcdctl --endpoints=127.0.0.1:2379,127.0.0.2:2379,127.0.0.3:2379 member list -w table"
echo "logs in local-cluster/m{1,2,3}.log; Ctrl-C to stop"
wait
