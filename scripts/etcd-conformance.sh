#!/usr/bin/env bash
# Runs etcd's own end-to-end "tests/common" suite (etcd v3.6, e2e mode)
# against Concord, and against etcd itself as the baseline, then prints
# pass/fail/skip per test and the tests whose result differs.
#
# etcd's suite starts whatever binary is named "etcd" in its -bin-dir, and
# drives it with the etcdctl/etcdutl found beside it. This script puts
# Concord there under the name "etcd", next to etcd 3.6's own etcdctl and
# etcdutl.
#
# Nothing from etcd is fetched, built or kept in this repository. The
# operator provides, from one etcd v3.6.x release tag:
#   ETCD_SRC     the etcd source tree at that tag; the suite runs from
#                $ETCD_SRC/tests/common and reads certificates from
#                $ETCD_SRC/tests/fixtures.
#   ETCD_BIN     a directory holding that release's etcd, etcdctl and etcdutl
#                binaries (etcd itself is only needed for the baseline).
#   COMMON_TEST  the suite's test binary: etcd's tests/common package
#                compiled as a test binary with the "e2e" build tag.
# CI cannot fetch these itself; a job must provide them (cache or artifact).
#
# Each top-level test runs in its own test-binary process, inside a private
# network namespace (etcd's e2e framework listens on fixed ports 20000 and
# up) and a private PID namespace (so nothing a test started survives it).
# Needs root or unprivileged user namespaces for unshare(1), and jq.
#
# Usage:
#   ETCD_SRC=/tmp/etcd-src ETCD_BIN=/tmp/etcd36/bin COMMON_TEST=/tmp/etcd36/common.test \
#     scripts/etcd-conformance.sh
# Environment (all optional except the three above):
#   CONCORD_BIN   use this concord binary instead of building this tree
#   OUT           results directory (default /tmp/etcd-conformance)
#   RUN           regexp of top-level tests to run (default: all)
#   TEST_TIMEOUT  go test timeout per top-level test (default 15m)
#   BASELINE      1 (default): also run the suite against etcd; 0: reuse
#                 $OUT/etcd.results from an earlier run
#   NICE          nice level for the suite (default 10)
#   SUITE         the package under $ETCD_SRC/tests to run (default common);
#                 "e2e" runs etcd's tests/e2e (COMMON_TEST must then be that
#                 package's test binary; narrow it with RUN)
#   SUMMARY_ONLY  1: run nothing, recompute the results and the summary from
#                 the $OUT/{etcd,concord}.json of an earlier run
# Output: $OUT/{etcd,concord}.json (go test -json events, per test),
# $OUT/{etcd,concord}.results ("status<TAB>test" lines) and the summary on
# stdout (also $OUT/summary.txt).
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."

: "${ETCD_SRC:?set ETCD_SRC to an etcd v3.6 source tree}"
: "${ETCD_BIN:?set ETCD_BIN to a directory with etcd 3.6 etcd, etcdctl, etcdutl}"
: "${COMMON_TEST:?set COMMON_TEST to etcd tests/common compiled with -tags e2e}"
out=${OUT:-/tmp/etcd-conformance}
run=${RUN:-.}
timeout=${TEST_TIMEOUT:-15m}
baseline=${BASELINE:-1}
nicelevel=${NICE:-10}
suitedir=tests/${SUITE:-common}

for f in "$ETCD_BIN/etcdctl" "$ETCD_BIN/etcdutl" "$COMMON_TEST"; do
	[[ -x $f ]] || { echo "etcd-conformance: $f: not an executable" >&2; exit 2; }
done
[[ -d $ETCD_SRC/$suitedir && -d $ETCD_SRC/tests/fixtures ]] ||
	{ echo "etcd-conformance: $ETCD_SRC: no $suitedir or tests/fixtures" >&2; exit 2; }
command -v jq >/dev/null || { echo "etcd-conformance: jq is required" >&2; exit 2; }
ETCD_SRC=$(cd "$ETCD_SRC" && pwd)
COMMON_TEST=$(cd "$(dirname "$COMMON_TEST")" && pwd)/$(basename "$COMMON_TEST")

mkdir -p "$out/concord-bin"
if [[ ${SUMMARY_ONLY:-0} != 1 ]]; then
	if [[ -n ${CONCORD_BIN:-} ]]; then
		cp "$CONCORD_BIN" "$out/concord-bin/etcd"
	else
		CGO_ENABLED=0 go build -o "$out/concord-bin/etcd" ./cmd/concord
	fi
	cp "$ETCD_BIN/etcdctl" "$ETCD_BIN/etcdutl" "$out/concord-bin/"
