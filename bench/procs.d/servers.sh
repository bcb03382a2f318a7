# bench/procs.d/servers.sh: herd and nginx started and stopped by PID, the exit cleanup, /metrics, connections
# shellcheck shell=bash disable=SC2034,SC2154 # globals shared with bench/procs

# ---- process control (by PID only) ------------------------------------------------------------
# Every PID this script started or that belongs to a server it started, so that the exit path
# can make sure none is left: PID:STARTTIME.
declare -a OWNED=()
own() { local i p; for p in "$@"; do i=$(ident "$p"); [ -n "$i" ] && OWNED+=("$i"); done; return 0; }
load_pids=()
stop_pid() { # PID [seconds]: TERM, wait, KILL
	local p=$1 n=$((${2:-5} * 10))
	[ -n "$p" ] || return 0
	kill -TERM "$p" 2>/dev/null || { wait "$p" 2>/dev/null || true; return 0; }
	while alive "$p" && [ $n -gt 0 ]; do sleep 0.1; n=$((n - 1)); done
	kill -KILL "$p" 2>/dev/null || true
	wait "$p" 2>/dev/null || true
}
declare -A SRV_PID SRV_PORT SRV_ADMIN SRV_LOG SRV_KIND SRV_DIR
cleanup() {
	local p k
	for p in "${load_pids[@]+"${load_pids[@]}"}"; do kill -TERM "$p" 2>/dev/null || true; done
	for k in "${!SRV_PID[@]}"; do stop_server "$k" quiet; done
	for p in "${OWNED[@]+"${OWNED[@]}"}"; do same_alive "$p" && kill -KILL "${p%%:*}" 2>/dev/null; done
	if [ -n "${HERD_PROCS_KEEP:-}" ]; then echo "bench/procs: scratch files kept in $tmp" >&2; else rm -rf "$tmp"; fi
}

