# bench/compare.d/tls.sh: bench/compare --tls, herd against nginx over HTTPS, driven by herd-load.
# Sourced by bench/compare after setup, build and pinning; tls_main runs it and writes the report.
# shellcheck shell=bash disable=SC2034,SC2154 # globals shared with bench/compare and bench/lib.sh

tls_wls=(ka close resume file4k file10m)
declare -A WL_PATH   # URL path per workload

# The certificate both servers use (ECDSA P-256, made now) and the files they serve.
tls_setup() {
	tls_dir=$tmp/tls cert=$tmp/tls/cert.pem key=$tmp/tls/key.pem
	mkdir -p "$tls_dir/root"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
		-addext subjectAltName=DNS:localhost,IP:127.0.0.1 -keyout "$key" -out "$cert" \
		>"$tmp/openssl.log" 2>&1 || die "openssl req failed: $(tail -2 "$tmp/openssl.log" | tr '\n' ' ')"
	head -c 4096 /dev/urandom >"$tls_dir/root/4k"
	head -c $((10 << 20)) /dev/urandom >"$tls_dir/root/10m"
	# nginx's workers run as another user when the script runs as root
	chmod 755 "$tmp" "$tls_dir" "$tls_dir/root"
	chmod 644 "$tls_dir/root/4k" "$tls_dir/root/10m"
	nginx_listen="ssl "
	nginx_server="    ssl_certificate $cert;
    ssl_certificate_key $key;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_tickets on;
    root $tls_dir/root;
    sendfile on;
    open_file_cache max=1000;
    location = /plaintext { default_type text/plain; return 200 \"Hello, World!\"; }"
	url_scheme=https
	local c=$conns_ka cf="--cacert $cert"
	WL_NAME=([ka]="keep-alive, $c conns" [close]="full handshake per request (\`--close\`), $c conns"
		[resume]="resumed handshake per request (\`--close --tls-resume\`), $c conns"
		[file4k]="4 KiB file, keep-alive, $c conns" [file10m]="10 MiB file, keep-alive, $conns_big conns")
	WL_FLAGS=([ka]="-c $c $cf" [close]="--close -c $c $cf" [resume]="--close --tls-resume -c $c $cf"
		[file4k]="-c $c $cf" [file10m]="-c $conns_big $cf")
	WL_PATH=([ka]=/plaintext [close]=/plaintext [resume]=/plaintext [file4k]=/4k [file10m]=/10m)
}

tls_ok() { # PORT PATH BYTES: the server answers over TLS with our certificate and the right size
	local n
	n=$(curl -s --max-time 5 --cacert "$cert" -o /dev/null -w '%{size_download}' "https://127.0.0.1:$1$2" 2>/dev/null) || return 1
	[ "$n" = "$3" ]
}

# tls_start_herd NAME WORKERS: herd with a TLS listener on a free port; R[NAME.unavail] when herd
# has no TLS (yet) or does not serve it right.
tls_start_herd() {
	local name=$1 w=$2 p n
	p=$(pick_port) || die "no free port"
	if ! start_herd "$name" --listen-tls "127.0.0.1:$p" --tls-cert "$cert" --tls-key "$key" \
		--root "$tls_dir/root" --grace 2 --workers "$w" "${herd_pin[@]}"; then
		R[$name.unavail]=$(herd_said "$name" | sed "s/ *usage:.*//")
		say "  herd --workers $w over TLS unavailable: ${R[$name.unavail]}"
		return 1
	fi
	for ((n = 30; n > 0; n--)); do
		[ -n "$(ss -Htln "( sport = :$p )" 2>/dev/null)" ] && break
		sleep 0.1
	done
	SRV_PORT[$name]=$p # the TLS listener's, not the plain one start_herd read from the log
	if ! tls_ok "$p" /plaintext 13 || ! tls_ok "$p" /4k 4096; then
		R[$name.unavail]="does not answer https://127.0.0.1:PORT/plaintext and /4k with this certificate"
		say "  herd --workers $w over TLS: ${R[$name.unavail]}"
		stop_server "$name"
		return 1
	fi
}
tls_start_nginx() { # NAME WORKERS
	start_nginx "$1" "$2" || die "${R[$1.startfail]}"
	tls_ok "${SRV_PORT[$1]}" /4k 4096 || die "nginx does not serve https://127.0.0.1:${SRV_PORT[$1]}/4k: $(tail -2 "${SRV_LOG[$1]}" | tr '\n' ' ')"
}

jsub() { # FILE OBJECT KEY: the number after "KEY": inside the one-line JSON object "OBJECT"
	awk -v o="\"$2\":" -v k="\"$3\":" '{ i = index($0, o); if (!i) next; s = substr($0, i); j = index(s, k)
		if (!j) next; s = substr(s, j + length(k)); sub(/^ */, "", s); match(s, /^-?[0-9.eE+]+/)
		print substr(s, RSTART, RLENGTH); exit }' "$1" 2>/dev/null
}

