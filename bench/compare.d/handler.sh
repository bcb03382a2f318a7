# bench/compare.d/handler.sh: bench/compare --handler, the cost of libherd's API. The same /plaintext
# served by this tree's herd (a handler registered through net/herd.h, core/main.c) and by a baseline
# herd built from a git revision (default be8e923, the last commit before libherd: the protocol's
# built-in canned answer), with nginx in the same run; goal: new/baseline server CPU per request
# at most 1.05 in keep-alive and pipelined-16.
# Sourced by bench/compare after setup, build and pinning; handler_main runs it and writes the report.
# shellcheck shell=bash disable=SC2034,SC2154 # globals shared with bench/compare and bench/lib.sh

hd_wls=(ka pipe)
hd_cfgs=(new base nginx)
hd_goal=1.05
hd_reruns=0
declare -A HD_NAME=([new]="herd (handler)" [base]="herd (baseline)" [nginx]=nginx)
declare -A HD_WL_SHORT=([ka]=keep-alive [pipe]=pipelined-16)
hd_opt_names=(buildtype optimization debug b_ndebug b_lto b_pie b_sanitize c_args c_link_args allocator sanitizer tests)

# ---- the baseline herd --------------------------------------------------------------------------
# hd_meson_opts: the meson options of $build that shape the herd binary, as -Dname=value words, in
# hd_opts (only those the baseline revision knows); the compiler it used in hd_cc. Without meson's
# introspection files (a --build DIR not made by meson): --buildtype=release, as bench_build does.
hd_meson_opts() {
	local known n v
	hd_opts=() hd_cc=""
	if [ ! -f "$build/meson-info/intro-buildoptions.json" ]; then
		hd_opts=(--buildtype=release)
		return 0
	fi
	known=$(git show "$hd_sha:meson_options.txt" 2>/dev/null | grep -o "^option('[A-Za-z0-9_]*'" | sed "s/option('//; s/'//" || true)
	while IFS='=' read -r n v; do
		case $n in
		allocator | sanitizer | tests) grep -qx "$n" <<<"$known" || continue ;;
		esac
		hd_opts+=("-D$n=$v")
	done < <(python3 - "$build/meson-info/intro-buildoptions.json" "${hd_opt_names[@]}" <<'EOF'
import json, sys
want = sys.argv[2:]
opts = {o["name"]: o["value"] for o in json.load(open(sys.argv[1]))}
for n in want:
    if n not in opts:
        continue
    v = opts[n]
    if isinstance(v, bool):
        v = "true" if v else "false"
    elif isinstance(v, list):
        if not v:
            continue
        v = " ".join(v)
    print("%s=%s" % (n, v))
EOF
	)
	[ ${#hd_opts[@]} -gt 0 ] || hd_opts=(--buildtype=release)
	# the C compiler of $build (first word(s) of a compile command), so that both use the same one
	if [ -f "$build/compile_commands.json" ]; then
		hd_cc=$(python3 -c 'import json, sys
c = json.load(open(sys.argv[1]))
w = c[0]["command"].split() if c else []
print(" ".join(w[:2] if w and w[0].endswith("ccache") else w[:1]))' "$build/compile_commands.json" 2>/dev/null || true)
	fi
}

# hd_baseline: sets base_herd (and base_note) from --baseline: an executable file is taken as it
# is; else a revision, built (herd only, same meson options as $build) in a temporary git worktree
# under $hd_cache_root and cached by revision and options: a second run does not rebuild.
hd_baseline() {
	local key cache src bld lockfd t0 envs=()
	if [ -f "$baseline" ] && [ -x "$baseline" ]; then
		base_herd=$(cd "$(dirname "$baseline")" && pwd)/$(basename "$baseline")
		hd_sha="" base_note="\`--baseline $baseline\` (a binary, taken as it is)"
		return 0
	fi
	hd_sha=$(git rev-parse --verify -q "$baseline^{commit}") || die "--baseline $baseline: not a revision of this repository (nor an executable file)"
	hd_subject=$(git log -1 --format=%s "$hd_sha")
	[ ${#hd_subject} -le 72 ] || hd_subject="${hd_subject:0:72}…"
	hd_meson_opts
	key=$(printf '%s\n' "$hd_cc" "${hd_opts[@]}" | sha1sum | cut -c1-10)
	hd_cache_root=${HERD_BASELINE_CACHE:-/tmp/herd-baseline}
	cache=$hd_cache_root/${hd_sha:0:12}-$key src=$hd_cache_root/${hd_sha:0:12}-$key/src bld=$hd_cache_root/${hd_sha:0:12}-$key/build
	base_herd=$bld/herd
	mkdir -p "$cache"
	exec {lockfd}>"$cache.lock"
	flock "$lockfd"   # another run building the same baseline: wait for it
	if [ -x "$base_herd" ] && [ -f "$cache/done" ]; then
		base_note="built with \`${hd_opts[*]}\`${hd_cc:+, CC=$hd_cc} (cached in $cache)"
		exec {lockfd}>&-
		return 0
	fi
	say "building the baseline herd from ${hd_sha:0:12} ($hd_subject) in $cache"
	t0=$(now_us)
	rm -f "$cache/done"
	if git worktree list --porcelain | grep -qx "worktree $src"; then git worktree remove --force "$src" >/dev/null 2>&1 || true; fi
	rm -rf "$src" "$bld"
	git worktree add --force --detach "$src" "$hd_sha" >"$cache/build.log" 2>&1 ||
		die "git worktree add $src $hd_sha failed: $(tail -2 "$cache/build.log" | tr '\n' ' ')"
	[ -z "$hd_cc" ] || envs=(CC="$hd_cc")
	if ! { env "${envs[@]}" meson setup "$bld" "$src" "${hd_opts[@]}" && ninja -C "$bld" herd; } >>"$cache/build.log" 2>&1; then
		git worktree remove --force "$src" >/dev/null 2>&1 || true
		die "building the baseline failed (log: $cache/build.log): $(tail -3 "$cache/build.log" | tr '\n' ' ')"
	fi
	# the binary is all we keep; the source worktree goes (meson's build dir still names it, harmless)
	git worktree remove --force "$src" >>"$cache/build.log" 2>&1 || rm -rf "$src"
	[ -x "$base_herd" ] || die "the baseline build made no $base_herd (log: $cache/build.log)"
	: >"$cache/done"
	exec {lockfd}>&-
	base_note="built now with \`${hd_opts[*]}\`${hd_cc:+, CC=$hd_cc} in $(( ($(now_us) - t0) / 1000000 )) s (cached in $cache)"
}

# ---- servers: each started for its run alone on the server CPU, stopped after it -----------------
hd_start() { # CONFIG
	local c=$1 keep=$herd
	case $c in
	nginx)
		start_nginx nginx 1 || { R[nginx.unavail]=${R[nginx.startfail]}; return 1; } ;;
	*)
		[ "$c" = new ] || herd=$base_herd
		if ! start_herd "$c" --grace 2 --workers 1 "${herd_pin[@]}"; then
			R[$c.unavail]="did not start: $(herd_said "$c" | sed 's/ *usage:.*//')"
			herd=$keep
			return 1
		fi
		herd=$keep ;;
	esac
}
hd_stop() { # CONFIG
	stop_server "$1"
	case $stop_status in 0 | 143) ;; *) note "${HD_NAME[$1]} exited with status $stop_status when stopped" ;; esac
}
# hd_check CONFIG: the answer to one GET /plaintext (status line, header names, body), for the report
hd_check() {
	local c=$1 f=$tmp/$1.check
	curl -s -i --max-time 5 "http://127.0.0.1:${SRV_PORT[$c]}/plaintext" 2>/dev/null | tr -d '\r' >"$f" || true
	R[$c.status]=$(head -1 "$f")
	R[$c.hdrs]=$(sed -n '2,/^$/p' "$f" | sed -n 's/:.*//p' | tr '\n' ' ' | sed 's/ $//')
	R[$c.body]=$(sed '1,/^$/d' "$f")
	[ "${R[$c.body]}" = "Hello, World!" ] || note "${HD_NAME[$c]}: GET /plaintext answered \`${R[$c.status]}\` with body \`$(head -c 60 <<<"${R[$c.body]}")\`"
}

