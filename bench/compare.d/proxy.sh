# bench/compare.d/proxy.sh: bench/compare --proxy, three reverse proxies (herd --proxy, nginx, HAProxy)
# in front of the same upstream (herd serving /plaintext), driven by herd-load.
# Sourced by bench/compare after setup, build and pinning; proxy_main runs it and writes the report.
# shellcheck shell=bash disable=SC2034,SC2154 # globals shared with bench/compare and bench/lib.sh

px_wls=(ka close)
px_cfgs=(herd nginx haproxy)
declare -A PX_NAME=([herd]=herd [nginx]=nginx [haproxy]=HAProxy)
declare -A PX_GOAL=([nginx]=0.70 [haproxy]=0.80)   # keep-alive: herd's proxy CPU per request at most this × the peer's

# ---- the upstream: herd serving /plaintext, on the load CPU --------------------------------------
px_start_upstream() {
	local keep=("${herd_taskset[@]}")
	herd_taskset=("${up_taskset[@]}")
	start_herd up --admin 127.0.0.1:0 --grace 2 --workers 1 "${up_pin[@]}" ||
		{ herd_taskset=("${keep[@]}"); die "the upstream herd did not start: $(herd_said up)"; }
	herd_taskset=("${keep[@]}")
	px_up=${SRV_PORT[up]}
}
px_up_requests() { # the upstream's herd_requests_total now (empty when /metrics did not answer)
	metrics up "$tmp/up.m" 2
	[ -s "$tmp/up.m" ] && metric_sum "$tmp/up.m" herd_requests_total
}

# px_check NAME: the proxy answers /plaintext with the upstream's body, and the upstream saw the
# request; else R[NAME.unavail] says why
px_check() {
	local name=$1 b0 b1 code
	b0=$(px_up_requests)
	code=$(curl -s --max-time 5 -o "$tmp/$name.body" -w '%{http_code}' "http://127.0.0.1:${SRV_PORT[$name]}/plaintext" 2>/dev/null) || code="no answer (curl $?)"
	b1=$(px_up_requests)
	if [ "$code" != 200 ] || [ "$(cat "$tmp/$name.body" 2>/dev/null)" != "Hello, World!" ]; then
		R[$name.unavail]="GET /plaintext through it: status $code, body \"$(head -c 60 "$tmp/$name.body" 2>/dev/null | tr -d '\r\n')\""
	elif [ -z "$b0" ] || [ -z "$b1" ] || [ "$b1" -le "$b0" ]; then
		R[$name.unavail]="it answers /plaintext, but the upstream counted no request (herd_requests_total $b0 -> $b1)"
	else
		return 0
	fi
	say "  ${PX_NAME[$name]}: **failed**: ${R[$name.unavail]}"
	stop_server "$name" quiet
	unset "SRV_PORT[$name]"
	return 1
}

# ---- the proxies, each on the server CPU with one worker/thread ----------------------------------
px_start_herd() {
	if ! start_herd herd --grace 2 --workers 1 "${herd_pin[@]}" --proxy "/=http://127.0.0.1:$px_up"; then
		R[herd.unavail]="did not start: $(herd_said herd | sed 's/ *usage:.*//')"
		say "  herd --proxy: **failed**: ${R[herd.unavail]}"
		return 1
	fi
	px_check herd
}

# nginx: bench/lib.sh's generated config (1 worker, worker_cpu_affinity, access log off, temp paths
# under the scratch directory) with an upstream block at http level and proxy_pass as the location
eval "px_lib_nginx_conf() $(declare -f nginx_conf | tail -n +2)"
nginx_conf() {
	px_lib_nginx_conf "$@" | awk -v u="  upstream app { server 127.0.0.1:$px_up; keepalive 64; }" \
		'/^  server \{/ && !done { print u; done = 1 } { print }'
}
px_start_nginx() {
	nginx_server='    location / { proxy_pass http://app; proxy_http_version 1.1; proxy_set_header Connection ""; }'
	if ! start_nginx nginx 1; then
		R[nginx.unavail]=${R[nginx.startfail]}
		say "  nginx: **failed**: ${R[nginx.unavail]}"
		return 1
	fi
	px_check nginx
}

