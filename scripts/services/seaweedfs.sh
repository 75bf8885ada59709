#!/usr/bin/env bash
# SeaweedFS (an Apache-2.0 S3-compatible object store) as a throwaway
# single-node service on loopback, for Berth's S3 storage tests.
#
# Usage:
#   seaweedfs.sh build
#       Build weed from the Go module proxy once and cache it; prints its path.
#       Cache: ${BERTH_TOOLS_DIR:-$HOME/.cache/berth-tools}/seaweedfs-<version>/weed
#       (~15 min on 2 cores the first time; instant afterwards).
#   seaweedfs.sh start DIR [BUCKET]
#       Start `weed server` (master, volume, filer, S3 gateway) with its data,
#       logs and PID file in DIR, on free loopback ports, and create BUCKET
#       (default "berth"). Prints one line, the S3 URL the tests take in
#       BERTH_TEST_S3:  http://ACCESS:SECRET@127.0.0.1:PORT/BUCKET
#       The same line is written to DIR/s3.url.
#       BERTH_SERVICE_ADDR listens on another local address than 127.0.0.1
#       (the k8s step: the test node's bridge address).
#   seaweedfs.sh stop DIR
#       SIGKILL the server recorded in DIR/weed.pid (weed server ignores
#       SIGTERM) and wait for it to exit. DIR itself is left for inspection.
#
# Example:
#   d=$(mktemp -d); export BERTH_TEST_S3=$(scripts/services/seaweedfs.sh start "$d")
#   go test ./internal/storage/s3/; scripts/services/seaweedfs.sh stop "$d"
set -euo pipefail

SEAWEEDFS_VERSION=v0.0.0-20261109003541-7506e5f91cd6
SEAWEEDFS_MODULE=github.com/seaweedfs/seaweedfs
BERTH_TOOLS_DIR=${BERTH_TOOLS_DIR:-$HOME/.cache/berth-tools}
S3_ACCESS_KEY=${BERTH_SEAWEEDFS_ACCESS_KEY:-berthtest}
S3_SECRET_KEY=${BERTH_SEAWEEDFS_SECRET_KEY:-berthtestsecret}

# shellcheck source=scripts/lib/proc.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/proc.sh"

log() { echo "seaweedfs: $*" >&2; }
die() {
	log "$*"
	exit 1
}

