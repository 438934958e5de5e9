#!/usr/bin/env bash
# Start-up latency of jail against bubblewrap and a bare unshare floor, in
# one run, as the current (unprivileged) user. Prints hyperfine's table and
# the ratios to bubblewrap, and writes the figures to bench/results/startup.json.
# Absolute times depend on the machine; compare the ratios.
#   bench/startup.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
runs=${1:-50}

if [ "$(id -u)" = 0 ]; then
	echo "run this as an unprivileged user: jail maps root's sandbox differently" >&2
	exit 2
fi
need_pkgs hyperfine:hyperfine bwrap:bubblewrap unshare:util-linux gcc:gcc pkg-config:pkg-config lib:libseccomp:libseccomp-dev
GO=$(need_go)
"$GO" build -trimpath -o bin/jail ./cmd/jail

# A read-only root comparable to jail's default profile.
bwrap="bwrap --unshare-all --die-with-parent --ro-bind /usr /usr"
for d in bin sbin lib lib64; do
	if [ -L /$d ]; then
		bwrap="$bwrap --symlink $(readlink /$d) /$d"
	elif [ -d /$d ]; then
		bwrap="$bwrap --ro-bind /$d /$d"
	fi
done
bwrap="$bwrap --ro-bind /etc/ld.so.cache /etc/ld.so.cache --proc /proc --dev /dev --tmpfs /tmp"

mkdir -p bench/results
hyperfine -N --warmup 5 --runs "$runs" --export-json bench/results/startup.json \
	-n jail "bin/jail -- /bin/true" \
	-n bwrap "$bwrap /bin/true" \
	-n unshare "unshare -Urmpfniu --mount-proc /bin/true" \
	-n true "/bin/true"

python3 - <<'PY'
import json
r = {x["command"]: x for x in json.load(open("bench/results/startup.json"))["results"]}
b = r["bwrap"]["median"]
print("\nmedian, ratio to bwrap:")
for name in ("jail", "bwrap", "unshare", "true"):
    m = r[name]["median"]
    print(f"  {name:8s} {m*1000:7.2f} ms  {m/b:5.2f}x")
PY
