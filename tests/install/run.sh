#!/bin/bash
# Installs this build into a temp prefix and uses it as an outsider would.
#
#   tests/install/run.sh BUILD_DIR README
#
#  - the layout: the three binaries in bin/, libvexil.so with its soname
#    and libvexil.a in lib/, the headers in include/vexil/, vexil.pc, the
#    docs assets, the systemd units;
#  - the headers: each compiles alone with only `pkg-config --cflags
#    vexil`, and the README's example pulls in no header but the prefix's,
#    the C library's and protobuf-c's (no nng, no internal one);
#  - the shared library exports the public API and nothing internal;
#  - the README's C example (the ```c block after the line
#    `<!-- tests/install: example.c -->`), built with only `pkg-config
#    --cflags --libs vexil` (PKG_CONFIG_PATH to the prefix), shared and
#    static, runs against the installed vexild on a temp data dir and free
#    ports: it prints the flag, and a missing flag exits 1 with NOT_FOUND;
#  - the installed gateway serves /docs and /redoc with no --assets;
#  - every option of the README's vexild and gateway tables, and every
#    command and option of its vexilctl usage, is in the installed
#    binary's --help.
set -eu

build=$(readlink -f "$1") readme=$(readlink -f "$2")
. "$(dirname "$0")/../scratch.sh"
scratch install
fail() {
	echo "install: $*" >&2
	exit 1
}

prefix=$work/prefix
cmake --install "$build" --prefix "$prefix" >"$work/install.log" ||
	{ cat "$work/install.log" >&2; fail "cmake --install failed"; }

# ---- layout ----
libdir=$(dirname "$(find "$prefix" -name vexil.pc -path '*/pkgconfig/*')")
libdir=${libdir%/pkgconfig}
[ -n "$libdir" ] || fail "no vexil.pc installed"
for f in bin/vexild bin/vexil-gateway bin/vexilctl include/vexil/vexil.h \
	include/vexil/errors.h include/vexil/status.h include/vexil/v1/stubs.h \
	include/vexil/eval.h include/vexil/watch.h include/vexil/context.h \
	share/vexil/assets/swagger-ui-dist/swagger-ui-bundle.js \
	share/vexil/assets/redoc/bundles/redoc.standalone.js \
	lib/systemd/system/vexild.service lib/systemd/system/vexil-gateway.service; do
	[ -e "$prefix/$f" ] || fail "$f is not installed"
done
for f in libvexil.a libvexil.so; do
	[ -e "$libdir/$f" ] || fail "${libdir#$prefix/}/$f is not installed"
done
soname=$(objdump -p "$libdir/libvexil.so" | awk '$1 == "SONAME" { print $2 }')
[ "$soname" = libvexil.so.0 ] || fail "libvexil.so's soname is '$soname', not libvexil.so.0"
[ -e "$libdir/libvexil.so.0" ] || fail "libvexil.so.0 is not installed"
# Nothing in the tree but what is under include/vexil.
extra=$(find "$prefix/include" -mindepth 1 -maxdepth 1 ! -name vexil)
[ -z "$extra" ] || fail "include/ holds more than vexil/: $extra"

export PKG_CONFIG_PATH=$libdir/pkgconfig
[ "$(pkg-config --modversion vexil)" = "$("$prefix/bin/vexild" --version | awk '{ print $2 }')" ] ||
	fail "vexil.pc's version is not vexild's"

