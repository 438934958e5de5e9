#!/usr/bin/env bash
# jail's benchmark (issue 6), in one run, as an unprivileged user:
#   startup   jail -- /bin/true (built-in default profile) vs bubblewrap with a
#             comparable read-only root vs unshare -Urmpfniu (the floor) vs
#             plain /bin/true, with hyperfine; medians and ratios
#   judge     sequential runs of a small static C program reading a stdin file
#             and writing a stdout file, under CPU, wall and memory limits for
#             jail (bubblewrap cannot limit); runs per second
#   overhead  a getppid loop, a read loop and a fork/exec loop timed inside the
#             program, inside jail (default profile: default seccomp filter)
#             vs outside; medians of several repetitions
#   memory    peak RSS of jail's own processes (supervisor, init)
# It prints a table and writes every figure, with the machine's facts, to
# bench/results/bench-<date>-<host>.json. The machine may be shared and noisy:
# compare the ratios of one run, not absolute times across runs.
#
#   bench/bench.sh [--only startup,judge,overhead,memory]
#
# Run as root, it installs what is missing (hyperfine, bubblewrap, gcc, jq,
# ...), builds jail, delegates a cgroup v1 subtree to the bench user when the
# machine has cgroup v1 (as scripts/test.sh does; BENCH_CGROUP=0 skips it),
# and runs the bench as the unprivileged user BENCH_USER (default jailtest,
# created with a /etc/subuid range when missing). Run as an ordinary user, it
# says what is missing and measures as that user.
#
# Environment (defaults; BENCH_QUICK=1 makes a smoke run of a few seconds):
#   BENCH_ONLY=startup,judge,overhead,memory  the parts to run
#   BENCH_STARTUP_RUNS=60 BENCH_WARMUP=5      hyperfine runs per command
#   BENCH_JUDGE_RUNS=500                      judge runs per sandbox
#   BENCH_JUDGE_PROFILE=                      a profile (file or built-in name)
#                                             for the judge runs instead of the
#                                             one written here; the runs start
#                                             in the programs' directory and
#                                             run BENCH_JUDGE_CMD (/box/sum); in
#                                             a file, @BOX@ is replaced by that
#                                             directory
#   BENCH_REPEAT=7                            repetitions of each overhead loop
#   BENCH_SYSCALL_N=1000000 BENCH_FORK_N=300  iterations of the overhead loops
#   BENCH_MEM_RUNS=3                          memory samples of jail -- sleep 1
#   BENCH_JAIL=                               a jail binary to use (else built)
#   BENCH_RESULTS=bench/results               where the JSON goes
set -euo pipefail
export LC_ALL=C
src=$(cd "$(dirname "$0")/.." && pwd)
cd "$src"
. scripts/lib.sh

only=${BENCH_ONLY:-startup,judge,overhead,memory}
while [ $# -gt 0 ]; do
	case "$1" in
	--only) only=${2:?--only needs a list}; shift 2 ;;
	--only=*) only=${1#--only=}; shift ;;
	-h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
	*) echo "bench: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
done
for part in ${only//,/ }; do
	case "$part" in startup | judge | overhead | memory) ;; *) echo "bench: unknown part $part in --only" >&2; exit 2 ;; esac
done
want() { case ",$only," in *",$1,"*) return 0 ;; esac; return 1; }

bench_user=${BENCH_USER:-jailtest}

