#!/usr/bin/env bash
# Runs seed 002's benchmark table against a local 3-member Concord and a
# local 3-member etcd (Debian's etcd-server, /usr/bin/etcd) in one run and
# prints both with per-row ratios. Data lives under a temp dir; both
# clusters use fsync as usual. Usage: scripts/bench-vs-etcd.sh [--total N]
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
mkdir -p "$work/bin"
CGO_ENABLED=0 go build -o "$work/bin/concord" ./cmd/concord
CGO_ENABLED=0 go build -o "$work/bin/concord-bench" ./cmd/concord-bench
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
start() { # start <binary> <name-prefix> <ip-base> <client-port> <peer-port>
  local bin=$1 pfx=$2 base=$3 cport=$4 pport=$5 cluster="" i
  for i in 1 2 3; do cluster+="${pfx}$i=http://127.0.$base.$i:$pport,"; done
  for i in 1 2 3; do
    local ip="127.0.$base.$i"
    "$bin" --name "${pfx}$i" --data-dir "$work/${pfx}$i" \
      --listen-client-urls "http://$ip:$cport" --advertise-client-urls "http://$ip:$cport" \
      --listen-peer-urls "http://$ip:$pport" --initial-advertise-peer-urls "http://$ip:$pport" \
      --initial-cluster "${cluster%,}" --initial-cluster-state new --initial-cluster-token "$pfx" \
      >"$work/${pfx}$i.log" 2>&1 &
    pids+=($!)
  done
}
start "$work/bin/concord" concord 10 2379 2380
start /usr/bin/etcd etcd 20 2379 2380
eps() { echo "127.0.$1.1:2379,127.0.$1.2:2379,127.0.$1.3:2379"; }
for b in 10 20; do
  for _ in $(seq 100); do
    ETCDCTL_API=3 etcdctl --endpoints="$(eps $b)" endpoint health >/dev/null 2>&1 && break
    sleep 0.2
  done
done
"$work/bin/concord-bench" --endpoints "$(eps 10)" table --name concord \
  --compare-endpoints "$(eps 20)" --compare-name "etcd-$(/usr/bin/etcd --version | awk '/etcd Version/{print $3}')" "$@"
