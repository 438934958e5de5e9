#!/bin/sh
# scenarios.sh: the checks run inside the test VM (tests/vm/init starts it as
# the unprivileged user "tester", with JAIL_CGROUP naming a delegated cgroup2
# directory). busybox sh and tools only; no jq: the JSON report is read with
# sed. Prints one line per check,
#
#   VMTEST PASS <name>
#   VMTEST FAIL <name>: <detail>
#
# and "VMTEST DONE" last. A scenario that fails, hangs (every jail run has a
# timeout) or dies does not stop the others.
#
# Environment: JAIL_CGROUP (the delegated directory), VMTEST_ONLY (comma-
# separated scenario names; empty = all), VMTEST_INJECT_FAIL=1 (add a check
# that fails on purpose), JAIL (the jail binary, default: from PATH).

JAIL=${JAIL:-jail}
# The test programs, at a path the default profile shows inside the sandbox
# (it binds /usr, not /opt; /opt/jailtest is a symlink to this directory).
P=/usr/lib/jailtest
CG=${JAIL_CGROUP:-/sys/fs/cgroup/jail-tester}
W=$(mktemp -d /tmp/vmtest.XXXXXX) || { echo "VMTEST FAIL setup: mktemp"; echo "VMTEST DONE"; exit 1; }
trap 'rm -rf "$W"' EXIT

pass() { echo "VMTEST PASS $1"; }
fail() {
	n=$1
	shift
	# one line, whatever the detail holds
	echo "VMTEST FAIL $n: $(printf '%s' "$*" | tr '\n\r' '  ' | cut -c1-400)"
}
check() { # check NAME DETAIL-ON-FAILURE COMMAND...: pass if COMMAND succeeds
	n=$1 d=$2
	shift 2
	if "$@"; then pass "$n"; else fail "$n" "$d"; fi
}

# now: seconds since boot, with centiseconds
now() { cut -d' ' -f1 /proc/uptime; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# run_jail NAME SECS ARGS...: runs "jail ARGS" with a time-out, stdin from
# /dev/null, stdout to $W/NAME.out (unless ARGS redirect it themselves,
# see run_jail_devnull), stderr to $W/NAME.err; the report goes to
# $W/NAME.json when ARGS name it. Sets RC (exit status; 124 = time-out
# hit), T (seconds it took).
run_jail() {
	name=$1 secs=$2
	shift 2
	t0=$(now)
	timeout -s KILL "$secs" "$JAIL" "$@" </dev/null >"$W/$name.out" 2>"$W/$name.err"
	RC=$?
	t1=$(now)
	T=$(elapsed "$t0" "$t1")
	[ $RC = 137 ] && [ "$(awk -v t="$T" -v s="$secs" 'BEGIN { print (t >= s - 0.1) }')" = 1 ] && RC=124
	return 0
}
run_jail_devnull() { # as run_jail, stdout to /dev/null
	name=$1 secs=$2
	shift 2
	t0=$(now)
	timeout -s KILL "$secs" "$JAIL" "$@" </dev/null >/dev/null 2>"$W/$name.err"
	RC=$?
	t1=$(now)
	T=$(elapsed "$t0" "$t1")
	[ $RC = 137 ] && [ "$(awk -v t="$T" -v s="$secs" 'BEGIN { print (t >= s - 0.1) }')" = 1 ] && RC=124
	: >"$W/$name.out"
	return 0
}
# what a run said, for failure details
said() { printf 'exit %s after %ss; stderr: %s' "$RC" "$T" "$(head -c 300 "$W/$1.err" 2>/dev/null)"; }

# ---- the JSON report, flattened to one line without blanks around its
# punctuation ----
report() {
	[ -s "$1" ] && tr -d '\t\r\n' <"$1" | sed -e 's/\([][{},:]\) */\1/g' -e 's/ *\([][{},:]\)/\1/g'
}
# jval FILE KEY [OBJECT]: the value (string or number) of the first
# "KEY": in the report, or of the first "KEY": inside the first
# "OBJECT":{...}. The first, because top-level keys come before the nested
# objects in the report and the nested ones may reuse names.
jval() {
	report "$1" | awk -v k="\"$2\":" -v o="${3:+\"$3\":{}" '{
		s = $0
		if (o != "") {
			i = index(s, o)
			if (!i) exit
			s = substr(s, i + length(o))
			j = index(s, "}")
			if (j) s = substr(s, 1, j - 1)
		}
		i = index(s, k)
		if (!i) exit
		s = substr(s, i + length(k))
		if (substr(s, 1, 1) == "\"") {
			s = substr(s, 2)
			print substr(s, 1, index(s, "\"") - 1)
		} else if (match(s, /^-?[0-9][0-9.eE+-]*/)) {
			print substr(s, RSTART, RLENGTH)
		}
	}'
}
jstr() { jval "$1" "$2"; }
jnum() { jval "$1" "$2"; }
jsub() { jval "$1" "$3" "$2"; } # jsub FILE OBJECT KEY
# numeric test with awk: num_ok VALUE EXPR (EXPR uses v)
num_ok() { [ -n "$1" ] && awk -v v="$1" "BEGIN { exit !($2) }"; }
# a summary of a report for failure details
rsum() {
	if [ -s "$1" ]; then
		printf 'report: %s' "$(report "$1" | cut -c1-300)"
	else
		printf 'no report'
	fi
}

