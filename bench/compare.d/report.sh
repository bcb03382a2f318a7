# bench/compare.d/report.sh: the tables, the plots and the markdown results file of bench/compare
# shellcheck shell=bash disable=SC2034,SC2154 # globals shared with bench/compare

main_table() {
	echo "| workload | herd req/s | herd CPU µs/req | herd p50 / p99 | nginx req/s | nginx CPU µs/req | nginx p50 / p99 | herd/nginx CPU per req |"
	echo "|---|--:|--:|--:|--:|--:|--:|--:|"
	local wl s cells
	for wl in "${wls[@]}"; do
		cells=()
		for s in herd nginx; do
			local rps cpu e
			rps=$(med "$s.$wl" rps) cpu=$(med "$s.$wl" cpu) e=$(med "$s.$wl" errors)
			if [ -n "$e" ] && [ "$(printf '%.0f' "$e")" != 0 ]; then e=" ⚠ $(fint "$e") errors"; else e=""; fi
			cells+=("$(fint "$rps")$e" "$(f2 "$cpu")" "$(flat "$(med "$s.$wl" p50)") / $(flat "$(med "$s.$wl" p99)")")
		done
		printf '| %s | %s | %s | %s | %s | %s | %s | **%s** |\n' "${WL_NAME[$wl]}" "${cells[@]}" \
			"$(ratio "$(med herd.$wl cpu)" "$(med nginx.$wl cpu)")"
	done
}
other_table() {
	local h=herd n=nginx
	echo "| | herd | nginx | herd/nginx |"
	echo "|---|--:|--:|--:|"
	printf '| idle %s: server RSS per idle keep-alive connection | %s B | %s B | %s |\n' "$(fint $idle_n)" \
		"$(fint "${R[$h.idle.per]:-}")" "$(fint "${R[$n.idle.per]:-}")" "$(ratio "${R[$h.idle.per]:-}" "${R[$n.idle.per]:-}")"
	printf '| storm %s: time until all answered | %s | %s | %s |\n' "$(fint $storm_n)" \
		"${R[$h.storm.time]:+$(printf '%.3f s' "${R[$h.storm.time]}")}" "${R[$n.storm.time]:+$(printf '%.3f s' "${R[$n.storm.time]}")}" \
		"$(ratio "${R[$h.storm.time]:-}" "${R[$n.storm.time]:-}")"
	printf '| storm %s: answered / errors | %s / %s | %s / %s | |\n' "$(fint $storm_n)" \
		"${R[$h.storm.answered]:-n/a}" "${R[$h.storm.errors]:-n/a}${R[$h.storm.ekinds]:+ (${R[$h.storm.ekinds]})}" \
		"${R[$n.storm.answered]:-n/a}" "${R[$n.storm.errors]:-n/a}${R[$n.storm.ekinds]:+ (${R[$n.storm.ekinds]})}"
	printf '| storm %s: ListenOverflows / ListenDrops | %s / %s | %s / %s | |\n' "$(fint $storm_n)" \
		"${R[$h.storm.ovf]:-n/a}" "${R[$h.storm.drops]:-n/a}" "${R[$n.storm.ovf]:-n/a}" "${R[$n.storm.drops]:-n/a}"
}
modes_table() {
	echo "| mode | workers | keep-alive req/s | keep-alive CPU µs/req | close req/s | close CPU µs/req | wake-ups / accept | lost races / accept | accepts max/min worker | max share | storm $(fint $modes_storm_n): time | ListenOverflows / Drops |"
	echo "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
	local m w k
	for m in "${amodes[@]}"; do
		for w in "${mworkers[@]}"; do
			k="m.$m.$w"
			if [ -n "${R[$k.unavail]:-}" ]; then
				printf '| %s | %s | unavailable | | | | | | | | | |\n' "$m" "$w"
				continue
			fi
			printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s%% | %s | %s / %s |\n' "$m" "$w" \
				"$(fint "${R[$k.ka.rps]:-}")" "$(f2 "${R[$k.ka.cpu]:-}")" "$(fint "${R[$k.close.rps]:-}")" "$(f2 "${R[$k.close.cpu]:-}")" \
				"${R[$k.wpa]:-n/a}" "${R[$k.lpa]:-n/a}" "${R[$k.maxmin]:-n/a}" "${R[$k.maxshare]:-n/a}" \
				"${R[$k.storm.time]:+$(printf '%.3f s' "${R[$k.storm.time]}")}" "${R[$k.storm.ovf]:-n/a}" "${R[$k.storm.drops]:-n/a}"
		done
	done
}

