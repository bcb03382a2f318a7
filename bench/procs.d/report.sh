# bench/procs.d/report.sh: tables A, B and C, the event details and the markdown report
# shellcheck shell=bash disable=SC2034,SC2154 # globals shared with bench/procs

fms() { [ -n "${1:-}" ] && echo "$1 ms" || echo "n/a"; }   # the other formats are bench/lib.sh's

table_a() {
	echo "| config | workload | req/s | server µs/req | p50 | p99 | errors | busiest process (or worker) served |"
	echo "|---|---|--:|--:|--:|--:|--:|--:|"
	local c wl e
	for wl in "${a_wls[@]}"; do
		for c in "${a_cfgs[@]}"; do
			e=$(med "$c.$wl" errors)
			local ms
			ms=$(med "$c.$wl" maxshare)
			printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "${CFG_NAME[$c]}" "${WL_NAME[$wl]}" "$(fint "$(med "$c.$wl" rps)")" \
				"$(f2 "$(med "$c.$wl" cpu)")" "$(flat "$(med "$c.$wl" p50)")" "$(flat "$(med "$c.$wl" p99)")" "$(fint "$e")" "${ms:+$ms %}"
		done
	done
	if [[ " ${a_cfgs[*]} " == *" p1 "* ]] && [[ " ${a_cfgs[*]} " == *" p2 "* ]]; then
		for wl in "${a_wls[@]}"; do
			printf '| **procs 2 / procs 1** | %s | %s | **%s** | %s | %s | | |\n' "${WL_NAME[$wl]}" \
				"$(ratio "$(med "p2.$wl" rps)" "$(med "p1.$wl" rps)")" "$(ratio "$(med "p2.$wl" cpu)" "$(med "p1.$wl" cpu)")" \
				"$(ratio "$(med "p2.$wl" p50)" "$(med "p1.$wl" p50)")" "$(ratio "$(med "p2.$wl" p99)" "$(med "p1.$wl" p99)")"
		done
	fi
}
srv_label() { # KEY -> server cell
	case $1 in
	*herd*) echo "herd \`--procs 2 --workers 2\`" ;;
	*nginx*) echo "nginx \`worker_processes 2\`" ;;
	esac
}
failed_cell() { # KEY
	local e=${R[$1.errors]:-}
	[ -n "$e" ] || { echo "n/a"; return; }
	if [ "$e" = 0 ]; then echo "0 of $(fint "${R[$1.requests]:-}")"; else echo "**$(fint "$e")** of $(fint "${R[$1.requests]:-}") (${R[$1.kinds]:-})"; fi
}
probe_cell() { # KEY
	local p=$1.probe
	[ -n "${R[$p.errors]:-}" ] || { echo "n/a"; return; }
	echo "$([ "${R[$p.errors]}" = 0 ] && echo 0 || echo "**${R[$p.errors]}** (${R[$p.kinds]})") of ${R[$p.requests]}; $(flat "${R[$p.steady]:-}") → $(flat "${R[$p.evp99]:-}")"
}
table_b() {
	echo "| server | event | connections it held | failed requests | steady p99 | p99 in event second | worst p99 after | replacement running after | probe: failed; p99 steady → event second |"
	echo "|---|---|--:|--:|--:|--:|--:|--:|--:|"
	local k ev
	for k in b.herd b.nginx; do
		ev="\`kill -9\` one $([ "$k" = b.herd ] && echo handler || echo worker) at t=${R[$k.t_ev]:-$ev_at} s"
		if [ -n "${R[$k.unavail]:-}" ] || [ -n "${R[$k.invalid]:-}" ]; then
			printf '| %s | %s | | %s | | | | | |\n' "$(srv_label $k)" "$ev" "${R[$k.unavail]:+unavailable: ${R[$k.unavail]}}${R[$k.invalid]:+no measurement: ${R[$k.invalid]}}"
			continue
		fi
		local rep
		if [ "$k" = b.herd ]; then
			rep="$(fms "${R[$k.serving]:-}") (its \`serving\` line); $(fms "${R[$k.running]:-}") (\`running\` on /metrics)"
		else
			rep="$(fms "${R[$k.new]:-}") (process)"
		fi
		printf '| %s | %s | %s of %s | %s | %s | %s | %s | %s | %s |\n' "$(srv_label $k)" "$ev" "${R[$k.held]:-?}" "$conns" "$(failed_cell $k)" \
			"$(flat "${R[$k.steady]:-}")" "$(flat "${R[$k.evp99]:-}")" "$(flat "${R[$k.worst]:-}")${R[$k.worst_t]:+ (t=${R[$k.worst_t]} s)}" \
			"$rep" "$(probe_cell $k)"
	done
}
table_c() {
	echo "| server | event | load | failed requests | steady p99 | p99 in event second | worst p99 after | new processes after | old processes gone after | probe: failed; p99 steady → event second |"
	echo "|---|---|---|--:|--:|--:|--:|--:|--:|--:|"
	local k wl s ev newc
	for wl in ka close; do
		for s in herd nginx; do
			k=c.$s.$wl
			ev="\`kill -HUP\` $([ $s = herd ] && echo supervisor || echo master) at t=${R[$k.t_ev]:-$ev_at} s"
			if [ -n "${R[$k.unavail]:-}" ] || [ -n "${R[$k.invalid]:-}" ]; then
				printf '| %s | %s | %s | %s | | | | | | |\n' "$(srv_label $k)" "$ev" "${WL_NAME[$wl]}" "${R[$k.unavail]:+unavailable: ${R[$k.unavail]}}${R[$k.invalid]:+no measurement: ${R[$k.invalid]}}"
				continue
			fi
			if [ $s = herd ]; then
				newc="$(fms "${R[$k.new]:-}") (first process); $(fms "${R[$k.accepting]:-}") (\`generation 2 is accepting\`)"
			else
				newc="$(fms "${R[$k.new]:-}") (first); $(fms "${R[$k.full]:-}") (both)"
			fi
			printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$(srv_label $k)" "$ev" "${WL_NAME[$wl]}" "$(failed_cell $k)" \
				"$(flat "${R[$k.steady]:-}")" "$(flat "${R[$k.evp99]:-}")" "$(flat "${R[$k.worst]:-}")${R[$k.worst_t]:+ (t=${R[$k.worst_t]} s)}" \
				"$newc" "$(fms "${R[$k.gone]:-}")" "$(probe_cell $k)"
		done
	done
}
detail_events() {
	local k
	for k in b.herd b.nginx c.herd.ka c.nginx.ka c.herd.close c.nginx.close; do
		[ -n "${R[$k.t_ev]:-}" ] || continue
		echo "**$k** (event at t=${R[$k.t_ev]} s of herd-load's series; other processes used ${R[$k.other]:-?} % of CPU $srv_cpu and ${R[$k.lother]:-?} % of CPU ${load_cpu:-?} during the run)"
		echo
		echo "- children of the root before: ${R[$k.kids_before]:-none}; after: ${R[$k.kids_after]:-none}${R[$k.target]:+; killed pid ${R[$k.target]}}${R[$k.slot]:+ (slot ${R[$k.slot]})}"
		echo "- established connections per process before the event (\`pid:count\`, ss -p): ${R[$k.conns0]:-none}"
		[ -n "${R[$k.info0]:-}" ] && echo "- herd_process_info before: ${R[$k.info0]}; after: ${R[$k.info1]:-none}; herd_processes ${R[$k.nproc]:-?}, herd_generation ${R[$k.gen]:-?}, restarts ${R[$k.restarts]:-?}, reloads ok/failed ${R[$k.reload_ok]:-?}/${R[$k.reload_failed]:-?}${R[$k.holding]:+; the killed handler held ${R[$k.holding]} connections}"
		echo "- load, per second \`t:requests/errors/p99 µs\`: ${R[$k.series]:-}"
		echo "- probe, per second: ${R[$k.pseries]:-}"
		[ -n "${R[$k.nglog]:-}" ] && echo "- nginx error.log: ${R[$k.nglog]}"
		if [ -s "$tmp/$k.log" ]; then
			echo "- herd's stderr, seconds from the event:"
			echo
			echo '```'
			cat "$tmp/$k.log"
			echo '```'
		fi
		echo
	done
}