build() {
	local dir="$BERTH_TOOLS_DIR/seaweedfs-$SEAWEEDFS_VERSION"
	if [ ! -x "$dir/weed" ]; then
		log "building weed $SEAWEEDFS_VERSION (cached afterwards in $dir)"
		local src tmp
		# `go install` refuses the module (it has a replace directive):
		# build inside a writable copy of the downloaded module instead.
		src=$(cd / && GOFLAGS=-mod=mod go mod download -json "$SEAWEEDFS_MODULE@$SEAWEEDFS_VERSION" |
			sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
		[ -d "$src" ] || die "go mod download $SEAWEEDFS_MODULE@$SEAWEEDFS_VERSION gave no directory"
		mkdir -p "$BERTH_TOOLS_DIR"
		tmp=$(mktemp -d "$BERTH_TOOLS_DIR/seaweedfs-build.XXXXXX")
		cp -r "$src/." "$tmp/src"
		chmod -R u+w "$tmp/src"
		if ! (cd "$tmp/src" && GOFLAGS=-mod=mod GOTOOLCHAIN=${GOTOOLCHAIN:-local} \
			go build -o "$tmp/weed" ./weed) >&2; then
			rm -rf "$tmp"
			die "go build of weed failed"
		fi
		# A temp dir first, so a killed build never leaves a half-made cache entry.
		mkdir -p "$dir.tmp"
		mv "$tmp/weed" "$dir.tmp/weed"
		rm -rf "$tmp" "$dir"
		mv "$dir.tmp" "$dir"
	fi
	printf '%s\n' "$dir/weed"
}

start() {
	local dir=${1:?usage: seaweedfs.sh start DIR [BUCKET]} bucket=${2:-berth}
	local weed addr=${BERTH_SERVICE_ADDR:-127.0.0.1}
	weed=$(build)
	mkdir -p "$dir/data"
	dir=$(cd "$dir" && pwd)
	if [ -f "$dir/weed.pid" ] && kill -0 "$(cat "$dir/weed.pid")" 2>/dev/null; then
		die "already running in $dir (pid $(cat "$dir/weed.pid"))"
	fi
	cat >"$dir/s3.json" <<EOF
{
  "identities": [
    {
      "name": "berth",
      "credentials": [{"accessKey": "$S3_ACCESS_KEY", "secretKey": "$S3_SECRET_KEY"}],
      "actions": ["Admin", "Read", "Write", "List", "Tagging"]
    }
  ]
}
EOF
	local master volume filer s3
	# weed's gRPC port is each port + 10000: both must be free.
	free_port master 10000 || die "no free port found"
	free_port volume 10000 || die "no free port found"
	free_port filer 10000 || die "no free port found"
	free_port s3 10000 || die "no free port found"
	log "starting weed server in $dir (master $master, volume $volume, filer $filer, s3 $s3)"
	"$weed" server -ip="$addr" -ip.bind="$addr" -dir="$dir/data" \
		-master.port="$master" -master.telemetry=false -master.volumeSizeLimitMB=256 \
		-volume.port="$volume" -volume.preStopSeconds=0 -volume.max=0 \
		-filer -filer.port="$filer" \
		-s3 -s3.port="$s3" -s3.config="$dir/s3.json" -s3.port.iceberg=0 -s3.port.lance=0 \
		>"$dir/weed.log" 2>&1 &
	local pid=$!
	echo "$pid" >"$dir/weed.pid"
	local url="http://$addr:$s3/$bucket"
	local i
	for i in $(seq 600); do
		kill -0 "$pid" 2>/dev/null || die "weed server exited; see $dir/weed.log"
		if curl -fsS -o /dev/null --aws-sigv4 "aws:amz:us-east-1:s3" \
			--user "$S3_ACCESS_KEY:$S3_SECRET_KEY" -X PUT "$url" 2>/dev/null; then
			break
		fi
		# PUT of an existing bucket fails: accept it if the bucket is listable.
		if curl -fsS -o /dev/null --aws-sigv4 "aws:amz:us-east-1:s3" \
			--user "$S3_ACCESS_KEY:$S3_SECRET_KEY" "$url?list-type=2&max-keys=1" 2>/dev/null; then
			break
		fi
		[ "$i" -lt 600 ] || die "S3 gateway not ready after 60 s; see $dir/weed.log"
		sleep 0.1
	done
	# The bucket answers once the filer can store objects: wait for a write.
	# (curl signs a body only with an explicit x-amz-content-sha256.)
	local sum
	sum=$(printf ready | sha256sum | cut -d' ' -f1)
	for i in $(seq 600); do
		if curl -fsS -o /dev/null --aws-sigv4 "aws:amz:us-east-1:s3" \
			--user "$S3_ACCESS_KEY:$S3_SECRET_KEY" -X PUT -H "x-amz-content-sha256: $sum" \
			--data-binary ready "$url/.berth-ready" 2>/dev/null; then
			curl -fsS -o /dev/null --aws-sigv4 "aws:amz:us-east-1:s3" \
				--user "$S3_ACCESS_KEY:$S3_SECRET_KEY" -X DELETE "$url/.berth-ready" || true
			break
		fi
		[ "$i" -lt 600 ] || die "bucket $bucket not writable after 60 s; see $dir/weed.log"
		sleep 0.1
	done
	local s3url="http://$S3_ACCESS_KEY:$S3_SECRET_KEY@$addr:$s3/$bucket"
	echo "$s3url" >"$dir/s3.url"
	log "ready: $url"
	printf '%s\n' "$s3url"
}

stop() {
	local dir=${1:?usage: seaweedfs.sh stop DIR}
	[ -f "$dir/weed.pid" ] || return 0
	local pid
	pid=$(cat "$dir/weed.pid")
	if kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null || true
		for _ in $(seq 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
	fi
	rm -f "$dir/weed.pid"
}

case ${1:-} in
build) build ;;
start)
	shift
	start "$@"
	;;
stop)
	shift
	stop "$@"
	;;
*) die "usage: seaweedfs.sh build | start DIR [BUCKET] | stop DIR" ;;
esac
