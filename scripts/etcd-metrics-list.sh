#!/usr/bin/env bash
# Measures which metric families etcd 3.6 shows on /metrics after the
# traffic of TestMetricsParity and rewrites
# tests/e2e/testdata/etcd-3.6-metrics.txt from it (name, type, label names,
# histogram buckets). The test then checks Concord against the new list.
#
#   scripts/etcd-metrics-list.sh [path/to/etcd-3.6]   (default /tmp/etcd36/bin/etcd)
#
# It starts that etcd as a single member on free loopback ports in a
# temporary directory and drives it with Debian's etcdctl (/usr/bin/etcdctl).
set -euo pipefail
etcd=${1:-/tmp/etcd36/bin/etcd}
if [[ ! -x $etcd ]]; then
  echo "etcd-metrics-list: no etcd binary at $etcd" >&2
  exit 1
fi
cd "$(dirname "$0")/.."
CGO_ENABLED=0 go test ./tests/e2e/ -run '^TestMetricsParity$' -count=1 -v \
  -args -update-etcd-metrics -etcd="$(realpath "$etcd")"
