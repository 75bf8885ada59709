#!/usr/bin/env bash
# scripts/bench/backup.sh: backup and restore throughput of a registry of
# about 2 GiB, on the filesystem (SQLite + disk, backup to a directory) and
# on SeaweedFS (PostgreSQL + S3, backup to an s3:// prefix of the same
# store), and the time of an incremental backup when nothing changed.
#
# For each mode it starts a fresh `berth serve` on loopback, pushes
# BERTH_BENCH_SIZE_MIB of random layers (one per image, BERTH_BENCH_LAYER_MIB
# each) with curl, stops it, then times `berth backup` (a cold backup: every
# blob copied), `berth backup` again (nothing changed: no blob copied) and
# `berth restore` into a fresh database and storage, and prints berth's own
# summary lines (blobs, bytes, seconds, MB/s) and a table. Timings are
# printed, never asserted; the exit status is 1 only when a step fails.
#
# Usage: scripts/bench/backup.sh [fs] [s3]      (default: both)
# Environment:
#   BERTH_BENCH_BERTH_BIN   a built berth binary (default: go build ./cmd/berth)
#   BERTH_BENCH_SIZE_MIB    registry size in MiB (default 2048)
#   BERTH_BENCH_LAYER_MIB   layer size in MiB (default 64)
#   BERTH_BENCH_DIR         scratch directory (default $TMPDIR or /tmp); the
#                           fs mode needs about 3 x the size free
#   BERTH_TEST_POSTGRES     (s3 mode) a PostgreSQL server: postgres://user@host:port/db
#   BERTH_TEST_S3           (s3 mode) http://KEY:SECRET@host:port/bucket
#                           (source /work/wt/env.sh, or scripts/services/*.sh start)
# The s3 mode deletes the databases and key prefixes it made when it ends.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# shellcheck source=scripts/lib/proc.sh
source "$ROOT/scripts/lib/proc.sh"

