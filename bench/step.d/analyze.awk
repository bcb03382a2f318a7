# bench/step.d/analyze.awk: one accept mode of bench/step, from its raw files to
# TSV rows and summary figures.  POSIX awk (mawk or gawk), everything in BEGIN.
#
# -v mode=NAME      accept mode (TSV column)
#    hoff=S H=S     heavy phase: starts hoff s after the light client, lasts H s
#    total=S        light client's duration (all phases)
#    metrics=FILE   "t workers requests up down" per /metrics sample ("-" when it failed)
#    events=FILE    "t up|down from to text" per herd scale log line
#    light=FILE heavy=FILE   herd-load --json outputs (/dev/null when missing)
#    tsv=FILE       rows appended: t_s mode workers req_per_s p99_us errors_per_s
#                   heavy_p99_us scale_up scale_down phase
#    plot=FILE      the same rows for this mode only (gnuplot input)
# Prints tab-separated lines on stdout:
#    ROW   mode maxw grow shrink failed_heavy failed_shrink light_p99_heavy
#    FIG   name value    (numbers for the plot and the notes)
#    EVENT text         (one per scale event, time relative to the heavy phase)
#    NOTE  text

function num(s, key,   r) {
	if (match(s, "\"" key "\": *-?[0-9][0-9.eE+-]*")) {
		r = substr(s, RSTART, RLENGTH)
		sub(/^[^:]*: */, "", r)
		return r + 0
	}
	return ""
}

