#!/usr/bin/env bash
# scripts/bench/replication.sh: replication throughput and proxy-cache pull
# latency, printed (never asserted). It runs TestBenchReplication
# (internal/replication/bench_test.go): two Berths (SQLite + filesystem)
# and Debian's docker-registry (Distribution 2.8) on loopback; N images of
# 5 random layers pushed into the first Berth, then a manual push policy
# replicates them all to the second Berth and, separately, to Distribution
# (MB/s over the bytes sent, images/s, wall time from the execution's start
# to its end); then three 5 MiB images pulled directly from Distribution,
# through a proxy-cache project of the first Berth (first pull: a miss),
# and again (cached).
#
# Usage: scripts/bench/replication.sh
# Environment:
#   BERTH_BENCH_IMAGES      images to replicate (default 200, the issue's size)
#   BERTH_BENCH_LAYER_KIB   layer size in KiB (default 200: 1 MB an image)
# Needs docker-registry on PATH (apt). The log is kept in $TMPDIR.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
command -v docker-registry >/dev/null || {
	echo "bench-replication: docker-registry not on PATH (apt-get install docker-registry)" >&2
	exit 1
}
log=$(mktemp "${TMPDIR:-/tmp}/bench-replication.XXXXXX")
echo "bench-replication: ${BERTH_BENCH_IMAGES:-200} images of 5 x ${BERTH_BENCH_LAYER_KIB:-200} KiB; log in $log" >&2
status=0
BERTH_BENCH_REPLICATION=${BERTH_BENCH_IMAGES:-200} BERTH_BENCH_LAYER_KIB=${BERTH_BENCH_LAYER_KIB:-200} \
	go test -run '^TestBenchReplication$' -count=1 -timeout 90m -v ./internal/replication/ >"$log" 2>&1 || status=$?
grep '^BENCH' "$log" || true
if [ "$status" -ne 0 ]; then
	echo "bench-replication: the run failed (exit $status); see $log" >&2
	grep -E '^\s+\S+_test\.go:[0-9]+' "$log" | head -20 >&2 || true
fi
exit "$status"
