#!/usr/bin/env bash
# scripts/bench/push-s3.sh: what pushing (and pulling) one layer costs Berth
# on S3 storage, against Debian's docker-registry (CNCF Distribution 2.8) on
# the same S3 store, in the same run.
#
# It starts one SeaweedFS (scripts/services/seaweedfs.sh) with two buckets,
# one per server. For each server and each upload mode (monolithic: POST then
# one streamed PUT; chunked: POST, PATCH chunks with Content-Range, then PUT)
# it starts a fresh server on loopback (fresh data dir; its own key prefix in
# its bucket, so no push finds the blob already stored), reads VmRSS from
# /proc/PID/status, pushes the layer with curl (streamed from disk), checks
# the blob's size with HEAD, reads VmHWM (the peak resident set), then resets
# the peak (/proc/PID/clear_refs) and GETs the blob back, timing it and
# checking its sha256. Push times include the HEAD, as in push-1g.sh.
#
# It prints a table (seconds, MB/s and RSS increase = peak - before, for the
# push and the pull) and the ratios Berth/peer. Exit status 1 only when a
# push, a pull or the sha256 check fails: timings are only printed.
#
# The peer runs with AWS_CA_BUNDLE and SSL_CERT_FILE unset: Distribution 2.8
# panics at start when AWS_CA_BUNDLE is set and its S3 driver uses a custom
# transport. Berth runs with the environment as it is.
#
# Environment:
#   BERTH_BENCH_BERTH_BIN   a built berth binary (default: go build ./cmd/berth)
#   BERTH_BENCH_SIZE_MIB    layer size in MiB (default 256)
#   BERTH_BENCH_CHUNK_MIB   PATCH chunk size in MiB (default 16)
#   BERTH_BENCH_SERVERS     which servers to measure (default "berth peer")
#   BERTH_BENCH_DIR         where the temp dir goes (default $TMPDIR or /tmp);
#                           needs about 8 x the layer size free (the layer, a
#                           pulled copy, SeaweedFS's volumes)
set -euo pipefail

SIZE_MIB=${BERTH_BENCH_SIZE_MIB:-256}
CHUNK_MIB=${BERTH_BENCH_CHUNK_MIB:-16}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=scripts/bench/lib.sh
source "$ROOT/scripts/bench/lib.sh"
SEAWEEDFS="$ROOT/scripts/services/seaweedfs.sh"

die() {
	echo "push-s3: $*" >&2
	exit 1
}

[[ $SIZE_MIB =~ ^[1-9][0-9]*$ ]] || die "BERTH_BENCH_SIZE_MIB must be a positive integer"
[[ $CHUNK_MIB =~ ^[1-9][0-9]*$ ]] || die "BERTH_BENCH_CHUNK_MIB must be a positive integer"

