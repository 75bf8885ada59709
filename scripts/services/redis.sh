#!/usr/bin/env bash
# Start or stop a throwaway Redis server for tests, on loopback only.
#
#   scripts/services/redis.sh start DIR PORT   # start; silent when it accepts connections
#   scripts/services/redis.sh stop  DIR PORT   # stop it (no-op if not running)
#
# No persistence; its log and PID file live in DIR (DIR/log, DIR/redis.pid).
# Tests then use
#   BERTH_TEST_REDIS=redis://127.0.0.1:PORT/0
# REDIS_SERVER overrides the binary (default redis-server on PATH).
set -euo pipefail

# shellcheck source=scripts/lib/proc.sh
source "$(dirname "${BASH_SOURCE[0]}")/../lib/proc.sh"

usage() {
	echo "usage: $0 start|stop DIR PORT" >&2
	exit 2
}

[ $# -eq 3 ] || usage
cmd=$1
dir=$2
port=$3
case $port in
'' | *[!0-9]*) usage ;;
esac

fail() {
	echo "redis.sh: $1" >&2
	[ -f "$dir/log" ] && tail -n 20 "$dir/log" >&2
	exit 1
}

case $cmd in
start)
	server=${REDIS_SERVER:-$(command -v redis-server || true)}
	[ -n "$server" ] || fail "no redis-server (apt-get install redis-server, or set REDIS_SERVER)"
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	if [ -f "$dir/redis.pid" ] && kill -0 "$(cat "$dir/redis.pid")" 2>/dev/null; then
		fail "already running in $dir (pid $(cat "$dir/redis.pid"))"
	fi
	(cd "$dir" && exec "$server" --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
		--daemonize no >"$dir/log" 2>&1) &
	pid=$!
	echo "$pid" >"$dir/redis.pid"
	wait_tcp "$port" "$pid" 30 || fail "not accepting connections on 127.0.0.1:$port"
	;;
stop)
	[ -f "$dir/redis.pid" ] || exit 0
	stop_pid "$(cat "$dir/redis.pid")"
	rm -f "$dir/redis.pid"
	;;
*)
	usage
	;;
esac
