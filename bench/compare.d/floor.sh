# bench/compare.d/floor.sh: bench/compare --floor, the per-request floor table of issue 19. This
# tree's herd and a baseline herd (--baseline, default ea2130c), each with --accept exclusive and
# --accept uring, against nginx: one worker each, every server started for its run alone on the
# server CPU and stopped after it; keep-alive, --close, --pipeline 16 and a 4 KiB file; server CPU
# µs per request, the ratios to nginx and the goals. Unless --no-bare, the bare responders of
# bench/bare/ (bare-ep, bare-ur: the floor a naive server sets) too, in the same rounds, for
# keep-alive, close and pipe (they serve no files), in a second table.
# Sourced by bench/compare after setup, build and pinning; floor_main runs it and writes the report.
# The baseline comes from handler.sh (hd_baseline, sourced with the rest of handler.sh; its
# hd_check, hd_stop and hd_cell_ratio serve here too); this file's steady replaces handler.sh's.
# shellcheck shell=bash disable=SC2034,SC2154 # globals shared with bench/compare and bench/lib.sh

# shellcheck source=bench/compare.d/handler.sh
. bench/compare.d/handler.sh
# shellcheck source=bench/compare.d/bare.sh
. bench/compare.d/bare.sh

fl_wls=(ka close pipe file)
fl_cfgs=(new-ex new-ur base-ex base-ur nginx)   # the table's columns
fl_order=(new-ex base-ex new-ur base-ur nginx)  # the run order of odd rounds (even rounds: reversed)
fl_new=(new-ex new-ur)
fl_bare=(bare-ep bare-ur)                       # unless --no-bare: run too, in their own table
fl_bare_wls=(ka close pipe)                     # theirs (they serve no files)
declare -A FL_BARE_BIN=([bare-ep]=herd-bare-epoll [bare-ur]=herd-bare-uring)
fl_reruns=0
declare -A FL_ACCEPT=([new-ex]=exclusive [new-ur]=uring [base-ex]=exclusive [base-ur]=uring)
# goals (issue 19): server CPU per request / nginx's, for this tree's herd; WORKLOAD.CONFIG first
declare -A FL_GOAL=([ka.new-ex]=0.84 [ka.new-ur]=0.80 [close]=0.55 [pipe]=0.10 [file]=0.60)
declare -A FL_WL_SHORT=([ka]=keep-alive [close]=close [pipe]=pipe [file]=file)
HD_NAME+=([new-ex]="new-ex (this tree, --accept exclusive)" [new-ur]="new-ur (this tree, --accept uring)"
	[base-ex]="base-ex (baseline, --accept exclusive)" [base-ur]="base-ur (baseline, --accept uring)"
	[bare-ep]="bare-ep (herd-bare-epoll)" [bare-ur]="bare-ur (herd-bare-uring)")

