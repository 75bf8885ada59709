# shellcheck shell=bash
# Shared by scripts/bench/push-*.sh: server control, /proc readings and the
# curl upload of one layer (monolithic or chunked). The sourcing script
# defines die and the globals these functions read: SERVER_PID, URL, CURL
# (the curl command as an array), TMP, LAYER, DIGEST, SIZE_MIB, CHUNK_MIB.

now_ns() { date +%s%N; }

# shellcheck source=scripts/lib/proc.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/proc.sh"

stop_server() {
	local pid=$SERVER_PID
	SERVER_PID=
	stop_pid "$pid"
}

# status_kib PID FIELD: a /proc/PID/status field (VmRSS, VmHWM) in KiB.
status_kib() {
	awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"
}

# location HEADERS-FILE: the Location header, made absolute.
location() {
	local loc
	loc=$(tr -d '\r' <"$1" | sed -n 's/^[Ll]ocation: //p' | tail -n 1)
	[ -n "$loc" ] || die "no Location header in $(tr -d '\r' <"$1" | head -n 1)"
	case $loc in
	http://* | https://*) printf '%s\n' "$loc" ;;
	*) printf '%s%s\n' "$URL" "$loc" ;;
	esac
}

with_param() { # with_param URL KEY=VALUE
	case $1 in
	*\?*) printf '%s&%s\n' "$1" "$2" ;;
	*) printf '%s?%s\n' "$1" "$2" ;;
	esac
}

# expect_status WANT CODE WHAT
expect_status() {
	[ "$2" = "$1" ] || die "$3: HTTP $2, want $1"
}

# push MODE REPO: push the layer, monolithic or chunked.
push() {
	local mode=$1 repo=$2 hdr="$TMP/headers" loc code off n size
	code=$("${CURL[@]}" -o /dev/null -D "$hdr" -w '%{http_code}' -X POST "$URL/v2/$repo/blobs/uploads/")
	expect_status 202 "$code" "POST upload"
	loc=$(location "$hdr")
	if [ "$mode" = chunked ]; then
		size=$((SIZE_MIB * 1024 * 1024))
		for ((off = 0; off < SIZE_MIB; off += CHUNK_MIB)); do
			n=$((CHUNK_MIB < SIZE_MIB - off ? CHUNK_MIB : SIZE_MIB - off))
			# dd streams the chunk; curl sends it with its exact length
			# (not chunked transfer encoding) and a Content-Range.
			code=$(dd if="$LAYER" bs=1M skip="$off" count="$n" status=none |
				"${CURL[@]}" -o /dev/null -D "$hdr" -w '%{http_code}' -X PATCH -T - \
					-H 'Expect:' -H 'Transfer-Encoding:' \
					-H 'Content-Type: application/octet-stream' \
					-H "Content-Length: $((n * 1024 * 1024))" \
					-H "Content-Range: $((off * 1024 * 1024))-$(((off + n) * 1024 * 1024 - 1))" \
					"$loc")
			expect_status 202 "$code" "PATCH at $off MiB"
			loc=$(location "$hdr")
		done
		code=$("${CURL[@]}" -o /dev/null -D "$hdr" -w '%{http_code}' -X PUT -H 'Content-Length: 0' \
			"$(with_param "$loc" "digest=$DIGEST")")
		expect_status 201 "$code" "PUT (close chunked upload)"
	else
		code=$("${CURL[@]}" -o /dev/null -D "$hdr" -w '%{http_code}' -X PUT -T "$LAYER" \
			-H 'Expect:' -H 'Content-Type: application/octet-stream' \
			"$(with_param "$loc" "digest=$DIGEST")")
		expect_status 201 "$code" "PUT (monolithic upload)"
	fi
	size=$("${CURL[@]}" -I "$URL/v2/$repo/blobs/$DIGEST" | tr -d '\r' | sed -n 's/^[Cc]ontent-[Ll]ength: //p')
	[ "$size" = $((SIZE_MIB * 1024 * 1024)) ] || die "HEAD blob after $mode push: size '$size'"
}

# select_servers: KINDS from BERTH_BENCH_SERVERS (default "berth peer"),
# checking each is runnable; BERTH_BIN is BERTH_BENCH_BERTH_BIN or a fresh
# build of ./cmd/berth (ROOT is the checkout).
select_servers() {
	local kind
	read -r -a KINDS <<<"${BERTH_BENCH_SERVERS:-berth peer}"
	for kind in "${KINDS[@]}"; do
		case $kind in
		berth)
			if [ -n "${BERTH_BENCH_BERTH_BIN:-}" ]; then
				BERTH_BIN=$BERTH_BENCH_BERTH_BIN
			else
				BERTH_BIN="$TMP/berth"
				(cd "$ROOT" && go build -o "$BERTH_BIN" ./cmd/berth) || die "go build ./cmd/berth failed"
			fi
			[ -x "$BERTH_BIN" ] || die "no berth binary at $BERTH_BIN"
			;;
		peer)
			command -v docker-registry >/dev/null ||
				die "docker-registry not installed (apt-get install docker-registry)"
			;;
		*) die "unknown server $kind in BERTH_BENCH_SERVERS (want berth and/or peer)" ;;
		esac
	done
}