# leftovers: pids of processes that belong to a sandbox: a uid in the
# sub-uid range (100000..165535), another PID namespace than ours, or one of
# the test programs by name.
leftovers() {
	myns=$(readlink /proc/self/ns/pid)
	for d in /proc/[0-9]*; do
		pid=${d#/proc/}
		uid=$(sed -n 's/^Uid:[[:space:]]*\([0-9]*\).*/\1/p' "$d/status" 2>/dev/null)
		[ -n "$uid" ] || continue # gone
		comm=$(cat "$d/comm" 2>/dev/null)
		ns=$(readlink "$d/ns/pid" 2>/dev/null)
		if [ "$uid" -ge 100000 ] && [ "$uid" -le 165535 ]; then
			echo "$pid(uid $uid,$comm)"
		elif [ -n "$ns" ] && [ "$ns" != "$myns" ]; then
			echo "$pid(pidns $ns,$comm)"
		else
			case "$comm" in
			forkbomb | membomb | cpuspin | flood | accounting | jail-init) echo "$pid($comm)" ;;
			esac
		fi
	done
}

# =====================================================================
# 0. delegation: the harness itself. tester may create a cgroup below
# JAIL_CGROUP, move a process into it and remove it (no jail involved).
sc_delegation() {
	d=$CG/vmtest-probe.$$
	if ! mkdir "$d" 2>"$W/deleg.err"; then
		fail delegation "tester cannot mkdir in $CG: $(cat "$W/deleg.err")"
		return
	fi
	got=$(sh -c 'echo $$ >"$1/cgroup.procs" && cat /proc/self/cgroup' sh "$d" 2>&1)
	sleep 0.1
	rmdir "$d" 2>/dev/null || { sleep 0.5; rmdir "$d"; }
	case "$got" in
	"0::/jail-tester/vmtest-probe.$$" | "0::${CG#/sys/fs/cgroup}/vmtest-probe.$$")
		pass delegation ;;
	*) fail delegation "moving a process into $d gave: $got" ;;
	esac
	check delegation.controllers "$CG/cgroup.subtree_control is '$(cat "$CG/cgroup.subtree_control")'" \
		sh -c 'for c in memory pids cpu; do grep -qw $c "$1/cgroup.subtree_control" || exit 1; done' sh "$CG"
}

