# bench/compare.d/bare.sh: starting a bare responder of bench/bare/ (herd-bare-epoll,
# herd-bare-uring), for bench/profile --server bare-* and bench/compare --floor. Sourced after
# bench/lib.sh (pin_srv, tmp, SRV_*, own, alive, stop_server).
# shellcheck shell=bash disable=SC2004,SC2034,SC2154 # SRV_* are bench/lib.sh's associative arrays

# start_bare NAME BINARY: a bare responder pinned like the others, on port 0; 0 once it printed
# "listening on" (within 3 s), SRV_PORT[NAME] then holds the port it took. Its output (not
# timestamped) in SRV_LOG[NAME], $tmp/NAME.out.
start_bare() {
	local name=$1 bin=$2 log=$tmp/$1.out n pid
	"${pin_srv[@]}" "$bin" 0 >"$log" 2>&1 &
	pid=$!
	SRV_PID[$name]=$pid SRV_KIND[$name]=bare SRV_LOG[$name]=$log
	own "$pid"
	for ((n = 30; n > 0; n--)); do
		grep -q 'listening on' "$log" && break
		alive "$pid" || break
		sleep 0.1
	done
	SRV_PORT[$name]=$(grep -o 'listening on [0-9.]*:[0-9]*' "$log" | head -1 | sed 's/.*://' || true)
	[ -n "${SRV_PORT[$name]}" ] || { stop_server "$name" quiet; return 1; }
}