report_servers() { # the server command lines for report_commands
	local c k
	for c in p1 p2; do [ -z "${R[$c.cmd]:-}" ] || echo "${R[$c.cmd]}"; done
	for k in b.herd c.herd.ka; do [ -z "${R[$k.cmd]:-}" ] || echo "${R[$k.cmd]}   # $k"; done
	echo "${pin_srv[*]}${pin_srv:+ }nginx -p TMP -e TMP/error.log -c TMP/nginx.conf   # conf below (worker_processes 1 or 2)"
}

report_a() { # part A's section
	echo
	echo "## A. The price of processes"
	echo
	echo "$rounds round(s) of ${warm} s warm-up + $dur s per workload, configurations alternating; every cell the median over rounds."
	echo
	table_a
	echo
	echo "**server µs/req**: the CPU time (utime+stime, \`/proc/PID/stat\`) of the whole server, i.e. the root process"
	echo "(herd's supervisor or nginx's master) including \`cutime+cstime\` of children it reaped, plus utime+stime of"
	echo "every live child (\`/proc/PID/task/*/children\`: herd's handlers, nginx's workers), read at the end of the"
	echo "warm-up and 1 s before the end; divided by the requests herd-load counted in the same window (rows 1..$win of"
	echo "its per-second series), both as rates. req/s, p50 and p99 are herd-load's over the $dur s."
	echo
	echo "| config | workload | CPU µs/req per round | req/s per round | server busy % | others on server CPU % | others on load CPU % | requests per process (p) or worker (w) % | connections per process (\`pid:count\`) |"
	echo "|---|---|--:|--:|--:|--:|--:|--:|--:|"
	for wl in "${a_wls[@]}"; do
		for c in "${a_cfgs[@]}"; do
			echo "| ${CFG_NAME[$c]} | ${WL_NAME[$wl]} | $(all_rounds "$c.$wl" cpu) | $(all_rounds "$c.$wl" rps | sed -E 's/\.[0-9]+//g') | $(all_rounds "$c.$wl" share) | $(all_rounds "$c.$wl" other) | $(all_rounds "$c.$wl" lother) | $(all_rounds "$c.$wl" shares) | $(all_rounds "$c.$wl" conns) |"
		done
	done
	echo
	echo "*Requests per process or worker* (and *busiest ... served*, the median over rounds of the largest share): shares"
	echo "of \`herd_requests_total\` by \`proc\` label (multi-process) or by \`worker\` (one process), from \`/metrics\` before and"
	echo "after the run (warm-up included). *Connections per process*: established connections on the port by owning"
	echo "process (\`ss -p\`) at the end of the CPU window, keep-alive only. When one handler process holds all the"
	echo "connections, the other idles and the one CPU is not time-sliced between two busy workers, which changes both"
	echo "the CPU per request and the p99: read the two configurations' rows together with this column."
}
report_events() { # parts B and C
	if part B; then
		echo
		echo "## B. Around a \`kill -9\`"
		echo
		echo "herd-load keep-alive, $conns connections, ${warm} s warm-up + $edur s; the probe (\`herd-load ${probe_flags[*]}\`) beside it."
		echo
		table_b
	fi
	if part C; then
		echo
		echo "## C. Around a reload"
		echo
		echo "herd-load ${warm} s warm-up + $edur s; herd with \`--grace $grace_c\`; the probe (\`herd-load ${probe_flags[*]}\`) beside it."
		echo
		table_c
	fi
	if part B || part C; then
		echo
		echo "**failed requests**: herd-load's errors over the whole measured run (kinds: \`read\` = reset with requests"
		echo "outstanding, \`closed\` = closed with requests outstanding without \`Connection: close\`, \`connect_*\`)."
		echo "**steady p99**: median of the per-second p99s (herd-load's series) before the event; **p99 in event second**:"
		echo "the p99 of the series row holding the event (the event is sent 50 ms into it, so the row is ~0.95 s of"
		echo "aftermath); **worst p99 after**: the largest per-second p99 from the event on, and its row. Times are from the"
		echo "signal to what this script saw polling \`/proc\` every ${poll_s#0} s: a new child of the root; no old process left"
		echo "(exited or a zombie); herd's times come from its stderr lines (timestamped as they arrived) and \`/metrics\`."
		echo "The probe opens a new connection every 10 ms (open loop, latency from the intended send time)."
		echo
		echo "### Event runs in detail"
		echo
		detail_events
	fi
}
write_report() { # the markdown results file, on stdout
	echo "# herd --procs: $day, $(hostname -s 2>/dev/null || hostname)"
	echo
	report_machine
	echo "- **herd** commit \`$commit\`$dirty, $build_note$([ "$have_procs" = 1 ] || echo '; **this herd has no `--procs`**'); **nginx** $nginx_version"
	echo "- **load average** at start $load_start, at end $load_end; waited ${quiet_waited} s in all for quiet CPUs ($quiet_late run(s) started anyway); $n_contam of $n_steady steady runs contaminated (others above ${busy_limit} % of a CPU)"
	echo "- **run** \`bench/procs${orig_args:+ $orig_args}\`, $runtime s; $pin_note"
	part A && report_a
	report_events
	report_notes
	report_commands "$(report_servers)"
}