# 1. smoke: what works today, without limits.
sc_smoke() {
	run_jail smoke 60 -- true
	check smoke.true "$(said smoke)" [ "$RC" = 0 ]

	run_jail uidmap 60 -- cat /proc/self/uid_map
	echo "vmtest: uid_map inside: $(tr -s ' \n' ' ;' <"$W/uidmap.out")"
	check smoke.uid_map "uid_map: $(tr '\n' ';' <"$W/uidmap.out"); $(said uidmap)" \
		awk '$2 == 100000 && $3 == 65536 { ok = 1 } END { exit !ok }' "$W/uidmap.out"

	run_jail cgns 60 -- cat /proc/self/cgroup
	echo "vmtest: /proc/self/cgroup inside: $(tr '\n' ';' <"$W/cgns.out")"
	check smoke.cgroupns "/proc/self/cgroup inside: $(tr '\n' ';' <"$W/cgns.out"); $(said cgns)" \
		grep -qx '0::/' "$W/cgns.out"
}

# 2. membomb: 4 GiB against --memory 256MiB.
sc_membomb() {
	r=$W/membomb.json
	run_jail membomb 120 --memory 256MiB --report "$r" -- $P/membomb
	st=$(jstr "$r" status) lim=$(jstr "$r" limit) sig=$(jnum "$r" signal)
	ook=$(jsub "$r" memory oom_kills)
	if [ "$st" = ML ] && [ "$lim" = memory ] && num_ok "$ook" 'v >= 1' &&
		{ [ "$RC" = 137 ] || [ "$sig" = 9 ]; }; then
		pass membomb
	else
		fail membomb "want status ML, limit memory, oom_kills>=1, exit 137 or signal 9; got status '$st' limit '$lim' oom_kills '$ook' signal '$sig'; $(said membomb); $(rsum "$r")"
	fi
}

# 3. forkbomb: --pids 64 --wall-time 5s.
sc_forkbomb() {
	r=$W/forkbomb.json
	run_jail forkbomb 60 --pids 64 --wall-time 5s --report "$r" -- $P/forkbomb
	st=$(jstr "$r" status) lim=$(jstr "$r" limit)
	if [ "$lim" = pids ] ||
		{ { [ "$st" = RE ] || [ "$st" = TO ]; } && report "$r" | grep -q '"pids"'; }; then
		pass forkbomb
	else
		fail forkbomb "want limit pids (or status RE/TO with pids noted); got status '$st' limit '$lim'; $(said forkbomb); $(rsum "$r")"
	fi

	d=$(timeout -s KILL 10 date 2>&1)
	check forkbomb.responsive "date after the fork bomb: exit $?: $d" [ -n "$d" ]

	left=$(leftovers)
	if [ -n "$left" ]; then
		sleep 2
		left2=$(leftovers)
		fail forkbomb.cleanup "sandbox processes left after jail returned: $(echo $left | cut -c1-200); 2 s later: $(echo $left2 | wc -w) left"
	else
		pass forkbomb.cleanup
	fi
}

# 4. cpuspin: --cpu-time 1s on a busy loop.
# Within 10% on hardware (the host's test holds that on cgroup v1). Under
# software emulation (vmtest.tcg=1) jail's 10 ms poll and the kill take
# tens of emulated ms more, which the bound allows.
sc_cpuspin() {
	r=$W/cpuspin.json
	run_jail cpuspin 60 --cpu-time 1s --report "$r" -- $P/cpuspin
	st=$(jstr "$r" status) lim=$(jstr "$r" limit) cpu=$(jsub "$r" time cpu)
	hi=1.1
	grep -q 'vmtest.tcg=1' /proc/cmdline && hi=1.3
	if [ "$st" = TO ] && [ "$lim" = cpu-time ] && num_ok "$cpu" "v >= 0.9 && v <= $hi"; then
		pass cpuspin
	else
		fail cpuspin "want status TO, limit cpu-time, 0.9<=time.cpu<=$hi; got status '$st' limit '$lim' time.cpu '$cpu'; $(said cpuspin); $(rsum "$r")"
	fi
}

