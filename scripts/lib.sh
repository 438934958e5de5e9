# Shared by setup.sh and test.sh: find a Go toolchain and install Debian
# packages when missing. Sourced, not run.

# need_go prints the path of a usable go (1.21 or newer fetches the exact
# toolchain go.mod names through the module proxy), or explains and fails.
need_go() {
	local go
	for go in "$(command -v go 2>/dev/null)" /usr/local/go/bin/go /usr/lib/go/bin/go; do
		[ -n "$go" ] && [ -x "$go" ] || continue
		local minor
		minor=$("$go" env GOVERSION 2>/dev/null | sed -n 's/^go1\.\([0-9]*\).*/\1/p')
		if [ -n "$minor" ] && [ "$minor" -ge 21 ]; then
			echo "$go"
			return 0
		fi
	done
	echo "jail: Go 1.21 or newer is needed to build jail (it then fetches the toolchain go.mod asks for)." >&2
	echo "  Debian 12: apt-get install -t bookworm-backports golang-go, or unpack a release from go.dev/dl into /usr/local/go" >&2
	echo "  Ubuntu 24.04: apt-get install golang-go" >&2
	return 1
}

# need_pkgs installs the Debian packages whose commands are missing.
# Arguments are command:package pairs; a pair "lib:NAME:package" checks
# a library with pkg-config instead (build dependencies of cgo code).
need_pkgs() {
	local missing="" pair
	for pair in "$@"; do
		case "$pair" in
		lib:*)
			local rest=${pair#lib:}
			pkg-config --exists "${rest%%:*}" 2>/dev/null || missing="$missing ${rest#*:}"
			;;
		*)
			command -v "${pair%%:*}" >/dev/null 2>&1 || missing="$missing ${pair#*:}"
			;;
		esac
	done
	[ -z "$missing" ] && return 0
	local sudo=""
	if [ "$(id -u)" != 0 ]; then
		if command -v sudo >/dev/null 2>&1; then
			sudo="sudo"
		else
			echo "jail: missing packages:$missing; install them as root: apt-get install$missing" >&2
			return 1
		fi
	fi
	if ! command -v apt-get >/dev/null 2>&1; then
		echo "jail: missing packages:$missing (on Fedora: dnf install shadow-utils libseccomp-devel pkgconf gcc)" >&2
		return 1
	fi
	echo "jail: installing$missing" >&2
	$sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >/dev/null
}
