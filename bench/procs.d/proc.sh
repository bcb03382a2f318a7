# bench/procs.d/proc.sh: time, /proc readings and CPU accounting (process-tree ticks, CPU busy ticks, quiet wait)
# shellcheck shell=bash disable=SC2034,SC2154 # globals shared with bench/procs

# ---- time and /proc ---------------------------------------------------------------------------
now_us() { echo "${EPOCHREALTIME/./}"; }
sleep_until() { # absolute µs
	local d=$(($1 - $(now_us)))
	[ $d -gt 0 ] && sleep "$(printf '%d.%06d' $((d / 1000000)) $((d % 1000000)))"
	return 0
}
us_ms() { echo $(( ($1 + 500) / 1000 )); }
stamp_lines() { # prefix each line with the wall-clock time (µs) it arrived
	local l
	while IFS= read -r l; do printf '%s %s\n' "${EPOCHREALTIME/./}" "$l"; done
}
children() { # PID -> its child PIDs
	local f
	for f in /proc/"$1"/task/*/children; do
		[ -r "$f" ] && cat "$f" 2>/dev/null
	done | tr ' ' '\n' | awk 'NF' | sort -un | tr '\n' ' '
}
stat_fields() { # PID -> "state utime stime cutime cstime starttime", empty when gone
	local s
	s=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
	s=${s##*) }
	# shellcheck disable=SC2086
	set -- $s
	echo "$1 ${12} ${13} ${14} ${15} ${20}"
}
alive() { # PID: running (not gone, not a zombie)
	local f
	f=$(stat_fields "$1")
	[ -n "$f" ] || return 1
	set -- $f
	case $1 in Z | X) return 1 ;; esac
	return 0
}
ident() { # PID -> PID:STARTTIME (empty when gone)
	local p=$1 f
	f=$(stat_fields "$p")
	[ -n "$f" ] || return 0
	set -- $f
	echo "$p:$6"
}
same_alive() { # PID:STARTTIME still the same live process
	local p=${1%%:*} s=${1#*:} f
	f=$(stat_fields "$p")
	[ -n "$f" ] || return 1
	set -- $f
	case $1 in Z | X) return 1 ;; esac
	[ "$6" = "$s" ]
}
# Server CPU ticks: the root process's utime+stime+cutime+cstime plus utime+stime of its live
# children. A child that exits and is reaped moves its whole time into the root's cutime+cstime,
# and a new child counts from zero, so the difference of two readings is exactly the CPU the
# process tree used in between, whatever was replaced in the meantime.
srv_ticks() {
	local r=$1 t=0 f k
	f=$(stat_fields "$r")
	[ -n "$f" ] || { echo 0; return; }
	set -- $f
	t=$(($2 + $3 + $4 + $5))
	for k in $(children "$r"); do
		f=$(stat_fields "$k")
		[ -n "$f" ] || continue
		set -- $f
		t=$((t + $2 + $3))
	done
	echo "$t"
}
cpu_busy() { # busy ticks of one CPU; 0 when unpinned
	[ -n "$1" ] && [ "$pinned" = 1 ] || { echo 0; return; }
	awk -v c="cpu$1" '$1 == c { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat
}
proc_ticks() { # PID -> utime+stime, 0 when gone
	local f
	f=$(stat_fields "$1")
	[ -n "$f" ] || { echo 0; return; }
	set -- $f
	echo $(($2 + $3))
}

# ---- noise: quiet CPUs before a run, CPU shares ----------------------------------------------
quiet_waited=0 quiet_late=0
quiet_wait() {
	[ "$pinned" = 1 ] || return 0
	local t_start b0 b1 f spent
	t_start=$(now_us)
	while :; do
		b0=$(($(cpu_busy "$srv_cpu") + $(cpu_busy "$load_cpu")))
		sleep 0.5
		b1=$(($(cpu_busy "$srv_cpu") + $(cpu_busy "$load_cpu")))
		f=$((100 * (b1 - b0) * 2 / hz))
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
pct() { # TICKS DT_US [cap]: % of one CPU
	awk -v b="$1" -v hz="$hz" -v dt="$2" -v cap="${3:-100}" 'BEGIN { o = 100 * b / hz / (dt / 1e6)
		printf "%.0f", (o < 0 ? 0 : (o > cap ? cap : o)) }'
}