# 5. sleeper: --wall-time 1s on sleep 30.
sc_sleeper() {
	r=$W/sleeper.json
	run_jail sleeper 40 --wall-time 1s --report "$r" -- sleep 30
	st=$(jstr "$r" status) lim=$(jstr "$r" limit)
	if [ "$st" = TO ] && [ "$lim" = wall-time ] && num_ok "$T" 'v < 3'; then
		pass sleeper
	else
		fail sleeper "want status TO, limit wall-time, done in < 3 s; got status '$st' limit '$lim'; $(said sleeper); $(rsum "$r")"
	fi
}

# 6. flood: 1 GiB to stdout (the shell sends it to /dev/null), --output 1MiB.
sc_flood() {
	r=$W/flood.json
	run_jail_devnull flood 120 --output 1MiB --report "$r" -- $P/flood
	st=$(jstr "$r" status) lim=$(jstr "$r" limit)
	if [ "$st" = OL ] && [ "$lim" = output ]; then
		pass flood
	else
		fail flood "want status OL, limit output; got status '$st' limit '$lim'; $(said flood); $(rsum "$r")"
	fi
}

# 7. accounting: no limits; the report's CPU time against the program's own
# getrusage, and the peak memory against the 64 MiB it touched. The program
# measures from main, so its execve (the kernel loading it) is in the
# report but not in its own figure: a few ms on hardware, but software
# emulation (vmtest.tcg=1) makes it tens of ms, which the bound allows.
sc_accounting() {
	r=$W/accounting.json
	run_jail accounting 60 --report "$r" -- $P/accounting
	own=$(sed -n 's/.*cpu=\([0-9.]*\).*/\1/p' "$W/accounting.err" | head -n1)
	cpu=$(jsub "$r" time cpu) peak=$(jsub "$r" memory peak)
	slack=0.01
	grep -q 'vmtest.tcg=1' /proc/cmdline && slack=0.1
	if [ -n "$own" ] && num_ok "$cpu" "v >= $own * 0.95 && v <= $own * 1.05 + $slack"; then
		pass accounting.cpu
	else
		fail accounting.cpu "want time.cpu within 5% of the program's own $own s; got '$cpu'; $(said accounting); $(rsum "$r")"
	fi
	if num_ok "$peak" 'v >= 67108864'; then
		pass accounting.memory
	else
		fail accounting.memory "want memory.peak >= 67108864 (64 MiB touched); got '$peak'; $(said accounting); $(rsum "$r")"
	fi
}

