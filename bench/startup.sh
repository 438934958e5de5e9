#!/usr/bin/env bash
# Start-up latency only (jail vs bubblewrap vs unshare vs /bin/true): a
# shorthand for `bench/bench.sh --only startup`, which see.
#   bench/startup.sh [RUNS]
set -euo pipefail
BENCH_STARTUP_RUNS=${1:-${BENCH_STARTUP_RUNS:-60}} exec "$(dirname "$0")/bench.sh" --only startup
