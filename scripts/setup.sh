#!/usr/bin/env bash
# One command from a fresh Debian/Ubuntu machine to a working jail:
# installs what is missing, builds ./bin/jail and runs a demo sandbox.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

need_pkgs newuidmap:uidmap newgidmap:uidmap gcc:gcc pkg-config:pkg-config lib:libseccomp:libseccomp-dev
GO=$(need_go)
"$GO" build -trimpath -o bin/jail ./cmd/jail
echo "built $(pwd)/bin/jail"

user=$(id -un)
if [ "$(id -u)" != 0 ] && ! grep -qE "^($user|$(id -u)):" /etc/subuid 2>/dev/null; then
	echo "note: $user has no /etc/subuid range, so only uid 0 is mapped inside the sandbox."
	echo "      To map a full range: sudo usermod --add-subuids 100000-165535 --add-subgids 100000-165535 $user"
fi

echo "demo: bin/jail -- sh -c 'id; hostname; cat /proc/self/uid_map; touch /usr/x'"
bin/jail -- sh -c 'id; hostname; cat /proc/self/uid_map; touch /usr/x' || true
echo "ok: jail works; try: bin/jail -- sh"