# tls_steady KEY SERVER herd-load-flags...: one measured run, results in R[KEY.*] as bench/compare's
# steady, plus mbps (response bytes per second / 1e6), hs_p50/hs_p99 (handshake, µs) and resumed (%)
tls_steady() {
	local key=$1 srv=$2 json=$tmp/$1.json hs; shift 2
	[ -z "${R[$srv.unavail]:-}" ] || return 0
	if ! alive "${SRV_PID[$srv]:-0}"; then
		R[$srv.unavail]="exited during the run"
		note "$srv (pid ${SRV_PID[$srv]:-}) **exited during the run**; no more rows for it"
		return 0
	fi
	steady_run "$key" "$srv" "$@"
	steady_figures "$key" "$srv" || return 0
	R[$key.mbps]=$(awk -v b="$(jnum "$json" bytes_read)" -v d="$(jnum "$json" duration_s)" 'BEGIN { if (d > 0) printf "%.1f", b / d / 1e6 }')
	R[$key.hs_p50]=$(jsub "$json" handshake_us p50) R[$key.hs_p99]=$(jsub "$json" handshake_us p99)
	hs=$(jnum "$json" tls_handshakes)
	R[$key.resumed]=$(awk -v h="$hs" -v r="$(jnum "$json" tls_resumed)" 'BEGIN { if (h > 0) printf "%.0f", 100 * r / h }')
	say "  $srv $key: $(printf '%.0f' "${R[$key.rps]}") req/s${R[$key.mbps]:+ (${R[$key.mbps]} MB/s)}, server CPU ${R[$key.cpu]} µs/req (${R[$key.share]}% of a CPU${R[$key.other]:+; others ${R[$key.other]}%}), handshakes $hs${R[$key.resumed]:+, ${R[$key.resumed]}% resumed}"
}

tls_main() {
	local w r wl c i order
	need_cmds openssl
	tls_setup
	say "TLS: herd-load ${load_pin[*]:-unpinned}; servers ${pin_srv[*]:-unpinned}; workers ${tls_workers[*]}; $rounds round(s) of ${warm}s warm-up + ${dur}s per workload"
	for w in "${tls_workers[@]}"; do
		tls_start_herd "herd$w" "$w" || true
		tls_start_nginx "nginx$w" "$w"
		say "herd$w on :${SRV_PORT[herd$w]:-none}; nginx$w pid ${SRV_PID[nginx$w]} on :${SRV_PORT[nginx$w]}"
		for ((r = 1; r <= rounds; r++)); do
			order=("herd$w" "nginx$w")
			[ $((r % 2)) = 1 ] || order=("nginx$w" "herd$w")
			for wl in "${tls_wls[@]}"; do
				url_path=${WL_PATH[$wl]}
				for c in "${order[@]}"; do
					[ -z "${R[$c.unavail]:-}" ] || continue
					say "round $r/$rounds: $c, ${WL_NAME[$wl]//\`/}"
					# shellcheck disable=SC2086
					tls_steady "$c.$wl.$r" "$c" ${WL_FLAGS[$wl]}
				done
			done
		done
		stop_server "herd$w"
		stop_server "nginx$w"
	done
	nginx_version=$(nginx -v 2>&1 | sed 's/.*version: //')
	openssl_version=$(openssl version)
	run_facts
	tls_report >"$out"
	echo
	for w in "${tls_workers[@]}"; do
		tls_table "$w"
		echo
		tls_other_table "$w"
		echo
	done
	[ -s "$notes" ] && cat "$notes" && echo
	echo "$me: wrote $out in $runtime s"
}