SIZE_MIB=${BERTH_BENCH_SIZE_MIB:-2048}
LAYER_MIB=${BERTH_BENCH_LAYER_MIB:-64}
MODES=("$@")
[ ${#MODES[@]} -gt 0 ] || MODES=(fs s3)

die() {
	echo "bench-backup: $*" >&2
	exit 1
}
log() { echo "bench-backup: $*" >&2; }

TMP=$(mktemp -d "${BERTH_BENCH_DIR:-${TMPDIR:-/tmp}}/berth-bench-backup.XXXXXX")
PASSWORD="bench-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
RUN_ID=$(head -c 4 /dev/urandom | od -An -tx1 | tr -d ' \n')
SERVER_PID=
DBS=()
PREFIXES=()

cleanup() {
	local rc=$?
	set +e
	stop_pid "$SERVER_PID"
	for db in "${DBS[@]}"; do
		psql -q "$BERTH_TEST_POSTGRES" -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1
	done
	for p in "${PREFIXES[@]}"; do
		s3_rm_prefix "$p"
	done
	rm -rf "$TMP"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

BIN=${BERTH_BENCH_BERTH_BIN:-}
if [ -z "$BIN" ]; then
	log "building berth"
	(cd "$ROOT" && go build -o "$TMP/berth" ./cmd/berth) || die "go build failed"
	BIN=$TMP/berth
fi

# S3 settings from BERTH_TEST_S3 (s3 mode only).
s3_parse() {
	local u=${BERTH_TEST_S3:?BERTH_TEST_S3 is not set}
	local scheme=${u%%://*} rest=${u#*://}
	local cred=${rest%%@*} hostpath=${rest#*@}
	S3_KEY=${cred%%:*}
	S3_SECRET=${cred#*:}
	S3_ENDPOINT="$scheme://${hostpath%%/*}"
	S3_BUCKET=${hostpath#*/}
	S3_BUCKET=${S3_BUCKET%%/*}
}

# s3_rm_prefix PREFIX: delete every object under PREFIX/ in the bucket.
s3_rm_prefix() {
	local keys k
	for _ in $(seq 1000); do
		keys=$(curl -fsS --aws-sigv4 "aws:amz:us-east-1:s3" --user "$S3_KEY:$S3_SECRET" \
			"$S3_ENDPOINT/$S3_BUCKET?list-type=2&max-keys=1000&prefix=$1" | grep -o '<Key>[^<]*</Key>' |
			sed -e 's/<Key>//' -e 's#</Key>##') || return 0
		[ -n "$keys" ] || return 0
		while IFS= read -r k; do
			curl -fsS --aws-sigv4 "aws:amz:us-east-1:s3" --user "$S3_KEY:$S3_SECRET" -X DELETE \
				"$S3_ENDPOINT/$S3_BUCKET/$k" >/dev/null || true
		done <<<"$keys"
	done
}

# env_for MODE NAME: the environment of a registry instance NAME, into ENV.
env_for() {
	local mode=$1 name=$2
	ENV=(BERTH_CONFIG= BERTH_DATA_DIR="$TMP/$name" BERTH_ADMIN_PASSWORD="$PASSWORD" BERTH_LOG_LEVEL=warn)
	if [ "$mode" = s3 ]; then
		local db="bench_backup_${RUN_ID}_${name//-/_}"
		psql -q "$BERTH_TEST_POSTGRES" -c "CREATE DATABASE $db" >/dev/null
		DBS+=("$db")
		local dsn=${BERTH_TEST_POSTGRES%%\?*}
		dsn="${dsn%/*}/$db?sslmode=disable"
		[ -f "$TMP/token-key.pem" ] || openssl ecparam -genkey -name prime256v1 -noout 2>/dev/null |
			openssl pkcs8 -topk8 -nocrypt -out "$TMP/token-key.pem"
		PREFIXES+=("bench-backup-$RUN_ID-$name")
		ENV+=(BERTH_DATABASE_URL="$dsn" BERTH_TOKEN_KEY_FILE="$TMP/token-key.pem"
			BERTH_STORAGE_TYPE=s3 BERTH_STORAGE_S3_REGIONENDPOINT="$S3_ENDPOINT" BERTH_STORAGE_S3_BUCKET="$S3_BUCKET"
			BERTH_STORAGE_S3_ACCESSKEY="$S3_KEY" BERTH_STORAGE_S3_SECRETKEY="$S3_SECRET" BERTH_STORAGE_S3_REGION=us-east-1
			BERTH_STORAGE_S3_FORCEPATHSTYLE=true BERTH_STORAGE_S3_DISABLEREDIRECT=true
			BERTH_STORAGE_S3_ROOTDIRECTORY="bench-backup-$RUN_ID-$name")
	fi
}

# populate: serve ENV, push SIZE_MIB of images into library/bench, stop.
populate() {
	local port url n i layer cfg dg cdg m code
	free_port port
	url="http://127.0.0.1:$port"
	env "${ENV[@]}" BERTH_HTTP_ADDR="127.0.0.1:$port" "$BIN" serve >"$TMP/serve.log" 2>&1 &
	SERVER_PID=$!
	wait_tcp "$port" "$SERVER_PID" 60 || {
		tail -20 "$TMP/serve.log" >&2
		die "berth serve did not start"
	}
	n=$((SIZE_MIB / LAYER_MIB))
	layer="$TMP/layer"
	for ((i = 0; i < n; i++)); do
		head -c "$((LAYER_MIB * 1024 * 1024))" /dev/urandom >"$layer"
		dg="sha256:$(sha256sum "$layer" | cut -d' ' -f1)"
		code=$(curl -s -o /dev/null -w '%{http_code}' -u "admin:$PASSWORD" -X POST --data-binary @"$layer" -H 'Expect:' \
			-H 'Content-Type: application/octet-stream' "$url/v2/library/bench/blobs/uploads/?digest=$dg")
		[ "$code" = 201 ] || die "push layer $i: HTTP $code"
		cfg="{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]},\"n\":$i}"
		cdg="sha256:$(printf '%s' "$cfg" | sha256sum | cut -d' ' -f1)"
		code=$(printf '%s' "$cfg" | curl -s -o /dev/null -w '%{http_code}' -u "admin:$PASSWORD" -X POST --data-binary @- \
			-H 'Content-Type: application/octet-stream' "$url/v2/library/bench/blobs/uploads/?digest=$cdg")
		[ "$code" = 201 ] || die "push config $i: HTTP $code"
		m="{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"$cdg\",\"size\":${#cfg}},\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"$dg\",\"size\":$((LAYER_MIB * 1024 * 1024))}]}"
		code=$(printf '%s' "$m" | curl -s -o /dev/null -w '%{http_code}' -u "admin:$PASSWORD" -X PUT --data-binary @- \
			-H 'Content-Type: application/vnd.oci.image.manifest.v1+json' "$url/v2/library/bench/manifests/t$i")
		[ "$code" = 201 ] || die "push manifest $i: HTTP $code"
	done
	rm -f "$layer"
	stop_pid "$SERVER_PID"
	SERVER_PID=
}

# timed LABEL CMD...: run CMD, print its summary line, record seconds.
timed() {
	local label=$1 t0 t1
	shift
	t0=$(date +%s%N)
	"$@" >"$TMP/out" 2>"$TMP/err" || {
		cat "$TMP/out" "$TMP/err" >&2
		die "$label failed"
	}
	t1=$(date +%s%N)
	SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", (b - a) / 1e9 }')
	log "$label: ${SECS}s: $(grep -E '^(backup|restore) ' "$TMP/out" | head -1)"
}

ROWS=()
for mode in "${MODES[@]}"; do
	case $mode in
	fs) loc="$TMP/backups" ;;
	s3)
		s3_parse
		[ -n "${BERTH_TEST_POSTGRES:-}" ] || die "s3 mode: BERTH_TEST_POSTGRES is not set"
		loc="s3://$S3_BUCKET/bench-backup-$RUN_ID-repo"
		PREFIXES+=("bench-backup-$RUN_ID-repo")
		;;
	*) die "unknown mode $mode: want fs or s3" ;;
	esac
	log "$mode: pushing ${SIZE_MIB} MiB in ${LAYER_MIB} MiB layers"
	env_for "$mode" "src-$mode"
	populate
	timed "$mode backup (cold)" env "${ENV[@]}" "$BIN" backup --to "$loc"
	cold=$SECS
	cold_mbs=$(awk -v s="$cold" -v m="$SIZE_MIB" 'BEGIN { printf "%.1f", m * 1048576 / 1e6 / s }')
	timed "$mode backup (nothing changed)" env "${ENV[@]}" "$BIN" backup --to "$loc"
	incr=$SECS
	env_for "$mode" "dst-$mode"
	timed "$mode restore" env "${ENV[@]}" "$BIN" restore --from "$loc"
	rest=$SECS
	rest_mbs=$(awk -v s="$rest" -v m="$SIZE_MIB" 'BEGIN { printf "%.1f", m * 1048576 / 1e6 / s }')
	ROWS+=("| $mode | $SIZE_MIB MiB | ${cold}s ($cold_mbs MB/s) | ${incr}s | ${rest}s ($rest_mbs MB/s) |")
	[ "$mode" = fs ] && rm -rf "$TMP/src-fs" "$TMP/dst-fs" "$TMP/backups"
done

echo
echo "| storage | registry | backup (cold) | backup (nothing changed) | restore |"
echo "|---|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
