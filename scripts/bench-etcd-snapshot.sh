#!/usr/bin/env bash
# Benchmark of the etcd snapshot format both ways (not run in CI): loads an
# etcd 3.4 (Debian's /usr/bin/etcd) with SIZE_MB of values, saves its
# snapshot with etcdctl (etcd's own snapshot speed), restores it with
# concordctl (time and peak RSS), starts Concord on the restored dir and
# saves its snapshot with etcdctl (Concord's speed on the same data).
# Usage: SIZE_MB=1024 VAL_SIZE=8192 scripts/bench-etcd-snapshot.sh
# Data lives under a temp dir in $BENCH_DIR (default /tmp), removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
size_mb=${SIZE_MB:-1024}
val=${VAL_SIZE:-8192}
work=$(mktemp -d "${BENCH_DIR:-/tmp}/etcdsnap-bench.XXXXXX")
mkdir -p "$work/bin"
CGO_ENABLED=0 go build -o "$work/bin/concord" ./cmd/concord
CGO_ENABLED=0 go build -o "$work/bin/concordctl" ./cmd/concordctl
CGO_ENABLED=0 go build -o "$work/bin/concord-bench" ./cmd/concord-bench
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
export ETCDCTL_API=3
wait_health() { for _ in $(seq 300); do etcdctl --endpoints="$1" endpoint health >/dev/null 2>&1 && return; sleep 0.2; done; echo "no health on $1" >&2; exit 1; }
now() { date +%s.%N; }
ep=127.0.0.1:23790
/usr/bin/etcd --name e --data-dir "$work/etcd" --quota-backend-bytes=$((16 << 30)) \
  --listen-client-urls "http://$ep" --advertise-client-urls "http://$ep" \
  --listen-peer-urls http://127.0.0.1:23890 --initial-advertise-peer-urls http://127.0.0.1:23890 \
  --initial-cluster e=http://127.0.0.1:23890 >"$work/etcd.log" 2>&1 &
pids+=($!)
wait_health "$ep"
total=$((size_mb * 1024 * 1024 / val))
echo "loading etcd with $total puts of $val bytes (~$size_mb MiB)"
"$work/bin/concord-bench" --endpoints "$ep" --conns 8 --clients 64 put --total "$total" \
  --val-size "$val" --key-size 32 --key-space-size "$total" --sequential-keys >"$work/load.txt" 2>&1
t0=$(now); etcdctl --endpoints="$ep" snapshot save "$work/etcd.db" >/dev/null 2>&1; t1=$(now)
bytes=$(stat -c %s "$work/etcd.db")
etcd_s=$(echo "$t1 - $t0" | bc)
kill "${pids[0]}"; wait "${pids[0]}" 2>/dev/null || true; pids=()
echo "etcd snapshot: $bytes bytes in ${etcd_s}s ($(echo "$bytes / $etcd_s / 1048576" | bc) MiB/s)"

/usr/bin/time -v "$work/bin/concordctl" snapshot restore "$work/etcd.db" --name c --data-dir "$work/concord" \
  --initial-cluster c=http://127.0.0.1:23891 --initial-advertise-peer-urls http://127.0.0.1:23891 \
  --bump-revision=0 2>"$work/restore.txt" >/dev/null
echo "concordctl snapshot restore: $(grep -E 'Elapsed' "$work/restore.txt" | awk '{print $NF}') elapsed," \
  "peak RSS $(( $(grep 'Maximum resident' "$work/restore.txt" | awk '{print $NF}') / 1024 )) MiB"
cep=127.0.0.1:23791
"$work/bin/concord" --name c --data-dir "$work/concord" \
  --listen-client-urls "http://$cep" --advertise-client-urls "http://$cep" \
  --listen-peer-urls http://127.0.0.1:23891 --initial-advertise-peer-urls http://127.0.0.1:23891 \
  --initial-cluster c=http://127.0.0.1:23891 >"$work/concord.log" 2>&1 &
pids+=($!)
wait_health "$cep"
t0=$(now); etcdctl --endpoints="$cep" snapshot save "$work/concord.db" >/dev/null 2>&1; t1=$(now)
cbytes=$(stat -c %s "$work/concord.db")
concord_s=$(echo "$t1 - $t0" | bc)
echo "Concord server peak RSS after the snapshot: $(awk '/VmHWM/{print int($2/1024)}' "/proc/${pids[0]}/status") MiB"
echo "Concord snapshot: $cbytes bytes in ${concord_s}s ($(echo "$cbytes / $concord_s / 1048576" | bc) MiB/s)"
echo "  of which building the bbolt file: $(grep -o '"build-took":"[^"]*"' "$work/concord.log" | cut -d'"' -f4)"
echo "Concord/etcd snapshot speed (same data, bytes/s): $(echo "scale=2; ($cbytes / $concord_s) / ($bytes / $etcd_s)" | bc)"
echo "Concord/etcd snapshot time: $(echo "scale=2; $concord_s / $etcd_s" | bc)"
etcdctl snapshot status "$work/concord.db" -w table