# fl_setup: the 4 KiB file both servers serve, nginx's server block, the workloads
fl_setup() {
	fl_root=$tmp/floor-root
	mkdir -p "$fl_root"
	head -c 4096 /dev/urandom >"$fl_root/4k"
	# nginx's workers run as another user when the script runs as root
	chmod 755 "$tmp" "$fl_root"
	chmod 644 "$fl_root/4k"
	nginx_server="    root $fl_root;
    sendfile on;
    tcp_nopush on;
    open_file_cache max=1000 inactive=60s;
    location / { default_type text/plain; return 200 \"Hello, World!\"; }
    location = /4k { }"
	WL_NAME=([ka]="keep-alive, $conns_ka conns" [close]="\`--close\`, $conns_close conns"
		[pipe]="\`--pipeline $depth_pipe\`, $conns_pipe conns" [file]="4 KiB file, keep-alive, $conns_ka conns")
	WL_FLAGS=([ka]="-c $conns_ka" [close]="--close -c $conns_close" [pipe]="--pipeline $depth_pipe -c $conns_pipe"
		[file]="-c $conns_ka")
	CFG_NAME=([new-ex]=new-ex [new-ur]=new-ur [base-ex]=base-ex [base-ur]=base-ur [nginx]=nginx
		[bare-ep]=bare-ep [bare-ur]=bare-ur)
}

# fl_bare_setup: with the bare responders (unless --no-bare), each after its herd in the run order;
# built here when this script built herd, else taken from --build DIR as they are (a missing one is
# unavailable, the rest is measured)
fl_bare_setup() {
	local c wl bin
	[ "$bare" = 1 ] || { fl_bare=(); return 0; }
	fl_order=(new-ex base-ex bare-ep new-ur base-ur bare-ur nginx)
	if [[ $build_note == "built by this script"* ]]; then
		ninja -C "$build" bench/herd-bare-epoll bench/herd-bare-uring >/dev/null
	fi
	for c in "${fl_bare[@]}"; do
		bin=$build/bench/${FL_BARE_BIN[$c]}
		[ -x "$bin" ] && continue
		note "${HD_NAME[$c]}: $bin not found (ninja -C $build bench/${FL_BARE_BIN[$c]}); not measured"
		for wl in "${fl_bare_wls[@]}"; do R[$c.$wl.unavail]="not built"; done
	done
}
fl_is_bare() { [[ $1 == bare-* ]]; }   # CONFIG
fl_log() { # CONFIG: its last log lines on one line (a bare responder's log has no timestamps)
	if fl_is_bare "$1"; then tail -3 "${SRV_LOG[$1]}" 2>/dev/null | tr '\n' ' ' || true; else log_text "$1" | tail -3 | tr '\n' ' '; fi
}

# fl_start CONFIG WORKLOAD: the server alone on the server CPU; herd gets --root for the file only
fl_start() {
	local c=$1 wl=$2 keep=$herd args said w
	if [ "$c" = nginx ]; then
		start_nginx nginx 1 || { R[nginx.$wl.unavail]=${R[nginx.startfail]}; return 1; }
		return 0
	fi
	if fl_is_bare "$c"; then
		start_bare "$c" "$build/bench/${FL_BARE_BIN[$c]}" && return 0
		# the same binary and arguments for every workload: no more tries
		for w in "${fl_bare_wls[@]}"; do R[$c.$w.unavail]="did not start: $(head -2 "$tmp/$c.out" 2>/dev/null | tr '\n' ' ')"; done
		return 1
	fi
	args=(--grace 2 --workers 1 "${herd_pin[@]}" --accept "${FL_ACCEPT[$c]}")
	[ "$wl" != file ] || args+=(--root "$fl_root")
	[ "${c%%-*}" = new ] || herd=$base_herd
	if ! start_herd "$c" "${args[@]}"; then
		R[$c.$wl.unavail]="did not start: $(herd_said "$c" | sed 's/ *usage:.*//')"
		herd=$keep
		return 1
	fi
	herd=$keep
	# herd says which accept mode it runs: a fallback would make the column lie
	said=$(log_text "$c" | grep -o 'listening on .*' | head -1)
	if [[ $said != *"accept ${FL_ACCEPT[$c]}"* ]] && [ -z "${R[$c.saidnote]:-}" ]; then
		R[$c.saidnote]=1
		note "${HD_NAME[$c]}: herd said \`$said\` (not accept ${FL_ACCEPT[$c]})"
	fi
}

# fl_check_bare CONFIG: a bare responder's answer to GET / (any request gets it), for the report
fl_check_bare() {
	local c=$1 f=$tmp/$1.check
	curl -s -i --max-time 5 "http://127.0.0.1:${SRV_PORT[$c]}/" 2>/dev/null | tr -d '\r' >"$f" || true
	R[$c.status]=$(head -1 "$f")
	R[$c.hdrs]=$(sed -n '2,/^$/p' "$f" | sed -n 's/:.*//p' | tr '\n' ' ' | sed 's/ $//')
	R[$c.body]=$(sed '1,/^$/d' "$f")
	R[$c.fcheck]="n/a (serves no files)"
	[ "${R[$c.body]}" = "Hello, World!" ] || note "${HD_NAME[$c]}: GET / answered \`${R[$c.status]}\` with body \`$(head -c 60 <<<"${R[$c.body]}")\`"
}

# fl_check_file CONFIG: GET /4k answers 200 with the file's bytes; R[CONFIG.fcheck] for the report
fl_check_file() {
	local c=$1 f=$tmp/$1.4k code size
	code=$(curl -s --max-time 5 -D "$f.h" -o "$f" -w '%{http_code}' "http://127.0.0.1:${SRV_PORT[$c]}/4k" 2>/dev/null) || true
	size=$(stat -c %s "$f" 2>/dev/null || echo 0)
	R[$c.ftype]=$(sed -n 's/^[Cc]ontent-[Tt]ype: *//p' "$f.h" 2>/dev/null | tr -d '\r' | head -1) || true
	if [ "${code:-000}" = 200 ] && cmp -s "$f" "$fl_root/4k"; then
		R[$c.fcheck]="200, the file's $size bytes"
		return 0
	fi
	R[$c.fcheck]="${code:-000}, $size bytes, not the file"
	return 1
}

# steady KEY CONFIG herd-load-flags...: bench/lib.sh's steady_rounds calls it for every run: the
# server starts, is checked once (GET /plaintext, and GET /4k for the file), herd-load runs against
# it, the server stops. A contaminated run is run again, at most fl_retries times in all. The bare
# responders are checked with GET / and not run for the file (not applicable).
steady() {
	local key=$1 c=$2 wl json=$tmp/$1.json contam; shift 2
	wl=${key#*.} && wl=${wl%.*}
	url_path=/plaintext
	[ "$wl" != file ] || url_path=/4k
	if fl_is_bare "$c" && [ "$wl" = file ]; then
		say "  ${HD_NAME[$c]}: serves no files, not applicable"
		return 0
	fi
	while :; do
		[ -z "${R[$c.$wl.unavail]:-}" ] || return 0
		if ! fl_start "$c" "$wl"; then
			say "  ${HD_NAME[$c]}, $wl: **unavailable**: ${R[$c.$wl.unavail]}"
			note "${HD_NAME[$c]}, ${WL_NAME[$wl]}: ${R[$c.$wl.unavail]}; no more runs of it"
			return 0
		fi
		if [ -z "${R[$c.status]:-}" ]; then
			if fl_is_bare "$c"; then fl_check_bare "$c"; else hd_check "$c"; fi
		fi
		if [ "$wl" = file ] && [ -z "${R[$c.fcheck]:-}" ] && ! fl_check_file "$c"; then
			R[$c.$wl.unavail]="GET /4k answered ${R[$c.fcheck]}"
			say "  ${HD_NAME[$c]}: ${R[$c.$wl.unavail]}: not measured"
			note "${HD_NAME[$c]}: ${R[$c.$wl.unavail]}; the file is not measured for it"
			hd_stop "$c"
			return 0
		fi
		steady_run "$key" "$c" "$@"
		if ! alive "${SRV_PID[$c]}"; then
			note "${HD_NAME[$c]} (pid ${SRV_PID[$c]}) **exited during $key**: $(fl_log "$c")"
		fi
		hd_stop "$c"
		contam=$n_contam
		steady_figures "$key" "$c" || return 0
		say "  $c $key: $(printf '%.0f' "${R[$key.rps]}") req/s, server CPU ${R[$key.cpu]} µs/req (${R[$key.share]}% of a CPU${R[$key.other]:+; others ${R[$key.other]}%}${R[$key.lother]:+ + ${R[$key.lother]}% on the load CPU}), p99 ${R[$key.p99]:-?} µs"
		[ "$n_contam" != "$contam" ] || return 0
		[ "$fl_retries" -gt 0 ] || { R[$key.contam]=1; return 0; }
		fl_retries=$((fl_retries - 1)) fl_reruns=$((fl_reruns + 1))
		note "$key run again (the contaminated figures above are dropped)"
	done
}

floor_main() {
	fl_retries=$((quick ? 3 : 6))
	hd_baseline
	say "floor: new $herd; baseline $base_herd${hd_sha:+ from ${hd_sha:0:12}}, $base_note"
	fl_setup
	fl_bare_setup
	# shellcheck disable=SC2034 # steady_rounds takes them by name
	local servers=("${fl_order[@]}")
	hd_measure fl_wls servers
	fl_report >"$out"
	echo
	echo "new: $herd, commit $commit$dirty; base: $base_herd${hd_sha:+, ${hd_sha:0:12}}; medians of $rounds round(s) of $dur s"
	echo
	fl_tables ""
	[ -s "$notes" ] && cat "$notes" && echo
	echo "$me: wrote $out in $runtime s"
}

# ---- report ---------------------------------------------------------------------------------------
# fl_tables HEADING: the main table, the goals and the bare responders' table ("## " in the report,
# "" on stdout, where the title ends with a colon)
fl_tables() {
	fl_table
	echo
	fl_goals
	echo
	[ ${#fl_bare[@]} -gt 0 ] || return 0
	echo "$1herd against the bare responders (the floor a naive server sets)$([ -n "$1" ] || echo :)"
	echo
	fl_bare_table
	echo
}
fl_rounds_ratio() { # CONFIG WORKLOAD [OTHER]: CONFIG/OTHER (nginx) CPU per request, every round ("a, b")
	local r o="" b=${3:-nginx}
	for ((r = 1; r <= rounds; r++)); do o+="${o:+, }$(ratio "${R[$1.$2.$r.cpu]:-}" "${R[$b.$2.$r.cpu]:-}")"; done
	echo "$o"
}
fl_cpu_cell() { # CONFIG WORKLOAD: the median CPU µs/req, with herd-load's errors when there were any
	local e
	[ -n "$(med "$1.$2" rps)" ] || { echo n/a; return; }
	e=$(med "$1.$2" errors)
	if [ -n "$e" ] && [ "$(printf '%.0f' "$e")" != 0 ]; then e=" ⚠ $(fint "$e") errors"; else e=""; fi
	echo "$(f2 "$(med "$1.$2" cpu)")$e"
}
fl_bare_table() { # herd against the bare responders, the workloads they serve
	local wl
	echo "| workload | bare-ep CPU µs/req | bare-ur CPU µs/req | bare-ep / nginx | bare-ur / nginx | **new-ex / bare-ep** | **new-ur / bare-ur** | new-ur / bare-ur per round |"
	echo "|---|--:|--:|--:|--:|--:|--:|--:|"
	for wl in "${fl_bare_wls[@]}"; do
		printf '| %s | %s | %s | %s | %s | **%s** | **%s** | %s |\n' "${WL_NAME[$wl]}" \
			"$(fl_cpu_cell bare-ep "$wl")" "$(fl_cpu_cell bare-ur "$wl")" \
			"$(hd_cell_ratio bare-ep nginx "$wl")" "$(hd_cell_ratio bare-ur nginx "$wl")" \
			"$(hd_cell_ratio new-ex bare-ep "$wl")" "$(hd_cell_ratio new-ur bare-ur "$wl")" \
			"$(fl_rounds_ratio new-ur "$wl" bare-ur)"
	done
}
fl_table() {
	local wl c cells
	printf '| workload |'
	for c in "${fl_cfgs[@]}"; do printf ' %s req/s | %s CPU µs/req |' "$c" "$c"; done
	echo " **new-ex / nginx** | **new-ur / nginx** | base-ex / nginx | base-ur / nginx | new-ex / nginx per round | new-ur / nginx per round |"
	echo "|---|$(printf -- '--:|%.0s' $(seq $((2 * ${#fl_cfgs[@]} + 6))))"
	for wl in "${fl_wls[@]}"; do
		cells=()
		for c in "${fl_cfgs[@]}"; do
			hd_cfg_cells "$c" "$wl"
		done
		for c in "${fl_new[@]}"; do cells+=("**$(hd_cell_ratio "$c" nginx "$wl")**"); done
		for c in base-ex base-ur; do cells+=("$(hd_cell_ratio "$c" nginx "$wl")"); done
		for c in "${fl_new[@]}"; do cells+=("$(fl_rounds_ratio "$c" "$wl")"); done
		printf '| %s |' "${WL_NAME[$wl]}"
		printf ' %s |' "${cells[@]}"
		echo
	done
}
fl_goals() { # the goals line: each goal of the new configs, met or not
	local wl c x g parts=() met=0 all=0 kc caveat=""
	for wl in "${fl_wls[@]}"; do
		for c in "${fl_new[@]}"; do
			x=$(hd_cell_ratio "$c" nginx "$wl") g=${FL_GOAL[$wl.$c]:-${FL_GOAL[$wl]}}
			all=$((all + 1))
			if [ "$x" = n/a ]; then
				parts+=("${FL_WL_SHORT[$wl]} $c ≤ ${g}×: **no figure**")
			elif awk -v x="$x" -v g="$g" 'BEGIN { exit !(x <= g) }'; then
				parts+=("${FL_WL_SHORT[$wl]} $c ${x}× ≤ ${g}×: **met**")
				met=$((met + 1))
			else
				parts+=("${FL_WL_SHORT[$wl]} $c ${x}× ≤ ${g}×: **not met**")
			fi
		done
	done
	kc=$(hd_kept_contam)
	[ "$kc" = 0 ] || caveat=" ⚠ $kc contaminated run(s) (other processes above ${busy_limit} % of a CPU, see the notes) are in these figures."
	echo "**Goals** (this tree's server CPU per request / nginx's, medians; $met of $all met):$(printf ' %s;' "${parts[@]}" | sed 's/;$//').$caveat"
}
fl_report() {
	local wl c fl_bare_cmds=()
	[ ${#fl_bare[@]} -eq 0 ] || fl_bare_cmds=("# the bare responders (BUILD/bench/), each alone; GET / checked (GET /plaintext measured):"
		"${pin_srv[*]}${pin_srv:+ }BUILD/bench/herd-bare-epoll 0"
		"${pin_srv[*]}${pin_srv:+ }BUILD/bench/herd-bare-uring 0")
	echo "# bench/compare --floor: the per-request floor, herd vs nginx, $day, $host"
	echo
	report_machine
	echo "- **new-ex / new-ur**: this tree's herd, commit \`$commit\`$dirty, $build_note; \`--accept exclusive\` / \`--accept uring\`"
	echo "- **base-ex / base-ur**: the baseline herd, ${hd_sha:+\`${hd_sha:0:12}\` ($hd_subject), }$base_note; the same two modes"
	[ ${#fl_bare[@]} -eq 0 ] || echo "- **bare-ep / bare-ur**: the bare responders of \`bench/bare/\` (\`herd-bare-epoll\`, \`herd-bare-uring\` from the same build directory; one thread, a fixed \`Hello, World!\` to any request; checked with \`GET /\`), the floor a naive server sets; keep-alive, close and pipe only (they serve no files)"
	echo "- **nginx** $nginx_version, 1 worker, access log off, \`return 200\` for \`/plaintext\` (as \`bench/compare\`'s default mode); the 4 KiB file with \`sendfile on; tcp_nopush on; open_file_cache max=1000 inactive=60s;\` (config below)"
	echo "- **load average** at start $load_start, at end $load_end; test processes (\`meson test\`, \`test_*_integration\`) running at start: $hd_others_start, at end: $hd_others_end; the script waited ${quiet_waited} s in all for quiet CPUs ($quiet_late run(s) started anyway), and $n_contam of $n_steady steady runs were contaminated (see the notes); $fl_reruns of those were run again and their figures dropped, $(hd_kept_contam) contaminated run(s) are in the figures"
	echo "- **run** \`bench/compare${orig_args:+ $orig_args}\`, $runtime s; $rounds round(s) of ${warm} s warm-up + $dur s per workload; every server started for its run and stopped after it (alone on the server CPU, 1 worker), order ${fl_order[*]} and reversed every other round; $pin_note"
	echo
	echo "## Server CPU per request: herd (this tree, baseline; exclusive, uring) vs nginx, 1 worker each"
	echo
	fl_tables "## "
	if [ ${#fl_bare[@]} -gt 0 ]; then
		echo "Server CPU µs/req of the bare responders (medians, measured in the same rounds and order as the others;"
		echo "the file is not applicable), their ratio to nginx, and this tree's herd over the bare responder of its"
		echo "I/O model: \`--accept exclusive\` (epoll) over \`herd-bare-epoll\`, \`--accept uring\` over \`herd-bare-uring\`."
		echo
	fi
	echo "**Server CPU µs/req** as in \`bench/compare\`: the server's utime+stime (all threads; nginx: master + worker) over"
	echo "the window from the end of \`--warmup $warm\` to 1 s before the end, divided by the requests herd-load counted in"
	echo "it. Cells are medians over the rounds; the \`/ nginx\` ratios are of the medians, and *per round* compares the"
	echo "runs of one round (the servers ran one after the other). Goals (issue 19), this tree against nginx: keep-alive"
	echo "≤ ${FL_GOAL[ka.new-ur]}× (uring) and ≤ ${FL_GOAL[ka.new-ex]}× (exclusive), close ≤ ${FL_GOAL[close]}×, pipe ≤ ${FL_GOAL[pipe]}×, file ≤ ${FL_GOAL[file]}×. The file is"
	echo "4096 random bytes made for the run, served by herd with \`--root\` (given for that workload only) and by nginx"
	echo "from the same directory."
	echo
	echo "| server | GET /plaintext: status | header names | body | GET /4k | its Content-Type |"
	echo "|---|---|---|---|---|---|"
	for c in "${fl_cfgs[@]}" "${fl_bare[@]+"${fl_bare[@]}"}"; do
		echo "| ${HD_NAME[$c]} | ${R[$c.status]:-n/a} | ${R[$c.hdrs]:-n/a} | \`${R[$c.body]:-}\` | ${R[$c.fcheck]:-n/a} | ${R[$c.ftype]:-n/a} |"
	done
	echo
	echo "Every round (comma-separated, in order). *Busy* is the server's CPU share in the window; *others*: what other"
	echo "processes took on the server's and on herd-load's CPU in the same window (above ${busy_limit} % the run is noted as"
	echo "contaminated)."
	echo
	echo "| workload | server | CPU µs/req | req/s | busy % | others on server CPU % | others on load CPU % | bytes/response |"
	echo "|---|---|--:|--:|--:|--:|--:|--:|"
	for wl in "${fl_wls[@]}"; do
		for c in "${fl_cfgs[@]}" "${fl_bare[@]+"${fl_bare[@]}"}"; do
			[ -n "$(med "$c.$wl" rps)" ] || continue
			echo "| ${WL_NAME[$wl]} | $c | $(all_rounds "$c.$wl" cpu) | $(all_rounds "$c.$wl" rps | sed -E 's/\.[0-9]+//g') | $(all_rounds "$c.$wl" share) | $(all_rounds "$c.$wl" other) | $(all_rounds "$c.$wl" lother) | $(fl_bytes "$c.$wl.1") |"
		done
	done
	report_notes
	report_commands "# herd, this tree (BUILD = $build) and the baseline (BASE = $(dirname "$base_herd")), each alone;" \
		"# --root ROOT (TMP/floor-root, the 4 KiB file) for the file workload only:" \
		"${pin_srv[*]}${pin_srv:+ }BUILD/herd --listen 127.0.0.1:0 --grace 2 --workers 1 ${herd_pin[*]} --accept exclusive [--root ROOT]" \
		"${pin_srv[*]}${pin_srv:+ }BUILD/herd --listen 127.0.0.1:0 --grace 2 --workers 1 ${herd_pin[*]} --accept uring [--root ROOT]" \
		"${pin_srv[*]}${pin_srv:+ }BASE/herd --listen 127.0.0.1:0 --grace 2 --workers 1 ${herd_pin[*]} --accept exclusive [--root ROOT]" \
		"${pin_srv[*]}${pin_srv:+ }BASE/herd --listen 127.0.0.1:0 --grace 2 --workers 1 ${herd_pin[*]} --accept uring [--root ROOT]" \
		"${fl_bare_cmds[@]+"${fl_bare_cmds[@]}"}" \
		"# nginx (TMP/nginx.conf below):" "$nginx_cmd"
}
fl_bytes() { # KEY: bytes read per response in that run
	awk -v b="$(jnum "$tmp/$1.json" bytes_read)" -v r="${R[$1.requests]:-0}" 'BEGIN { if (r > 0) printf "%.0f", b / r; else print "?" }'
}