# steady KEY CONFIG herd-load-flags...: bench/lib.sh's steady_rounds calls it for every run: the
# server starts, herd-load runs against it (steady_run, steady_figures), the server stops. A run
# that other processes contaminated (noise_figures) is run again, at most hd_retries times in all.
steady() {
	local key=$1 c=$2 json=$tmp/$1.json contam; shift 2
	while :; do
		[ -z "${R[$c.unavail]:-}" ] || return 0
		if ! hd_start "$c"; then
			say "  ${HD_NAME[$c]}: **unavailable**: ${R[$c.unavail]}"
			note "${HD_NAME[$c]}: ${R[$c.unavail]}; no more runs of it"
			return 0
		fi
		[ -n "${R[$c.status]:-}" ] || hd_check "$c"
		steady_run "$key" "$c" "$@"
		if ! alive "${SRV_PID[$c]}"; then
			note "${HD_NAME[$c]} (pid ${SRV_PID[$c]}) **exited during $key**: $(log_text "$c" | tail -3 | tr '\n' ' ')"
		fi
		hd_stop "$c"
		contam=$n_contam
		steady_figures "$key" "${HD_NAME[$c]}" || return 0
		R[$key.bytes]=$(awk -v b="$(jnum "$json" bytes_read)" -v r="${R[$key.requests]}" 'BEGIN { if (r > 0) printf "%.0f", b / r }')
		say "  ${HD_NAME[$c]} $key: $(printf '%.0f' "${R[$key.rps]}") req/s, server CPU ${R[$key.cpu]} µs/req (${R[$key.share]}% of a CPU${R[$key.other]:+; others ${R[$key.other]}%}${R[$key.lother]:+ + ${R[$key.lother]}% on the load CPU}), p99 ${R[$key.p99]:-?} µs"
		[ "$n_contam" != "$contam" ] || return 0
		[ "$hd_retries" -gt 0 ] || { R[$key.contam]=1; return 0; }
		hd_retries=$((hd_retries - 1)) hd_reruns=$((hd_reruns + 1))
		note "$key run again (the contaminated figures above are dropped)"
	done
}

