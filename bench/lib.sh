# bench/lib.sh: what bench/compare, bench/procs, bench/step, bench/soak and bench/demo share, by
# section: messages and arguments; setup and build; CPUs and limits; time; /proc (CPU ticks, RSS,
# descriptors); processes (scratch directory, stop by PID, cleanup on exit); servers (herd, nginx,
# /metrics); herd-load results; CPU per request (quiet wait, steady runs, noise); formatting and
# the report. Sourced first thing (bash 4.3 or later); it moves to the repository root.
#
# Self-contained on purpose. The project's measuring helpers (../shared/bench/srvcost.sh) count a
# server's CPU per request the same way - utime+stime of the server's processes, all threads, from
# /proc/PID/stat over a window, divided by the requests in that window - but users do not have that
# folder, so bench/ neither sources nor calls it.
#
# Processes are started here and stopped by PID (never by name); bench_traps makes sure none is
# left, however the script exits.
# shellcheck shell=bash disable=SC2034,SC2154 # globals shared with the scripts

export LC_ALL=C   # awk and printf read and write numbers with a decimal point
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
root=$PWD
me=bench/${0##*/}
t_script=${EPOCHREALTIME/./}
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
hz=$(getconf CLK_TCK)

# ---- messages and arguments -------------------------------------------------------------------
say() { printf '[%4ss] %s\n' "$(( ($(now_us) - t_script) / 1000000 ))" "$*" >&2; }
die() { echo "$me: $*" >&2; exit 1; }
note() { echo "- $*" >>"$notes"; say "NOTE: $*"; }   # odd things seen, copied into the report
usage_from_header() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
need_value() { [ "$2" -ge 2 ] || { echo "$me: $1 needs a value" >&2; exit 2; }; }   # FLAG ARGC
# bench_opt ARGS...: the flags the scripts share: --quick, --build DIR, --out FILE, --rounds N (also
# as --flag=value); sets quick, build, out or rounds, and opt_used to the words it took (0: none)
bench_opt() {
	opt_used=1
	case $1 in
	--quick) quick=1 ;;
	--build | --out | --rounds) need_value "$1" $#; printf -v "${1#--}" '%s' "$2"; opt_used=2 ;;
	--build=* | --out=* | --rounds=*) local k=${1%%=*}; printf -v "${k#--}" '%s' "${1#*=}" ;;
	*) opt_used=0 ;;
	esac
}
need_positive() { # FLAG VALUE
	case $2 in '' | *[!0-9]* | 0) echo "$me: $1: a positive number" >&2; exit 2 ;; esac
}

# ---- setup and build --------------------------------------------------------------------------
bench_setup() { # installs what is missing; a failure is not fatal, what is there may do
	[ -x tests/setup ] || return 0
	tests/setup || echo "$me: tests/setup failed; continuing with what is installed" >&2
}
need_cmds() { local c; for c in "$@"; do command -v "$c" >/dev/null || die "$c is missing (tests/setup installs it)"; done; }
# bench_build [DIR]: DIR/herd and DIR/bench/herd-load, else both built (release) in build-release/.
# Sets build (absolute), herd, load and build_note.
bench_build() {
	build=$1
	if [ -z "$build" ]; then
		build="build-release"
		say "building herd (release) in $build/"
		local re=()
		[ ! -f "$build/build.ninja" ] || re=(--reconfigure)
		meson setup "${re[@]}" "$build" --buildtype=release >/dev/null
		ninja -C "$build" herd bench/herd-load >/dev/null
		build_note="built by this script: meson setup --buildtype=release $build && ninja -C $build"
	else
		build_note="--build $build (not rebuilt by this script)"
	fi
	[ -d "$build" ] || die "$build: no such directory"
	build=$(cd "$build" && pwd)
	herd=$build/herd load=$build/bench/herd-load
	[ -x "$herd" ] || die "$herd not found"
	[ -x "$load" ] || die "$load not found"
}