# ---- plots (gnuplot): the SVG files next to the results file ------------------------------------
gp_term="set terminal svg size 640,380 font 'sans,11' background rgb 'white'"
# gp_bars DATA TITLE2 COLOR2 TITLE3 COLOR3: two bars per row of DATA ("label v2 v3"), values on top
gp_bars() {
	cat <<EOF
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set yrange [0:*]
set xrange [-0.5:$(wc -l <"$1") - 0.5]
plot '$1' using 2:xtic(1) lc rgb '$3' title '$2', \
     '' using 3 lc rgb '$5' title '$4', \
     '' using (\$0 - 1.0/6):2:(sprintf('%.2f', \$2)) with labels offset 0,0.6 notitle, \
     '' using (\$0 + 1.0/6):3:(sprintf('%.2f', \$3)) with labels offset 0,0.6 notitle
EOF
}
gp_run() { # WHAT: gnuplot reading stdin; a failure is a note, not the end of the run
	gnuplot 2>"$tmp/gnuplot.err" || note "gnuplot ($1) failed: $(head -3 "$tmp/gnuplot.err" | tr '\n' ' ')"
}
plot_latency() {
	local p
	for p in "p50 0.30103" "p90 1" "p99 2" "p999 3" "p9999 4"; do
		set -- $p
		echo "$2 $(med herd.ka "$1") $(med nginx.ka "$1")"
	done >"$tmp/lat.dat"
	gp_run latency <<EOF
$gp_term
set output '$svg_lat'
set title "Latency percentiles, keep-alive, $conns_ka connections (herd-load; $of_rounds)"
set ylabel 'latency'
set logscale y
set ytics ('10 µs' 10, '100 µs' 100, '1 ms' 1000, '10 ms' 10000, '100 ms' 100000, '1 s' 1000000, '10 s' 10000000)
set grid ytics xtics
set xtics ('p50' 0.30103, 'p90' 1, 'p99' 2, 'p99.9' 3, 'p99.99' 4)
set xrange [0:4.3]
stats '$tmp/lat.dat' using 2 nooutput
lo = STATS_min
stats '$tmp/lat.dat' using 3 nooutput
lo = (STATS_min < lo ? STATS_min : lo)
set yrange [10**floor(log10(lo)):*]
set key top left
plot '$tmp/lat.dat' using 1:2 with linespoints lw 2 pt 7 ps 0.8 lc rgb '#1f77b4' title 'herd (1 worker)', \
     '' using 1:3 with linespoints lw 2 pt 5 ps 0.8 lc rgb '#d62728' title 'nginx (1 worker)'
EOF
}
plot_cpu() {
	local wl
	for wl in "${wls[@]}"; do
		echo "\"${WL_NAME[$wl]//\`/}\" $(med herd.$wl cpu) $(med nginx.$wl cpu)"
	done >"$tmp/cpu.dat"
	gp_run cpu <<EOF
$gp_term
set output '$svg_cpu'
set title "Server CPU per request ($of_rounds; lower is better)"
set ylabel 'server CPU µs per request'
set xtics nomirror
set grid noxtics ytics
set key top left
$(gp_bars "$tmp/cpu.dat" herd '#1f77b4' nginx '#d62728')
EOF
}
plot_modes() {
	local m v2 v8
	: >"$tmp/modes.dat"
	for m in "${amodes[@]}"; do
		[ -n "${R[m.$m.2.unavail]:-}" ] && [ -n "${R[m.$m.8.unavail]:-}" ] && continue
		v2=${R[m.$m.2.wpa]:-0} v8=${R[m.$m.8.wpa]:-0}
		[ "$v2" = - ] && v2=0
		[ "$v8" = - ] && v8=0
		echo "$m $v2 $v8" >>"$tmp/modes.dat"
	done
	[ -s "$tmp/modes.dat" ] || return 0
	gp_run modes <<EOF
$gp_term
set output '$svg_modes'
set title "Wake-ups per accepted connection by --accept mode (--close, $conns_close conns)"
set ylabel 'wake-ups / accept'
set grid ytics
set key top right
$(gp_bars "$tmp/modes.dat" '2 workers' '#2ca02c' '8 workers' '#9467bd')
EOF
}
plots() {
	svg_lat=$stem-latency.svg svg_cpu=$stem-cpu.svg svg_modes=$stem-modes.svg
	rm -f "$svg_modes" "$tmp/modes.dat"   # from an earlier run with --modes to the same file
	[ "$have_gnuplot" = 1 ] || return 0
	if [ "$rounds" = 1 ]; then of_rounds="1 run"; else of_rounds="median of $rounds runs"; fi
	plot_latency
	plot_cpu
	[ "$modes" = 0 ] || plot_modes
}