# HAProxy: the shared peer config, plus cpu-map to the server CPU; no log lines, so no logging
px_haproxy_cfg() { # PORT
	cat <<EOF
global
    nbthread 1
$([ "$pinned" = 1 ] && echo "    cpu-map 1/1 $srv_cpu")
    maxconn $((nofile / 2 - 100))
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    http-reuse always
frontend fe
    bind 127.0.0.1:$1
    default_backend app
backend app
    server s1 127.0.0.1:$px_up
EOF
}
px_start_haproxy() {
	local dir=$tmp/haproxy p pid n
	mkdir -p "$dir"
	for _ in 1 2 3 4 5; do
		p=$(pick_port) || break
		px_haproxy_cfg "$p" >"$dir/haproxy.cfg"
		"${pin_srv[@]}" haproxy -f "$dir/haproxy.cfg" -db >"$dir/haproxy.log" 2>&1 &
		pid=$!
		SRV_PID[haproxy]=$pid SRV_KIND[haproxy]=haproxy SRV_LOG[haproxy]=$dir/haproxy.log
		own "$pid"
		for ((n = 50; n > 0; n--)); do
			alive "$pid" || break
			if [ -n "$(ss -Htln "( sport = :$p )" 2>/dev/null)" ]; then
				SRV_PORT[haproxy]=$p
				px_check haproxy
				return
			fi
			sleep 0.1
		done
		stop_server haproxy quiet
		grep -qi 'in use' "$dir/haproxy.log" 2>/dev/null && continue
		break
	done
	R[haproxy.unavail]="did not start: $(grep -v '^ *$' "$dir/haproxy.log" 2>/dev/null | tail -2 | tr '\n' ' ')"
	say "  HAProxy: **failed**: ${R[haproxy.unavail]}"
	return 1
}

# ---- one measured run ---------------------------------------------------------------------------
# The upstream shares the load CPU with herd-load, so its CPU is not "other processes" there: at the
# end of the window (steady_run's hook) its ticks are added to herd-load's. They are read before the
# run (the upstream idles until herd-load starts) and at the end of the window, and scaled from
# warm-up + window to the window alone (the upstream is as busy in the warm-up as after it).
on_window_end() {
	[ -n "${px_u0:-}" ] || return 0
	local u1 dt est
	u1=$(tree_ticks "${SRV_PID[up]}") dt=$((W[t1] - W[t0]))
	est=$(awk -v u=$((u1 - px_u0)) -v dt="$dt" -v w="$warm" 'BEGIN { printf "%.0f", u * dt / (dt + w * 1e6) }')
	W[up]=$est W[h1]=$((W[h1] + est))
}
# px_steady KEY PROXY herd-load-flags...: results in R[KEY.*] as bench/compare's steady, plus the
# upstream's share of CPU 0 (upshare) and the connections it accepted per request it answered (upconn)
px_steady() {
	local key=$1 srv=$2 m0=$tmp/$1.um0 m1=$tmp/$1.um1 wr nrows a r; shift 2
	[ -z "${R[$srv.unavail]:-}" ] || return 0
	alive "${SRV_PID[up]}" || die "the upstream herd (pid ${SRV_PID[up]}) exited: $(log_text up | tail -3 | tr '\n' ' ')"
	if ! alive "${SRV_PID[$srv]:-0}"; then
		R[$srv.unavail]="exited during the run"
		note "${PX_NAME[$srv]} (pid ${SRV_PID[$srv]:-}) **exited during the run**; no more rows for it"
		return 0
	fi
	metrics up "$m0" 2
	px_u0=$(tree_ticks "${SRV_PID[up]}")
	steady_run "$key" "$srv" "$@"
	px_u0=""
	metrics up "$m1" 2
	steady_figures "$key" "${PX_NAME[$srv]}" || return 0
	R[$key.upshare]=$(pct "${W[up]:-0}" $((W[t1] - W[t0])))
	if [ -s "$m0" ] && [ -s "$m1" ]; then
		a=$(($(metric_sum "$m1" herd_accepted_total) - $(metric_sum "$m0" herd_accepted_total)))
		r=$(($(metric_sum "$m1" herd_requests_total) - $(metric_sum "$m0" herd_requests_total)))
		R[$key.upconn]=$(awk -v a="$a" -v r="$r" 'BEGIN { if (r > 0) printf "%.3f", a / r }')
	fi
	say "  ${PX_NAME[$srv]} $key: $(printf '%.0f' "${R[$key.rps]}") req/s, proxy CPU ${R[$key.cpu]} µs/req (${R[$key.share]}% of CPU ${srv_cpu}${R[$key.other]:+; others ${R[$key.other]}%}), upstream ${R[$key.upshare]}% of CPU ${load_cpu:-?}, p99 ${R[$key.p99]:-?} µs, errors ${R[$key.errors]:-?}, upstream conns/req ${R[$key.upconn]:-?}"
}