# hd_measure WORKLOADS SERVERS (array names): every round of every workload (steady_rounds), with
# the test processes seen before and after, nginx's version and the run's facts for the report.
hd_measure() {
	local others
	others=$(pgrep -f "meson test|test_.*_integration" | tr '\n' ' ' || true)
	hd_others_start=${others:-none}
	[ -z "$others" ] || note "test processes running when the script started (pids $others): the CPU figures may be disturbed; see *others* below"
	say "herd-load ${load_pin[*]:-unpinned}; servers ${pin_srv[*]:-unpinned}, one at a time; $rounds round(s) of ${warm}s warm-up + ${dur}s per workload"
	steady_rounds "$1" "$2"
	others=$(pgrep -f "meson test|test_.*_integration" | tr '\n' ' ' || true)
	hd_others_end=${others:-none}
	nginx_version=$(nginx -v 2>&1 | sed 's/.*version: //')
	run_facts
}

handler_main() {
	hd_retries=$((quick ? 2 : 4))
	hd_baseline
	say "handler: herd (handler) $herd; herd (baseline) $base_herd${hd_sha:+ from ${hd_sha:0:12}}, $base_note"
	WL_NAME=([ka]="keep-alive, $conns_ka conns" [pipe]="\`--pipeline $depth_pipe\`, $conns_pipe conns")
	WL_FLAGS=([ka]="-c $conns_ka" [pipe]="--pipeline $depth_pipe -c $conns_pipe")
	CFG_NAME=([new]="${HD_NAME[new]}" [base]="${HD_NAME[base]}" [nginx]=nginx)
	# shellcheck disable=SC2034 # steady_rounds takes them by name
	local servers=("${hd_cfgs[@]}")
	hd_measure hd_wls servers
	hd_report >"$out"
	echo
	echo "herd (handler): $herd, commit $commit$dirty; herd (baseline): $base_herd${hd_sha:+, ${hd_sha:0:12}}; medians of $rounds round(s) of $dur s"
	echo
	hd_table
	echo
	hd_verdict
	echo
	[ -s "$notes" ] && cat "$notes" && echo
	echo "$me: wrote $out in $runtime s"
}

