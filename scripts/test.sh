#!/usr/bin/env bash
# The one test command. Run as root (as CI does), it installs what the tests
# need, runs the root-caller checks, creates the unprivileged test user
# "jailtest" with a /etc/subuid range when missing, and runs the whole suite
# as that user: the sandbox is tested rootless. Run as an ordinary user, it
# runs the suite as that user.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

need_pkgs newuidmap:uidmap newgidmap:uidmap gcc:gcc pkg-config:pkg-config lib:libseccomp:libseccomp-dev
# What the built-in profiles' workload tests run: a C project built with
# make, and a submission per judge language.
need_pkgs make:make g++:g++ /usr/bin/python3:python3 javac:openjdk-17-jdk-headless
# Network mode user: both tools are tested. Without udev (a container),
# /dev/net/tun may be root-only; udev's own rule makes it 0666.
need_pkgs pasta:passt slirp4netns:slirp4netns
# The zsh completion script is checked with zsh -n.
need_pkgs zsh:zsh
if [ "$(id -u)" = 0 ] && [ -c /dev/net/tun ] && [ "$(stat -c %a /dev/net/tun)" != 666 ]; then
	chmod 0666 /dev/net/tun
fi
GO=$(need_go)
export PATH="$(dirname "$GO"):$PATH"

echo "== static checks"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt would change: $unformatted" >&2
	exit 1
fi
go vet ./...

if [ "$(id -u)" != 0 ]; then
	echo "== tests as $(id -un)"
	env JAIL_TEST_MUST_WORK="${CI:+1}" go test -count=1 ./...
	exec scripts/fuzz.sh
fi

echo "== root caller: the sandbox must not run as host root"
go test -count=1 -run 'TestRootCaller' ./cmd/jail/

TEST_USER=jailtest
if ! id "$TEST_USER" >/dev/null 2>&1; then
	useradd --create-home --shell /bin/bash "$TEST_USER"
fi
if ! grep -q "^$TEST_USER:" /etc/subuid; then usermod --add-subuids 100000-165535 "$TEST_USER"; fi
if ! grep -q "^$TEST_USER:" /etc/subgid; then usermod --add-subgids 100000-165535 "$TEST_USER"; fi

# The user gets its own copy of the tree: the checkout may sit below a
# directory it cannot enter (/root), and the tests must not write into it.
work=$(mktemp -d /tmp/jail-test.XXXXXX)
cp -a . "$work/src"
chown -R "$TEST_USER:" "$work"
chmod 755 "$work"

# Cgroup limits need a delegated subtree. On cgroup v1 (this kind of
# machine) root gives one to the test user, below this script's own cgroups
# so that nothing leaves the subtree it was started in, and takes it back at
# the end. (The cgroup v2 path is proven in a VM: scripts/vm-test.sh.)
cleanup() {
	if [ -x "$work/jail" ] && [ -d /sys/fs/cgroup/memory ]; then
		"$work/jail" setup-cgroup --user "$TEST_USER" --under-own-cgroup --remove || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT
go build -o "$work/jail" ./cmd/jail
cgroup_env=""
if [ -d /sys/fs/cgroup/memory ] && [ -d /sys/fs/cgroup/pids ]; then
	"$work/jail" setup-cgroup --user "$TEST_USER" --under-own-cgroup
	cgroup_env="JAIL_TEST_CGROUP=1"
fi

echo "== tests as $TEST_USER (unprivileged, with a sub-uid range)"
su -s /bin/bash "$TEST_USER" -c "cd '$work/src' && env PATH='$PATH' JAIL_TEST_MUST_WORK=1 JAIL_TEST_SUBID=1 $cgroup_env go test -count=1 ./... && scripts/fuzz.sh"

# The cgroup v2 path, in a VM with a real cgroup2 hierarchy (this machine
# mounts v1): about 30 s here with software emulation.
if [ "${JAIL_SKIP_VM:-}" != 1 ]; then
	echo "== cgroup v2 limits in a VM (scripts/vm-test.sh; JAIL_SKIP_VM=1 skips)"
	scripts/vm-test.sh
fi
