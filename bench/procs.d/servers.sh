# bench/procs.d/servers.sh: herd with its admin endpoint, and what bench/procs reads about its processes
# (herd_process_info on /metrics, connections per process); starting and stopping are bench/lib.sh's
# shellcheck shell=bash disable=SC2034,SC2154 # globals shared with bench/procs

# start_procs_herd NAME herd-flags...: with /metrics (the handlers are found there); on failure
# what herd said in R[NAME.startfail]
start_procs_herd() {
	local name=$1; shift
	start_herd "$name" --admin 127.0.0.1:0 "$@" && return 0
	R[$name.startfail]=$(herd_said "$name")
	return 1
}
# herd_process_info lines of a /metrics dump: "proc pid generation state"
proc_info() {
	awk '$1 ~ /^herd_process_info\{/ { l = $1; p = l; sub(/.*proc="/, "", p); sub(/".*/, "", p)
		d = l; sub(/.*pid="/, "", d); sub(/".*/, "", d); g = l; sub(/.*generation="/, "", g); sub(/".*/, "", g)
		s = l; sub(/.*state="/, "", s); sub(/".*/, "", s); print p, d, g, s }' "$1"
}
# established connections on PORT per owning process: "pid count" lines (ss -p)
conns_by_pid() {
	{ ss -Htnp state established "( sport = :$1 )" 2>/dev/null || true; } |
		awk '{ while (match($0, /pid=[0-9]+/)) { c[substr($0, RSTART + 4, RLENGTH - 4)]++; $0 = substr($0, RSTART + RLENGTH) } }
		END { for (p in c) print p, c[p] }' | sort -n
}