# ---- report ---------------------------------------------------------------------------------------
hd_cell_ratio() { # A B WORKLOAD: A/B CPU per request (n/a without two figures above zero)
	local a b
	a=$(med "$1.$3" cpu) b=$(med "$2.$3" cpu)
	awk -v a="${a:-0}" -v b="${b:-0}" 'BEGIN { exit !(a > 0 && b > 0) }' || { echo n/a; return; }
	ratio "$a" "$b"
}
hd_kept_contam() { # how many kept runs are contaminated
	local k n=0
	for k in "${!R[@]}"; do [[ $k != *.contam ]] || n=$((n + 1)); done
	echo "$n"
}
# hd_cfg_cells CONFIG WORKLOAD: appends its req/s (errors flagged) and CPU µs/req cells to the
# caller's cells array, "n/a" twice when it has no figures
hd_cfg_cells() {
	local rps e
	rps=$(med "$1.$2" rps)
	if [ -z "$rps" ]; then cells+=("n/a" "n/a"); return 0; fi
	e=$(med "$1.$2" errors)
	if [ -n "$e" ] && [ "$(printf '%.0f' "$e")" != 0 ]; then e=" ⚠ $(fint "$e") errors"; else e=""; fi
	cells+=("$(fint "$rps")$e" "$(f2 "$(med "$1.$2" cpu)")")
}
hd_table() {
	local wl c cells
	echo "| workload | handler req/s | handler CPU µs/req | baseline req/s | baseline CPU µs/req | nginx req/s | nginx CPU µs/req | **handler/baseline** | handler/nginx | baseline/nginx |"
	echo "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
	for wl in "${hd_wls[@]}"; do
		cells=()
		for c in "${hd_cfgs[@]}"; do
			hd_cfg_cells "$c" "$wl"
		done
		printf '| %s | %s | %s | %s | %s | %s | %s | **%s** | %s | %s |\n' "${WL_NAME[$wl]}" "${cells[@]}" \
			"$(hd_cell_ratio new base "$wl")" "$(hd_cell_ratio new nginx "$wl")" "$(hd_cell_ratio base nginx "$wl")"
	done
}
hd_verdict() { # one line against the goal
	local wl x w over="" ok="" miss=""
	for wl in "${hd_wls[@]}"; do
		x=$(hd_cell_ratio new base "$wl") w=${HD_WL_SHORT[$wl]}
		if [ "$x" = n/a ]; then miss+="${miss:+, }$w: no figure"; continue; fi
		if awk -v x="$x" -v g="$hd_goal" 'BEGIN { exit !(x <= g) }'; then
			ok+="${ok:+, }$w ${x}×"
		else
			over+="${over:+, }$w ${x}× ($(awk -v x="$x" 'BEGIN { printf "%.0f", (x - 1) * 100 }') % more CPU per request than the built-in)"
		fi
	done
	local kc caveat=""
	kc=$(hd_kept_contam)
	[ "$kc" = 0 ] || caveat=" ⚠ $kc contaminated run(s) (other processes above ${busy_limit} % of a CPU, see the notes) are in these figures: take it with care."
	if [ -n "$miss" ]; then
		echo "**Verdict: no verdict** against the goal handler/baseline ≤ ${hd_goal}× server CPU per request: $miss${over:+; over: $over}${ok:+; within: $ok}.$caveat"
	elif [ -n "$over" ]; then
		echo "**Verdict: goal missed** (handler/baseline ≤ ${hd_goal}× server CPU per request): over in $over${ok:+; within in $ok}.$caveat"
	else
		echo "**Verdict: goal met** (handler/baseline ≤ ${hd_goal}× server CPU per request): $ok.$caveat"
	fi
}
hd_rounds_ratio() { # WORKLOAD: new/base per round (the two ran next to each other)
	local r o=""
	for ((r = 1; r <= rounds; r++)); do o+="${o:+, }$(ratio "${R[new.$1.$r.cpu]:-}" "${R[base.$1.$r.cpu]:-}")"; done
	echo "$o"
}
hd_report() {
	local wl c
	echo "# bench/compare --handler: /plaintext from a libherd handler vs the built-in, $(date -u +%F)"
	echo
	report_machine
	echo "- **herd (handler)**: commit \`$commit\`$dirty, $build_note: \`/plaintext\` is a handler registered through the public API (\`net/herd.h\`, \`core/main.c\`)"
	echo "- **herd (baseline)**: ${hd_sha:+\`${hd_sha:0:12}\` ($hd_subject), }$base_note: \`/plaintext\` is the protocol's built-in answer"
	echo "- **nginx** $nginx_version, 1 worker, \`return 200\`, access log off (the peer of \`/work/shared/bench/nginx-peer.conf\`, as \`bench/compare\`'s default mode)"
	echo "- **load average** at start $load_start, at end $load_end; test processes (\`meson test\`, \`test_*_integration\`) running at start: $hd_others_start, at end: $hd_others_end; the script waited ${quiet_waited} s in all for quiet CPUs ($quiet_late run(s) started anyway), and $n_contam of $n_steady steady runs were contaminated (see the notes); $hd_reruns of those were run again and their figures dropped, $(hd_kept_contam) contaminated run(s) are in the figures"
	echo "- **run** \`bench/compare${orig_args:+ $orig_args}\`, $runtime s; $rounds round(s) of ${warm} s warm-up + $dur s per workload; every server started for its run and stopped after it (alone on the server CPU), order handler, baseline, nginx and reversed every other round; $pin_note"
	echo
	echo "## /plaintext: registered handler vs built-in (1 worker each) and nginx"
	echo
	hd_table
	echo
	hd_verdict
	echo
	echo "**Server CPU µs/req** as in \`bench/compare\`: the server's utime+stime (all threads; nginx: master + worker) over"
	echo "the window from the end of \`--warmup $warm\` to 1 s before the end, divided by the requests herd-load counted in"
	echo "it. Cells are medians over the rounds; the ratios are of the medians. Goal (issue 18): handler/baseline ≤ ${hd_goal}×"
	echo "in keep-alive and pipelined-16."
	echo
	echo "| server | GET /plaintext: status | header names | body |"
	echo "|---|---|---|---|"
	for c in "${hd_cfgs[@]}"; do
		echo "| ${HD_NAME[$c]} | ${R[$c.status]:-n/a} | ${R[$c.hdrs]:-n/a} | \`${R[$c.body]:-}\` |"
	done
	echo
	echo "Every round (comma-separated, in order); *handler/baseline* per round compares the two herds that ran next to"
	echo "each other. *Busy* is the server's CPU share in the window; *others*: what other processes took on the server's"
	echo "and on herd-load's CPU in the same window (above ${busy_limit} % the run is noted as contaminated)."
	echo
	echo "| workload | server | CPU µs/req | req/s | busy % | others on server CPU % | others on load CPU % | bytes/response |"
	echo "|---|---|--:|--:|--:|--:|--:|--:|"
	for wl in "${hd_wls[@]}"; do
		for c in "${hd_cfgs[@]}"; do
			[ -n "$(med "$c.$wl" rps)" ] || continue
			echo "| ${WL_NAME[$wl]} | ${HD_NAME[$c]} | $(all_rounds "$c.$wl" cpu) | $(all_rounds "$c.$wl" rps | sed -E 's/\.[0-9]+//g') | $(all_rounds "$c.$wl" share) | $(all_rounds "$c.$wl" other) | $(all_rounds "$c.$wl" lother) | ${R[$c.$wl.1.bytes]:-?} |"
		done
		echo "| ${WL_NAME[$wl]} | handler/baseline | $(hd_rounds_ratio "$wl") | | | | | |"
	done
	report_notes
	report_commands "# herd (handler; BUILD = $build) and herd (baseline; BASE = $(dirname "$base_herd")), each alone:" \
		"${pin_srv[*]}${pin_srv:+ }BUILD/herd --listen 127.0.0.1:0 --grace 2 --workers 1 ${herd_pin[*]}" \
		"${pin_srv[*]}${pin_srv:+ }BASE/herd --listen 127.0.0.1:0 --grace 2 --workers 1 ${herd_pin[*]}" \
		"# nginx (TMP/nginx.conf below):" "$nginx_cmd"
}
