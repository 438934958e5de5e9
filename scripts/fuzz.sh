#!/usr/bin/env bash
# Short, bounded fuzzing of the parsers and the filter compiler (part of the
# test command). FUZZTIME=1m scripts/fuzz.sh fuzzes longer. A failing input
# is kept under <package>/testdata/fuzz/, as go test does: that is a bug. A
# failure that leaves no input behind (the fuzzing engine itself hiccuping
# on a loaded machine) is retried once before it counts.
set -uo pipefail
cd "$(dirname "$0")/.."
t=${FUZZTIME:-8s}
log=$(mktemp)
trap 'rm -f "$log"' EXIT
inputs() { find "$1/testdata/fuzz/$2" -type f 2>/dev/null | sort; }
for target in ./profile:FuzzParse ./seccomp:FuzzCompile ./userns:FuzzParseSubID; do
	pkg=${target%%:*} name=${target#*:}
	for try in 1 2; do
		echo "== fuzz $name ($t)"
		before=$(inputs "$pkg" "$name")
		if go test -run='^$' -fuzz="^$name\$" -fuzztime="$t" "$pkg" >"$log" 2>&1; then
			tail -n 1 "$log"
			break
		fi
		tail -n 40 "$log"
		if [ "$(inputs "$pkg" "$name")" != "$before" ] || [ "$try" = 2 ]; then
			echo "fuzz $name failed" >&2
			exit 1
		fi
		echo "fuzz $name failed without a failing input; once more"
	done
done
