#!/usr/bin/env bash
# vm-test.sh: proves jail under a real cgroup v2 hierarchy by booting a
# small VM (Debian's 6.1 kernel, cgroup_no_v1=all) with qemu and running
# tests/vm/scenarios.sh in it as an unprivileged user with a delegated
# cgroup2 directory. Run it as root on Debian 12 (as CI does): it installs
# what it needs (qemu-system-x86, cpio, gcc, libc6-dev, uidmap,
# libseccomp-dev, pkg-config), fetches the kernel and busybox-static as .deb
# files (never installed on the host) and builds jail and the test programs.
#
# Uses KVM when /dev/kvm is usable, else TCG software emulation.
# Prints the VMTEST lines of the run; exits 0 only when the run printed
# "VMTEST DONE", at least one PASS and no FAIL.
#
# Environment:
#   JAIL_VM_CACHE        cache for downloads, builds and console logs
#                        (default /var/tmp/jail-vm)
#   JAIL_VM_TIMEOUT      seconds the VM may run (default 420)
#   JAIL_VM_ONLY         comma-separated scenarios to run (default: all)
#   JAIL_VM_INJECT_FAIL  1: add a check that fails on purpose
#   JAIL_VM_VERBOSE      1: show the console while the VM runs
#   JAIL_VM_REFRESH      1: fetch the kernel and busybox again
#   JAIL_BIN             a jail binary to test instead of building one
#   JAIL_SRC             the source tree to build jail from (default: here)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
. scripts/lib.sh

CACHE=${JAIL_VM_CACHE:-/var/tmp/jail-vm}
TIMEOUT=${JAIL_VM_TIMEOUT:-420}
start=$(date +%s)

log() { echo "vm-test: $*" >&2; }
die() {
	log "$*"
	exit 2
}

if [ "$(id -u)" != 0 ]; then
	die "run as root: it installs packages and builds an initramfs holding setuid-root newuidmap"
fi
mkdir -p "$CACHE"

# ---- host packages ----
need_pkgs qemu-system-x86_64:qemu-system-x86 cpio:cpio gzip:gzip gcc:gcc \
	newuidmap:uidmap newgidmap:uidmap pkg-config:pkg-config lib:libseccomp:libseccomp-dev
if [ ! -e /usr/lib/x86_64-linux-gnu/libc.a ]; then
	log "installing libc6-dev (static libc for the test programs)"
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libc6-dev >/dev/null
fi