# 8. cleanup: no cgroup left below JAIL_CGROUP (but the harness's session).
sc_cleanup() {
	left=""
	for d in "$CG"/*/; do
		[ -d "$d" ] || continue
		b=$(basename "$d")
		[ "$b" = session ] && continue
		left="$left $b"
	done
	check cleanup "child cgroups left in $CG:$left" [ -z "$left" ]
}

# 9. timens: the profile's [time] offsets on this kernel (Linux 6.1 refuses
# what the Go runtime does after an unshare(CLONE_NEWTIME); jail applies
# them before its runtime starts). The clocks inside differ from the
# host's by the offsets; a negative offset larger than the uptime is a
# clear error; without offsets the time namespace is still new.
sc_timens() {
	pf=$W/timens.toml
	printf 'extends = "default"\n[time]\nmonotonic = "365d"\nboottime = "2d"\n' >"$pf"
	out=$($P/clocks)
	run_jail timens 60 --profile "$pf" -- $P/clocks
	in=$(cat "$W/timens.out")
	m=$(echo "$in $out" | awk '{ split($1, a, "="); split($3, b, "="); printf "%.3f", a[2] - b[2] }')
	b=$(echo "$in $out" | awk '{ split($2, a, "="); split($4, b, "="); printf "%.3f", a[2] - b[2] }')
	# 365 d = 31536000 s, 2 d = 172800 s; the run itself takes < 10 s
	if [ "$RC" = 0 ] && num_ok "$m" 'v >= 31536000 && v < 31536010' && num_ok "$b" 'v >= 172800 && v < 172810'; then
		pass timens.offsets
	else
		fail timens.offsets "want monotonic +31536000 s and boottime +172800 s; inside '$in', outside before '$out' (diff $m, $b); $(said timens)"
	fi

	printf 'extends = "default"\n[time]\nboottime = "-3650d"\n' >"$pf"
	run_jail timensneg 60 --profile "$pf" -- true
	if [ "$RC" = 125 ] && grep -q 'time.boottime' "$W/timensneg.err" && grep -q 'up for only' "$W/timensneg.err"; then
		pass timens.negative
	else
		fail timens.negative "want exit 125 and a message naming time.boottime and the uptime; $(said timensneg)"
	fi

	run_jail timensnew 60 -- readlink /proc/self/ns/time
	host=$(readlink /proc/self/ns/time)
	inside=$(cat "$W/timensnew.out")
	check timens.new "time namespace inside '$inside', host '$host'; $(said timensnew)" \
		sh -c '[ "$1" = 0 ] && [ -n "$2" ] && [ "$2" != "$3" ]' sh "$RC" "$inside" "$host"
}

# A check that fails on purpose: proves that a failure reaches vm-test.sh.
# 9. batch: jail batch's zygote on cgroup v2 (a cgroup per run, born in it
# with CLONE_INTO_CGROUP): a memory bomb ends ML, the next run is OK with a
# peak of its own (6.1 has no memory.peak reset: a fresh cgroup), a CPU
# spinner ends TO on cpu-time; every report says the zygote served it; the
# runs' cgroups are gone afterwards.
sc_batch() {
	q=$W/batch.req
	{
		printf '{"id":"bomb","argv":["%s/membomb"],"limits":{"memory":"256MiB"},"report":"%s/b1.json"}\n' "$P" "$W"
		printf '{"id":"ok","argv":["sh","-c","echo hi"],"limits":{"memory":"256MiB"},"stdout":"%s/b2.out","report":"%s/b2.json"}\n' "$W" "$W"
		printf '{"id":"spin","argv":["%s/cpuspin"],"limits":{"cpu-time":"1s"},"report":"%s/b3.json"}\n' "$P" "$W"
		printf '{"id":"cgns","argv":["cat","/proc/self/cgroup"],"stdout":"%s/b4.out","report":"%s/b4.json"}\n' "$W" "$W"
		printf '{"id":"fork","argv":["%s/forkbomb"],"limits":{"pids":"64","wall-time":"5s"},"report":"%s/b5.json"}\n' "$P" "$W"
	} >"$q"
	t0=$(now)
	timeout -s KILL 180 "$JAIL" batch <"$q" >"$W/batch.out" 2>"$W/batch.err"
	RC=$?
	T=$(elapsed "$t0" "$(now)")
	check batch.exit "$(said batch); answers: $(head -c 300 "$W/batch.out")" [ "$RC" = 0 ]
	for i in 1 2 3 4 5; do
		if grep -q '"sandbox": *"zygote:.*a cgroup per run' "$W/b$i.json" 2>/dev/null; then
			pass batch.zygote$i
		else
			fail batch.zygote$i "report $i does not say the zygote served it with a cgroup per run; $(rsum "$W/b$i.json"); stderr: $(head -c 200 "$W/batch.err")"
		fi
	done
	r=$W/b1.json
	st=$(jstr "$r" status) lim=$(jstr "$r" limit) ook=$(jsub "$r" memory oom_kills)
	if [ "$st" = ML ] && [ "$lim" = memory ] && num_ok "$ook" 'v >= 1'; then
		pass batch.membomb
	else
		fail batch.membomb "want status ML, limit memory, oom_kills>=1; got status '$st' limit '$lim' oom_kills '$ook'; $(rsum "$r")"
	fi
	r=$W/b2.json
	st=$(jstr "$r" status) peak=$(jsub "$r" memory peak) ook=$(jsub "$r" memory oom_kills)
	if [ "$st" = OK ] && [ "$(cat "$W/b2.out" 2>/dev/null)" = hi ] && num_ok "$peak" 'v > 0 && v < 64 * 1048576' && [ "$ook" = 0 ]; then
		pass batch.fresh
	else
		fail batch.fresh "want status OK, output hi, 0<memory.peak<64MiB, oom_kills 0; got status '$st' peak '$peak' oom_kills '$ook' output '$(head -c 50 "$W/b2.out" 2>/dev/null)'; $(rsum "$r")"
	fi
	r=$W/b3.json
	st=$(jstr "$r" status) lim=$(jstr "$r" limit) cpu=$(jsub "$r" time cpu)
	hi=1.1
	grep -q 'vmtest.tcg=1' /proc/cmdline && hi=1.3
	if [ "$st" = TO ] && [ "$lim" = cpu-time ] && num_ok "$cpu" "v >= 0.9 && v <= $hi"; then
		pass batch.cpuspin
	else
		fail batch.cpuspin "want status TO, limit cpu-time, 0.9<=time.cpu<=$hi; got status '$st' limit '$lim' time.cpu '$cpu'; $(rsum "$r")"
	fi
	echo "vmtest: batch: memory.peak of the bomb $(jsub "$W/b1.json" memory peak), of the next run $(jsub "$W/b2.json" memory peak)"
	check batch.cgroupns "/proc/self/cgroup inside: $(tr '\n' ';' <"$W/b4.out" 2>/dev/null); $(rsum "$W/b4.json")" \
		grep -qx '0::/' "$W/b4.out"
	r=$W/b5.json
	st=$(jstr "$r" status) lim=$(jstr "$r" limit)
	if [ "$lim" = pids ] || { { [ "$st" = RE ] || [ "$st" = TO ]; } && report "$r" | grep -q '"pids"'; }; then
		pass batch.forkbomb
	else
		fail batch.forkbomb "want limit pids (or status RE/TO with pids noted); got status '$st' limit '$lim'; $(rsum "$r")"
	fi
	left=$(find "$CG" -mindepth 1 -maxdepth 2 -type d -name 'jail-*' 2>/dev/null)
	check batch.cleanup "cgroups left after the batch: $(echo $left | cut -c1-200)" [ -z "$left" ]
}

sc_injected() {
	fail injected "deliberate failure (vmtest.fail=1)"
}

# =====================================================================
echo "vmtest: scenarios as $(id), jail: $(command -v "$JAIL"), JAIL_CGROUP=$CG"
echo "vmtest: own cgroup: $(cat /proc/self/cgroup)"

all="delegation smoke membomb forkbomb cpuspin sleeper flood accounting timens batch cleanup"
[ "$VMTEST_INJECT_FAIL" = 1 ] && all="$all injected"
for s in $all; do
	if [ -n "$VMTEST_ONLY" ] && [ "$s" != injected ]; then
		case ",$VMTEST_ONLY," in
		*",$s,"*) ;;
		*) continue ;;
		esac
	fi
	echo "vmtest: -- $s"
	t0=$(now)
	# In a subshell: a scenario that exits or trips over something ends
	# there, and the others still run. Its lines are checked for a verdict.
	(sc_$s) >"$W/verdicts.$s" 2>&1
	rc=$?
	cat "$W/verdicts.$s"
	if ! grep -q "^VMTEST \(PASS\|FAIL\) $s" "$W/verdicts.$s"; then
		fail "$s" "the scenario gave no verdict (exit $rc)"
	fi
	echo "vmtest: -- $s took $(elapsed "$t0" "$(now)") s"
done
echo "VMTEST DONE"
