# bench/procs.d/events.sh: parts B and C, one run around a kill -9 or a reload, and what it measures
# shellcheck shell=bash disable=SC2034,SC2154 # globals shared with bench/procs

# event_run KEY SERVER EVENT(kill|hup) WORKLOAD(ka|close)
# The server SERVER must be running. herd-load (and the probe) run --warmup $warm -d $edur; the
# event is sent $ev_at s (+50 ms) into herd-load's series, so it falls inside row ev_at+1.
event_run() {
	local key=$1 srv=$2 ev=$3 wl=$4
	local pid=${SRV_PID[$srv]} port=${SRV_PORT[$srv]} kind=${SRV_KIND[$srv]}
	local json=$tmp/$key.json probe=$tmp/$key.probe.json launch hl hp rc=0 prc=0 t_ev target="" old=() k
	local b0 b1 l0 l1 t0 t1 kids_before m0=$tmp/$key.m0 m1=$tmp/$key.m1
	quiet_wait
	# shellcheck disable=SC2206
	local cmd=("$load" "${load_pin[@]}" --warmup "$warm" -d "$edur" ${WL_FLAGS[$wl]} --json "$json" "http://127.0.0.1:$port/plaintext")
	local pcmd=("$load" "${load_pin[@]}" --warmup "$warm" -d "$edur" "${probe_flags[@]}" --json "$probe" "http://127.0.0.1:$port/plaintext")
	record_cmd "${cmd[*]}"
	record_cmd "${pcmd[*]}"
	launch=$(now_us)
	timeout -k 2 $((warm + edur + 30)) "${cmd[@]}" >"$tmp/$key.txt" 2>&1 &
	hl=$!
	timeout -k 2 $((warm + edur + 30)) "${pcmd[@]}" >"$tmp/$key.probe.txt" 2>&1 &
	hp=$!
	load_pids=("$hl" "$hp")
	sleep_until $((launch + warm * 1000000))
	local hlp hpp c0 c1 h0 h1
	hlp=$(children "$hl" | awk '{ print $1 }') hpp=$(children "$hp" | awk '{ print $1 }')
	b0=$(cpu_busy "$srv_cpu") l0=$(cpu_busy "$load_cpu") c0=$(srv_ticks "$pid") h0=$(( $(proc_ticks "$hlp") + $(proc_ticks "$hpp") )) t0=$(now_us)
	# what the event is aimed at, read shortly before it
	sleep_until $((launch + (warm + ev_at) * 1000000 - 800000))
	kids_before=$(children "$pid")
	if [ "$kind" = herd ]; then
		metrics "$srv" "$m0" 2
		proc_info "$m0" >"$tmp/$key.info0"
		R[$key.info0]=$(awk '{ printf "%sproc %s pid %s gen %s %s", (n++ ? "; " : ""), $1, $2, $3, $4 }' "$tmp/$key.info0")
	fi
	conns_by_pid "$port" >"$tmp/$key.conns0"
	R[$key.conns0]=$(awk '{ printf "%s%s:%s", (n++ ? " " : ""), $1, $2 }' "$tmp/$key.conns0")
	if [ "$ev" = kill ]; then
		# the handler / worker holding the most connections (ss -p), so that the kill hits load
		if [ "$kind" = herd ]; then
			# among the running handlers /metrics lists (herd_process_info)
			target=$(awk 'NR == FNR { c[$1] = $2; next } $4 == "running" && (t == "" || c[$2] + 0 > best) { t = $2; best = c[$2] + 0 }
				END { print t }' "$tmp/$key.conns0" "$tmp/$key.info0")
			R[$key.slot]=$(awk -v p="$target" '$2 == p { print $1; exit }' "$tmp/$key.info0")
			if [ -z "$target" ]; then
				note "$key: no herd_process_info on /metrics (${SRV_ADMIN[$srv]}): $(head -c 300 "$m0" | tr '\n' ' '); killing the last child of the supervisor instead"
				target=$(awk '{ print $NF }' <<<"$kids_before")
			elif ! [[ " $kids_before " == *" $target "* ]]; then
				note "$key: herd_process_info pid $target is not a child of the supervisor (children: $kids_before)"
			fi
		else
			target=$(for k in $kids_before; do echo "$k $(awk -v p="$k" '$1 == p { print $2 }' "$tmp/$key.conns0")"; done |
				sort -k2,2nr | awk 'NR == 1 { print $1 }')
		fi
		R[$key.target]=$target
		R[$key.held]=$(awk -v p="$target" '$1 == p { print $2 }' "$tmp/$key.conns0")
		R[$key.held]=${R[$key.held]:-0}
		old=("$(ident "$target")")
	else
		for k in $kids_before; do old+=("$(ident "$k")"); done
	fi
	sleep_until $((launch + (warm + ev_at) * 1000000 + ev_off))
	t_ev=$(now_us)
	if [ "$ev" = kill ]; then
		[ -n "$target" ] && kill -KILL "$target" 2>/dev/null || note "$key: kill -9 $target failed"
	else
		kill -HUP "$pid" 2>/dev/null || note "$key: kill -HUP $pid failed"
	fi
	R[$key.t_ev]=$(awk -v a="$t_ev" -v b="$launch" -v w="$warm" 'BEGIN { printf "%.3f", (a - b) / 1e6 - w }')
	R[$key.late]=$(us_ms $((t_ev - (launch + (warm + ev_at) * 1000000 + ev_off))))
	[ "${R[$key.late]}" -le 250 ] || note "$key: the event was sent ${R[$key.late]} ms late (t=${R[$key.t_ev]} s instead of $ev_at.05 s): this machine was too busy to keep time"
	if awk -v t="${R[$key.t_ev]}" -v d="$edur" 'BEGIN { exit !(t > d - 1) }'; then
		R[$key.invalid]="the event was sent at t=${R[$key.t_ev]} s, after the last full second of the $edur s run"
	fi
	# Watch the processes until herd-load is done: when are the old ones gone, when is a new one
	# there (a child not in kids_before). Bounded by herd-load's own time limit.
	local t_gone="" t_new="" t_full="" o left kids new n_new want
	want=$(wc -w <<<"$kids_before")
	while alive "$hl"; do
		if [ -z "$t_gone" ]; then
			left=0
			for o in "${old[@]+"${old[@]}"}"; do [ -n "$o" ] && same_alive "$o" && left=$((left + 1)); done
			[ $left = 0 ] && t_gone=$(now_us)
		fi
		if [ -z "$t_full" ]; then
			kids=$(children "$pid") n_new=0
			for k in $kids; do [[ " $kids_before " == *" $k "* ]] || { n_new=$((n_new + 1)); new="$k"; }; done
			[ $n_new -gt 0 ] && [ -z "$t_new" ] && { t_new=$(now_us); own $kids; }
			if [ "$ev" = kill ]; then
				[ $n_new -ge 1 ] && t_full=$t_new
			else
				[ $n_new -ge "$want" ] && { t_full=$(now_us); own $kids; }
			fi
		fi
		[ -n "$t_gone" ] && [ -n "$t_full" ] && break
		sleep "$poll_s"
	done
	if [ "$kind" = herd ] && [ "$ev" = kill ]; then
		# a replacement counts once /metrics lists a running process with a new pid in the slot
		local tr_end=$(( $(now_us) + 3000000 ))
		while [ "$(now_us)" -lt $tr_end ]; do
			metrics "$srv" "$m1"
			if awk -v s="${R[$key.slot]:-x}" -v p="$target" '$1 == s && $2 != p && $4 == "running" { f = 1 } END { exit !f }' <(proc_info "$m1"); then
				R[$key.running]=$(us_ms $(($(now_us) - t_ev)))
				break
			fi
			sleep 0.1
		done
	fi
	# the CPU figures for the noise check: 0.3 s before herd-load's end, as its start figures were read
	# at the end of its warm-up (the watch loop above usually ends long before)
	sleep_until $((launch + (warm + edur) * 1000000 - 300000))
	c1=$(srv_ticks "$pid") h1=$(( $(proc_ticks "$hlp") + $(proc_ticks "$hpp") ))
	b1=$(cpu_busy "$srv_cpu") l1=$(cpu_busy "$load_cpu") t1=$(now_us)
	wait "$hl" || rc=$?
	wait "$hp" || prc=$?
	load_pids=()
	if [ -z "$t_gone" ]; then
		local t_end
		t_end=$(now_us) left=""
		for o in "${old[@]+"${old[@]}"}"; do [ -n "$o" ] && same_alive "$o" && left+=" ${o%%:*}"; done
		if [ -n "$left" ]; then
			R[$key.gone]=">$(us_ms $((t_end - t_ev)))"
			note "$key: old process(es)$left still running when the load ended, $(us_ms $((t_end - t_ev))) ms after the event"
		else
			t_gone=$t_end
		fi
	fi
	[ -n "$t_gone" ] && R[$key.gone]=$(us_ms $((t_gone - t_ev)))
	[ -n "$t_new" ] && R[$key.new]=$(us_ms $((t_new - t_ev)))
	[ -n "$t_full" ] && R[$key.full]=$(us_ms $((t_full - t_ev)))
	R[$key.kids_after]=$(children "$pid")
	R[$key.kids_before]=$kids_before
	if [ "$kind" = herd ]; then
		metrics "$srv" "$m1"
		R[$key.info1]=$(proc_info "$m1" | awk '{ printf "%sproc %s pid %s gen %s %s", (n++ ? "; " : ""), $1, $2, $3, $4 }')
		R[$key.gen]=$(mval "$m1" herd_generation)
		R[$key.nproc]=$(mval "$m1" herd_processes)
		R[$key.restarts]=$(awk '$1 ~ /^herd_process_restarts_total\{/ { s += $2 } END { if (NR) print s + 0 }' "$m1")
		R[$key.reload_ok]=$(mval "$m1" 'herd_reloads_total{result="ok"}')
		R[$key.reload_failed]=$(mval "$m1" 'herd_reloads_total{result="failed"}')
		# herd's own account, times relative to the event
		awk -v t="$t_ev" '$1 >= t - 1000000 { l = $0; sub(/^[0-9]+ /, "", l); printf "%+.3f s  %s\n", ($1 - t) / 1e6, l }' \
			"${SRV_LOG[$srv]}" | grep -v -e 'listening on' -e 'admin on' | head -20 >"$tmp/$key.log" || true
		local ln
		ln=$(grep -m1 -E 'reload: generation [0-9]+ is accepting' "$tmp/$key.log" | awk '{ print $1 }' || true)
		[ -n "$ln" ] && R[$key.accepting]=$(awk -v s="$ln" 'BEGIN { printf "%.0f", s * 1000 }')
		R[$key.holding]=$(grep -m1 -o 'holding [0-9]* connections' "$tmp/$key.log" | awk '{ print $2 }' || true)
		if [ "$ev" = kill ]; then # the replacement's own "handler K (pid N, ...) serving" line
			ln=$(awk -v s="${R[$key.slot]:-x}" -v p="$target" '$3 ~ /^herd/ && $4 == "handler" && $5 == s && $6 == "(pid" && $7 != p "," && / serving / { print $1; exit }' "$tmp/$key.log" || true)
			[ -n "$ln" ] && R[$key.serving]=$(awk -v s="$ln" 'BEGIN { printf "%.0f", s * 1000 }')
		fi
		ln=$(grep -m1 -E 'reload failed' "$tmp/$key.log" || true)
		[ -n "$ln" ] && note "$key: herd said: ${ln#* s  }"
	fi
	if [ $rc -ne 0 ] || [ ! -s "$json" ]; then
		note "$key: herd-load exited $rc: $(tail -2 "$tmp/$key.txt" | tr '\n' ' ')"
		return 0
	fi
	[ $prc -eq 0 ] && [ -s "$probe" ] || note "$key: the probe exited $prc: $(tail -2 "$tmp/$key.probe.txt" | tr '\n' ' ')"
	# figures from the per-second series: steady = median per-second p99 before the event,
	# event second = the row holding the event (t in (T-1, T]), worst = the largest p99 after it
	local f
	for f in main probe; do
		local j=$json p=$key
		[ $f = probe ] && { j=$probe; p=$key.probe; }
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
	# other processes on the two CPUs (busy ticks minus the server's, resp. both herd-loads')
	if [ "$pinned" = 1 ]; then
		R[$key.other]=$(pct $((b1 - b0 - (c1 - c0))) $((t1 - t0)))
		R[$key.lother]=$(pct $((l1 - l0 - (h1 - h0))) $((t1 - t0)))
		if [ "${R[$key.other]}" -gt "$busy_limit" ] || [ "${R[$key.lother]}" -gt "$busy_limit" ]; then
			note "contaminated run $key: other processes used ${R[$key.other]}% of CPU $srv_cpu (server) and ${R[$key.lother]}% of CPU $load_cpu (herd-load) during the run"
		fi
	fi
	# the series as a compact line for the report: requests/errors/p99 per second
	R[$key.series]=$(series "$json" | awk '{ printf "%s%d:%d/%d/%.0f", (n++ ? " " : ""), $1, $2, $3, $4 }')
	R[$key.pseries]=$(series "$probe" | awk '{ printf "%s%d:%d/%d/%.0f", (n++ ? " " : ""), $1, $2, $3, $4 }')
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
		if ! start_herd "$name" $(herd_ev_flags "$g"); then
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