# ---- CPUs and limits --------------------------------------------------------------------------
allowed_cpus() { # -> cpus: the CPUs this script may use (Cpus_allowed_list), ascending
	local part i
	cpus=()
	for part in $(awk '/^Cpus_allowed_list/ { print $2 }' /proc/self/status | tr ',' ' '); do
		if [[ $part == *-* ]]; then
			for ((i = ${part%-*}; i <= ${part#*-}; i++)); do cpus+=("$i"); done
		else
			cpus+=("$part")
		fi
	done
}
# pin_cpus: the server on the second allowed CPU, herd-load and this script on the first, so that
# neither the load nor our sampling is counted as the server's. With one CPU nothing is pinned.
# Sets cpus, pinned, load_cpu, srv_cpu, pin_srv (command prefix) and load_pin (herd-load flags).
pin_cpus() {
	allowed_cpus
	if [ ${#cpus[@]} -ge 2 ] && command -v taskset >/dev/null; then
		pinned=1 load_cpu=${cpus[0]} srv_cpu=${cpus[1]}
		pin_srv=(taskset -c "$srv_cpu") load_pin=(--cpus "$load_cpu")
		taskset -pc "$load_cpu" $$ >/dev/null
	else
		pinned=0 load_cpu="" srv_cpu=${cpus[0]}
		pin_srv=() load_pin=()
	fi
}
raise_nofile() { # storms and idle runs need many descriptors: sets nofile and ng_conns (nginx)
	ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
	nofile=$(ulimit -n)
	[ "$nofile" = unlimited ] && nofile=65536
	ng_conns=$((nofile < 20000 ? nofile : 20000))
}

# ---- time -------------------------------------------------------------------------------------
now_us() { echo "${EPOCHREALTIME/./}"; }
us_s() { printf '%d.%06d' $(($1 / 1000000)) $(($1 % 1000000)); }
us_ms() { echo $(( ($1 + 500) / 1000 )); }
sleep_until() { # absolute µs: keeps a schedule however long the work in between took
	local d=$(($1 - $(now_us)))
	[ $d -gt 0 ] && sleep "$(us_s $d)"
	return 0
}
stamp_lines() { # prefixes each line with the time (µs) it arrived: herd's log lines carry none
	local l
	while IFS= read -r l; do printf '%s %s\n' "${EPOCHREALTIME/./}" "$l"; done
}

# ---- /proc ------------------------------------------------------------------------------------
stat_fields() { # PID -> "state utime stime cutime cstime starttime", empty when gone
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
	s=${s##*) }   # the command name may hold spaces and parentheses
	# shellcheck disable=SC2086
	set -- $s
	echo "$1 ${12} ${13} ${14} ${15} ${20}"
}
alive() { # PID: running; an exited child stays a zombie until waited for, so kill -0 is not enough
	local f
	f=$(stat_fields "$1")
	[ -n "$f" ] || return 1
	case ${f%% *} in Z | X) return 1 ;; esac
}
ident() { # PID -> PID:STARTTIME (empty when gone): survives the PID being reused
	local f
	f=$(stat_fields "$1")
	[ -n "$f" ] && echo "$1:${f##* }"
	return 0
}
same_alive() { # PID:STARTTIME: still that live process
	alive "${1%%:*}" && [ "$(ident "${1%%:*}")" = "$1" ]
}
children() { # PID -> its child PIDs, ascending
	local f
	for f in /proc/"$1"/task/*/children; do
		[ -r "$f" ] && cat "$f" 2>/dev/null
	done | tr ' ' '\n' | awk 'NF' | sort -un | tr '\n' ' '
}
tree_pids() { echo "$1 $(children "$1")"; }   # PID -> it and its children (nginx: master, workers)
proc_ticks() { # PID -> utime+stime (all threads), 0 when gone
	local f
	f=$(stat_fields "$1")
	[ -n "$f" ] || { echo 0; return; }
	# shellcheck disable=SC2086
	set -- $f
	echo $(($2 + $3))
}
# A server's CPU ticks: the root's utime+stime+cutime+cstime plus utime+stime of its live children.
# A child that exits and is reaped moves its time into the root's cutime+cstime and a new child
# counts from zero, so the difference of two readings is exactly the CPU the process tree used in
# between, whatever was replaced meanwhile.
tree_ticks() {
	local top=$1 f k t
	f=$(stat_fields "$top")
	[ -n "$f" ] || { echo 0; return; }
	# shellcheck disable=SC2086
	set -- $f
	t=$(($2 + $3 + $4 + $5))
	for k in $(children "$top"); do t=$((t + $(proc_ticks "$k"))); done
	echo "$t"
}
cpu_busy() { # CPU -> its busy ticks (user nice system irq softirq steal); 0 when unpinned
	[ -n "$1" ] && [ "$pinned" = 1 ] || { echo 0; return; }
	awk -v c="cpu$1" '$1 == c { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat
}
rss_kb() { # PIDs -> VmRSS summed
	local f=() p
	for p in "$@"; do [ -r "/proc/$p/status" ] && f+=("/proc/$p/status"); done
	[ ${#f[@]} -gt 0 ] || { echo 0; return; }
	awk '/^VmRSS:/ { t += $2 } END { print t + 0 }' "${f[@]}" 2>/dev/null || echo 0
}
fd_count() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
established() { ss -Htn state established "( sport = :$1 )" 2>/dev/null | wc -l; }
netstat_listen() { # "ListenOverflows ListenDrops" (TcpExt, this network namespace)
	awk '/^TcpExt:/ { if (!h) { for (i = 1; i <= NF; i++) n[i] = $i; h = 1 }
	                  else for (i = 1; i <= NF; i++) v[n[i]] = $i }
	     END { print v["ListenOverflows"] + 0, v["ListenDrops"] + 0 }' /proc/net/netstat
}

# ---- processes: started here, stopped by PID --------------------------------------------------
declare -a OWNED=() load_pids=()   # PID:STARTTIME of every server process; running herd-loads
declare -A SRV_PID SRV_PORT SRV_ADMIN SRV_LOG SRV_KIND SRV_DIR SRV_ARGS
scratch_init() { # KEEPVAR: sets tmp (removed on exit unless $KEEPVAR is set) and the notes file
	keep_var=$1
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/herd-${me#bench/}.XXXXXX")
	notes=$tmp/notes
	: >"$notes"
}
own() { local i p; for p in "$@"; do i=$(ident "$p"); [ -n "$i" ] && OWNED+=("$i"); done; return 0; }
stop_pid() { # PID [seconds]: TERM, wait, KILL; the exit status in stop_status (never fails)
	local p=$1 n=$((${2:-5} * 10))
	stop_status=0
	[ -n "$p" ] || return 0
	if kill -TERM "$p" 2>/dev/null; then
		while alive "$p" && [ $n -gt 0 ]; do sleep 0.1; n=$((n - 1)); done
		[ $n -gt 0 ] || echo "$me: pid $p still running ${2:-5} s after SIGTERM: SIGKILL" >&2
		kill -KILL "$p" 2>/dev/null || true
	fi
	wait "$p" 2>/dev/null || stop_status=$?
	return 0
}
# stop_server NAME [quiet]: TERM to the root (herd may drain for its 10 s grace), then no process
# of the tree may be left. The root's exit status in stop_status.
stop_server() {
	local name=$1 pid=${SRV_PID[$1]:-} k left="" n ids=() st
	[ -n "$pid" ] || return 0
	for k in $(children "$pid"); do ids+=("$(ident "$k")"); done
	if [ "${SRV_KIND[$name]}" = herd ]; then stop_pid "$pid" 12; else stop_pid "$pid" 5; fi
	st=$stop_status
	for ((n = 30; n > 0; n--)); do
		left=""
		for k in "${ids[@]+"${ids[@]}"}"; do [ -n "$k" ] && same_alive "$k" && left+=" ${k%%:*}"; done
		[ -z "$left" ] && break
		sleep 0.1
	done
	if [ -n "$left" ]; then
		[ "${2:-}" = quiet ] || note "$name: process(es)$left still running 3 s after the ${SRV_KIND[$name]} root (pid $pid) exited; killed"
		for k in $left; do kill -KILL "$k" 2>/dev/null || true; done
	fi
	unset "SRV_PID[$name]"
	stop_status=$st
}
bench_cleanup() {
	local p k
	for p in "${load_pids[@]+"${load_pids[@]}"}"; do kill -TERM "$p" 2>/dev/null || true; done
	for k in "${!SRV_PID[@]}"; do stop_server "$k" quiet; done
	for p in "${load_pids[@]+"${load_pids[@]}"}"; do wait "$p" 2>/dev/null || true; done
	for p in "${OWNED[@]+"${OWNED[@]}"}"; do same_alive "$p" && kill -KILL "${p%%:*}" 2>/dev/null; done
	[ -n "${tmp:-}" ] || return 0
	if [ -n "${!keep_var:-}" ]; then echo "$me: scratch files kept in $tmp" >&2; else rm -rf "$tmp"; fi
}
bench_traps() {
	trap bench_cleanup EXIT
	trap 'exit 130' INT TERM
	trap 'exit 129' HUP PIPE
}

# ---- servers ----------------------------------------------------------------------------------
# start_herd NAME herd-flags...: herd on 127.0.0.1 (any port), prefixed with herd_taskset, its
# stderr timestamped into SRV_LOG[NAME]. 0 once it said "listening on" (within herd_wait tenths of
# a second, default 50); SRV_PORT and SRV_ADMIN (with --admin) then hold its ports.
herd_taskset=()
start_herd() {
	local name=$1 pid n log logfd; shift
	log=$tmp/$name.$(now_us).log
	# the timestamping reader is this script's child, not herd's (herd's children are its handlers)
	exec {logfd}> >(stamp_lines >"$log")
	"${herd_taskset[@]}" "$herd" --listen 127.0.0.1:0 "$@" 2>&"$logfd" &
	pid=$!
	exec {logfd}>&-
	SRV_PID[$name]=$pid SRV_LOG[$name]=$log SRV_KIND[$name]=herd SRV_ARGS[$name]="$*"
	own "$pid"
	for ((n = ${herd_wait:-50}; n > 0; n--)); do
		grep -q 'listening on' "$log" 2>/dev/null && break
		alive "$pid" || break
		sleep 0.1
	done
	if ! grep -q 'listening on' "$log" 2>/dev/null; then
		sleep 0.2   # herd's last words may still be on their way through stamp_lines
		stop_server "$name" quiet
		return 1
	fi
	SRV_PORT[$name]=$(grep -o 'listening on [0-9.]*:[0-9]*' "$log" | head -1 | sed 's/.*://' || true)
	SRV_ADMIN[$name]=$(grep -o 'admin on [0-9.]*:[0-9]*' "$log" | head -1 | sed 's/.*://' || true)
	# shellcheck disable=SC2046
	own $(children "$pid")
}
log_text() { cut -d' ' -f2- "${SRV_LOG[$1]}" 2>/dev/null || true; }   # NAME: the log, no timestamps
herd_said() { # NAME: herd's first words that are not warnings, on one line (why it did not start)
	log_text "$1" | grep -v 'warning:' | head -2 | sed 's/^herd: //' | tr '\n' ' ' || true
}
pick_port() { # a port nothing listens on (nginx cannot be given port 0 and tell which it got)
	local p
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		p=$((20000 + RANDOM % 12000))
		[ -z "$(ss -Htln "( sport = :$p )" 2>/dev/null)" ] && { echo "$p"; return 0; }
	done
	return 1
}
# nginx_conf DIR PORT NWORKERS: the peer herd is measured against, return 200 "Hello, World!".
# nginx_listen (e.g. "ssl ") and nginx_server (the server block's body) change it for bench/compare --tls.
nginx_conf() {
	local dir=$1 aff="" temps="" nv m i body
	body=${nginx_server:-'    location / { default_type text/plain; return 200 "Hello, World!"; }'}
	if [ "$pinned" = 1 ]; then
		aff="worker_cpu_affinity"
		for ((i = 0; i < $3; i++)); do aff+=" 1$(printf '%*s' "$srv_cpu" '' | tr ' ' 0)"; done
		aff+=";"
	fi
	# temp paths compiled into the binary may not be writable: ours, under DIR
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
    listen 127.0.0.1:$2 ${nginx_listen:-}backlog=4096;
$body
  }
}
EOF
}
# start_nginx NAME NWORKERS: pinned like herd, a private prefix, pid file and temp dirs under
# $tmp/nginx-NAME. 0 once the port listens and the workers are there; else R[NAME.startfail].
start_nginx() {
	local name=$1 nw=$2 dir=$tmp/nginx-$1 p n pid
	mkdir -p "$dir"
	for _ in 1 2 3 4 5 6 7 8; do
		p=$(pick_port) || break
		nginx_conf "$dir" "$p" "$nw" >"$dir/nginx.conf"
		: >"$dir/error.log"
		"${pin_srv[@]}" nginx -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" >>"$dir/stdout.log" 2>&1 &
		pid=$!
		SRV_PID[$name]=$pid SRV_KIND[$name]=nginx SRV_DIR[$name]=$dir SRV_LOG[$name]=$dir/error.log
		own "$pid"
		for ((n = 50; n > 0; n--)); do
			alive "$pid" || break
			if [ -n "$(ss -Htln "( sport = :$p )" 2>/dev/null)" ] && [ "$(wc -w <<<"$(children "$pid")")" -ge "$nw" ]; then
				SRV_PORT[$name]=$p
				cp "$dir/nginx.conf" "$tmp/nginx.conf.used"
				# shellcheck disable=SC2046
				own $(children "$pid")
				return 0
			fi
			sleep 0.1
		done
		stop_server "$name" quiet
		# someone took the port between the check and the bind: another one
		grep -q 'in use' "$dir/error.log" "$dir/stdout.log" 2>/dev/null && continue
		break
	done
	R[$name.startfail]="nginx did not start: $(cat "$dir/error.log" "$dir/stdout.log" 2>/dev/null | tail -2 | tr '\n' ' ')"
	return 1
}
nginx_conf_shown() { # the last nginx config used, scratch paths and port made generic
	sed "s#$tmp/nginx-[A-Za-z0-9._-]*#TMP#g; s#$tmp/#TMP/#g; s#listen 127.0.0.1:[0-9]*#listen 127.0.0.1:PORT#" "$tmp/nginx.conf.used"
}
metrics() { # NAME FILE [TRIES] [SECONDS]: herd NAME's /metrics into FILE, empty when it did not answer
	local n
	for ((n = ${3:-1}; n > 0; n--)); do
		curl -s --max-time "${4:-2}" "http://127.0.0.1:${SRV_ADMIN[$1]}/metrics" >"$2" 2>/dev/null && [ -s "$2" ] && return 0
	done
	: >"$2"
}
metric_sum() { # FILE NAME [LABEL-TEXT]: sum of NAME over its series (those holding LABEL-TEXT)
	awk -v m="$2" -v f="${3:-}" '(index($1, m "{") == 1 || $1 == m) && (f == "" || index($1, f)) { s += $NF }
		END { printf "%.0f\n", s }' "$1"
}
mval() { awk -v k="$2" '$1 == k { print $2; exit }' "$1"; }   # FILE SERIES: one exact series' value

# ---- herd-load results ------------------------------------------------------------------------
declare -A R        # every figure of the run, by KEY.field
declare -a CMDS=()  # the herd-load command lines run, for the report
record_cmd_fmt() { # a herd-load command line with ports and paths made generic
	local c=${1//$build\//BUILD/}
	sed -E 's#127\.0\.0\.1:[0-9]+#127.0.0.1:PORT#g; s#--json [^ ]+#--json FILE#; s#--cacert [^ ]+#--cacert CERT#' <<<"$c"
}
record_cmd() {
	local c x
	c=$(record_cmd_fmt "$1")
	for x in "${CMDS[@]+"${CMDS[@]}"}"; do [ "$x" = "$c" ] && return 0; done
	CMDS+=("$c")
}
jnum() { # FILE KEY: the first number after "KEY":
	awk -v k="\"$2\":" '{ i = index($0, k); if (!i) next; s = substr($0, i + length(k));
		sub(/^ */, "", s); if (match(s, /^-?[0-9.eE+]+/)) { print substr(s, RSTART, RLENGTH); exit } }' "$1" 2>/dev/null
}
jerrs() { # FILE: the non-zero error kinds, "kind=n ..."
	awk '/"errors_by_kind"/ { s = $0; sub(/.*"errors_by_kind": *\{/, "", s); sub(/\}.*/, "", s);
		n = split(s, a, ","); for (i = 1; i <= n; i++) { split(a[i], kv, ":"); gsub(/[" ]/, "", kv[1]);
		if (kv[2] + 0 > 0) printf "%s%s=%d", (o++ ? " " : ""), kv[1], kv[2] } exit }' "$1" 2>/dev/null
}
series() { # FILE: "t requests errors p99_us" per row of the per-second series
	awk '/"t": *[0-9.]+, *"requests"/ { l = $0; gsub(/[{}",:]/, " ", l); n = split(l, f, " ")
		for (i = 1; i < n; i++) v[f[i]] = f[i + 1]; print v["t"] + 0, v["requests"] + 0, v["errors"] + 0, v["p99_us"] + 0 }' "$1" 2>/dev/null
}
series_reqs() { # FILE FROM TO: "requests rows" over the rows with FROM <= t <= TO (t: end of the second)
	series "$1" | awk -v a="$2" -v b="$3" '$1 >= a - 0.01 && $1 <= b + 0.01 { s += $2; n++ } END { print s + 0, n + 0 }'
}

# ---- CPU per request --------------------------------------------------------------------------
# Before a run: wait (at most quiet_max s, quiet_budget s in all) until other processes leave the
# two CPUs alone, so that a busy neighbour does not end up in our figures. Measured over 0.5 s
# while our servers idle.
quiet_waited=0 quiet_late=0 n_steady=0 n_contam=0 shared_cpus=0
quiet_wait() {
	[ "$pinned" = 1 ] || return 0
	local t_start b0 b1 f spent
	t_start=$(now_us)
	while :; do
		b0=$(($(cpu_busy "$srv_cpu") + $(cpu_busy "$load_cpu")))
		sleep 0.5
		b1=$(($(cpu_busy "$srv_cpu") + $(cpu_busy "$load_cpu")))
		f=$((100 * (b1 - b0) * 2 / hz))   # % of one CPU
		spent=$((($(now_us) - t_start) / 1000000))
		[ $f -le "$busy_limit" ] && break
		if [ $spent -ge "$quiet_max" ] || [ $((quiet_waited + spent)) -ge "$quiet_budget" ]; then
			quiet_late=$((quiet_late + 1))
			say "  other processes still use ${f}% of a CPU (of 200%) on CPUs $load_cpu,$srv_cpu; starting anyway"
			break
		fi
	done
	quiet_waited=$((quiet_waited + spent))
	[ $spent -lt 1 ] || say "  waited ${spent} s for other processes to leave CPUs $load_cpu,$srv_cpu"
}
# TICKS DT_US [CAP]: % of one CPU. Capped (100) because after a stall of the whole VM /proc/stat can
# credit a CPU with more than the wall time.
pct() {
	awk -v b="$1" -v hz="$hz" -v dt="$2" -v cap="${3:-100}" 'BEGIN { o = 100 * b / hz / (dt / 1e6)
		printf "%.0f", (o < 0 ? 0 : (o > cap ? cap : o)) }'
}
# TICKS DT_US REQUESTS ROWS: server CPU µs per request, both as rates over the same window:
# (server CPU seconds / wall seconds) / (requests in the series rows / rows)
cpu_per_req() {
	awk -v c="$1" -v hz="$hz" -v dt="$2" -v wr="$3" -v ws="$4" 'BEGIN {
		if (wr > 0 && dt > 0 && ws > 0) printf "%.3f", (c / hz / (dt / 1e6)) / (wr / ws) * 1e6 }'
}
# steady_run KEY SRV herd-load-flags...: herd-load --warmup $warm -d $dur against server SRV, and the
# CPU window from the end of the warm-up to 1 s before the end ($win s, series rows 1..win): the
# server's process tree, herd-load's own ticks and the busy ticks of both CPUs, in W[...]. JSON in
# $tmp/KEY.json, output in $tmp/KEY.txt. The URL is ${url_scheme:-http}://127.0.0.1:PORT${url_path:-/plaintext}.
# A function on_window_end (KEY SRV), when the script has
# one, runs at the end of the window, under load.
declare -A W
steady_run() {
	local key=$1 srv=$2 pid=${SRV_PID[$2]} launch hl hlp cmd; shift 2
	quiet_wait
	n_steady=$((n_steady + 1))
	cmd=("$load" "${load_pin[@]}" --warmup "$warm" -d "$dur" "$@" --json "$tmp/$key.json"
		"${url_scheme:-http}://127.0.0.1:${SRV_PORT[$srv]}${url_path:-/plaintext}")
	record_cmd "${cmd[*]}"
	rm -f "$tmp/$key.json"
	launch=$(now_us)
	timeout -k 2 $((warm + dur + 30)) "${cmd[@]}" >"$tmp/$key.txt" 2>&1 &
	hl=$!
	load_pids=("$hl")
	sleep_until $((launch + warm * 1000000))
	hlp=$(children "$hl" | awk '{ print $1 }')   # herd-load, under timeout(1)
	W=([kids0]="$(children "$pid")")
	W[b0]=$(cpu_busy "$srv_cpu") W[l0]=$(cpu_busy "$load_cpu") W[h0]=$(proc_ticks "$hlp") W[c0]=$(tree_ticks "$pid") W[t0]=$(now_us)
	sleep_until $((launch + (warm + win) * 1000000))
	W[c1]=$(tree_ticks "$pid") W[h1]=$(proc_ticks "$hlp") W[l1]=$(cpu_busy "$load_cpu") W[b1]=$(cpu_busy "$srv_cpu") W[t1]=$(now_us)
	W[kids1]=$(children "$pid")
	if declare -F on_window_end >/dev/null; then on_window_end "$key" "$srv"; fi
	W[rc]=0
	wait "$hl" || W[rc]=$?
	load_pids=()
	W[wall_ms]=$(( ($(now_us) - launch) / 1000 ))
}
# steady_figures KEY [LABEL]: from W and herd-load's JSON into R[KEY.*]: rps errors ekinds requests
# p50..p9999, cpu (server CPU µs/request), share (% of a CPU), other and lother (see noise_figures).
# Notes what looks wrong. 1 when herd-load failed.
steady_figures() {
	local key=$1 label=${2:-} json=$tmp/$1.json wr nrows c dt p rows
	[ "${W[wall_ms]}" -le $(( (warm + dur + 2) * 1000 )) ] ||
		note "herd-load ${label:+against $label }($key) took ${W[wall_ms]} ms for --warmup $warm -d $dur (duration_s $(jnum "$json" duration_s))"
	if [ "${W[rc]}" -ne 0 ] || [ ! -s "$json" ]; then
		note "herd-load exited ${W[rc]} ${label:+against $label }($key): $(tail -2 "$tmp/$key.txt" | tr '\n' ' ')"
		return 1
	fi
	c=$((W[c1] - W[c0])) dt=$((W[t1] - W[t0]))
	R[$key.rps]=$(jnum "$json" rps) R[$key.errors]=$(jnum "$json" errors) R[$key.ekinds]=$(jerrs "$json")
	R[$key.requests]=$(jnum "$json" requests)
	if [ "${R[$key.requests]}" = 0 ]; then
		note "${label:+$label }$key: herd-load got **no response at all** ($(grep -E '^ *errors' "$tmp/$key.txt" | sed 's/^ *//')); server CPU in the window: $c ticks"
	else
		for p in p50 p90 p99 p999 p9999; do R[$key.$p]=$(jnum "$json" "$p"); done
	fi
	read -r wr nrows < <(series_reqs "$json" 1 "$win")
	R[$key.cpu]=$(cpu_per_req "$c" "$dt" "$wr" "$nrows")
	R[$key.share]=$(pct "$c" "$dt" 1000)
	noise_figures "$key" "$label" $((W[b1] - W[b0] - c)) $((W[l1] - W[l0] - (W[h1] - W[h0]))) "$dt" "the window" ||
		n_contam=$((n_contam + 1))
	[ "${R[$key.errors]:-0}" = 0 ] || note "${label:+$label }$key: herd-load counted ${R[$key.errors]} errors (${R[$key.ekinds]})"
	# a steady run has no second far below the others: flag stalls
	rows=$(series "$json" | awk -v w="$win" '$1 <= w + 0.01 { printf "%d ", $2 }')
	if ! awk -v r="$rows" 'BEGIN { n = split(r, a, " "); for (i = 1; i <= n; i++) if (a[i] > mx) mx = a[i]
		for (i = 1; i <= n; i++) if (a[i] < mx / 2) exit 1 }'; then
		note "unsteady run, ${label:+$label }$key: requests per second ${rows% } (herd-load's series); server CPU busy ${R[$key.share]}%${R[$key.other]:+, other processes on CPU $srv_cpu ${R[$key.other]}%}"
	fi
	return 0
}
# steady_rounds WORKLOADS CONFIGS (names of two arrays): every steady run of rounds 1..$rounds,
# `steady CONFIG.WORKLOAD.ROUND CONFIG ${WL_FLAGS[WORKLOAD]}`; the configurations take turns going
# first (reversed every other round), so that none always runs right after the same other one.
declare -A CFG_NAME WL_NAME WL_FLAGS
steady_rounds() {
	local -n wl_list=$1 cfg_list=$2
	local r i wl c name order
	for ((r = 1; r <= rounds; r++)); do
		order=("${cfg_list[@]}")
		if [ $((r % 2)) = 0 ]; then
			order=()
			for ((i = ${#cfg_list[@]} - 1; i >= 0; i--)); do order+=("${cfg_list[$i]}"); done
		fi
		for wl in "${wl_list[@]}"; do
			for c in "${order[@]}"; do
				name="${CFG_NAME[$c]:-$c}, ${WL_NAME[$wl]:-$wl}"
				say "round $r/$rounds: ${name//\`/}"
				# shellcheck disable=SC2086
				steady "$c.$wl.$r" "$c" ${WL_FLAGS[$wl]}
			done
		done
	done
}
# noise_figures KEY LABEL SRV_OTHER LOAD_OTHER DT_US WHEN: how much CPU other processes took, from
# the busy ticks of the server's (load's) CPU minus the server's (herd-load's) own, into R[KEY.other]
# (R[KEY.lother]). Above busy_limit the run is noted as contaminated, and the status is 1. With
# shared_cpus=1 (server and herd-load on both CPUs) one figure for both.
noise_figures() {
	local key=$1 label=$2 so=$3 lo=$4 dt=$5 when=$6
	[ "$pinned" = 1 ] || return 0
	if [ "$shared_cpus" = 1 ]; then
		R[$key.other]=$(pct $((so + lo)) "$dt" 200)
		[ "${R[$key.other]}" -le "$busy_limit" ] && return 0
		note "contaminated run, $key: other processes used ${R[$key.other]}% of a CPU on CPUs $load_cpu,$srv_cpu during $when"
		return 1
	fi
	R[$key.other]=$(pct "$so" "$dt") R[$key.lother]=$(pct "$lo" "$dt")
	[ "${R[$key.other]}" -gt "$busy_limit" ] || [ "${R[$key.lother]}" -gt "$busy_limit" ] || return 0
	note "contaminated run, ${label:+$label }$key: other processes used ${R[$key.other]}% of CPU $srv_cpu (server) and ${R[$key.lother]}% of CPU $load_cpu (herd-load) during $when"
	return 1
}

# ---- formatting and the report's header -------------------------------------------------------
median() { printf '%s\n' "$@" | awk 'NF' | sort -g | awk '{ v[++n] = $1 + 0 } END { if (!n) exit;
	printf "%s", (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2 }'; }
med() { # KEYPREFIX FIELD: the median over rounds 1..$rounds
	local v=() r
	for ((r = 1; r <= rounds; r++)); do v+=("${R[$1.$r.$2]:-}"); done
	median "${v[@]}"
}
all_rounds() { # KEYPREFIX FIELD: "a, b, c" ("n/a" for a missing value)
	local r o=""
	for ((r = 1; r <= rounds; r++)); do o+="${o:+, }${R[$1.$r.$2]:-n/a}"; done
	echo "$o"
}
fint() { [ -n "${1:-}" ] && awk -v x="$1" 'BEGIN { s = sprintf("%.0f", x); o = "";
	while (length(s) > 3) { o = "," substr(s, length(s) - 2) o; s = substr(s, 1, length(s) - 3) } print s o }' || echo "n/a"; }
f2() { [ -n "${1:-}" ] && printf '%.2f' "$1" || echo "n/a"; }
flat() { # µs -> "455 µs" / "8.50 ms"
	[ -n "${1:-}" ] || { echo "n/a"; return; }
	awk -v x="$1" 'BEGIN { if (x < 1000) printf "%.0f µs", x; else if (x < 10000) printf "%.2f ms", x / 1000;
		else if (x < 100000) printf "%.1f ms", x / 1000; else printf "%.0f ms", x / 1000 }'
}
ratio() { [ -n "${1:-}" ] && [ -n "${2:-}" ] && awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }' || echo "n/a"; }
run_facts() { # for the report's header: runtime load_end commit dirty cpu_model
	runtime=$(( ($(now_us) - t_script) / 1000000 ))
	load_end=$(cut -d' ' -f1-3 /proc/loadavg)
	commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
	dirty=""
	[ -z "$(git status --porcelain --untracked-files=no 2>/dev/null)" ] || dirty=" (+ uncommitted changes in the working tree)"
	cpu_model=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)
	[ -n "$cpu_model" ] || cpu_model=$(lscpu 2>/dev/null | awk -F': *' '/Model name/ { print $2; exit }')
}
report_machine() { # the report's line about this machine
	echo "- **date** $(date -u '+%F %H:%M UTC'); **kernel** $(uname -r); **CPU** $cpu_model, $(nproc --all) CPUs (this script may use: ${cpus[*]})"
}
report_notes() {
	[ -s "$notes" ] || return 0
	echo
	echo "## Notes from this run"
	echo
	cat "$notes"
}
# report_commands SERVER-LINES...: the report's "Exact commands": the server command lines given,
# every herd-load command run and the nginx config used
report_commands() {
	echo
	echo "<details><summary>Exact commands</summary>"
	echo
	echo '```'
	printf '%s\n' "$@"
	echo "# herd-load (BUILD = $build):"
	printf '%s\n' "${CMDS[@]+"${CMDS[@]}"}"
	echo '```'
	if [ -f "$tmp/nginx.conf.used" ]; then
		echo
		echo '```nginx'
		nginx_conf_shown
		echo '```'
	fi
	echo
	echo "</details>"
}