fi

tests=$(cd "$ETCD_SRC/$suitedir" && "$COMMON_TEST" -test.list "$run" -bin-dir "$ETCD_BIN" | grep '^Test')

# suite NAME BINDIR: every selected top-level test against BINDIR/etcd.
suite() {
	local name=$1 bindir=$2 t
	: >"$out/$name.json"
	for t in $tests; do
		echo "etcd-conformance: $name: $t" >&2
		env -u ETCD_SRC -u ETCD_BIN nice -n "$nicelevel" unshare -n -p -f --mount-proc bash -c '
			ip link set lo up
			cd "$1"
			exec go tool test2json -t -p common "$2" -test.v=test2json \
				-test.run "^$3\$" -test.timeout "$4" -bin-dir "$5"
		' _ "$ETCD_SRC/$suitedir" "$COMMON_TEST" "$t" "$timeout" "$bindir" >>"$out/$name.json" 2>&1 || true
	done
	results "$out/$name.json" >"$out/$name.results"
}

# results FILE: "status<TAB>test" for every test and subtest that finished;
# a test that started but never finished (the binary timed out) is "fail".
results() {
	jq -rs '
		[.[] | select(.Test != null)] as $ev
		| ($ev | map(select(.Action == "pass" or .Action == "fail" or .Action == "skip"))
		       | map({key: .Test, value: .Action}) | from_entries) as $done
		| $ev | map(select(.Action == "run")) | map(.Test) | unique[]
		| "\($done[.] // "fail")\t\(.)"
	' "$1" | sort -k2
}

# first_error TEST: the first gRPC error or assertion message in the
# Concord output of TEST and its subtests, cut to one line.
first_error() {
	local text
	text=$(jq -r --arg t "$1" 'select(.Test != null and (.Test == $t or (.Test | startswith($t + "/")))) | .Output // empty' \
		"$out/concord.json")
	{
		grep -oE 'rpc error: code = [A-Za-z]+ desc = [^"\\]*' <<<"$text" || true
		grep -oE 'Error: .*|timed out.*|does not contain .*|expected.*' <<<"$text" |
			grep -vE 'Error Trace|Received unexpected error:$' || true
	} | head -1 | cut -c1-240
}

count() { # count FILE: totals over top-level tests and over all (sub)tests
	awk -F'\t' '{ all[$1]++; if ($2 !~ /\//) top[$1]++ }
		END { printf "top-level: %d pass, %d fail, %d skip; with subtests: %d pass, %d fail, %d skip\n",
			top["pass"], top["fail"], top["skip"], all["pass"], all["fail"], all["skip"] }' "$1"
}

if [[ ${SUMMARY_ONLY:-0} == 1 ]]; then
	for name in etcd concord; do
		[[ -f $out/$name.json ]] && results "$out/$name.json" >"$out/$name.results"
	done
else
	if [[ $baseline == 1 ]]; then
		[[ -x $ETCD_BIN/etcd ]] || { echo "etcd-conformance: $ETCD_BIN/etcd missing for the baseline" >&2; exit 2; }
		suite etcd "$ETCD_BIN"
	fi
	suite concord "$out/concord-bin"
fi

{
	echo "etcd version:    $("$ETCD_BIN/etcdctl" version | head -1)"
	echo "concord version: $("$out/concord-bin/etcd" --version | head -1)"
	[[ -f $out/etcd.results ]] && echo "etcd:    $(count "$out/etcd.results")"
	echo "concord: $(count "$out/concord.results")"
	echo
	echo "Concord per test (status, test):"
	cat "$out/concord.results"
	if [[ -f $out/etcd.results ]]; then
		echo
		echo "Differences (test: etcd -> concord):"
		join -t $'\t' -1 2 -2 2 -a 1 -a 2 -e missing -o 0,1.1,2.1 \
			<(sort -t $'\t' -k2 "$out/etcd.results") <(sort -t $'\t' -k2 "$out/concord.results") |
			awk -F'\t' '$2 != $3 { printf "%s: %s -> %s\n", $1, $2, $3 }' | tee "$out/diff.txt"
		echo
		echo "First error of each top-level test that passes on etcd and fails on Concord:"
		grep -v '/' "$out/diff.txt" | grep ': pass -> fail$' | cut -d: -f1 | while read -r t; do
			printf '%s: %s\n' "$t" "$(first_error "$t")"
		done
	fi
} | tee "$out/summary.txt"
