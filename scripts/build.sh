#!/usr/bin/env bash
# Builds Concord's static, pure-Go binaries (concord, concordctl,
# concord-bench) into ./bin, stamped with the Git SHA and version.
#
#   scripts/build.sh            # ./bin/concord, ./bin/concordctl, ./bin/concord-bench
#   OUT=/usr/local/bin scripts/build.sh
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-bin}
mkdir -p "$out"
sha=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
ldflags="-s -w -X github.com/concord-kv/concord/config.GitSHA=$sha"
for cmd in concord concordctl concord-bench; do
	CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$out/$cmd" "./cmd/$cmd"
done
file "$out/concord" 2>/dev/null || true