# ---- report ---------------------------------------------------------------------------------------
tls_table() { # WORKERS
	local w=$1 wl s rps cpu e cells
	echo "| workload ($w worker$([ "$w" = 1 ] || echo s)) | herd req/s | herd CPU µs/req | herd p50 / p99 | nginx req/s | nginx CPU µs/req | nginx p50 / p99 | herd/nginx CPU per req |"
	echo "|---|--:|--:|--:|--:|--:|--:|--:|"
	for wl in "${tls_wls[@]}"; do
		cells=()
		for s in "herd$w" "nginx$w"; do
			if [ -n "${R[$s.unavail]:-}" ] && [ -z "$(med "$s.$wl" rps)" ]; then
				cells+=("unavailable" "" "")
				continue
			fi
			rps=$(med "$s.$wl" rps) cpu=$(med "$s.$wl" cpu) e=$(med "$s.$wl" errors)
			if [ -n "$e" ] && [ "$(printf '%.0f' "$e")" != 0 ]; then e=" ⚠ $(fint "$e") errors"; else e=""; fi
			cells+=("$(fint "$rps")$e" "$(f2 "$cpu")" "$(flat "$(med "$s.$wl" p50)") / $(flat "$(med "$s.$wl" p99)")")
		done
		printf '| %s | %s | %s | %s | %s | %s | %s | **%s** |\n' "${WL_NAME[$wl]}" "${cells[@]}" \
			"$(ratio "$(med "herd$w.$wl" cpu)" "$(med "nginx$w.$wl" cpu)")"
	done
}
tls_other_table() { # WORKERS
	local w=$1 h="herd$1" n="nginx$1"
	echo "| $w worker$([ "$w" = 1 ] || echo s) | herd | nginx | herd/nginx |"
	echo "|---|--:|--:|--:|"
	printf '| 10 MiB file: throughput, MB/s | %s | %s | **%s** |\n' "$(med "$h.file10m" mbps)" "$(med "$n.file10m" mbps)" \
		"$(ratio "$(med "$h.file10m" mbps)" "$(med "$n.file10m" mbps)")"
	# shellcheck disable=SC2016 # the backquotes are markdown
	printf '| full handshake (`--close`): handshake p50 / p99 (client) | %s / %s | %s / %s | |\n' \
		"$(flat "$(med "$h.close" hs_p50)")" "$(flat "$(med "$h.close" hs_p99)")" "$(flat "$(med "$n.close" hs_p50)")" "$(flat "$(med "$n.close" hs_p99)")"
	# shellcheck disable=SC2016
	printf '| `--close --tls-resume`: handshakes resumed | %s %% | %s %% | |\n' "$(med "$h.resume" resumed)" "$(med "$n.resume" resumed)"
	# shellcheck disable=SC2016
	printf '| `--close --tls-resume`: handshake p50 / p99 (client) | %s / %s | %s / %s | |\n' \
		"$(flat "$(med "$h.resume" hs_p50)")" "$(flat "$(med "$h.resume" hs_p99)")" "$(flat "$(med "$n.resume" hs_p50)")" "$(flat "$(med "$n.resume" hs_p99)")"
}
tls_report() {
	local w wl s
	echo "# bench/compare --tls: herd vs nginx over HTTPS, $(date -u +%F)"
	echo
	report_machine
	echo "- **herd** commit \`$commit\`$dirty, $build_note; **nginx** $nginx_version; **$openssl_version**"
	echo "- **load average** at start $load_start, at end $load_end; the script waited ${quiet_waited} s in all for quiet CPUs ($quiet_late run(s) started anyway), and $n_contam of $n_steady steady runs were contaminated (see the notes)"
	echo "- **run** \`bench/compare${orig_args:+ $orig_args}\`, $runtime s; $rounds round(s) of ${warm} s warm-up + $dur s per workload, servers alternating; $pin_note"
	echo "- **TLS**: one ECDSA P-256 certificate made by the script for both servers; nginx \`ssl_protocols TLSv1.2 TLSv1.3\`, session tickets on, access log off; herd-load offers ALPN http/1.1 and verifies the certificate (\`--cacert\`)"
	for w in "${tls_workers[@]}"; do
		[ -z "${R[herd$w.unavail]:-}" ] || echo "- **herd --workers $w over TLS unavailable**: \`${R[herd$w.unavail]% }\`"
	done
	echo
	for w in "${tls_workers[@]}"; do
		echo "## herd ($w worker$([ "$w" = 1 ] || echo s)) vs nginx ($w worker_processes), HTTPS"
		echo
		tls_table "$w"
		echo
		tls_other_table "$w"
		echo
	done
	echo "**Server CPU µs/req** as in \`bench/compare\`: the server's utime+stime (all threads; nginx: master + workers) over"
	echo "the window from the end of \`--warmup $warm\` to 1 s before the end, divided by the requests herd-load counted in it."
	echo "With \`--close\` every request pays a TCP connection and a TLS handshake (full, or resumed from the ticket the"
	echo "thread's previous connection got). The handshake times are herd-load's, from \`connect()\` to the handshake's end;"
	echo "the client's own handshake work is in them (herd-load has one thread), so they compare the servers only roughly."
	echo "Throughput is herd-load's bytes read per second over the whole run. Cells are medians over the rounds."
	echo
	echo "| workload | server | CPU µs/req | req/s | MB/s | busy % | others on server CPU % | others on load CPU % |"
	echo "|---|---|--:|--:|--:|--:|--:|--:|"
	for w in "${tls_workers[@]}"; do
		for wl in "${tls_wls[@]}"; do
			for s in "herd$w" "nginx$w"; do
				[ -n "$(med "$s.$wl" rps)" ] || continue
				echo "| ${WL_NAME[$wl]} | $s | $(all_rounds "$s.$wl" cpu) | $(all_rounds "$s.$wl" rps | sed -E 's/\.[0-9]+//g') | $(all_rounds "$s.$wl" mbps) | $(all_rounds "$s.$wl" share) | $(all_rounds "$s.$wl" other) | $(all_rounds "$s.$wl" lother) |"
			done
		done
	done
	report_notes
	report_commands "# herd (W = ${tls_workers[*]}):" \
		"${pin_srv[*]}${pin_srv:+ }BUILD/herd --listen 127.0.0.1:0 --listen-tls 127.0.0.1:PORT --tls-cert CERT --tls-key KEY --root ROOT --grace 2 --workers W ${herd_pin[*]}" \
		"# nginx (TMP/nginx.conf below, worker_processes W):" "$nginx_cmd"
}