# ---- servers ----------------------------------------------------------------------------------
# start_herd NAME herd-flags...: 0 when "listening on" appeared (the supervisor says so within 5 s)
start_herd() {
	local name=$1 pid n log logfd; shift
	log=$tmp/$name.$(now_us).log
	# the timestamping reader is this script's child, not herd's (herd's children are its handlers)
	exec {logfd}> >(stamp_lines >"$log")
	"${pin_srv[@]}" "$herd" --listen 127.0.0.1:0 --admin 127.0.0.1:0 "$@" 2>&"$logfd" &
	pid=$!
	exec {logfd}>&-
	SRV_PID[$name]=$pid SRV_LOG[$name]=$log SRV_KIND[$name]=herd
	own "$pid"
	n=80
	while [ $n -gt 0 ]; do
		grep -q 'listening on' "$log" 2>/dev/null && break
		alive "$pid" || break
		sleep 0.1; n=$((n - 1))
	done
	if ! grep -q 'listening on' "$log" 2>/dev/null; then
		sleep 0.2
		R[$name.startfail]=$(cut -d' ' -f2- "$log" | grep -v 'warning:' | head -2 | sed 's/^herd: //' | tr '\n' ' ')
		stop_server "$name" quiet
		return 1
	fi
	SRV_PORT[$name]=$(grep -o 'listening on [0-9.]*:[0-9]*' "$log" | head -1 | sed 's/.*://')
	SRV_ADMIN[$name]=$(grep -o 'admin on [0-9.]*:[0-9]*' "$log" | head -1 | sed 's/.*://')
	# shellcheck disable=SC2046
	own $(children "$pid")
	return 0
}
nginx_conf() { # DIR PORT NWORKERS
	local dir=$1 aff="" temps="" nv m i
	if [ "$pinned" = 1 ]; then
		aff="worker_cpu_affinity"
		for ((i = 0; i < $3; i++)); do aff+=" 1$(printf '%*s' "$srv_cpu" '' | tr ' ' 0)"; done
		aff+=";"
	fi
	nv=$(nginx -V 2>&1)
	for m in client_body proxy fastcgi uwsgi scgi; do
		[ $m = client_body ] || grep -q -- "--http-$m-temp-path" <<<"$nv" || continue
		temps+="  ${m}_temp_path $dir/$m;"$'\n'
	done
	cat <<EOF
worker_processes $3;
$aff
worker_rlimit_nofile $nofile;
daemon off;
error_log $dir/error.log warn;
pid $dir/nginx.pid;
events { use epoll; worker_connections $ng_conns; multi_accept on; }
http {
  access_log off;
  keepalive_requests 10000000;
  keepalive_timeout 75s;
$temps  server {
    listen 127.0.0.1:$2 backlog=4096;
    location / { default_type text/plain; return 200 "Hello, World!"; }
  }
}
EOF
}
# start_nginx NAME NWORKERS: a private prefix, pid file and temp dirs under the scratch directory
start_nginx() {
	local name=$1 nw=$2 dir=$tmp/nginx-$1 p n pid
	mkdir -p "$dir"
	for _ in 1 2 3 4 5 6 7 8; do
		p=$((20000 + (RANDOM % 12000)))
		[ -z "$(ss -Htln "( sport = :$p )" 2>/dev/null)" ] || continue
		nginx_conf "$dir" "$p" "$nw" >"$dir/nginx.conf"
		: >"$dir/error.log"
		"${pin_srv[@]}" nginx -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" >>"$dir/stdout.log" 2>&1 &
		pid=$!
		SRV_PID[$name]=$pid SRV_KIND[$name]=nginx SRV_DIR[$name]=$dir SRV_LOG[$name]=$dir/error.log
		own "$pid"
		n=50
		while [ $n -gt 0 ]; do
			alive "$pid" || break
			if [ -n "$(ss -Htln "( sport = :$p )" 2>/dev/null)" ] && [ "$(wc -w <<<"$(children "$pid")")" -ge "$nw" ]; then
				SRV_PORT[$name]=$p
				cp "$dir/nginx.conf" "$tmp/nginx.conf.used"
				# shellcheck disable=SC2046
				own $(children "$pid")
				return 0
			fi
			sleep 0.1; n=$((n - 1))
		done
		stop_server "$name" quiet
		grep -q 'in use' "$dir/error.log" "$dir/stdout.log" 2>/dev/null && continue
		break
	done
	R[$name.startfail]="nginx did not start: $(cat "$dir/error.log" "$dir/stdout.log" 2>/dev/null | tail -2 | tr '\n' ' ')"
	return 1
}
# stop_server NAME [quiet]: TERM to the root, then make sure no process of the tree is left
stop_server() {
	local name=$1 pid=${SRV_PID[$1]:-} kids k left="" n
	[ -n "$pid" ] || return 0
	kids=$(children "$pid")
	local ids=()
	for k in $kids; do ids+=("$(ident "$k")"); done
	if [ "${SRV_KIND[$name]}" = herd ]; then stop_pid "$pid" 12; else stop_pid "$pid" 5; fi
	n=30
	while [ $n -gt 0 ]; do
		left=""
		for k in "${ids[@]+"${ids[@]}"}"; do [ -n "$k" ] && same_alive "$k" && left+=" ${k%%:*}"; done
		[ -z "$left" ] && break
		sleep 0.1; n=$((n - 1))
	done
	if [ -n "$left" ]; then
		[ "${2:-}" = quiet ] || note "$name: process(es)$left still running 3 s after the ${SRV_KIND[$name]} root (pid $pid) exited; killed"
		for k in $left; do kill -KILL "$k" 2>/dev/null || true; done
	fi
	unset "SRV_PID[$name]"
}
metrics() { # NAME FILE [tries]
	local n=${3:-1}
	while [ "$n" -gt 0 ]; do
		curl -s --max-time 2 "http://127.0.0.1:${SRV_ADMIN[$1]}/metrics" >"$2" 2>/dev/null && [ -s "$2" ] && return 0
		n=$((n - 1))
	done
	: >"$2"
}
# herd_process_info lines of a /metrics dump: "proc pid generation state"
proc_info() {
	awk '$1 ~ /^herd_process_info\{/ { l = $1; p = l; sub(/.*proc="/, "", p); sub(/".*/, "", p)
		d = l; sub(/.*pid="/, "", d); sub(/".*/, "", d); g = l; sub(/.*generation="/, "", g); sub(/".*/, "", g)
		s = l; sub(/.*state="/, "", s); sub(/".*/, "", s); print p, d, g, s }' "$1"
}
mval() { # FILE SERIES: value of an exact series name (with labels), empty when absent
	awk -v k="$2" '$1 == k { print $2; exit }' "$1"
}
# per-process sums of a per-worker counter: "proc value" lines (none without proc labels)
mproc() { # FILE NAME
	awk -v n="$2" 'index($1, n "{") == 1 && $1 ~ /proc="/ { p = $1; sub(/.*proc="/, "", p); sub(/".*/, "", p); v[p] += $2 }
		END { for (p in v) print p, v[p] }' "$1" | sort -n
}
# established connections on PORT per owning process: "pid count" lines (ss -p)
conns_by_pid() {
	{ ss -Htnp state established "( sport = :$1 )" 2>/dev/null || true; } |
		awk '{ while (match($0, /pid=[0-9]+/)) { c[substr($0, RSTART + 4, RLENGTH - 4)]++; $0 = substr($0, RSTART + RLENGTH) } }
		END { for (p in c) print p, c[p] }' | sort -n
}