TMP=$(mktemp -d "${BERTH_BENCH_DIR:-${TMPDIR:-/tmp}}/berth-bench-s3.XXXXXX")
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
	local d
	for d in "$TMP"/s3/*/; do
		[ -f "$d/weed.pid" ] && "$SEAWEEDFS" stop "$d"
	done
	rm -rf "$TMP"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM





# s3 METHOD PATH [curl args...]: a SigV4-signed request to SeaweedFS.
s3() {
	local method=$1 path=$2
	shift 2
	curl -fsS --aws-sigv4 "aws:amz:us-east-1:s3" --user "$S3_KEY:$S3_SECRET" \
		-X "$method" "$@" "$S3_ENDPOINT$path"
}

# start_server KIND MODE: start a fresh berth or peer on its bucket, under the
# prefix bench-MODE; sets SERVER_PID and URL.
start_server() {
	local kind=$1 mode=$2 port dir _
	free_port port || die "no free loopback port"
	dir="$TMP/$kind-data"
	rm -rf "$dir"
	mkdir -p "$dir"
	if [ "$kind" = berth ]; then
		BERTH_HTTP_ADDR="127.0.0.1:$port" BERTH_DATA_DIR="$dir" BERTH_ADMIN_PASSWORD="$PASSWORD" \
			BERTH_LOG_LEVEL=warn \
			BERTH_STORAGE_TYPE=s3 \
			BERTH_STORAGE_S3_REGIONENDPOINT="$S3_ENDPOINT" \
			BERTH_STORAGE_S3_BUCKET="$BERTH_BUCKET" \
			BERTH_STORAGE_S3_ACCESSKEY="$S3_KEY" \
			BERTH_STORAGE_S3_SECRETKEY="$S3_SECRET" \
			BERTH_STORAGE_S3_REGION=us-east-1 \
			BERTH_STORAGE_S3_FORCEPATHSTYLE=true \
			BERTH_STORAGE_S3_DISABLEREDIRECT=true \
			BERTH_STORAGE_S3_ROOTDIRECTORY="/bench-$mode" \
			"$BERTH_BIN" serve >"$TMP/$kind.log" 2>&1 &
	else
		# Distribution 2.8 uses path-style addressing whenever regionendpoint
		# is set (it has no forcepathstyle parameter; unknown ones are ignored).
		cat >"$TMP/peer.yml" <<EOF
version: 0.1
log:
  level: error
storage:
  s3:
    region: us-east-1
    regionendpoint: $S3_ENDPOINT
    bucket: $PEER_BUCKET
    accesskey: $S3_KEY
    secretkey: $S3_SECRET
    secure: false
    v4auth: true
    chunksize: 10485760
    rootdirectory: /bench-$mode
  cache:
    blobdescriptor: inmemory
  redirect:
    disable: true
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
EOF
		env -u AWS_CA_BUNDLE -u SSL_CERT_FILE \
			docker-registry serve "$TMP/peer.yml" >"$TMP/$kind.log" 2>&1 &
	fi
	SERVER_PID=$!
	URL="http://127.0.0.1:$port"
	for _ in $(seq 600); do
		kill -0 "$SERVER_PID" 2>/dev/null || {
			tail -n 20 "$TMP/$kind.log" >&2
			SERVER_PID=
			die "$kind exited at start"
		}
		[ "$("${CURL[@]}" -o /dev/null -w '%{http_code}' "$URL/v2/" || true)" = 200 ] && return 0
		sleep 0.1
	done
	tail -n 20 "$TMP/$kind.log" >&2
	die "$kind did not answer on $URL/v2/"
}

# --- the upload functions of push-1g.sh, unchanged ------------------------------





# ------------------------------------------------------------------------------

# pull REPO: GET the blob into a file (timed by the caller), then check its
# sha256 against the layer's.
pull() {
	local repo=$1 out="$TMP/pulled" code
	code=$("${CURL[@]}" -L -o "$out" -w '%{http_code}' "$URL/v2/$repo/blobs/$DIGEST")
	expect_status 200 "$code" "GET blob"
}

check_pulled() {
	local what=$1 sum
	sum="sha256:$(sha256sum "$TMP/pulled" | cut -d' ' -f1)"
	rm -f "$TMP/pulled"
	[ "$sum" = "$DIGEST" ] || die "$what: pulled blob has $sum, want $DIGEST"
}

# reset_peak PID: reset VmHWM to the current RSS (Linux >= 4.0); false if not.
reset_peak() {
	{ echo 5 >"/proc/$1/clear_refs"; } 2>/dev/null
}

mib() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b - a) / 1024 }'; }
secs() { awk -v ns="$1" 'BEGIN { printf "%.2f", ns / 1e9 }'; }
mbs() { awk -v s="$SIZE_MIB" -v ns="$1" 'BEGIN { printf "%.1f", s * 1048576 / 1e6 / (ns / 1e9) }'; }

# measure KIND MODE: one fresh server, one push, one pull; appends a row to ROWS.
ROWS=()
measure() {
	local kind=$1 mode=$2
	local repo="library/bench-$mode" before peak t0 t1 pinc ps pm
	local pbefore ppeak pullinc pulls pullm
	start_server "$kind" "$mode"
	sleep 1 # let start-up allocations settle
	before=$(status_kib "$SERVER_PID" VmRSS)
	t0=$(now_ns)
	push "$mode" "$repo"
	t1=$(now_ns)
	peak=$(status_kib "$SERVER_PID" VmHWM)
	pinc=$(mib "$before" "$peak")
	ps=$(secs $((t1 - t0)))
	pm=$(mbs $((t1 - t0)))

	# The pull's own peak: VmHWM reset to the current RSS first (without
	# clear_refs the push's peak would hide it: printed as "-").
	pullinc=-
	reset_peak "$SERVER_PID" && pullinc=
	pbefore=$(status_kib "$SERVER_PID" VmRSS)
	t0=$(now_ns)
	pull "$repo"
	t1=$(now_ns)
	ppeak=$(status_kib "$SERVER_PID" VmHWM)
	stop_server
	check_pulled "$kind $mode"
	pulls=$(secs $((t1 - t0)))
	pullm=$(mbs $((t1 - t0)))
	[ -n "$pullinc" ] || pullinc=$(mib "$pbefore" "$ppeak")
	ROWS+=("$kind $mode $ps $pm $pinc $pulls $pullm $pullinc")
	printf 'push-s3: %-5s %-10s push %s s, %s MB/s, RSS increase %s MiB; pull %s s, %s MB/s, RSS increase %s MiB; sha256 ok\n' \
		"$kind" "$mode" "$ps" "$pm" "$pinc" "$pulls" "$pullm" "$pullinc" >&2
}

# --- main ---------------------------------------------------------------------

select_servers

# One SeaweedFS, one bucket per server (the second made here).
BERTH_BUCKET=berth-bench
PEER_BUCKET=peer-bench
echo "push-s3: starting SeaweedFS (builds weed the first time: ~15 min)" >&2
# Its ports are picked free but bound later, so a start can lose a race: show
# why (the log goes with the temp dir) and try again with fresh ports.
for attempt in 1 2 3; do
	if s3url=$("$SEAWEEDFS" start "$TMP/s3/$attempt" "$BERTH_BUCKET"); then
		break
	fi
	"$SEAWEEDFS" stop "$TMP/s3/$attempt"
	tail -n 15 "$TMP/s3/$attempt/weed.log" >&2 || true
	[ "$attempt" -lt 3 ] || die "SeaweedFS did not start (3 attempts)"
	echo "push-s3: SeaweedFS did not start, trying again" >&2
done
# http://KEY:SECRET@127.0.0.1:PORT/BUCKET
creds=${s3url#http://}
creds=${creds%%@*}
S3_KEY=${creds%%:*}
S3_SECRET=${creds#*:}
hostport=${s3url#*@}
hostport=${hostport%%/*}
S3_ENDPOINT="http://$hostport"
s3 PUT "/$PEER_BUCKET" -o /dev/null || die "could not create bucket $PEER_BUCKET"

LAYER="$TMP/layer"
echo "push-s3: writing a ${SIZE_MIB} MiB random layer" >&2
head -c "$((SIZE_MIB * 1024 * 1024))" /dev/urandom >"$LAYER"
DIGEST="sha256:$(sha256sum "$LAYER" | cut -d' ' -f1)"

for kind in "${KINDS[@]}"; do
	for mode in monolithic chunked; do
		measure "$kind" "$mode"
	done
done

printf '\n%s MiB layer, %s MiB chunks, S3 = SeaweedFS on loopback\n' "$SIZE_MIB" "$CHUNK_MIB"
printf '%-6s %-11s %9s %9s %9s %9s %9s %9s\n' server mode "push s" "push MB/s" "push +MiB" \
	"pull s" "pull MB/s" "pull +MiB"
for row in "${ROWS[@]}"; do
	# shellcheck disable=SC2086 # fields split on purpose
	printf '%-6s %-11s %9s %9s %9s %9s %9s %9s\n' $row
done

printf '\n'
for mode in monolithic chunked; do
	b=$(printf '%s\n' "${ROWS[@]}" | awk -v m="$mode" '$1 == "berth" && $2 == m')
	p=$(printf '%s\n' "${ROWS[@]}" | awk -v m="$mode" '$1 == "peer" && $2 == m')
	if [ -z "$b" ] || [ -z "$p" ]; then continue; fi
	awk -v m="$mode" -v b="$b" -v p="$p" '
		function r(x, y) { return y > 0 ? sprintf("%.2f", x / y) : "-" }
		# RSS increases under 1 MiB are noise: no ratio of them.
		function rm(x, y) { return (y >= 1) ? r(x, y) : "- (under 1 MiB)" }
		BEGIN {
			split(b, x, " "); split(p, y, " ")
			printf "berth/peer %-10s push MB/s %s/%s = %s, push RSS increase %s/%s MiB = %s, pull MB/s %s/%s = %s, pull RSS increase %s/%s MiB = %s\n",
				m, x[4], y[4], r(x[4], y[4]), x[5], y[5], rm(x[5], y[5]),
				x[7], y[7], r(x[7], y[7]), x[8], y[8], rm(x[8], y[8])
		}'
done
echo "push-s3: ok"