# ---- headers ----
cflags=$(pkg-config --cflags vexil)
for h in "$prefix"/include/vexil/*.h "$prefix"/include/vexil/v1/*.h; do
	rel=${h#$prefix/include/}
	printf '#include <%s>\n' "$rel" |
		cc -std=c11 -Wall -Wextra -Werror $cflags -fsyntax-only -x c - ||
		fail "<$rel> does not compile on its own"
done

# ---- exports ----
exports=$(nm -D --defined-only "$libdir/libvexil.so" | awk '{ print $3 }')
for sym in vx_client_open vx_client_close vx_get_flag vx_get_flag_as vx_call_as \
	vx_free vx_strerror vx_code_name vexil__v1__flag__descriptor vx_eval_snapshot_fetch \
	vx_eval_local vx_eval_reason_name vx_watch_start vx_watch_acquire; do
	grep -qx "$sym" <<<"$exports" || fail "libvexil.so does not export $sym"
done
internal=$(grep -vE '^(vx_[a-z0-9_]+|vexil__v1__[a-z0-9_]+)$' <<<"$exports" || true)
[ -z "$internal" ] || fail "libvexil.so exports symbols outside the API: $internal"
for sym in vx_wire_client_call vx_log vx_status_set vx_arena_alloc vx_eval_compile; do
	if grep -qx "$sym" <<<"$exports"; then fail "libvexil.so exports internal $sym"; fi
done

# ---- the README's example, built from outside ----
# The ```c block after the line <!-- tests/install: $1 --> into $work/$1.
readme_block() {
	awk -v m="<!-- tests/install: $1 -->" 'found && /^```c$/ { on = 1; next }
		on && /^```$/ { exit } on { print } $0 == m { found = 1 }' "$readme" >"$work/$1"
	grep -q '^main(void)$' "$work/$1" || fail "no C program after <!-- tests/install: $1 --> in $readme"
}
readme_block example.c
readme_block watch.c
cd "$work"
# shellcheck disable=SC2046
for prog in example watch; do
	cc -std=c11 -Wall -Wextra -Werror -o $prog $prog.c $(pkg-config --cflags --libs vexil) ||
		fail "the README's $prog.c does not build with pkg-config --cflags --libs vexil"
done
objdump -p example | grep -q 'NEEDED *libvexil.so.0' || fail "example is not linked to libvexil.so.0"
# Which headers it reads: the prefix's, and the system's C library and
# protobuf-c, never nng's or the source tree's.
cc -std=c11 -H -fsyntax-only $cflags example.c watch.c 2>"$work/headers" ||
	fail "cc -H example.c watch.c failed"
bad=$(sed -n 's/^\.* //p' "$work/headers" | grep -v "^$prefix/include/vexil/" |
	grep -vE '^/usr/(lib/gcc/[^/]+/[0-9]+/)?include/' | grep -E 'nng|/src/|/clients/|/gen/' || true)
[ -z "$bad" ] || fail "the example reads headers from outside the install: $bad"
if grep -q '/nng/' "$work/headers"; then fail "the public headers include nng's"; fi
# The same, linked with the static libvexil.a.
# shellcheck disable=SC2046
cc -std=c11 -o example-static example.c $(pkg-config --cflags vexil) -L"$libdir" \
	-Wl,-Bstatic -lvexil -Wl,-Bdynamic $(pkg-config --static --libs-only-l vexil | sed 's/-lvexil//') ||
	fail "the example does not link statically (pkg-config --static)"
if objdump -p example-static | grep -q 'NEEDED *libvexil'; then
	fail "example-static still needs libvexil.so"
fi

# ---- run it against the installed vexild ----
rpc=tcp://127.0.0.1:$(free_port)
pub=tcp://127.0.0.1:$(free_port)
mkdir "$work/data"
env -u VEXIL_KEY "$prefix/bin/vexild" --data "$work/data" --rpc "$rpc" --pub "$pub" \
	--quiet 2>"$work/vexild.log" &
pids+=($!)
for _ in $(seq 100); do
	[ -s "$work/data/admin.key" ] && break
	sleep 0.1
done
[ -s "$work/data/admin.key" ] || { cat "$work/vexild.log" >&2; fail "vexild did not start"; }
export VEXIL_KEY=$(cat "$work/data/admin.key") VEXIL_RPC=$rpc VEXIL_PUB=$pub
ctl() { "$prefix/bin/vexilctl" --timeout 5000 "$@" >/dev/null; }
for _ in $(seq 50); do ctl project list 2>/dev/null && break; sleep 0.1; done
ctl flag create --project default new-checkout --name "New checkout"
for prog in example example-static; do
	out=$(LD_LIBRARY_PATH=$libdir ./$prog) || fail "$prog failed: $out"
	[ "$out" = "new-checkout: New checkout" ] || fail "$prog printed '$out'"
done
# The live cache, evaluating locally: the new flag is off in production
# until enabled.
out=$(LD_LIBRARY_PATH=$libdir ./watch) || fail "watch failed: $out"
[ "$out" = "new-checkout: off (DISABLED)" ] || fail "watch printed '$out'"
ctl flag enable --project default new-checkout --env production
out=$(LD_LIBRARY_PATH=$libdir ./watch) || fail "watch failed: $out"
[ "$out" = "new-checkout: on (STATIC)" ] || fail "watch printed '$out' for the enabled flag"
ctl flag delete --project default new-checkout
if out=$(LD_LIBRARY_PATH=$libdir ./example 2>&1); then fail "example found a deleted flag: $out"; fi
case "$out" in NOT_FOUND:*new-checkout*) ;; *) fail "example's error was '$out'" ;; esac

# ---- the installed gateway serves the docs with no --assets ----
http=http://127.0.0.1:$(free_port)
"$prefix/bin/vexil-gateway" --listen "$http" --rpc "$rpc" --sub "$pub" --quiet \
	2>"$work/gateway.log" &
pids+=($!)
for _ in $(seq 100); do
	curl -s -o /dev/null "$http/health" && break
	sleep 0.1
done
for path in /docs /redoc /docs/swagger-ui-bundle.js /docs/redoc.standalone.js; do
	code=$(curl -s -o /dev/null -w '%{http_code}' "$http$path")
	[ "$code" = 200 ] || { cat "$work/gateway.log" >&2; fail "installed gateway: GET $path gave $code"; }
done

# ---- --help against the README ----
# Every option in the table under the heading $1 is in $2's --help.
help_has_readme_options() {
	local help opts o
	help=$("$prefix/bin/$2" --help)
	opts=$(awk -v h="$1" '$0 == h { on = 1; next } /^#/ { on = 0 }
		on && /^\| `--/ { print }' "$readme" | grep -o '`--[a-z-]*' | tr -d '`' | sort -u)
	[ -n "$opts" ] || fail "no option table under '$1' in $readme"
	for o in $opts; do
		grep -q -- "$o\b" <<<"$help" || fail "$2 --help lacks $o, which the README lists"
	done
}
help_has_readme_options "## vexild" vexild
help_has_readme_options "## The REST gateway" vexil-gateway
# vexilctl: the usage block under "## vexilctl": each command and option
# it shows is in vexilctl --help.
help=$("$prefix/bin/vexilctl" --help)
usage=$(awk '/^## vexilctl$/ { s = 1; next } s && /^```$/ { if (u) exit; u = 1; next }
	u { print }' "$readme")
[ -n "$usage" ] || fail "no usage block under '## vexilctl' in $readme"
for c in $(sed -n 's/^  \([a-z-]*\).*/\1/p' <<<"$usage" | sort -u); do
	grep -qE "^  $c( |$)" <<<"$help" || fail "vexilctl --help lacks the command $c, which the README shows"
done
for o in $(grep -o -- '--[a-z-]*' <<<"$usage" | sort -u); do
	grep -q -- "$o\b" <<<"$help" || fail "vexilctl --help lacks $o, which the README shows"
done
echo "install: ok ($prefix)"
