# bench/procs.d/events.sh: parts B and C, one run around a kill -9 or a reload, and what it measures
# shellcheck shell=bash disable=SC2034,SC2154 # globals shared with bench/procs

# One event run keeps its state in ev_* globals: the helpers below share it without a dozen
# arguments each.

# event_aim KEY SRV EVENT: what the event hits, read shortly before it: ev_target (kill: the
# handler / worker holding the most connections, so that the kill hits load) and ev_old, the
# PID:STARTTIME of the processes that should go
event_aim() {
	local key=$1 srv=$2 ev=$3 pid=${SRV_PID[$2]} m0=$tmp/$1.m0 k
	ev_kids=$(children "$pid") ev_target="" ev_old=()
	if [ "${SRV_KIND[$srv]}" = herd ]; then
		metrics "$srv" "$m0" 2
		proc_info "$m0" >"$tmp/$key.info0"
		R[$key.info0]=$(awk '{ printf "%sproc %s pid %s gen %s %s", (n++ ? "; " : ""), $1, $2, $3, $4 }' "$tmp/$key.info0")
	fi
	conns_by_pid "${SRV_PORT[$srv]}" >"$tmp/$key.conns0"
	R[$key.conns0]=$(awk '{ printf "%s%s:%s", (n++ ? " " : ""), $1, $2 }' "$tmp/$key.conns0")
	if [ "$ev" = hup ]; then
		for k in $ev_kids; do ev_old+=("$(ident "$k")"); done
		return 0
	fi
	if [ "${SRV_KIND[$srv]}" = herd ]; then
		# among the running handlers /metrics lists (herd_process_info)
		ev_target=$(awk 'NR == FNR { c[$1] = $2; next } $4 == "running" && (t == "" || c[$2] + 0 > best) { t = $2; best = c[$2] + 0 }
			END { print t }' "$tmp/$key.conns0" "$tmp/$key.info0")
		R[$key.slot]=$(awk -v p="$ev_target" '$2 == p { print $1; exit }' "$tmp/$key.info0")
		if [ -z "$ev_target" ]; then
			note "$key: no herd_process_info on /metrics (${SRV_ADMIN[$srv]}): $(head -c 300 "$m0" | tr '\n' ' '); killing the last child of the supervisor instead"
			ev_target=$(awk '{ print $NF }' <<<"$ev_kids")
		elif ! [[ " $ev_kids " == *" $ev_target "* ]]; then
			note "$key: herd_process_info pid $ev_target is not a child of the supervisor (children: $ev_kids)"
		fi
	else
		ev_target=$(for k in $ev_kids; do echo "$k $(awk -v p="$k" '$1 == p { print $2 }' "$tmp/$key.conns0")"; done |
			sort -k2,2nr | awk 'NR == 1 { print $1 }')
	fi
	R[$key.target]=$ev_target
	R[$key.held]=$(awk -v p="$ev_target" '$1 == p { print $2 }' "$tmp/$key.conns0")
	R[$key.held]=${R[$key.held]:-0}
	ev_old=("$(ident "$ev_target")")
}

# event_fire KEY SRV EVENT LAUNCH: sends the event on time; ev_t (µs) is when it went
event_fire() {
	local key=$1 pid=${SRV_PID[$2]} ev=$3 due=$(($4 + (warm + ev_at) * 1000000 + ev_off))
	sleep_until "$due"
	ev_t=$(now_us)
	if [ "$ev" = kill ]; then
		[ -n "$ev_target" ] && kill -KILL "$ev_target" 2>/dev/null || note "$key: kill -9 $ev_target failed"
	else
		kill -HUP "$pid" 2>/dev/null || note "$key: kill -HUP $pid failed"
	fi
	R[$key.t_ev]=$(awk -v a="$ev_t" -v b="$4" -v w="$warm" 'BEGIN { printf "%.3f", (a - b) / 1e6 - w }')
	R[$key.late]=$(us_ms $((ev_t - due)))
	[ "${R[$key.late]}" -le 250 ] || note "$key: the event was sent ${R[$key.late]} ms late (t=${R[$key.t_ev]} s instead of $ev_at.05 s): this machine was too busy to keep time"
	if awk -v t="${R[$key.t_ev]}" -v d="$edur" 'BEGIN { exit !(t > d - 1) }'; then
		R[$key.invalid]="the event was sent at t=${R[$key.t_ev]} s, after the last full second of the $edur s run"
	fi
}

old_left() { # the pids of ev_old still running, " p1 p2"
	local o left=""
	for o in "${ev_old[@]+"${ev_old[@]}"}"; do [ -n "$o" ] && same_alive "$o" && left+=" ${o%%:*}"; done
	echo "$left"
}

# event_watch SRV EVENT LOADPID: polls the processes while herd-load runs (so bounded by its own
# time limit): ev_gone, when no old process is left; ev_new, when a new child (not in ev_kids) is
# there; ev_full, when all are (kill: one replacement; reload: as many as before)
event_watch() {
	local pid=${SRV_PID[$1]} ev=$2 kids k n_new want
	ev_gone="" ev_new="" ev_full=""
	want=$(wc -w <<<"$ev_kids")
	while alive "$3"; do
		[ -n "$ev_gone" ] || [ -n "$(old_left)" ] || ev_gone=$(now_us)
		if [ -z "$ev_full" ]; then
			kids=$(children "$pid") n_new=0
			for k in $kids; do [[ " $ev_kids " == *" $k "* ]] || n_new=$((n_new + 1)); done
			# shellcheck disable=SC2086
			[ $n_new -gt 0 ] && [ -z "$ev_new" ] && { ev_new=$(now_us); own $kids; }
			if [ "$ev" = kill ]; then
				[ $n_new -ge 1 ] && ev_full=$ev_new
			else
				# shellcheck disable=SC2086
				[ $n_new -ge "$want" ] && { ev_full=$(now_us); own $kids; }
			fi
		fi
		[ -n "$ev_gone" ] && [ -n "$ev_full" ] && break
		sleep "$poll_s"
	done
}

# event_running KEY SRV: a killed handler's replacement counts once /metrics lists a running
# process with a new pid in its slot (at most 3 s)
event_running() {
	local key=$1 m1=$tmp/$1.m1 tr_end=$(( $(now_us) + 3000000 ))
	while [ "$(now_us)" -lt $tr_end ]; do
		metrics "$2" "$m1"
		if awk -v s="${R[$key.slot]:-x}" -v p="$ev_target" '$1 == s && $2 != p && $4 == "running" { f = 1 } END { exit !f }' <(proc_info "$m1"); then
			R[$key.running]=$(us_ms $(($(now_us) - ev_t)))
			return 0
		fi
		sleep 0.1
	done
}

event_times() { # KEY SRV: the watch's times, relative to the event, into R
	local key=$1 t_end left
	if [ -z "$ev_gone" ]; then
		t_end=$(now_us) left=$(old_left)
		if [ -n "$left" ]; then
			R[$key.gone]=">$(us_ms $((t_end - ev_t)))"
			note "$key: old process(es)$left still running when the load ended, $(us_ms $((t_end - ev_t))) ms after the event"
		else
			ev_gone=$t_end
		fi
	fi
	[ -n "$ev_gone" ] && R[$key.gone]=$(us_ms $((ev_gone - ev_t)))
	[ -n "$ev_new" ] && R[$key.new]=$(us_ms $((ev_new - ev_t)))
	[ -n "$ev_full" ] && R[$key.full]=$(us_ms $((ev_full - ev_t)))
	R[$key.kids_after]=$(children "${SRV_PID[$2]}")
	R[$key.kids_before]=$ev_kids
}

log_ms() { awk -v s="$1" 'BEGIN { printf "%.0f", s * 1000 }'; }   # "+0.123" (s) -> 123
# event_herd_account KEY SRV EVENT: herd's own figures after the event, /metrics and its stderr
event_herd_account() {
	local key=$1 srv=$2 ev=$3 m1=$tmp/$1.m1 ln
	metrics "$srv" "$m1"
	R[$key.info1]=$(proc_info "$m1" | awk '{ printf "%sproc %s pid %s gen %s %s", (n++ ? "; " : ""), $1, $2, $3, $4 }')
	R[$key.gen]=$(mval "$m1" herd_generation)
	R[$key.nproc]=$(mval "$m1" herd_processes)
	R[$key.restarts]=$(awk '$1 ~ /^herd_process_restarts_total\{/ { s += $2 } END { if (NR) print s + 0 }' "$m1")
	R[$key.reload_ok]=$(mval "$m1" 'herd_reloads_total{result="ok"}')
	R[$key.reload_failed]=$(mval "$m1" 'herd_reloads_total{result="failed"}')
	# herd's own account, times relative to the event
	awk -v t="$ev_t" '$1 >= t - 1000000 { l = $0; sub(/^[0-9]+ /, "", l); printf "%+.3f s  %s\n", ($1 - t) / 1e6, l }' \
		"${SRV_LOG[$srv]}" | grep -v -e 'listening on' -e 'admin on' | head -20 >"$tmp/$key.log" || true
	ln=$(grep -m1 -E 'reload: generation [0-9]+ is accepting' "$tmp/$key.log" | awk '{ print $1 }' || true)
	[ -n "$ln" ] && R[$key.accepting]=$(log_ms "$ln")
	R[$key.holding]=$(grep -m1 -o 'holding [0-9]* connections' "$tmp/$key.log" | awk '{ print $2 }' || true)
	if [ "$ev" = kill ]; then # the replacement's own "handler K (pid N, ...) serving" line
		ln=$(awk -v s="${R[$key.slot]:-x}" -v p="$ev_target" '$3 ~ /^herd/ && $4 == "handler" && $5 == s && $6 == "(pid" && $7 != p "," && / serving / { print $1; exit }' "$tmp/$key.log" || true)
		[ -n "$ln" ] && R[$key.serving]=$(log_ms "$ln")
	fi
	ln=$(grep -m1 -E 'reload failed' "$tmp/$key.log" || true)
	[ -n "$ln" ] && note "$key: herd said: ${ln#* s  }"
	return 0
}

# event_series KEY: figures from the per-second series of the load and of the probe: steady =
# median per-second p99 before the event, event second = the row holding the event (t in (T-1, T]),
# worst = the largest p99 after it
event_series() {
	local key=$1 f j p
	for f in main probe; do
		j=$tmp/$key.json p=$key
		[ $f = probe ] && { j=$tmp/$key.probe.json; p=$key.probe; }
		[ -s "$j" ] || continue
		R[$p.errors]=$(jnum "$j" errors) R[$p.kinds]=$(jerrs "$j") R[$p.requests]=$(jnum "$j" requests)
		R[$p.rps]=$(jnum "$j" rps)
		read -r "R[$p.steady]" "R[$p.evp99]" "R[$p.worst]" "R[$p.worst_t]" "R[$p.everr]" "R[$p.evreq]" "R[$p.steady_rps]" < <(
			series "$j" | awk -v te="${R[$key.t_ev]}" '
				{ t = $1; if (t <= te && $2 > 0) { s[++ns] = $4; r[ns] = $2 }
				  if (t > te && t - 1 <= te) { ev = $4; ee = $3; er = $2; hit = 1 }
				  if (t > te && $4 >= w) { w = $4; wt = t } }
				END { n = asort_(s, ns); m = (ns ? (ns % 2 ? s[(ns + 1) / 2] : (s[ns / 2] + s[ns / 2 + 1]) / 2) : "")
				      for (i = 1; i <= ns; i++) rs += r[i]
				      printf "%s %s %s %s %s %s %s\n", (ns ? m : "-"), (hit ? ev : "-"), (wt ? w : "-"), (wt ? wt : "-"),
				             (hit ? ee : "-"), (hit ? er : "-"), (ns ? rs / ns : "-") }
				function asort_(a, n,   i, j, x) { for (i = 2; i <= n; i++) { x = a[i]; for (j = i - 1; j >= 1 && a[j] > x; j--) a[j + 1] = a[j]; a[j + 1] = x } return n }')
	done
	# the series as a compact line for the report: requests/errors/p99 per second
	R[$key.series]=$(series "$tmp/$key.json" | awk '{ printf "%s%d:%d/%d/%.0f", (n++ ? " " : ""), $1, $2, $3, $4 }')
	R[$key.pseries]=$(series "$tmp/$key.probe.json" | awk '{ printf "%s%d:%d/%d/%.0f", (n++ ? " " : ""), $1, $2, $3, $4 }')
}

# event_run KEY SERVER EVENT(kill|hup) WORKLOAD(ka|close)
# The server SERVER must be running. herd-load (and the probe) run --warmup $warm -d $edur; the
# event is sent $ev_at s (+50 ms) into herd-load's series, so it falls inside row ev_at+1.
event_run() {
	local key=$1 srv=$2 ev=$3 wl=$4 pid=${SRV_PID[$2]} url=http://127.0.0.1:${SRV_PORT[$2]}/plaintext
	local launch hl hp hlp hpp rc=0 prc=0 b0 b1 l0 l1 c0 c1 h0 h1 t0 t1
	quiet_wait
	# shellcheck disable=SC2206
	local cmd=("$load" "${load_pin[@]}" --warmup "$warm" -d "$edur" ${WL_FLAGS[$wl]} --json "$tmp/$key.json" "$url")
	local pcmd=("$load" "${load_pin[@]}" --warmup "$warm" -d "$edur" "${probe_flags[@]}" --json "$tmp/$key.probe.json" "$url")
	record_cmd "${cmd[*]}"
	record_cmd "${pcmd[*]}"
	launch=$(now_us)
	timeout -k 2 $((warm + edur + 30)) "${cmd[@]}" >"$tmp/$key.txt" 2>&1 &
	hl=$!
	timeout -k 2 $((warm + edur + 30)) "${pcmd[@]}" >"$tmp/$key.probe.txt" 2>&1 &
	hp=$!
	load_pids=("$hl" "$hp")
	sleep_until $((launch + warm * 1000000))
	hlp=$(children "$hl" | awk '{ print $1 }') hpp=$(children "$hp" | awk '{ print $1 }')
	b0=$(cpu_busy "$srv_cpu") l0=$(cpu_busy "$load_cpu") c0=$(tree_ticks "$pid") h0=$(( $(proc_ticks "$hlp") + $(proc_ticks "$hpp") )) t0=$(now_us)
	sleep_until $((launch + (warm + ev_at) * 1000000 - 800000))
	event_aim "$key" "$srv" "$ev"
	event_fire "$key" "$srv" "$ev" "$launch"
	event_watch "$srv" "$ev" "$hl"
	[ "${SRV_KIND[$srv]}" = herd ] && [ "$ev" = kill ] && event_running "$key" "$srv"
	# the CPU figures for the noise check: 0.3 s before herd-load's end, as its start figures were read
	# at the end of its warm-up (the watch above usually ends long before)
	sleep_until $((launch + (warm + edur) * 1000000 - 300000))
	c1=$(tree_ticks "$pid") h1=$(( $(proc_ticks "$hlp") + $(proc_ticks "$hpp") ))
	b1=$(cpu_busy "$srv_cpu") l1=$(cpu_busy "$load_cpu") t1=$(now_us)
	wait "$hl" || rc=$?
	wait "$hp" || prc=$?
	load_pids=()
	event_times "$key" "$srv"
	[ "${SRV_KIND[$srv]}" = herd ] && event_herd_account "$key" "$srv" "$ev"
	if [ $rc -ne 0 ] || [ ! -s "$tmp/$key.json" ]; then
		note "$key: herd-load exited $rc: $(tail -2 "$tmp/$key.txt" | tr '\n' ' ')"
		return 0
	fi
	[ $prc -eq 0 ] && [ -s "$tmp/$key.probe.json" ] || note "$key: the probe exited $prc: $(tail -2 "$tmp/$key.probe.txt" | tr '\n' ' ')"
	event_series "$key"
	# other processes on the two CPUs (busy ticks minus the server's, resp. both herd-loads')
	noise_figures "$key" "" $((b1 - b0 - (c1 - c0))) $((l1 - l0 - (h1 - h0))) $((t1 - t0)) "the run" || true
	say "  $key: event at t=${R[$key.t_ev]} s; failed ${R[$key.errors]:-?} (${R[$key.kinds]:-}), p99 steady ${R[$key.steady]:-?} µs, event second ${R[$key.evp99]:-?} µs, worst ${R[$key.worst]:-?} µs (t=${R[$key.worst_t]:-?}); old gone after ${R[$key.gone]:-?} ms, new after ${R[$key.new]:-?} ms; probe failed ${R[$key.probe.errors]:-?}"
}

herd_ev_flags() { echo "--procs 2 --workers $workers --cpus $srv_cpu --grace $1"; }
# run_event KEY SERVER-KIND EVENT WORKLOAD
run_event() {
	local key=$1 kind=$2 ev=$3 wl=$4 name=ev g=$grace_a
	[ "$ev" = hup ] && g=$grace_c
	if [ "$kind" = herd ]; then
		if [ "$have_procs" = 0 ]; then
			R[$key.unavail]="this herd has no --procs"
			return 0
		fi
		# shellcheck disable=SC2046
		if ! start_procs_herd "$name" $(herd_ev_flags "$g"); then
			R[$key.unavail]="herd did not start: ${R[$name.startfail]:-}"
			note "$key: ${R[$key.unavail]}"
			return 0
		fi
		R[$key.cmd]="${pin_srv[*]}${pin_srv:+ }BUILD/herd --listen 127.0.0.1:0 --admin 127.0.0.1:0 $(herd_ev_flags "$g")"
	else
		if ! start_nginx "$name" 2; then
			R[$key.unavail]=${R[$name.startfail]}
			note "$key: ${R[$key.unavail]}"
			return 0
		fi
	fi
	sleep 0.3
	say "$key: $kind (pid ${SRV_PID[$name]}, children $(children "${SRV_PID[$name]}")) on :${SRV_PORT[$name]}, ${WL_NAME[$wl]//\`/}, $ev at t=$ev_at s"
	event_run "$key" "$name" "$ev" "$wl"
	alive "${SRV_PID[$name]}" || note "$key: the $kind root process (pid ${SRV_PID[$name]}) is gone after the event"
	if [ "$kind" = nginx ]; then
		R[$key.nglog]=$(grep -v -e 'signal process started' "${SRV_DIR[$name]}/error.log" | grep -E 'signal|exited|start|alert|crit|emerg' | sed -E 's/^[0-9/]+ [0-9:]+ //' | head -8 | paste -sd';' - || true)
	fi
	stop_server "$name"
}
