#!/bin/sh
# Start or stop a throwaway PostgreSQL 15 server for tests, on loopback only.
#
#   scripts/services/postgres.sh start DIR PORT   # initdb DIR/data if needed, start; silent when ready
#   scripts/services/postgres.sh stop  DIR PORT   # fast shutdown (no-op if not running)
#
# The server trusts local connections as user postgres, listens on
# 127.0.0.1:PORT and puts its socket and log (DIR/log) in DIR. Tests then use
#   BERTH_TEST_POSTGRES=postgres://postgres@127.0.0.1:PORT/postgres?sslmode=disable
# PostgreSQL refuses to run as root, so as root it runs as user postgres.
# PGBIN overrides the binary directory (default /usr/lib/postgresql/15/bin).
# BERTH_SERVICE_ADDR listens on another local address instead of 127.0.0.1
# (the k8s step: the test node's bridge address, reachable from its pods).
set -eu

usage() {
	echo "usage: $0 start|stop DIR PORT" >&2
	exit 2
}

[ $# -eq 3 ] || usage
cmd=$1
dir=$2
port=$3
pgbin=${PGBIN:-/usr/lib/postgresql/15/bin}
addr=${BERTH_SERVICE_ADDR:-127.0.0.1}

case $port in
'' | *[!0-9]*) usage ;;
esac

as_pg() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

fail() {
	echo "postgres.sh: $1" >&2
	[ -f "$dir/log" ] && tail -n 20 "$dir/log" >&2
	exit 1
}

case $cmd in
start)
	[ -x "$pgbin/pg_ctl" ] || fail "no $pgbin/pg_ctl (apt-get install postgresql-15, or set PGBIN)"
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	if [ "$(id -u)" -eq 0 ]; then
		chown postgres: "$dir"
		# DIR is often inside a root-only mktemp directory: let user
		# postgres traverse (not list) the ancestors it cannot enter.
		p=$dir
		while [ "$p" != / ]; do
			p=$(dirname "$p")
			runuser -u postgres -- test -x "$p" || chmod o+x "$p"
		done
	fi
	if [ ! -f "$dir/data/PG_VERSION" ]; then
		as_pg "$pgbin/initdb" -D "$dir/data" -U postgres --auth=trust --no-sync \
			>"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; fail "initdb failed"; }
	fi
	as_pg "$pgbin/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 start \
		-o "-c listen_addresses=$addr -p $port -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
		>/dev/null || fail "pg_ctl start failed"
	;;
stop)
	dir=$(cd "$dir" 2>/dev/null && pwd) || exit 0
	[ -f "$dir/data/postmaster.pid" ] || exit 0
	as_pg "$pgbin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || fail "pg_ctl stop failed"
	;;
*)
	usage
	;;
esac