report_header() {
	echo "# herd vs nginx: $day, $host"
	echo
	report_machine
	echo "- **herd** commit \`$commit\`$dirty, $build_note; **nginx** $nginx_version, 1 worker"
	echo "- **load average** at start $load_start, at end $load_end; **other processes**: before each steady run the script waited for the two CPUs to be quiet (${quiet_waited} s in all; $quiet_late run(s) started anyway after ${quiet_max} s or when the wait budget was spent), and $n_contam of $n_steady steady runs were still contaminated (others above ${busy_limit} % of a CPU during the window; see the notes)"
	echo "- **run** \`bench/compare${orig_args:+ $orig_args}\`, $runtime s; $rounds round(s) of ${warm} s warm-up + $dur s per steady workload, servers alternating; $pin_note"
	echo
}
report_main() {
	echo "## herd (1 worker) vs nginx (1 worker)"
	echo
	main_table
	echo
	other_table
	echo
	if [ "$have_gnuplot" = 1 ]; then
		echo "![latency percentiles, keep-alive]($(basename "$svg_lat")) ![server CPU per request]($(basename "$svg_cpu"))"
		echo
	fi
	echo "**Server CPU µs/req** = the server's CPU time (utime+stime of all its threads, \`/proc/PID/stat\`; nginx: master + worker)"
	echo "over a window from the end of herd-load's \`--warmup $warm\` to 1 s before the end of the run, divided by the"
	echo "requests herd-load counted in that window (its per-second \`series\` rows 1..$win), both as rates. req/s and"
	echo "latency are herd-load's for the whole measured ${dur} s. With $rounds rounds every cell is the median over rounds."
	echo "The idle figure is the growth of the server's VmRSS (nginx: master + worker) from before \`--idle\` to the hold,"
	echo "divided by the connections then established on the server port (\`ss\`). ListenOverflows/ListenDrops are the"
	echo "TcpExt counters of \`/proc/net/netstat\` around the storm (whole network namespace: other traffic counts too)."
	echo
}
report_rounds() { # every round's figures
	echo "Every round (comma-separated, in order). *Busy* is the server's CPU share in the window; *others* is the"
	echo "time other processes of this machine took on the server's and on herd-load's CPU in the same window"
	echo "(busy ticks of that CPU in \`/proc/stat\` minus the server's, resp. herd-load's): above ${busy_limit} % the run is"
	echo "listed under the notes as contaminated."
	echo
	echo "| workload | server | CPU µs/req | req/s | busy % | others on server CPU % | others on load CPU % | bytes/response |"
	echo "|---|---|--:|--:|--:|--:|--:|--:|"
	local wl s
	for wl in "${wls[@]}"; do
		for s in herd nginx; do
			echo "| ${WL_NAME[$wl]} | $s | $(all_rounds "$s.$wl" cpu) | $(all_rounds "$s.$wl" rps | sed -E 's/\.[0-9]+//g') | $(all_rounds "$s.$wl" share) | $(all_rounds "$s.$wl" other) | $(all_rounds "$s.$wl" lother) | ${R[$s.$wl.1.bytes]:-?} |"
		done
	done
	echo
}
report_modes() {
	echo
	echo "## Accept modes (\`--modes\`)"
	echo
	echo "herd with \`--workers 2|8 --cpus $mcpus --accept MODE\`; **herd-load runs on CPU ${load_cpu:-${cpus[0]}} too**, so it competes"
	echo "with worker 0 (and, with 8 workers, with the 4 workers on that CPU): these figures compare modes with each"
	echo "other, not with the 1-worker table above. Wake-ups, lost races and accept shares are the \`/metrics\` deltas"
	echo "(\`--admin\`) over the \`--close\` run (warm-up included); one round each."
	echo
	modes_table
	echo
	[ -s "$tmp/modes.dat" ] && echo "![wake-ups per accept by mode]($(basename "$svg_modes"))" && echo
	echo "Accept share per worker (% of the accepts in the \`--close\` run, worker 0 first):"
	echo
	local m w k
	for m in "${amodes[@]}"; do
		for w in "${mworkers[@]}"; do
			k="m.$m.$w"
			if [ -n "${R[$k.unavail]:-}" ]; then
				echo "- $m, $w workers: unavailable: \`${R[$k.unavail]% }\`"
			else
				echo "- $m, $w workers: ${R[$k.shares]:-n/a} (accepts: ${R[$k.acc]:-?}; other processes during keep-alive / close: ${R[$k.ka.other]:-?} / ${R[$k.close.other]:-?} % of a CPU)"
			fi
		done
	done
	echo
	echo "In \`listener\` mode one acceptor thread accepts and hands connections to the workers: its wake-ups are the"
	echo "workers' hand-off wake-ups (one per batch taken), and it has no lost races by construction."
	echo "ListenOverflows/ListenDrops count for the whole network namespace (other sessions' storms too); with"
	echo "\`reuseport\` every worker has its own listening socket and queue (--backlog each), the other modes share one."
}
report_servers() { # the server command lines for report_commands
	echo "# herd (1 worker):"
	sed "s#$build/#BUILD/#" <<<"$herd_cmd"
	if [ "$modes" = 1 ]; then
		echo "# herd (--modes):"
		echo "${herd_taskset[*]}${herd_taskset:+ }BUILD/herd --listen 127.0.0.1:0 --grace 2 --workers 2|8 --cpus $mcpus --accept MODE --admin 127.0.0.1:0"
	fi
	echo "# nginx (TMP/nginx.conf below):"
	echo "$nginx_cmd"
}
write_report() { # the markdown results file, on stdout
	report_header
	report_main
	report_rounds
	[ "$modes" = 0 ] || report_modes
	report_notes
	report_commands "$(report_servers)"
	if [ "$procs" = 1 ] && [ -s "$tmp/procs.md" ]; then
		echo
		# one heading level down (not in code blocks)
		awk '/^```/ { f = !f } !f && /^#+ / { $0 = "#" $0 } { print }' "$tmp/procs.md"
	fi
}
