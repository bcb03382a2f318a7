# bench/procs.d/steady.sh: part A, one measured run (req/s, latency, server CPU per request, request shares)
# shellcheck shell=bash disable=SC2034,SC2154 # globals shared with bench/procs

# steady_run calls this at the end of its CPU window, under load: which process holds which
# keep-alive connections (only herd: nginx's workers all hold some)
on_window_end() { # KEY SRV
	[ "${SRV_KIND[$2]}" = herd ] || return 0
	R[$1.conns]=$(conns_by_pid "${SRV_PORT[$2]}" | awk '{ printf "%s%s:%s", (n++ ? " " : ""), $1, $2 }')
}

# request_shares KEY: how the requests were shared between handler processes (/metrics deltas,
# warm-up included): by process (proc label), else by worker thread: "p0 48/p1 52" or "w0 55/w1 45",
# and the largest share
request_shares() {
	local key=$1
	R[$key.shares]=$(awk 'FNR == 1 { f++ } index($1, "herd_requests_total{") == 1 {
			k = $1; if (k ~ /proc="/) { sub(/.*proc="/, "", k); k = "p" k } else { sub(/.*worker="/, "", k); k = "w" k }
			sub(/".*/, "", k); v[k] += (f == 1 ? -$2 : $2); if (!(k in seen)) { seen[k] = 1; o[n++] = k } }
		END { for (i = 0; i < n; i++) t += v[o[i]]; if (t <= 0) exit
			for (i = 0; i < n; i++) { printf "%s%s %.0f", (i ? "/" : ""), o[i], 100 * v[o[i]] / t; if (v[o[i]] > mx) mx = v[o[i]] }
			printf " %.0f\n", 100 * mx / t }' "$tmp/$key.m0" "$tmp/$key.m1" || true)
	R[$key.maxshare]=${R[$key.shares]##* }
	R[$key.shares]=${R[$key.shares]% *}
}

# steady KEY SERVER herd-load-flags...: one measured run, as bench/compare's
steady() {
	local key=$1 srv=$2 is_herd=0; shift 2
	[ "${SRV_KIND[$srv]}" = herd ] && is_herd=1
	alive "${SRV_PID[$srv]}" || { note "$srv (pid ${SRV_PID[$srv]}) is gone before $key"; return 0; }
	[ $is_herd = 0 ] || metrics "$srv" "$tmp/$key.m0"
	steady_run "$key" "$srv" "$@"
	if [ $is_herd = 1 ]; then
		metrics "$srv" "$tmp/$key.m1"
		request_shares "$key"
	fi
	[ "${W[kids0]}" = "${W[kids1]}" ] || note "$key: the server's child processes changed during the CPU window (${W[kids0]}-> ${W[kids1]}); the CPU of replaced ones is still counted (reaped children's time is in the root's cutime)"
	steady_figures "$key" "" || return 0   # KEY names the server
	say "  $key: $(printf '%.0f' "${R[$key.rps]}") req/s, server ${R[$key.cpu]} µs/req (${R[$key.share]}% of a CPU${R[$key.other]:+; others ${R[$key.other]}% + ${R[$key.lother]}% on the load CPU}), p50 ${R[$key.p50]:-?} p99 ${R[$key.p99]:-?} µs"
}