# ---- kernel and busybox: .deb files unpacked into the cache ----
apt_updated=""
fetch_deb() { # fetch_deb PACKAGE DIR: download PACKAGE's .deb and unpack it into DIR
	local pkg=$1 dir=$2 dl="$CACHE/dl"
	rm -rf "$dl" "$dir.tmp"
	mkdir -p "$dl"
	if ! (cd "$dl" && apt-get download -o APT::Sandbox::User=root "$pkg" >/dev/null 2>&1); then
		if [ -z "$apt_updated" ]; then
			log "apt-get update"
			apt-get update -qq
			apt_updated=1
		fi
		(cd "$dl" && apt-get download -o APT::Sandbox::User=root "$pkg" >/dev/null) || die "apt-get download $pkg failed"
	fi
	dpkg-deb -x "$dl"/*.deb "$dir.tmp"
	rm -rf "$dir" "$dl"
	mv "$dir.tmp" "$dir"
}

KDIR=$CACHE/kernel
if [ "${JAIL_VM_REFRESH:-}" = 1 ] || ! ls "$KDIR"/boot/vmlinuz-* >/dev/null 2>&1; then
	kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -n1)
	if [ -z "$kpkg" ]; then
		log "apt-get update"
		apt-get update -qq
		apt_updated=1
		kpkg=$(apt-cache depends linux-image-amd64 | sed -n 's/^ *Depends: \(linux-image-[0-9].*-amd64\)$/\1/p' | head -n1)
	fi
	[ -n "$kpkg" ] || die "cannot find the kernel package linux-image-amd64 depends on"
	log "fetching $kpkg (unpacked into $KDIR, not installed)"
	fetch_deb "$kpkg" "$KDIR"
fi
VMLINUZ=$(ls "$KDIR"/boot/vmlinuz-* | head -n1)

BBDIR=$CACHE/busybox
if [ "${JAIL_VM_REFRESH:-}" = 1 ] || [ ! -x "$BBDIR/bin/busybox" ]; then
	log "fetching busybox-static"
	fetch_deb busybox-static "$BBDIR"
fi
BUSYBOX=$BBDIR/bin/busybox

# ---- jail and the test programs ----
if [ -n "${JAIL_BIN:-}" ]; then
	JAIL=$JAIL_BIN
	[ -x "$JAIL" ] || die "JAIL_BIN=$JAIL is not an executable"
else
	GO=$(need_go)
	JAIL=$CACHE/jail
	log "building jail from ${JAIL_SRC:-$ROOT}"
	(cd "${JAIL_SRC:-$ROOT}" && PATH="$(dirname "$GO"):$PATH" "$GO" build -o "$JAIL" ./cmd/jail) ||
		die "go build ./cmd/jail failed"
fi
mkdir -p "$CACHE/progs"
for c in tests/vm/progs/*.c; do
	gcc -static -O2 -Wall -o "$CACHE/progs/$(basename "$c" .c)" "$c" || die "gcc $c failed"
done

# ---- the initramfs, in a temporary directory ----
WORK=$(mktemp -d /tmp/jail-vm.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
R=$WORK/root
mkdir -p "$R"

# The same top-level layout as the host (merged /usr: /bin, /lib, ... are
# symlinks into /usr), so that the default profile sees what it sees here.
for d in bin sbin lib lib64; do
	if [ -L "/$d" ]; then
		ln -s "$(readlink "/$d")" "$R/$d"
	fi
done
mkdir -p "$R"/{usr/bin,usr/sbin,usr/lib,usr/lib64,usr/local/bin,bin,sbin,lib,lib64,etc,opt,proc,sys,dev,tmp,run,root,home}

install -m 0755 "$BUSYBOX" "$R/bin/busybox"
# The applet links `busybox --install -s` would make, made here: --install
# acts on the running system's /bin, /usr/bin, ..., so it cannot be pointed
# at a directory on the host.
"$BUSYBOX" --list-full | while read -r a; do
	[ -e "$R/$a" ] || [ -L "$R/$a" ] || ln -s /bin/busybox "$R/$a"
done

# copy_libs BINARY: every library ldd lists for BINARY, and the loader, at
# the same path in the image (through the symlinked directories above).
copy_libs() {
	local lib
	for lib in $(ldd "$1" | awk '/=> \// { print $3 } /^[[:space:]]*\// { print $1 }'); do
		[ -e "$R$lib" ] && continue
		mkdir -p "$R$(dirname "$lib")"
		cp --dereference "$lib" "$R$lib"
	done
}
install -m 0755 "$JAIL" "$R/usr/local/bin/jail"
copy_libs "$JAIL"
for f in /usr/bin/newuidmap /usr/bin/newgidmap; do
	cp --dereference "$f" "$R$f"
	copy_libs "$f"
done
chmod 4755 "$R/usr/bin/newuidmap" "$R/usr/bin/newgidmap"

# test programs and the scenarios; /opt/jailtest is a symlink into /usr
# because the default profile shows /usr inside the sandbox, not /opt.
mkdir -p "$R/usr/lib/jailtest"
cp "$CACHE"/progs/* "$R/usr/lib/jailtest/"
install -m 0755 tests/vm/scenarios.sh "$R/usr/lib/jailtest/scenarios.sh"
ln -s ../usr/lib/jailtest "$R/opt/jailtest"
install -m 0755 tests/vm/init "$R/init"

cat >"$R/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
tester:x:1000:1000:tester:/home/tester:/bin/sh
EOF
cat >"$R/etc/group" <<'EOF'
root:x:0:
tty:x:5:
tester:x:1000:
EOF
echo "tester:100000:65536" >"$R/etc/subuid"
echo "tester:100000:65536" >"$R/etc/subgid"
printf 'passwd: files\ngroup: files\nshadow: files\n' >"$R/etc/nsswitch.conf"
[ -e /etc/login.defs ] && cp /etc/login.defs "$R/etc/login.defs"
chmod 700 "$R/root"
chmod 1777 "$R/tmp"

(cd "$R" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) | gzip -1 >"$WORK/initramfs.cpio.gz"
log "initramfs: $(du -h "$WORK/initramfs.cpio.gz" | cut -f1) (kernel $(basename "$VMLINUZ"))"

# ---- boot ----
# KVM is used only when a probe boot gets as far as the kernel's banner:
# nested virtualisation can offer /dev/kvm and still abort qemu (an MSR it
# cannot set) or spin the guest before its first line.
kvm_works() {
	[ "${JAIL_VM_ACCEL:-}" != tcg ] && [ -r /dev/kvm ] && [ -w /dev/kvm ] || return 1
	(timeout -k 2 15 qemu-system-x86_64 -enable-kvm -cpu host -m 256 \
		-kernel "$VMLINUZ" -append "console=ttyS0 panic=-1" \
		-nographic -no-reboot -nic none </dev/null >"$WORK/kvm-probe.log" 2>&1) 2>/dev/null || true
	grep -aq "Linux version" "$WORK/kvm-probe.log"
}
ACCEL=(-accel tcg -cpu max)
if kvm_works; then
	ACCEL=(-enable-kvm -cpu host)
	APPEND_ACCEL=""
else
	log "no usable KVM (no /dev/kvm, or a probe boot failed): software emulation (TCG)"
	APPEND_ACCEL=" vmtest.tcg=1"
fi
APPEND="console=ttyS0 cgroup_no_v1=all panic=-1 quiet$APPEND_ACCEL"
[ -n "${JAIL_VM_ONLY:-}" ] && APPEND="$APPEND vmtest.only=$JAIL_VM_ONLY"
[ "${JAIL_VM_INJECT_FAIL:-}" = 1 ] && APPEND="$APPEND vmtest.fail=1"

CONSOLE=$CACHE/console.log
log "booting (timeout ${TIMEOUT}s); console log: $CONSOLE"
boot0=$(date +%s)
set +e
if [ "${JAIL_VM_VERBOSE:-}" = 1 ]; then
	timeout -k 10 "$TIMEOUT" qemu-system-x86_64 "${ACCEL[@]}" -m 1024 -smp 2 \
		-kernel "$VMLINUZ" -initrd "$WORK/initramfs.cpio.gz" -append "$APPEND" \
		-nographic -no-reboot -nic none </dev/null 2>&1 | tee "$CONSOLE"
	qrc=${PIPESTATUS[0]}
else
	timeout -k 10 "$TIMEOUT" qemu-system-x86_64 "${ACCEL[@]}" -m 1024 -smp 2 \
		-kernel "$VMLINUZ" -initrd "$WORK/initramfs.cpio.gz" -append "$APPEND" \
		-nographic -no-reboot -nic none </dev/null >"$CONSOLE" 2>&1
	qrc=$?
fi
set -e
end=$(date +%s)
[ "$qrc" = 124 ] && log "the VM did not power off within ${TIMEOUT}s"

lines=$(tr -d '\r' <"$CONSOLE" | grep -a '^VMTEST ' || true)
echo "$lines"
npass=$(grep -c '^VMTEST PASS ' <<<"$lines" || true)
nfail=$(grep -c '^VMTEST FAIL ' <<<"$lines" || true)
done=$(grep -c '^VMTEST DONE$' <<<"$lines" || true)
log "VM ran $((end - boot0))s, total $((end - start))s (qemu exit $qrc)"
echo "vm-test: $npass passed, $nfail failed"
if [ "$done" -ge 1 ] && [ "$nfail" = 0 ] && [ "$npass" -ge 1 ]; then
	exit 0
fi
if [ "$done" = 0 ]; then
	log "no VMTEST DONE; the end of the console log:"
	tr -d '\r' <"$CONSOLE" | tail -n 40 >&2
fi
exit 1
