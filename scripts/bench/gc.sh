#!/usr/bin/env bash
# scripts/bench/gc.sh: garbage collection figures of issue 9, printed,
# never asserted.
#
#   - deletes per second for 10,000 unreferenced blobs, on the filesystem
#     (SQLite + disk) and on SeaweedFS (PostgreSQL + S3), while a client
#     keeps pushing and pulling images in the same registry (its p99
#     latency printed beside; target >= 1,000/s on the filesystem);
#   - the time to delete a manifest that 10,000 tags point at, on SQLite
#     and on PostgreSQL (target under 1 s; Distribution takes about 30 s).
#
# Both are Go benchmarks of internal/gc (BenchmarkGCDeletes,
# BenchmarkDeleteManifest10kTags) run once each (-benchtime 1x): they use
# the services the tests use. The SeaweedFS and PostgreSQL halves are
# skipped unless BERTH_TEST_S3 and BERTH_TEST_POSTGRES are set (source
# /work/wt/env.sh, or scripts/services/*.sh start).
#
# Usage: scripts/bench/gc.sh [COUNT]   (COUNT runs of each, default 1)
# The exit status is 1 only when a benchmark fails.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
COUNT=${1:-1}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/berth-bench-gc.XXXXXX")
trap 'rm -rf "$TMP"' EXIT

echo "bench-gc: building the gc benchmarks" >&2
(cd "$ROOT" && go test -c -o "$TMP/gc.test" ./internal/gc)

echo "bench-gc: running (about a minute per configuration)" >&2
(cd "$ROOT/internal/gc" && "$TMP/gc.test" -test.run '^$' -test.bench 'GCDeletes|DeleteManifest10kTags' \
	-test.benchtime 1x -test.count "$COUNT" -test.v) | tee "$TMP/out.txt" |
	grep -E '^(Benchmark|    bench_test|--- (FAIL|SKIP))' || true
status=${PIPESTATUS[0]}
grep -q '^FAIL' "$TMP/out.txt" && status=1

echo
echo "Summary ($(nproc) cores; other work on the machine makes these noisy)"
awk '/^Benchmark/ && NF >= 4 {
	name = $1; sub(/-[0-9]+$/, "", name); line = name ":"
	for (i = 3; i < NF; i += 2) if ($(i + 1) != "ns/op") line = line "  " $i " " $(i + 1)
	print line
}' "$TMP/out.txt"
exit "$status"
