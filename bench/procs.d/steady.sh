# bench/procs.d/steady.sh: part A, one measured run (req/s, latency, server CPU per request, request shares)
# shellcheck shell=bash disable=SC2034,SC2154 # globals shared with bench/procs

# steady KEY SERVER herd-load-flags...: one measured run, as bench/compare's
n_contam=0 n_steady=0
steady() {
	local key=$1 srv=$2; shift 2
	local port=${SRV_PORT[$srv]} pid=${SRV_PID[$srv]} json=$tmp/$1.json txt=$tmp/$1.txt
	local launch c0 c1 t0 t1 b0 b1 l0 l1 h0 h1 hl rc=0 cmd wr nrows k0 k1
	json=$tmp/$key.json txt=$tmp/$key.txt
	alive "$pid" || { note "$srv (pid $pid) is gone before $key"; return 0; }
	quiet_wait
	n_steady=$((n_steady + 1))
	cmd=("$load" "${load_pin[@]}" --warmup "$warm" -d "$dur" "$@" --json "$json" "http://127.0.0.1:$port/plaintext")
	record_cmd "${cmd[*]}"
	[ "${SRV_KIND[$srv]}" = herd ] && metrics "$srv" "$tmp/$key.m0"
	launch=$(now_us)
	timeout -k 2 $((warm + dur + 30)) "${cmd[@]}" >"$txt" 2>&1 &
	hl=$!
	load_pids=("$hl")
	sleep_until $((launch + warm * 1000000))
	k0=$(children "$pid")
	b0=$(cpu_busy "$srv_cpu") l0=$(cpu_busy "$load_cpu") h0=$(proc_ticks "$(children "$hl" | awk '{print $1}')") c0=$(srv_ticks "$pid") t0=$(now_us)
	sleep_until $((launch + (warm + win) * 1000000))
	c1=$(srv_ticks "$pid") h1=$(proc_ticks "$(children "$hl" | awk '{print $1}')") l1=$(cpu_busy "$load_cpu") b1=$(cpu_busy "$srv_cpu") t1=$(now_us)
	k1=$(children "$pid")
	local ka_conns=""
	[ "${SRV_KIND[$srv]}" = herd ] && ka_conns=$(conns_by_pid "$port" | awk '{ printf "%s%s:%s", (n++ ? " " : ""), $1, $2 }')
	wait "$hl" || rc=$?
	load_pids=()
	if [ "${SRV_KIND[$srv]}" = herd ]; then
		# how the requests were shared between handler processes (/metrics deltas, warm-up included)
		metrics "$srv" "$tmp/$key.m1"
		# by process (proc label), else by worker thread: "p0 48/p1 52" or "w0 55/w1 45"
		R[$key.shares]=$(awk 'FNR == 1 { f++ } index($1, "herd_requests_total{") == 1 {
				k = $1; if (k ~ /proc="/) { sub(/.*proc="/, "", k); k = "p" k } else { sub(/.*worker="/, "", k); k = "w" k }
				sub(/".*/, "", k); v[k] += (f == 1 ? -$2 : $2); if (!(k in seen)) { seen[k] = 1; o[n++] = k } }
			END { for (i = 0; i < n; i++) t += v[o[i]]; if (t <= 0) exit
				for (i = 0; i < n; i++) { printf "%s%s %.0f", (i ? "/" : ""), o[i], 100 * v[o[i]] / t; if (v[o[i]] > mx) mx = v[o[i]] }
				printf " %.0f\n", 100 * mx / t }' "$tmp/$key.m0" "$tmp/$key.m1" || true)
		R[$key.maxshare]=${R[$key.shares]##* }
		R[$key.shares]=${R[$key.shares]% *}
		R[$key.conns]=$ka_conns
	fi
	[ "$k0" = "$k1" ] || note "$key: the server's child processes changed during the CPU window ($k0-> $k1); the CPU of replaced ones is still counted (reaped children's time is in the root's cutime)"
	if [ $rc -ne 0 ] || [ ! -s "$json" ]; then
		note "herd-load exited $rc ($key): $(tail -2 "$txt" | tr '\n' ' ')"
		return 0
	fi
	local errs
	errs=$(jnum "$json" errors)
	R[$key.rps]=$(jnum "$json" rps) R[$key.errors]=$errs
	R[$key.p50]=$(jnum "$json" p50) R[$key.p99]=$(jnum "$json" p99)
	read -r wr nrows < <(series_reqs "$json" 1 "$win")
	R[$key.cpu]=$(awk -v c="$((c1 - c0))" -v hz="$hz" -v dt="$((t1 - t0))" -v wr="$wr" -v ws="$nrows" 'BEGIN {
		if (wr > 0 && dt > 0 && ws > 0) printf "%.3f", (c / hz / (dt / 1e6)) / (wr / ws) * 1e6 }')
	R[$key.share]=$(pct $((c1 - c0)) $((t1 - t0)) 1000)
	if [ "$pinned" = 1 ]; then
		R[$key.other]=$(pct $((b1 - b0 - (c1 - c0))) $((t1 - t0)))
		R[$key.lother]=$(pct $((l1 - l0 - (h1 - h0))) $((t1 - t0)))
		if [ "${R[$key.other]}" -gt "$busy_limit" ] || [ "${R[$key.lother]}" -gt "$busy_limit" ]; then
			n_contam=$((n_contam + 1))
			note "contaminated run $key: other processes used ${R[$key.other]}% of CPU $srv_cpu (server) and ${R[$key.lother]}% of CPU $load_cpu (herd-load) during the window"
		fi
	fi
	[ "${errs:-0}" = 0 ] || note "$key: herd-load counted $errs errors ($(jerrs "$json"))"
	local rows
	rows=$(series "$json" | awk -v w="$win" '$1 <= w + 0.01 { printf "%d ", $2 }')
	if ! awk -v r="$rows" 'BEGIN { n = split(r, a, " "); for (i = 1; i <= n; i++) if (a[i] > mx) mx = a[i]
		for (i = 1; i <= n; i++) if (a[i] < mx / 2) exit 1 }'; then
		note "unsteady run $key: requests per second ${rows% } (herd-load's series)"
	fi
	say "  $key: $(printf '%.0f' "${R[$key.rps]}") req/s, server ${R[$key.cpu]} µs/req (${R[$key.share]}% of a CPU${R[$key.other]:+; others ${R[$key.other]}% + ${R[$key.lother]}% on the load CPU}), p50 ${R[$key.p50]} p99 ${R[$key.p99]} µs"
}
