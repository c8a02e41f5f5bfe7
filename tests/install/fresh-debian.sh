#!/bin/bash
# The .deb on a fresh Debian 12: makes this build's package (cpack -G DEB),
# makes a minimal Debian 12 root with debootstrap (Debian's mirror, as
# apt uses it), installs the package there with apt, which must find every
# dependency in Debian alone, and uses it as an operator and a C developer
# would on a new machine:
#
#   tests/install/fresh-debian.sh BUILD_DIR [README]   (prefix /usr)
#   ./tools/dev deb-check     (builds build-deb, then runs this)
#
#  - the package installs with `apt-get install ./vexil_*.deb` and nothing
#    else, and its binaries find every library they link;
#  - postinst made the system user vexil;
#  - vexild runs as vexil on a data dir it owns; the gateway answers
#    /health, and /docs, /redoc and /ui/ from the installed assets;
#  - vexilctl from the package makes a flag with the new data dir's key;
#  - the README's C example (<!-- tests/install: example.c -->) builds with
#    gcc and `pkg-config --cflags --libs vexil` (with protobuf-c's headers,
#    the one -dev package its header needs) and prints that flag.
#
# Needs root (chroot, mounts) and the network to Debian's mirror, and takes
# a few minutes, so it is not part of ./tools/dev test. $FRESH_ROOT reuses
# (or keeps) a root made before; $DEBIAN_MIRROR picks the mirror.
set -eu

build=$(readlink -f "$1")
here=$(cd "$(dirname "$0")" && pwd)
readme=$(readlink -f "${2:-$here/../../README.md}")
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
fail() {
	echo "fresh-debian: $*" >&2
	exit 1
}
say() { echo "fresh-debian: $*" >&2; }
[ "$(id -u)" = 0 ] || fail "needs root (debootstrap, chroot)"
grep -q '^CMAKE_INSTALL_PREFIX:PATH=/usr$' "$build/CMakeCache.txt" ||
	fail "$build is not configured with -DCMAKE_INSTALL_PREFIX=/usr (the package's prefix)"
command -v debootstrap >/dev/null || fail "debootstrap is not installed (apt-get install debootstrap)"

root=${FRESH_ROOT:-}
keep=1
if [ -z "$root" ]; then
	root=$(mktemp -d /tmp/vexil-fresh-XXXXXX)
	keep=0
fi
vexild= gateway=
cleanup() {
	[ -n "$gateway" ] && kill "$gateway" 2>/dev/null
	[ -n "$vexild" ] && kill "$vexild" 2>/dev/null
	wait 2>/dev/null || true
	umount "$root/proc" 2>/dev/null || true
	umount "$root/dev" 2>/dev/null || true
	[ "$keep" = 1 ] || rm -rf --one-file-system "$root"
}
trap cleanup EXIT

if [ ! -f "$root/etc/debian_version" ]; then
	say "debootstrap bookworm into $root"
	debootstrap --variant=minbase bookworm "$root" "$mirror" >"$root.debootstrap.log" 2>&1 ||
		fail "debootstrap failed (see $root.debootstrap.log)"
	rm -f "$root.debootstrap.log"
fi
grep -q '^12' "$root/etc/debian_version" || fail "$root is not Debian 12: $(cat "$root/etc/debian_version")"
mount --bind /dev "$root/dev"
mount -t proc proc "$root/proc"
cp /etc/resolv.conf "$root/etc/resolv.conf"
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root "$@"; }

say "cpack -G DEB"
rm -rf "$root/tmp/deb"
cpack -G DEB -B "$root/tmp/deb" --config "$build/CPackConfig.cmake" >/dev/null 2>&1 ||
	fail "cpack -G DEB failed"
deb=$(cd "$root/tmp/deb" && ls vexil_*.deb)

say "apt-get install ./$deb"
in_root apt-get update -qq >/dev/null
in_root sh -c "cd /tmp/deb && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ./$deb" \
	>"$root/tmp/apt.log" 2>&1 || { cat "$root/tmp/apt.log" >&2; fail "apt-get install ./$deb failed"; }
for b in vexild vexil-gateway vexilctl; do
	missing=$(in_root ldd "/usr/bin/$b" | grep 'not found' || true)
	[ -z "$missing" ] || fail "/usr/bin/$b lacks libraries: $missing"
	in_root "/usr/bin/$b" --version >/dev/null || fail "$b --version failed"
done
in_root getent passwd vexil >/dev/null || fail "postinst made no user vexil"

free_port() {
	port=$(shuf -i 20000-60000 -n 1)
	while ss -ltn 2>/dev/null | grep -q ":$port "; do port=$((port + 1)); done
	echo "$port"
}
rpc="tcp://127.0.0.1:$(free_port)" pub="tcp://127.0.0.1:$(free_port)"
G="http://127.0.0.1:$(free_port)"
rm -rf "$root/var/lib/vexil/data" # a root kept from an earlier run
in_root install -d -o vexil -g vexil /var/lib/vexil
say "vexild as vexil, and the gateway"
chroot --userspec=vexil:vexil "$root" /usr/bin/vexild --data /var/lib/vexil/data \
	--rpc "$rpc" --pub "$pub" 2>"$root/tmp/vexild.log" &
vexild=$!
chroot --userspec=vexil:vexil "$root" /usr/bin/vexil-gateway --listen "$G" --rpc "$rpc" \
	--sub "$pub" 2>"$root/tmp/gateway.log" &
gateway=$!
for _ in $(seq 300); do curl -sf "$G/health" >/dev/null && break; sleep 0.1; done
curl -sf "$G/health" >/dev/null || {
	cat "$root/tmp/vexild.log" "$root/tmp/gateway.log" >&2
	fail "the gateway does not answer /health"
}
for p in /docs /redoc /ui/; do
	code=$(curl -s -o /dev/null -w '%{http_code}' "$G$p")
	[ "$code" = 200 ] || fail "GET $p answered $code from the installed gateway"
done
[ -s "$root/var/lib/vexil/data/admin.key" ] || fail "vexild wrote no admin key in its data dir"

say "vexilctl and the README's C example"
key=$(cat "$root/var/lib/vexil/data/admin.key")
ctl() { in_root VEXIL_RPC="$rpc" VEXIL_KEY="$key" /usr/bin/vexilctl "$@"; }
ctl flag create --project default new-checkout --name "New checkout" >/dev/null ||
	fail "vexilctl flag create failed"
in_root sh -c "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc pkg-config libprotobuf-c-dev" \
	>"$root/tmp/apt-dev.log" 2>&1 || { cat "$root/tmp/apt-dev.log" >&2; fail "installing gcc failed"; }
awk -v m="<!-- tests/install: example.c -->" 'found && /^```c$/ { on = 1; next }
	on && /^```$/ { exit } on { print } $0 == m { found = 1 }' "$readme" >"$root/tmp/example.c"
grep -q '^main(void)$' "$root/tmp/example.c" || fail "no C example in $readme"
in_root sh -c 'cd /tmp && cc -std=c11 -Wall -Werror -o example example.c $(pkg-config --cflags --libs vexil)' ||
	fail "the README's example does not build against the package"
out=$(in_root VEXIL_RPC="$rpc" VEXIL_KEY="$key" /tmp/example) || fail "example failed: $out"
[ "$out" = "new-checkout: New checkout" ] || fail "example printed '$out'"
say "ok: $deb installs and runs on a fresh Debian $(cat "$root/etc/debian_version")"