# herd-load --json: top-level figures and the per-second series.
function load_json(file, w,   line, t, kinds, pair, nk, i, v, k) {
	n[w] = 0; toterr[w] = ""; totreq[w] = ""; kinds_s[w] = ""; rps[w] = ""
	prev = 0
	while ((getline line < file) > 0) {
		if (line ~ /"t": *[0-9]/) {
			k = ++n[w]
			t = num(line, "t")
			t0s[w, k] = prev; t1s[w, k] = t; prev = t
			req[w, k] = num(line, "requests")
			err[w, k] = num(line, "errors")
			p99[w, k] = num(line, "p99_us")
		} else if (line ~ /^  "errors": /) {
			toterr[w] = num(line, "errors")
		} else if (line ~ /^  "requests": /) {
			totreq[w] = num(line, "requests")
		} else if (line ~ /^  "rps": /) {
			rps[w] = num(line, "rps")
		} else if (line ~ /"errors_by_kind"/) {
			kinds = line
			sub(/.*\{/, "", kinds); sub(/\}.*/, "", kinds)
			nk = split(kinds, pair, ",")
			for (i = 1; i <= nk; i++) {
				v = pair[i]; gsub(/[" ]/, "", v)
				if (v !~ /:0$/)
					kinds_s[w] = kinds_s[w] (kinds_s[w] == "" ? "" : ", ") v
			}
		}
	}
	close(file)
}

# Index of the series second of client w (offset off) holding time x, 0 if none.
function sec(w, off, x,   k) {
	for (k = 1; k <= n[w]; k++)
		if (x >= off + t0s[w, k] && x < off + t1s[w, k])
			return k
	return 0
}

function fmt_s(x) { return sprintf("%.1f s", x) }

function fmt_us(x) {
	if (x == "") return "-"
	if (x >= 1000) return sprintf("%.1f ms", x / 1000)
	return sprintf("%d us", x + 0.5)
}

# Median of vals[1..m] (sorted in place, insertion sort: m is small).
function median(vals, m,   i, j, v) {
	for (i = 2; i <= m; i++) {
		v = vals[i]
		for (j = i - 1; j >= 1 && vals[j] > v; j--) vals[j + 1] = vals[j]
		vals[j + 1] = v
	}
	if (m == 0) return ""
	return (m % 2) ? vals[(m + 1) / 2] : (vals[m / 2] + vals[m / 2 + 1]) / 2
}

BEGIN {
	OFS = "\t"
	hend = hoff + H
	load_json(light, "L")
	load_json(heavy, "H")

	# Scale events.
	ne = 0; maxw = 1; last_up = -1e9
	while ((getline line < events) > 0) {
		split(line, f, " ")
		ne++; et[ne] = f[1] + 0; edir[ne] = f[2]; eto[ne] = f[4] + 0
		etxt = line; sub(/^[^ ]+ [^ ]+ [^ ]+ [^ ]+ /, "", etxt)
		printf "EVENT\t%+7.2f s  %s\n", et[ne] - hoff, etxt
		if (eto[ne] > maxw) maxw = eto[ne]
		if (edir[ne] == "up") last_up = et[ne]
	}
	close(events)

	# /metrics samples -> TSV rows.
	ns = 0; lastw = ""
	while ((getline line < metrics) > 0) {
		split(line, f, " ")
		ns++; st[ns] = f[1] + 0; sw[ns] = f[2]; sr[ns] = f[3]; su[ns] = f[4]; sd[ns] = f[5]
		if (sw[ns] != "-") {
			if (sw[ns] + 0 > maxw) maxw = sw[ns] + 0
			lastw = sw[ns] + 0
		}
	}
	close(metrics)
	pi = 0
	for (i = 1; i <= ns; i++) {
		t = st[i]
		rate = "-"
		if (sr[i] != "-" && pi > 0 && t > st[pi])
			rate = sprintf("%.0f", (sr[i] - sr[pi]) / (t - st[pi]))
		if (sr[i] != "-") pi = i
		x = t - 0.25                       # middle of the half second this sample closes
		kl = sec("L", 0, x); kh = sec("H", hoff, x)
		lp = (kl && p99["L", kl] != "") ? sprintf("%.0f", p99["L", kl]) : "-"
		hp = (kh && p99["H", kh] != "") ? sprintf("%.0f", p99["H", kh]) : "-"
		e = "-"
		if (kl || kh) e = (kl ? err["L", kl] : 0) + (kh ? err["H", kh] : 0)
		phase = (t <= hoff) ? "light" : (t <= hend ? "heavy" : "light-after")
		row = sprintf("%.2f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s", t, mode, sw[i], rate, lp, e, hp,
			su[i], sd[i], phase)
		print row >> tsv
		print row > plot
	}
	close(tsv); close(plot)

	# Failed requests by phase, and the light client's p99 per phase.
	fh = (toterr["H"] == "") ? 0 : toterr["H"]
	fs = 0; m1 = 0; mh = 0; maxph = ""
	for (k = 1; k <= n["L"]; k++) {
		c = (t0s["L", k] + t1s["L", k]) / 2
		if (c >= hoff && c < hend) {
			fh += err["L", k]
			if (p99["L", k] != "") {
				ph[++mh] = p99["L", k]
				if (maxph == "" || p99["L", k] > maxph) maxph = p99["L", k]
			}
		} else if (c >= hend) {
			fs += err["L", k]
		} else if (p99["L", k] != "") {
			p1[++m1] = p99["L", k]
		}
	}
	# Heavy-client seconds that ended after the heavy phase (should be none).
	for (k = 1; k <= n["H"]; k++)
		if (hoff + (t0s["H", k] + t1s["H", k]) / 2 >= hend && err["H", k] > 0)
			print "NOTE", "heavy client: " err["H", k] " errors in its second " k ", after the heavy phase"

	# Growth: heavy start -> the event that reached the peak; shrink: heavy end -> back at 1.
	grow = "no growth"; first_up = ""; tgrow = ""
	for (i = 1; i <= ne; i++) {
		if (edir[i] == "up" && first_up == "") first_up = et[i] - hoff
		if (edir[i] == "up" && eto[i] == maxw && tgrow == "") tgrow = et[i] - hoff
	}
	if (tgrow != "") {
		grow = fmt_s(tgrow)
		if (first_up != "" && first_up < tgrow - 0.05)
			grow = grow " (first +1 at " fmt_s(first_up) ")"
	} else if (maxw > 1) {
		grow = "? (no scale-up line)"
	}
	shrink = ""; tshrink = ""; downs_in_heavy = 0
	for (i = 1; i <= ne; i++) {
		if (edir[i] == "down" && et[i] < hend) downs_in_heavy++
		if (edir[i] == "down" && eto[i] == 1 && et[i] > last_up) tshrink = et[i] - hend
	}
	if (tshrink != "" && lastw == 1)
		shrink = fmt_s(tshrink)
	else if (maxw == 1)
		shrink = "- (never grew)"
	else
		shrink = sprintf("not within %.0f s (%s workers at the end)", total - hend, lastw == "" ? "?" : lastw)
	if (downs_in_heavy)
		print "NOTE", downs_in_heavy " scale-down(s) during the heavy phase itself"

	p99h = "-"
	if (mh) p99h = fmt_us(median(ph, mh)) " (worst second " fmt_us(maxph) ")"
	print "ROW", mode, maxw, grow, shrink, fh, fs, p99h

	print "FIG", "failed_heavy", fh
	print "FIG", "failed_shrink", fs
	print "FIG", "tshrink", tshrink
	print "FIG", "light_p99_before", (m1 ? fmt_us(median(p1, m1)) : "-")
	print "FIG", "light_requests", totreq["L"]
	print "FIG", "light_errors", toterr["L"]
	print "FIG", "light_kinds", kinds_s["L"]
	print "FIG", "heavy_requests", totreq["H"]
	print "FIG", "heavy_rps", rps["H"]
	print "FIG", "heavy_errors", toterr["H"]
	print "FIG", "heavy_kinds", kinds_s["H"]
	print "FIG", "samples", ns
	print "FIG", "light_seconds", n["L"]
	print "FIG", "heavy_seconds", n["H"]
}