proxy_main() {
	local r wl c i order n=${#px_cfgs[@]}
	command -v haproxy >/dev/null || die "haproxy is missing (Debian: apt-get install haproxy)"
	if [ "$pinned" = 1 ]; then
		up_taskset=(taskset -c "$load_cpu") up_pin=(--cpus "$load_cpu")
		px_pin_note="upstream herd (\`--workers 1 --cpus $load_cpu\`) **shares CPU $load_cpu with herd-load** (1 thread); each proxy alone on CPU $srv_cpu with one worker/thread (herd: taskset + \`--cpus $srv_cpu\`; nginx: taskset + \`worker_cpu_affinity\`; HAProxy: taskset + \`cpu-map 1/1 $srv_cpu\`)"
	else
		up_taskset=() up_pin=()
		px_pin_note=$pin_note
	fi
	WL_NAME=([ka]="keep-alive, $conns_ka conns" [close]="\`--close\`, $conns_close conns")
	WL_FLAGS=([ka]="-c $conns_ka" [close]="--close -c $conns_close")
	px_start_upstream
	say "proxy: upstream herd pid ${SRV_PID[up]} on :$px_up (CPU ${load_cpu:-any}, shared with herd-load); proxies on CPU ${srv_cpu}; $rounds round(s) of ${warm}s warm-up + ${dur}s per workload"
	px_start_herd || true
	px_start_nginx || true
	px_start_haproxy || true
	for c in "${px_cfgs[@]}"; do
		if [ -n "${R[$c.unavail]:-}" ]; then say "  ${PX_NAME[$c]}: **failed**: ${R[$c.unavail]}"
		else say "  ${PX_NAME[$c]}: pid ${SRV_PID[$c]} on :${SRV_PORT[$c]}"; fi
	done
	for ((r = 1; r <= rounds; r++)); do
		order=()   # A B C, then B C A, then C A B, ...
		for ((i = 0; i < n; i++)); do order+=("${px_cfgs[$(((i + r - 1) % n))]}"); done
		for wl in "${px_wls[@]}"; do
			for c in "${order[@]}"; do
				[ -z "${R[$c.unavail]:-}" ] || continue
				say "round $r/$rounds: ${PX_NAME[$c]}, ${WL_NAME[$wl]//\`/}"
				# shellcheck disable=SC2086
				px_steady "$c.$wl.$r" "$c" ${WL_FLAGS[$wl]}
			done
		done
	done
	for c in "${px_cfgs[@]}" up; do stop_server "$c"; done
	nginx_version=$(nginx -v 2>&1 | sed 's/.*version: //')
	haproxy_version=$(haproxy -v 2>&1 | awk 'NR == 1 { v = $3 } END { print v }')
	run_facts
	px_report | sed "s/127\.0\.0\.1:$px_up\b/127.0.0.1:UPSTREAM/g" >"$out"
	echo
	px_header
	echo
	px_table
	echo
	px_ratio_table
	echo
	[ -s "$notes" ] && cat "$notes" && echo
	echo "$me: wrote $out in $runtime s"
}

# ---- report ---------------------------------------------------------------------------------------
px_header() {
	echo "Reverse proxies in front of the same upstream (herd /plaintext); $px_pin_note."
	echo "Proxy CPU µs/req: utime+stime of the proxy's processes (nginx: master + worker) over the window, per request; medians of $rounds round(s) of $dur s."
}
px_table() {
	local wl c e cells
	echo "| workload | proxy | req/s | proxy CPU µs/req | p50 / p99 | errors | upstream conns/req |"
	echo "|---|---|--:|--:|--:|--:|--:|"
	for wl in "${px_wls[@]}"; do
		for c in "${px_cfgs[@]}"; do
			if [ -z "$(med "$c.$wl" rps)" ]; then
				printf '| %s | %s | **failed**: %s | | | | |\n' "${WL_NAME[$wl]}" "${PX_NAME[$c]}" "${R[$c.unavail]:-no result (see the notes)}"
				continue
			fi
			e=$(med "$c.$wl" errors)
			[ -n "$e" ] && [ "$(printf '%.0f' "$e")" != 0 ] && e="⚠ $(fint "$e")"
			printf '| %s | %s | %s | %s | %s / %s | %s | %s |\n' "${WL_NAME[$wl]}" "${PX_NAME[$c]}" "$(fint "$(med "$c.$wl" rps)")" \
				"$(f2 "$(med "$c.$wl" cpu)")" "$(flat "$(med "$c.$wl" p50)")" "$(flat "$(med "$c.$wl" p99)")" "${e:-n/a}" \
				"$(u=$(med "$c.$wl" upconn); [ -n "$u" ] && printf '%.3f' "$u" || echo n/a)"
		done
	done
}
px_ratio_cell() { # WORKLOAD PEER: herd/PEER proxy CPU per request, and the goal (keep-alive only)
	local x g
	x=$(ratio "$(med "herd.$1" cpu)" "$(med "$2.$1" cpu)")
	g=""
	if [ "$1" = ka ]; then
		g="≤ ${PX_GOAL[$2]}"
		[ "$x" = n/a ] || g+=$(awk -v x="$x" -v g="${PX_GOAL[$2]}" 'BEGIN { print (x <= g) ? " met" : " **missed**" }')
	fi
	[ "$x" != n/a ] || [ -z "${R[herd.unavail]:-}" ] || x="n/a (herd failed)"
	printf '**%s** | %s' "$x" "${g:-}"
}
px_ratio_table() {
	local wl
	echo "| workload | herd/nginx CPU per req | goal | herd/HAProxy CPU per req | goal |"
	echo "|---|--:|---|--:|---|"
	for wl in "${px_wls[@]}"; do
		printf '| %s | %s | %s |\n' "${WL_NAME[$wl]}" "$(px_ratio_cell "$wl" nginx)" "$(px_ratio_cell "$wl" haproxy)"
	done
}
px_report() {
	local wl c
	echo "# bench/compare --proxy: herd vs nginx vs HAProxy as reverse proxies, $(date -u +%F)"
	echo
	report_machine
	echo "- **herd** commit \`$commit\`$dirty, $build_note; **nginx** $nginx_version; **HAProxy** $haproxy_version"
	echo "- **load average** at start $load_start, at end $load_end; the script waited ${quiet_waited} s in all for quiet CPUs ($quiet_late run(s) started anyway), and $n_contam of $n_steady steady runs were contaminated (see the notes)"
	echo "- **run** \`bench/compare${orig_args:+ $orig_args}\`, $runtime s; $rounds round(s) of ${warm} s warm-up + $dur s per workload, the proxies' order rotated every round; $px_pin_note"
	echo "- **upstream**: one herd for all three, \`--workers 1\`, its built-in \`/plaintext\` (\"Hello, World!\"); nginx: \`upstream { keepalive 64; }\`, \`proxy_http_version 1.1\`, \`proxy_set_header Connection \"\"\`, access log off; HAProxy: \`mode http\`, \`http-reuse always\`, \`nbthread 1\`, no logging"
	for c in "${px_cfgs[@]}"; do
		[ -z "${R[$c.unavail]:-}" ] || echo "- **${PX_NAME[$c]} failed**: ${R[$c.unavail]}"
	done
	echo
	echo "## Reverse proxies, one worker each"
	echo
	px_table
	echo
	px_ratio_table
	echo
	echo "**Proxy CPU µs/req** as \`bench/compare\`'s server CPU: the proxy's utime+stime (all threads; nginx: master +"
	echo "worker) over the window from the end of \`--warmup $warm\` to 1 s before the end, divided by the requests herd-load"
	echo "counted in it. The upstream and herd-load share CPU ${load_cpu:-0}, so req/s is bounded there and says little about the"
	echo "proxies; compare them by CPU per request. *upstream conns/req*: connections the upstream accepted per request it"
	echo "answered during the run (its \`herd_accepted_total\` and \`herd_requests_total\`): how well the proxy reuses its"
	echo "upstream connections. *Others on load CPU* leaves out herd-load and the upstream (its ticks from before the run"
	echo "to the window's end, scaled to the window). Cells are medians over the rounds."
	echo
	echo "| workload | proxy | CPU µs/req | req/s | busy % | upstream % of CPU ${load_cpu:-0} | others on proxy CPU % | others on load CPU % |"
	echo "|---|---|--:|--:|--:|--:|--:|--:|"
	for wl in "${px_wls[@]}"; do
		for c in "${px_cfgs[@]}"; do
			[ -n "$(med "$c.$wl" rps)" ] || continue
			echo "| ${WL_NAME[$wl]} | ${PX_NAME[$c]} | $(all_rounds "$c.$wl" cpu) | $(all_rounds "$c.$wl" rps | sed -E 's/\.[0-9]+//g') | $(all_rounds "$c.$wl" share) | $(all_rounds "$c.$wl" upshare) | $(all_rounds "$c.$wl" other) | $(all_rounds "$c.$wl" lother) |"
		done
	done
	report_notes
	report_commands "# upstream:" "${up_taskset[*]}${up_taskset:+ }BUILD/herd --listen 127.0.0.1:0 --admin 127.0.0.1:0 --grace 2 --workers 1 ${up_pin[*]}" \
		"# herd proxy:" "${pin_srv[*]}${pin_srv:+ }BUILD/herd --listen 127.0.0.1:0 --grace 2 --workers 1 ${herd_pin[*]} --proxy /=http://127.0.0.1:UPSTREAM" \
		"# nginx (TMP/nginx.conf below):" "$nginx_cmd" \
		"# HAProxy (TMP/haproxy.cfg below):" "${pin_srv[*]}${pin_srv:+ }haproxy -f TMP/haproxy.cfg -db"
	if [ -f "$tmp/haproxy/haproxy.cfg" ]; then
		echo
		echo '<details><summary>haproxy.cfg</summary>'
		echo
		echo '```'
		sed -E 's#bind 127\.0\.0\.1:[0-9]+#bind 127.0.0.1:PORT#' "$tmp/haproxy/haproxy.cfg"
		echo '```'
		echo
		echo '</details>'
	fi
}
