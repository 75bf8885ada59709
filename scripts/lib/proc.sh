# shellcheck shell=bash
# Process and port helpers shared by scripts/test, scripts/services/*.sh and
# scripts/bench/*.sh: the one copy of each. Source it; it defines functions
# only (and the USED_PORTS bookkeeping of free_port).

# port_free PORT: true when nothing accepts connections on 127.0.0.1:PORT,
# nor on BERTH_SERVICE_ADDR:PORT when services listen there (the k8s step's
# node address, where the kubelet listens on a port of the same range).
port_free() {
	! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null || return 1
	if [ -n "${BERTH_SERVICE_ADDR:-}" ] && [ "$BERTH_SERVICE_ADDR" != 127.0.0.1 ]; then
		! (exec 3<>"/dev/tcp/$BERTH_SERVICE_ADDR/$1") 2>/dev/null || return 1
	fi
	return 0
}

# free_port VAR [OFFSET]: set VAR to a loopback TCP port nobody listens on,
# below the kernel's ephemeral range and not handed out before by this
# shell; with OFFSET, PORT+OFFSET must be free too (SeaweedFS's gRPC ports).
USED_PORTS=" "
free_port() {
	local p _
	for _ in $(seq 500); do
		p=$((20000 + RANDOM % 12000))
		[[ $USED_PORTS == *" $p "* ]] && continue
		port_free "$p" || continue
		if [ -n "${2:-}" ]; then
			port_free $((p + $2)) || continue
			USED_PORTS+="$((p + $2)) "
		fi
		USED_PORTS+="$p "
		printf -v "$1" '%s' "$p"
		return 0
	done
	echo "free_port: no free loopback port" >&2
	return 1
}

# wait_tcp PORT PID [SECONDS]: wait (default 30 s) for 127.0.0.1:PORT to
# accept connections while PID lives.
wait_tcp() {
	local _
	for _ in $(seq $((${3:-30} * 10))); do
		kill -0 "$2" 2>/dev/null || return 1
		port_free "$1" || return 0
		sleep 0.1
	done
	return 1
}

# stop_pid PID: SIGTERM, then SIGKILL after 10 s; waits for it to go.
stop_pid() {
	local pid=$1 _
	[ -n "$pid" ] || return 0
	kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	# Not our child: wait cannot; poll until the kernel has reaped it.
	for _ in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	return 0
}
