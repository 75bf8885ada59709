#!/usr/bin/env bash
# scripts/bench/compare.sh: Berth's own benchmark against its peers.
#
# Starts Berth, Distribution v3 (built once with go install, cached by
# version like the other tools: scripts/lib/tools.sh) and Debian's
# docker-registry (Distribution 2.8) fresh on loopback, runs the same
# workloads against each, workload by workload, in one run, and prints a
# Markdown table with the ratios and the targets of issue 12. With
# --write it also replaces the table in docs/benchmarks.md (date, commit,
# machine included). Timings are printed, never asserted: the exit status
# is 1 only when a workload fails.
#
# Usage: scripts/bench/compare.sh [--write] [--full] [berth-bench flags...]
#   --write   update docs/benchmarks.md
#   --full    the issue's full sizes: 100,000 tags, _catalog of 10,000
#             repositories (about 30 minutes more)
# Any other flag goes to cmd/berth-bench (go run ./cmd/berth-bench -h),
# e.g. -servers berth,dist3  -s3=false  -wrk-duration 10s  -big-mib 64
#
# Environment:
#   BERTH_BENCH_BERTH_BIN   a built berth binary (default: go build ./cmd/berth)
#   BERTH_BENCH_DIR         where the scratch dir goes (default $TMPDIR or
#                           /tmp); needs about 3 GiB free
#   BERTH_BENCH_BERTH_ENV   comma-separated KEY=VALUE for Berth, e.g.
#                           BERTH_DEBUG_ADDR=127.0.0.1:6060 to profile it
#                           (docs/benchmarks.md, "Profiling")
# Needs: go, wrk, docker-registry (apt-get install docker-registry wrk).
# The S3 rows start a SeaweedFS (scripts/services/seaweedfs.sh; built the
# first time, ~15 min): pass -s3=false to skip them.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=scripts/lib/tools.sh
source "$ROOT/scripts/lib/tools.sh"

die() {
	echo "compare: $*" >&2
	exit 1
}

write=0
args=()
for a in "$@"; do
	case $a in
	--write) write=1 ;;
	--full) args+=(-tags 100000 -catalog-repos 10000) ;;
	*) args+=("$a") ;;
	esac
done

command -v wrk >/dev/null || die "wrk not installed (apt-get install wrk)"
command -v docker-registry >/dev/null || die "docker-registry not installed (apt-get install docker-registry)"

TMP=$(mktemp -d "${BERTH_BENCH_DIR:-${TMPDIR:-/tmp}}/berth-compare.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

dist3=$(berth_tool_distribution) || die "could not build Distribution v3"
BERTH_BIN=${BERTH_BENCH_BERTH_BIN:-}
if [ -z "$BERTH_BIN" ]; then
	BERTH_BIN="$TMP/berth"
	(cd "$ROOT" && go build -o "$BERTH_BIN" ./cmd/berth) || die "go build ./cmd/berth failed"
fi
(cd "$ROOT" && go build -o "$TMP/berth-bench" ./cmd/berth-bench) || die "go build ./cmd/berth-bench failed"

commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git -C "$ROOT" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
	commit="$commit+changes"
fi
out=()
[ "$write" = 1 ] && out=(-out "$ROOT/docs/benchmarks.md")
env_args=()
[ -n "${BERTH_BENCH_BERTH_ENV:-}" ] && env_args=(-berth-env "$BERTH_BENCH_BERTH_ENV")

mkdir -p "$TMP/run"
cd "$ROOT"
"$TMP/berth-bench" -berth "$BERTH_BIN" -dist3 "$dist3" -dist28 "$(command -v docker-registry)" \
	-dir "$TMP/run" -seaweedfs "$ROOT/scripts/services/seaweedfs.sh" -commit "$commit" \
	"${env_args[@]}" "${out[@]}" "${args[@]}"
