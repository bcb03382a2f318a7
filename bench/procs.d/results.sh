# bench/procs.d/results.sh: herd-load's JSON (totals, error kinds, per-second series), the table R, commands run
# shellcheck shell=bash disable=SC2034,SC2154 # globals shared with bench/procs

# ---- herd-load results ------------------------------------------------------------------------
declare -A R
declare -a CMDS=()
record_cmd() {
	local c=$1 x
	c=${c//$build\//BUILD/}
	c=$(sed -E 's#127\.0\.0\.1:[0-9]+#127.0.0.1:PORT#g; s#--json [^ ]+#--json FILE#' <<<"$c")
	for x in "${CMDS[@]+"${CMDS[@]}"}"; do [ "$x" = "$c" ] && return 0; done
	CMDS+=("$c")
}
jnum() { # FILE KEY: the first number after "KEY":
	awk -v k="\"$2\":" '{ i = index($0, k); if (!i) next; s = substr($0, i + length(k));
		sub(/^ */, "", s); if (match(s, /^-?[0-9.eE+]+/)) { print substr(s, RSTART, RLENGTH); exit } }' "$1" 2>/dev/null
}
jerrs() { # FILE: the non-zero error kinds, "kind=n ..."
	awk '/"errors_by_kind"/ { s = $0; sub(/.*"errors_by_kind": *\{/, "", s); sub(/\}.*/, "", s);
		n = split(s, a, ","); for (i = 1; i <= n; i++) { split(a[i], kv, ":"); gsub(/[" ]/, "", kv[1]);
		if (kv[2] + 0 > 0) printf "%s%s=%d", (o++ ? " " : ""), kv[1], kv[2] } exit }' "$1" 2>/dev/null
}
series() { # FILE: "t requests errors p99_us" per row
	awk '/"t": *[0-9.]+, *"requests"/ { l = $0; gsub(/[{}",:]/, " ", l); n = split(l, f, " ")
		for (i = 1; i < n; i++) v[f[i]] = f[i + 1]; print v["t"] + 0, v["requests"] + 0, v["errors"] + 0, v["p99_us"] + 0 }' "$1" 2>/dev/null
}
series_reqs() { # FILE FROM TO: "requests rows" in rows FROM <= t <= TO
	series "$1" | awk -v a="$2" -v b="$3" '$1 >= a - 0.01 && $1 <= b + 0.01 { s += $2; n++ } END { print s + 0, n + 0 }'
}
