#!/bin/bash
# Builds the .deb of this build (cpack -G DEB, into a temp dir) and reads
# it with dpkg-deb, without installing it:
#
#   tests/install/deb.sh BUILD_DIR
#
#  - control (-I): package vexil at the project's version; Depends names
#    the Debian runtime packages of the libraries the binaries link (found
#    by dpkg-shlibdeps) and adduser; the maintainer scripts are there,
#    postinst creates the vexil system user, and ldconfig is triggered;
#  - contents (-c): the binaries, libvexil (soname link, shared and
#    static), the headers, vexil.pc, the docs assets, both systemd units;
#  - the units (extracted with -x): they start the packaged binaries as
#    user vexil, vexild with /var/lib/vexil as its StateDirectory and data
#    dir, Restart=on-failure and the hardening options; and
#    systemd-analyze verify accepts them, when it is installed.
set -eu

build=$(readlink -f "$1")
. "$(dirname "$0")/../scratch.sh"
scratch deb
fail() {
	echo "deb: $*" >&2
	exit 1
}

cpack -G DEB -B "$work/out" --config "$build/CPackConfig.cmake" >"$work/cpack.log" 2>&1 ||
	{ cat "$work/cpack.log" >&2; fail "cpack -G DEB failed"; }
deb=$(find "$work/out" -maxdepth 1 -name '*.deb')
[ "$(wc -l <<<"$deb")" = 1 ] && [ -n "$deb" ] || fail "cpack made no single .deb: $deb"
version=$("$build/vexild" --version | awk '{ print $2 }')

# ---- control ----
field() { dpkg-deb -f "$deb" "$1"; }
[ "$(field Package)" = vexil ] || fail "Package is '$(field Package)'"
[ "$(field Version)" = "$version" ] || fail "Version is '$(field Version)', vexild says $version"
[ "$(field Architecture)" = "$(dpkg --print-architecture)" ] ||
	fail "Architecture is '$(field Architecture)'"
depends=$(field Depends)
# The runtime package of each library the binaries link, as Debian 12
# names them (the soname's package, so no version is guessed here).
for lib in libnng.so.1 liblmdb.so.0 libsodium.so libprotobuf-c.so.1 libcjson.so.1 \
	libpcre2-8.so.0 libutf8proc.so libmbedx509.so libmbedcrypto.so libc.so.6; do
	path=$(ldconfig -p | awk -v l="$lib" 'index($1, l) == 1 { print $NF; exit }')
	[ -n "$path" ] || fail "$lib is not on this system"
	# dpkg knows a file by the path its package ships (/lib or /usr/lib).
	real=$(readlink -f "$path")
	pkg=$(dpkg -S "$real" "${real#/usr}" 2>/dev/null | head -1 | cut -d: -f1)
	[ -n "$pkg" ] || fail "no package owns $path"
	grep -qE "(^|, )$pkg( |,|$)" <<<"$depends" || fail "Depends lacks $pkg ($lib): $depends"
done
grep -qE "(^|, )adduser( |,|$)" <<<"$depends" || fail "Depends lacks adduser: $depends"
dpkg-deb -I "$deb" >"$work/info"
for s in postinst prerm postrm; do
	grep -qE "^ +[0-9]+ bytes, +[0-9]+ lines +\* +$s " "$work/info" ||
		fail "no executable $s in the control archive"
done
mkdir "$work/control"
dpkg-deb -e "$deb" "$work/control"
grep -qx 'activate-noawait ldconfig' "$work/control/triggers" 2>/dev/null ||
	fail "no ldconfig trigger for libvexil.so.0"
# postinst run as dpkg would (configure), with getent, adduser and
# systemctl stubbed to record their calls instead of changing this system:
# the user is created when missing, and only then.
mkdir "$work/stub"
for t in adduser systemctl; do
	printf '#!/bin/sh\necho "%s $*" >>"%s"\n' "$t" "$work/calls" >"$work/stub/$t"