# ---------------------------------------------------------------------------
# As root: prepare, then run this script again as the unprivileged user.
if [ "$(id -u)" = 0 ]; then
	need_pkgs hyperfine:hyperfine bwrap:bubblewrap unshare:util-linux runuser:util-linux \
		gcc:gcc jq:jq newuidmap:uidmap newgidmap:uidmap pkg-config:pkg-config lib:libseccomp:libseccomp-dev
	[ -e /usr/lib/x86_64-linux-gnu/libc.a ] || ls /usr/lib/*/libc.a >/dev/null 2>&1 || need_pkgs_libc=1
	if [ -n "${need_pkgs_libc:-}" ]; then
		echo "bench: installing libc6-dev (static libc)" >&2
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libc6-dev >/dev/null
	fi
	GO=$(need_go)
	if ! id "$bench_user" >/dev/null 2>&1; then
		useradd --create-home --shell /bin/bash "$bench_user"
	fi
	if ! grep -q "^$bench_user:" /etc/subuid; then usermod --add-subuids 100000-165535 "$bench_user"; fi
	if ! grep -q "^$bench_user:" /etc/subgid; then usermod --add-subgids 100000-165535 "$bench_user"; fi

	# The user gets a copy of what it needs: the checkout may sit below a
	# directory it cannot enter.
	work=$(mktemp -d /tmp/jail-bench.XXXXXX)
	cgroup_created=""
	cleanup() {
		if [ -n "$cgroup_created" ]; then
			"$work/jail" setup-cgroup --user "$bench_user" --under-own-cgroup --remove || true
		fi
		rm -rf "$work"
	}
	trap cleanup EXIT
	mkdir -p "$work/src/bench" "$work/src/scripts" "$work/results"
	cp -a bench/bench.sh bench/progs "$work/src/bench/"
	cp -a scripts/lib.sh "$work/src/scripts/"
	cp -a profiles "$work/src/"
	echo "== building jail" >&2
	"$GO" build -o "$work/jail" ./cmd/jail
	rev=${BENCH_GIT_REV:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}
	if [ -z "${BENCH_GIT_REV:-}" ] && [ "$rev" != unknown ] && ! git diff --quiet HEAD -- 2>/dev/null; then rev="$rev-dirty"; fi

	# A cgroup v1 subtree for the user, below our own cgroups, as test.sh
	# does; removed at the end unless it was there before (another run's).
	cgroup_setup=none
	if [ "${BENCH_CGROUP:-1}" != 0 ] && [ -d /sys/fs/cgroup/memory ] && [ -d /sys/fs/cgroup/pids ]; then
		existed=""
		while IFS=: read -r _ ctls path; do
			case ",$ctls," in *,memory,* | *,pids,* | *,cpu,* | *,cpuacct,* | *,freezer,*) ;; *) continue ;; esac
			[ -d "/sys/fs/cgroup/$ctls${path%/}/jail/$bench_user" ] && existed=1
		done </proc/self/cgroup
		if "$work/jail" setup-cgroup --user "$bench_user" --under-own-cgroup >/dev/null; then
			cgroup_setup="cgroup v1 subtree delegated to $bench_user"
			[ -n "$existed" ] || cgroup_created=1
		else
			echo "bench: could not delegate a cgroup v1 subtree; measuring without" >&2
		fi
	fi

	envs=(PATH="$(dirname "$GO"):/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
		HOME="$(getent passwd "$bench_user" | cut -d: -f6)" LC_ALL=C)
	[ -n "${TERM:-}" ] && envs+=(TERM="$TERM")
	while IFS= read -r v; do
		envs+=("$v=${!v}")
	done < <(compgen -e | grep '^BENCH_' || true)
	# A judge profile given as a file the user may not read: hand it a copy.
	if [ -n "${BENCH_JUDGE_PROFILE:-}" ] && [ -f "$BENCH_JUDGE_PROFILE" ]; then
		cp "$BENCH_JUDGE_PROFILE" "$work/judge-profile.toml"
		envs+=(BENCH_JUDGE_PROFILE="$work/judge-profile.toml")
	fi
	envs+=(BENCH_JAIL="$work/jail" BENCH_RESULTS="$work/results" BENCH_GIT_REV="$rev"
		BENCH_CGROUP_SETUP="$cgroup_setup" BENCH_ONLY="$only" BENCH_FROM_ROOT=1)
	chown -R "$bench_user:" "$work"
	chmod 755 "$work"
	echo "== running the bench as $bench_user (unprivileged, with a sub-uid range)" >&2
	rc=0
	runuser -u "$bench_user" -- env -i "${envs[@]}" bash "$work/src/bench/bench.sh" || rc=$?
	results=${BENCH_RESULTS:-$src/bench/results}
	if ls "$work"/results/*.json >/dev/null 2>&1; then
		mkdir -p "$results"
		for f in "$work"/results/*.json; do
			cp "$f" "$results/"
			echo "results: $results/$(basename "$f")"
		done
	fi
	exit "$rc"
fi

# ---------------------------------------------------------------------------
# As an unprivileged user.
jail=${BENCH_JAIL:-}
missing="" cmds="hyperfine:hyperfine bwrap:bubblewrap unshare:util-linux gcc:gcc jq:jq"
[ -n "$jail" ] || cmds="$cmds newuidmap:uidmap pkg-config:pkg-config"
for pair in $cmds; do
	command -v "${pair%%:*}" >/dev/null 2>&1 || missing="$missing ${pair#*:}"
done
if [ -z "$jail" ] && command -v pkg-config >/dev/null && ! pkg-config --exists libseccomp; then
	missing="$missing libseccomp-dev"
fi
if [ -n "$missing" ]; then
	echo "bench: missing:$missing" >&2
	echo "  install them as root (apt-get install$missing), or run bench/bench.sh as root:" >&2
	echo "  it installs them and measures as the unprivileged user $bench_user" >&2
	exit 2
fi

quick=${BENCH_QUICK:-0}
if [ "$quick" = 1 ]; then
	d_startup=8 d_warmup=2 d_judge=20 d_repeat=2 d_sys=50000 d_fork=20 d_mem=1 d_sleep=0.3
else
	d_startup=60 d_warmup=5 d_judge=500 d_repeat=7 d_sys=1000000 d_fork=300 d_mem=3 d_sleep=1
fi
startup_runs=${BENCH_STARTUP_RUNS:-$d_startup}
warmup=${BENCH_WARMUP:-$d_warmup}
judge_runs=${BENCH_JUDGE_RUNS:-$d_judge}
repeat=${BENCH_REPEAT:-$d_repeat}
syscall_n=${BENCH_SYSCALL_N:-$d_sys}
fork_n=${BENCH_FORK_N:-$d_fork}
mem_runs=${BENCH_MEM_RUNS:-$d_mem}
mem_sleep=${BENCH_MEM_SLEEP:-$d_sleep}
results=${BENCH_RESULTS:-$src/bench/results}

T=$(mktemp -d /tmp/jail-bench-run.XXXXXX)
trap 'rm -rf "$T"' EXIT

if [ -z "$jail" ]; then
	GO=$(need_go)
	echo "== building jail" >&2
	"$GO" build -o "$T/jail" ./cmd/jail
	jail=$T/jail
fi
jail=$(cd "$(dirname "$jail")" && pwd)/$(basename "$jail")
mkdir -m 755 "$T/box"
for p in sum loop; do
	if ! gcc -static -O2 -o "$T/box/$p" "bench/progs/$p.c"; then
		echo "bench: gcc -static failed: the static C library is missing (apt-get install libc6-dev)" >&2
		exit 2
	fi
done
gcc -static -O2 -o "$T/rsswatch" bench/progs/rsswatch.c

if ! err=$("$jail" -q -- /bin/true 2>&1); then
	echo "bench: jail cannot run a sandbox here: $err" >&2
	exit 1
fi

rev=${BENCH_GIT_REV:-}
if [ -z "$rev" ]; then
	rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
	if [ "$rev" != unknown ] && ! git diff --quiet HEAD -- 2>/dev/null; then rev="$rev-dirty"; fi
fi

# median prints the median of its arguments.
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
# calc evaluates an awk expression.
calc() { awk "BEGIN {print $1}"; }

# A root for bubblewrap comparable to jail's default profile: /usr and the
# /bin, /lib... links or directories read-only, the loader cache, /proc, /dev,
# a private /tmp.
bwrap_root=(--unshare-all --die-with-parent --ro-bind /usr /usr)
for d in bin sbin lib lib64 lib32 libx32; do
	if [ -L "/$d" ]; then
		bwrap_root+=(--symlink "$(readlink "/$d")" "/$d")
	elif [ -d "/$d" ]; then
		bwrap_root+=(--ro-bind "/$d" "/$d")
	fi
done
bwrap_root+=(--ro-bind-try /etc/ld.so.cache /etc/ld.so.cache --proc /proc --dev /dev --tmpfs /tmp)

echo "jail $rev ($jail) as $(id -un) on $(hostname), $(nproc) cores, kernel $(uname -r)$([ "$quick" = 1 ] && echo ", quick run")"
j_startup=null j_judge=null j_overhead=null j_memory=null
enforcement_default=null enforcement_judge=null

# ---------------------------------------------------------------------------
if want startup; then
	echo "== start-up: hyperfine, $startup_runs runs after $warmup warm-up runs each"
	"$jail" -q --report "$T/startup-report.json" -- /bin/true
	enforcement_default=$(jq -c '.enforcement // {}' "$T/startup-report.json")
	hyperfine -N --style basic --warmup "$warmup" --runs "$startup_runs" --export-json "$T/startup.json" \
		-n jail "$jail -q -- /bin/true" \
		-n bwrap "bwrap ${bwrap_root[*]} /bin/true" \
		-n unshare "unshare -Urmpfniu --mount-proc /bin/true" \
		-n true "/bin/true"
	j_startup=$(jq -c '
		[.results[] | {key: .command, value: {median: .median, mean: .mean, stddev: .stddev, min: .min, max: .max, runs: (.times | length)}}]
		| from_entries
		| . + {ratio_jail_bwrap: (.jail.median / .bwrap.median), ratio_jail_unshare: (.jail.median / .unshare.median),
		       commands: {jail: "jail -q -- /bin/true", bwrap: $bwrap, unshare: "unshare -Urmpfniu --mount-proc /bin/true", true: "/bin/true"}}' \
		--arg bwrap "bwrap ${bwrap_root[*]} /bin/true" "$T/startup.json")
fi

# ---------------------------------------------------------------------------
if want judge; then
	echo "== judge: $judge_runs sequential runs of a static C program per sandbox, stdin/stdout files"
	mkdir "$T/judge"
	in=$T/judge/in.txt out=$T/judge/out.txt
	seq 1 1000 >"$in"
	expect=500500
	if [ -n "${BENCH_JUDGE_PROFILE:-}" ] && [ -f "$BENCH_JUDGE_PROFILE" ]; then
		jprof=$T/judge-given.toml jcmd=${BENCH_JUDGE_CMD:-/box/sum}
		sed "s|@BOX@|$T/box|g" "$BENCH_JUDGE_PROFILE" >"$jprof"
	elif [ -n "${BENCH_JUDGE_PROFILE:-}" ]; then
		jprof=$BENCH_JUDGE_PROFILE jcmd=${BENCH_JUDGE_CMD:-/box/sum}
	else
		jprof=$T/judge.toml jcmd=/box/sum
		cat >"$jprof" <<EOF
# Written by bench/bench.sh: a judge sandbox for one static C program.
name = "bench-judge"
hostname = "jail"
cwd = "/box"

[env.set]
PATH = "/box"

[[mount]]
type = "bind"
source = "$T/box"
target = "/box"

[[mount]]
type = "tmpfs"
target = "/tmp"
size = "16MiB"
mode = 0o1777

[seccomp]
base = "judge"
EOF
	fi
	limits=(--cpu-time 1s --wall-time 2s --memory 64M)
	jail_judge=("$jail" -q --profile "$jprof" --stdin "$in" --stdout "$out" "${limits[@]}" -- "$jcmd")
	bwrap_judge=(bwrap --unshare-all --die-with-parent --ro-bind "$T/box" /box --proc /proc --dev /dev
		--tmpfs /tmp --chdir /box /box/sum)
	cd "$T/box" # where a profile binding its working directory finds the program

	# One run with a report: the limits' enforcement, and a check.
	if ! "${jail_judge[@]:0:2}" --report "$T/judge-report.json" "${jail_judge[@]:2}"; then
		echo "bench: the judge program failed in jail (profile ${BENCH_JUDGE_PROFILE:-$jprof})" >&2
		exit 1
	fi
	enforcement_judge=$(jq -c '.enforcement // {}' "$T/judge-report.json")
	read -r got <"$out" || true
	if [ "$got" != "$expect" ]; then
		echo "bench: the judge program printed '$got' in jail, not $expect" >&2
		exit 1
	fi

	# Blocks of runs, jail's and bubblewrap's in turn, so that a noisy
	# stretch of the machine hits both. Every run's output is checked.
	jail_s=0 bwrap_s=0 jail_bad=0 bwrap_bad=0 done_runs=0
	block=$((judge_runs < 100 ? judge_runs : 100))
	while [ "$done_runs" -lt "$judge_runs" ]; do
		n=$((judge_runs - done_runs < block ? judge_runs - done_runs : block))
		for which in jail bwrap; do
			bad=0
			t0=$EPOCHREALTIME
			for ((i = 0; i < n; i++)); do
				: >"$out"
				if [ "$which" = jail ]; then
					"${jail_judge[@]}" || bad=$((bad + 1))
				else
					"${bwrap_judge[@]}" <"$in" >"$out" || bad=$((bad + 1))
				fi
				got=""
				read -r got <"$out" || true
				[ "$got" = "$expect" ] || bad=$((bad + 1))
			done
			t1=$EPOCHREALTIME
			if [ "$which" = jail ]; then
				jail_s=$(calc "$jail_s + $t1 - $t0") jail_bad=$((jail_bad + bad))
			else
				bwrap_s=$(calc "$bwrap_s + $t1 - $t0") bwrap_bad=$((bwrap_bad + bad))
			fi
		done
		done_runs=$((done_runs + n))
	done
	# The same runs through one `jail batch`: one request line each, every
	# run with its own stdout file, every answer and output checked.
	mkdir "$T/judge/batch"
	for ((i = 0; i < judge_runs; i++)); do
		printf '{"id":"%d","argv":["%s"],"stdin":"%s","stdout":"%s/judge/batch/%d.out"}\n' "$i" "$jcmd" "$in" "$T" "$i"
	done >"$T/judge/requests"
	t0=$EPOCHREALTIME
	"$jail" batch -q --profile "$jprof" "${limits[@]}" <"$T/judge/requests" >"$T/judge/answers"
	t1=$EPOCHREALTIME
	batch_s=$(calc "$t1 - $t0")
	batch_ok=$(grep -c '"status":"OK"' "$T/judge/answers" || true)
	batch_right=$(cat "$T"/judge/batch/*.out | grep -cx "$expect" || true)
	if [ "$batch_ok" != "$judge_runs" ] || [ "$batch_right" != "$judge_runs" ]; then
		echo "bench: jail batch: $batch_ok of $judge_runs answers OK, $batch_right outputs right" >&2
		jail_bad=$((jail_bad + 1))
	fi
	cd "$src"
	if [ $((jail_bad + bwrap_bad)) -gt 0 ]; then
		echo "bench: wrong or failed judge runs: jail $jail_bad, bwrap $bwrap_bad" >&2
		exit 1
	fi
	j_judge=$(jq -nc --argjson n "$judge_runs" --argjson js "$jail_s" --argjson bs "$bwrap_s" --argjson bts "$batch_s" \
		--arg jprof "${BENCH_JUDGE_PROFILE:-written by bench.sh: /box read-only, tmpfs /tmp, seccomp judge}" \
		--arg limits "${limits[*]}" --argjson enf "$enforcement_judge" '
		{runs: $n, jail: {seconds: $js, runs_per_second: ($n / $js), profile: $jprof, limits: $limits, enforcement: $enf},
		 jail_batch: {seconds: $bts, runs_per_second: ($n / $bts), how: "one jail batch, one request line per run"},
		 ratio_batch_bwrap: ($bs / $bts),
		 bwrap: {seconds: $bs, runs_per_second: ($n / $bs), limits: "none: bubblewrap cannot limit CPU, wall time or memory"},
		 ratio_jail_bwrap: ($bs / $js), outputs_checked: "every run"}')
fi

# ---------------------------------------------------------------------------
if want overhead; then
	echo "== in-sandbox overhead: $repeat repetitions, timed inside the program"
	# The built-in default profile plus the programs at /box: the default
	# seccomp filter is on.
	prof=$T/default-box.toml
	{
		cat profiles/default.toml
		printf '\n[[mount]]\ntype = "bind"\nsource = "%s"\ntarget = "/box"\n' "$T/box"
	} >"$prof"
	# The same sandbox without a filter, and with a filter of one rule:
	# what the namespaces cost, and what any filter costs at all (the
	# kernel's seccomp path on every system call), against the default's.
	prof_none=$T/default-box-nofilter.toml prof_one=$T/default-box-onerule.toml
	printf 'extends = "%s"\n[seccomp]\nbase = "none"\n' "$prof" >"$prof_none"
	printf 'extends = "%s"\n[seccomp]\nbase = "none"\n[[seccomp.rule]]\nsyscalls = ["kexec_load"]\naction = "errno"\nerrno = "EPERM"\n' "$prof" >"$prof_one"
	declare -A ovin ovout ovnone ovone
	tests="getppid read forkexec"
	for ((r = 0; r < repeat; r++)); do
		for t in $tests; do
			case $t in
			forkexec) args=(forkexec "$fork_n" /bin/true) ;;
			*) args=("$t" "$syscall_n") ;;
			esac
			ovout[$t]+=" $("$T/box/loop" "${args[@]}")"
			ovin[$t]+=" $("$jail" -q --profile "$prof" -- /box/loop "${args[@]}")"
			ovnone[$t]+=" $("$jail" -q --profile "$prof_none" -- /box/loop "${args[@]}")"
			ovone[$t]+=" $("$jail" -q --profile "$prof_one" -- /box/loop "${args[@]}")"
		done
	done
	j_overhead="{}"
	for t in $tests; do
		# shellcheck disable=SC2086
		mo=$(median ${ovout[$t]}) mi=$(median ${ovin[$t]}) mn=$(median ${ovnone[$t]}) m1=$(median ${ovone[$t]})
		j_overhead=$(jq -c --arg t "$t" --argjson mo "$mo" --argjson mi "$mi" --argjson mn "$mn" --argjson m1 "$m1" \
			--argjson n "$([ "$t" = forkexec ] && echo "$fork_n" || echo "$syscall_n")" \
			--arg ins "${ovin[$t]# }" --arg outs "${ovout[$t]# }" \
			'. + {($t): {iterations: $n, outside_ns: $mo, inside_ns: $mi, overhead_percent: (($mi / $mo - 1) * 100),
			  inside_no_filter_ns: $mn, no_filter_overhead_percent: (($mn / $mo - 1) * 100),
			  inside_one_rule_ns: $m1, one_rule_overhead_percent: (($m1 / $mo - 1) * 100),
			  inside_all_ns: ($ins | split(" ") | map(tonumber)), outside_all_ns: ($outs | split(" ") | map(tonumber))}}' <<<"$j_overhead")
	done
	j_overhead=$(jq -c --argjson rep "$repeat" '. + {repetitions: $rep, profile: "default + /box (default seccomp filter)"}' <<<"$j_overhead")
fi

# ---------------------------------------------------------------------------
if want memory; then
	echo "== memory: jail -- sleep $mem_sleep, jail's processes sampled every 1 ms, $mem_runs runs"
	runs_json="[]"
	for ((r = 0; r < mem_runs; r++)); do
		"$T/rsswatch" "$T/mem.json" "$jail" 1000 -- "$jail" -q -- sleep "$mem_sleep"
		runs_json=$(jq -c --slurpfile m "$T/mem.json" '. + $m' <<<"$runs_json")
	done
	# The run with the median sum of peaks stands for all.
	j_memory=$(jq -c '(sort_by(.sum_hwm_kb)) as $s | $s[(length - 1) / 2 | floor]
		+ {runs: length, note: "VmHWM/VmRSS/RssAnon of each process whose exe is jail, sampled every 1 ms: lower bounds for short stages"}' <<<"$runs_json")
fi

# ---------------------------------------------------------------------------
cgroup_used=$(jq -rn --argjson a "$enforcement_default" --argjson b "$enforcement_judge" '
	[($a // {}), ($b // {}) | to_entries[] | .value | strings | select(startswith("cgroup"))] | if length > 0 then "yes" else "no" end')
machine=$(jq -nc --arg host "$(hostname)" --arg kernel "$(uname -r)" \
	--arg cpu "$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')" \
	--argjson cores "$(nproc)" --arg os "$(. /etc/os-release && echo "$PRETTY_NAME")" \
	--arg user "$(id -un)" \
	'{host: $host, kernel: $kernel, cpu: $cpu, cores: $cores, os: $os, user: $user}')
mkdir -p "$results"
file=$results/bench-$(date +%Y%m%d-%H%M%S)-$(hostname -s).json
jq -n --argjson machine "$machine" --arg rev "$rev" --arg jailv "$("$jail" --version)" \
	--arg bwrapv "$(bwrap --version)" --arg hfv "$(hyperfine --version)" --arg quick "$quick" \
	--arg cgsetup "${BENCH_CGROUP_SETUP:-not by this script}" --arg cgused "$cgroup_used" \
	--argjson ed "$enforcement_default" --argjson ej "$enforcement_judge" \
	--argjson startup "$j_startup" --argjson judge "$j_judge" --argjson overhead "$j_overhead" --argjson memory "$j_memory" \
	'{schema: 1, date: (now | todate), quick: ($quick == "1"), machine: $machine,
	  versions: {jail_revision: $rev, jail: $jailv, bwrap: $bwrapv, hyperfine: $hfv},
	  cgroup: {used: ($cgused == "yes"), setup: $cgsetup, enforcement_default_profile: $ed, enforcement_judge: $ej},
	  startup_seconds: $startup, judge: $judge, overhead: $overhead, memory: $memory}' >"$file"

# ---------------------------------------------------------------------------
echo
echo "jail $rev on $(hostname): $(jq -r '"\(.cpu), \(.cores) cores, kernel \(.kernel)"' <<<"$machine")"
echo "bwrap $(bwrap --version | awk '{print $NF}'), hyperfine $(hyperfine --version | awk '{print $NF}'), cgroup used: $cgroup_used$([ "$quick" = 1 ] && echo " (quick run: few iterations)")"
# jq helpers for the table: a number with d decimals, right-aligned in n.
defs='def fix(d): pow(10; d) as $p | (. * $p | round) as $x | ($x | fabs) as $a
	| (if $x < 0 then "-" else "" end) + (($a / $p) | floor | tostring)
	+ (if d > 0 then "." + (($a % $p) | tostring | ("0" * (d - length)) + .) else "" end);
	def rpad(n): tostring | . + " " * (n - length);
	def lpad(n): tostring | " " * (n - length) + .;'
if [ "$j_startup" != null ]; then
	jq -r "$defs"'
		"start-up, median of \(.jail.runs) runs           ms",
		(["jail", "bwrap", "unshare", "true"][] as $c | "  \($c | rpad(12))\(.[$c].median * 1000 | fix(2) | lpad(10))"),
		"  jail/bwrap \(.ratio_jail_bwrap | fix(2))x   jail/unshare \(.ratio_jail_unshare | fix(2))x"' <<<"$j_startup"
fi
if [ "$j_judge" != null ]; then
	jq -r "$defs"'
		"judge, \(.runs) sequential runs           runs/s",
		"  jail        \(.jail.runs_per_second | fix(1) | lpad(10))   limits: \(.jail.limits)",
		"  bwrap       \(.bwrap.runs_per_second | fix(1) | lpad(10))   no limits: bwrap cannot limit",
		"  jail batch  \(.jail_batch.runs_per_second | fix(1) | lpad(10))   same limits, one jail batch",
		"  jail/bwrap throughput \(.ratio_jail_bwrap | fix(2))x   jail batch/bwrap \(.ratio_batch_bwrap | fix(2))x"' <<<"$j_judge"
fi
if [ "$j_overhead" != null ]; then
	jq -r "$defs"'
		"in-sandbox overhead, median of \(.repetitions)      outside     inside  overhead   no filter   one-rule filter",
		(["getppid", "read", "forkexec"][] as $t | .[$t] as $x | ($t == "forkexec") as $us |
		 "  \($t + (if $us then " (us/op)" else " (ns/op)" end) | rpad(22))\($x.outside_ns / (if $us then 1000 else 1 end) | fix(1) | lpad(12))\($x.inside_ns / (if $us then 1000 else 1 end) | fix(1) | lpad(11))\($x.overhead_percent | fix(1) | lpad(9))%\($x.no_filter_overhead_percent | fix(1) | lpad(11))%\($x.one_rule_overhead_percent | fix(1) | lpad(17))%")' <<<"$j_overhead"
fi
if [ "$j_memory" != null ]; then
	jq -r "$defs"'
		"jail memory (jail -- sleep), kB      VmHWM    RssAnon",
		(.processes[] | "  \(.role + " (pid \(.pid))" | rpad(28))\(.hwm_kb | lpad(10))\(.anon_kb | lpad(11))"),
		"  sum of the peaks          \(.sum_hwm_kb | lpad(12))",
		"  most at one instant (VmRSS) \(.max_simultaneous_rss_kb | lpad(10))"' <<<"$j_memory"
fi
[ "$enforcement_judge" = null ] || echo "enforcement (judge limits): $(jq -c . <<<"$enforcement_judge")"
[ -n "${BENCH_FROM_ROOT:-}" ] || echo "results: $file"
