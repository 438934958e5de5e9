#!/usr/bin/env bash
# Short, bounded fuzzing of the parsers and the filter compiler (part of the
# test command). FUZZTIME=1m scripts/fuzz.sh fuzzes longer.
set -euo pipefail
cd "$(dirname "$0")/.."
t=${FUZZTIME:-8s}
for target in ./profile:FuzzParse ./seccomp:FuzzCompile ./userns:FuzzParseSubID; do
	pkg=${target%%:*} name=${target#*:}
	echo "== fuzz $name ($t)"
	go test -run='^$' -fuzz="^$name\$" -fuzztime="$t" "$pkg" | tail -1
done