done
printf '#!/bin/sh\n[ -e "%s" ]\n' "$work/user-exists" >"$work/stub/getent"
chmod +x "$work/stub/"*
PATH=$work/stub:$PATH sh "$work/control/postinst" configure || fail "postinst configure failed"
grep -qx 'adduser --system --group --home /var/lib/vexil --no-create-home --gecos Vexil feature-flag service vexil' \
	"$work/calls" || fail "postinst did not create the user vexil: $(cat "$work/calls")"
: >"$work/calls" && touch "$work/user-exists"
PATH=$work/stub:$PATH sh "$work/control/postinst" configure || fail "postinst configure failed"
if grep -q adduser "$work/calls"; then fail "postinst ran adduser for an existing user"; fi

# ---- contents ----
dpkg-deb -c "$deb" | awk '{ print $6 }' | sed 's|^\./|/|' >"$work/files"
prefix=$(grep -m1 '/bin/vexild$' "$work/files" | sed 's|/bin/vexild$||')
[ -n "$prefix" ] || fail "no bin/vexild in the package"
need() {
	grep -qxE "$1" "$work/files" || fail "the package has no $1"
}
for f in bin/vexild bin/vexil-gateway bin/vexilctl include/vexil/vexil.h \
	include/vexil/v1/stubs.h share/vexil/assets/swagger-ui-dist/swagger-ui-bundle.js \
	share/vexil/assets/redoc/bundles/redoc.standalone.js lib/systemd/system/vexild.service \
	lib/systemd/system/vexil-gateway.service; do
	need "$prefix/$f"
done
need "$prefix/lib(/[a-z0-9_-]+)?/libvexil\.so\.0"
need "$prefix/lib(/[a-z0-9_-]+)?/libvexil\.a"
need "$prefix/lib(/[a-z0-9_-]+)?/pkgconfig/vexil\.pc"

dpkg-deb -x "$deb" "$work/root"
# vexil.pc of the extracted tree names its headers and library.
pc=$(find "$work/root" -name vexil.pc)
pcvar() { PKG_CONFIG_PATH=$(dirname "$pc") pkg-config --variable="$1" vexil; }
if [ "$prefix" != /usr ]; then
	[ -e "$(pcvar includedir)/vexil/vexil.h" ] ||
		fail "the packaged vexil.pc's includedir $(pcvar includedir) has no vexil/vexil.h"
	[ -e "$(pcvar libdir)/libvexil.so" ] ||
		fail "the packaged vexil.pc's libdir $(pcvar libdir) has no libvexil.so"
fi

# ---- the units ----
units=$work/root$prefix/lib/systemd/system
for u in vexild vexil-gateway; do
	f=$units/$u.service
	exec=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$f")
	[ "$exec" = "$prefix/bin/$u" ] || fail "$u.service starts '$exec', not the packaged $prefix/bin/$u"
	for line in User=vexil Group=vexil Restart=on-failure NoNewPrivileges=yes \
		ProtectSystem=strict ProtectHome=yes PrivateTmp=yes PrivateDevices=yes \
		"EnvironmentFile=-/etc/default/$u" WantedBy=multi-user.target; do
		grep -qx -- "$line" "$f" || fail "$u.service lacks $line"
	done
done
for line in StateDirectory=vexil Environment=VEXIL_DATA=/var/lib/vexil; do
	grep -qx -- "$line" "$units/vexild.service" || fail "vexild.service lacks $line"
done
if command -v systemd-analyze >/dev/null; then
	# verify wants the binaries where the units say: point it at the
	# extracted ones.
	for u in vexild vexil-gateway; do
		sed "s|^ExecStart=$prefix|ExecStart=$work/root$prefix|" "$units/$u.service" \
			>"$work/$u.service"
	done
	SYSTEMD_LOG_LEVEL=warning systemd-analyze verify --man=no \
		"$work/vexild.service" "$work/vexil-gateway.service" >"$work/verify" 2>&1 ||
		{ cat "$work/verify" >&2; fail "systemd-analyze verify refused the units"; }
	if grep -q 'Unknown key\|Failed to parse\|unknown' "$work/verify"; then
		cat "$work/verify" >&2
		fail "systemd-analyze verify warns about the units"
	fi
fi
echo "deb: ok ($(basename "$deb"))"
