#!/usr/bin/env bash
# scripts/bench/push-1g.sh: what pushing one 1 GiB layer costs Berth, against
# Debian's docker-registry (CNCF Distribution 2.8) as the peer.
#
# For each server and each upload mode (monolithic: POST then one streamed
# PUT; chunked: POST, PATCH chunks with Content-Range, then PUT), it starts a
# fresh server on loopback with an empty data dir, reads VmRSS from
# /proc/PID/status, pushes the layer with curl (streamed from disk, never held
# in memory), checks the blob is there with its full size, reads VmHWM (the
# peak resident set), and stops the server. It prints the RSS increase
# (peak - before) in MiB and the throughput in MB/s per server and mode, and
# the ratios Berth/peer.
#
# Exit status 1 when a push fails or Berth's RSS increase reaches
# BERTH_BENCH_MAX_RSS_MIB (64: issue 2's bound); throughput is only printed.
#
# Environment:
#   BERTH_BENCH_BERTH_BIN   a built berth binary (default: go build ./cmd/berth)
#   BERTH_BENCH_SIZE_MIB    layer size in MiB (default 1024)
#   BERTH_BENCH_CHUNK_MIB   PATCH chunk size in MiB (default 64)
#   BERTH_BENCH_MAX_RSS_MIB bound on Berth's RSS increase (default 64)
#   BERTH_BENCH_SERVERS     which servers to measure (default "berth peer")
#   BERTH_BENCH_DIR         where the temp dir goes (default $TMPDIR or /tmp);
#                           needs about 2 x the layer size free
set -euo pipefail

SIZE_MIB=${BERTH_BENCH_SIZE_MIB:-1024}
# shellcheck disable=SC2034 # read by lib.sh
CHUNK_MIB=${BERTH_BENCH_CHUNK_MIB:-64}
MAX_RSS_MIB=${BERTH_BENCH_MAX_RSS_MIB:-64}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=scripts/bench/lib.sh
source "$ROOT/scripts/bench/lib.sh"

die() {
	echo "push-1g: $*" >&2
	exit 1
}

TMP=$(mktemp -d "${BERTH_BENCH_DIR:-${TMPDIR:-/tmp}}/berth-bench.XXXXXX")
# Berth wants credentials: its admin, with a password chosen here. The peer
# has no authentication and ignores them. Pushes go to library/, the project
# a fresh Berth has.
PASSWORD="bench-$(head -c 18 /dev/urandom | od -An -tx1 | tr -d ' \n')"
CURL=(curl -s -u "admin:$PASSWORD")
SERVER_PID=
cleanup() {
	local rc=$?
	set +e
	stop_server
	rm -rf "$TMP"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM





# start_server KIND: start a fresh berth or peer; sets SERVER_PID and URL.
start_server() {
	local kind=$1 port dir _
	free_port port || die "no free loopback port"
	dir="$TMP/$kind-data"
	rm -rf "$dir"
	mkdir -p "$dir"
	if [ "$kind" = berth ]; then
		BERTH_HTTP_ADDR="127.0.0.1:$port" BERTH_DATA_DIR="$dir" BERTH_ADMIN_PASSWORD="$PASSWORD" \
			"$BERTH_BIN" serve >"$TMP/$kind.log" 2>&1 &
	else
		cat >"$TMP/peer.yml" <<EOF
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $dir
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
EOF
		docker-registry serve "$TMP/peer.yml" >"$TMP/$kind.log" 2>&1 &
	fi
	SERVER_PID=$!
	URL="http://127.0.0.1:$port"
	for _ in $(seq 600); do
		kill -0 "$SERVER_PID" 2>/dev/null || {
			tail -n 20 "$TMP/$kind.log" >&2
			die "$kind exited at start"
		}
		[ "$("${CURL[@]}" -o /dev/null -w '%{http_code}' "$URL/v2/" || true)" = 200 ] && return 0
		sleep 0.1
	done
	die "$kind did not answer on $URL/v2/"
}





# measure KIND MODE: one fresh server, one push; appends a row to ROWS.
ROWS=()
measure() {
	local kind=$1 mode=$2 before peak t0 t1 secs inc mbs
	start_server "$kind"
	sleep 1 # let start-up allocations settle
	before=$(status_kib "$SERVER_PID" VmRSS)
	t0=$(now_ns)
	push "$mode" "library/bench-$mode"
	t1=$(now_ns)
	peak=$(status_kib "$SERVER_PID" VmHWM)
	stop_server
	rm -rf "$TMP/$kind-data"
	inc=$(awk -v a="$before" -v b="$peak" 'BEGIN { printf "%.1f", (b - a) / 1024 }')
	mbs=$(awk -v s="$SIZE_MIB" -v ns="$((t1 - t0))" 'BEGIN { printf "%.1f", s * 1048576 / 1e6 / (ns / 1e9) }')
	secs=$(awk -v ns="$((t1 - t0))" 'BEGIN { printf "%.2f", ns / 1e9 }')
	ROWS+=("$kind $mode $((before / 1024)) $((peak / 1024)) $inc $secs $mbs")
	printf 'push-1g: %-5s %-10s RSS %5d -> peak %5d MiB (+%s MiB), %s s, %s MB/s\n' \
		"$kind" "$mode" $((before / 1024)) $((peak / 1024)) "$inc" "$secs" "$mbs" >&2
}

# --- main ---------------------------------------------------------------------

select_servers

LAYER="$TMP/layer"
echo "push-1g: writing a ${SIZE_MIB} MiB random layer" >&2
head -c "$((SIZE_MIB * 1024 * 1024))" /dev/urandom >"$LAYER"
DIGEST="sha256:$(sha256sum "$LAYER" | cut -d' ' -f1)"

for kind in "${KINDS[@]}"; do
	for mode in monolithic chunked; do
		measure "$kind" "$mode"
	done
done

printf '\n%-6s %-11s %10s %10s %12s %9s %8s\n' server mode "RSS MiB" "peak MiB" "increase MiB" seconds "MB/s"
for row in "${ROWS[@]}"; do
	# shellcheck disable=SC2086 # fields split on purpose
	printf '%-6s %-11s %10s %10s %12s %9s %8s\n' $row
done

over=0
printf '\n'
for mode in monolithic chunked; do
	b=$(printf '%s\n' "${ROWS[@]}" | awk -v m="$mode" '$1 == "berth" && $2 == m')
	p=$(printf '%s\n' "${ROWS[@]}" | awk -v m="$mode" '$1 == "peer" && $2 == m')
	binc=$(awk '{ print $5 }' <<<"$b")
	if [ -n "$b" ] && [ -n "$p" ]; then
		awk -v m="$mode" -v b="$b" -v p="$p" 'BEGIN {
			split(b, x, " "); split(p, y, " ")
			printf "berth/peer %-10s RSS increase %s/%s MiB = %.2f, throughput %s/%s MB/s = %.2f\n",
				m, x[5], y[5], (y[5] > 0 ? x[5] / y[5] : 0), x[7], y[7], (y[7] > 0 ? x[7] / y[7] : 0)
		}'
	fi
	if [ -n "$b" ] && awk -v i="$binc" -v max="$MAX_RSS_MIB" 'BEGIN { exit !(i >= max) }'; then
		echo "push-1g: FAIL: berth $mode push raised RSS by $binc MiB (bound $MAX_RSS_MIB MiB)"
		over=1
	fi
done
[ "$over" = 0 ] || exit 1
echo "push-1g: ok"
