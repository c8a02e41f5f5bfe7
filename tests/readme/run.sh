#!/bin/bash
# Runs README.md's shell blocks in order against a fresh vexild and gateway,
# so a README that drifts from the code fails the tests.
#
#   tests/readme/run.sh README VEXILD VEXILCTL VEXIL-GATEWAY
#
# Each ```sh block runs on its own in a fresh `bash -e` (as a reader pastes
# it into a new terminal), in a scratch directory where build/ holds the
# three binaries of this build and var/ is the test vexild's data dir, so
# `build/vexilctl` and `cat var/admin.key` work as written. The shell gets
# G (the gateway's URL), VEXIL_RPC and VEXIL_PUB pointing at the test
# instance and nothing else: a block must define what it uses (write
# G=${G:-http://127.0.0.1:8080} so that the test's G wins). curl runs with
# --fail-with-body, so an HTTP error fails the block.
#
# A block that cannot run in a test (it starts servers, or runs until
# interrupted) is skipped by a marker on the line before its fence, which
# renders as nothing:
#
#   <!-- readme-test: skip (why) -->
#
# Blocks in other languages (```c, ```js, plain ```) are not run.
set -eu

readme=$1 vexild=$2 vexilctl=$3 gateway=$4
for tool in jq curl; do
	command -v $tool >/dev/null || { echo "readme: $tool is needed (apt-get install $tool)" >&2; exit 1; }
done

. "$(dirname "$0")/../scratch.sh"
scratch readme

mkdir -p "$work/run/build" "$work/data"
ln -s "$vexild" "$work/run/build/vexild"
ln -s "$vexilctl" "$work/run/build/vexilctl"
ln -s "$gateway" "$work/run/build/vexil-gateway"
ln -s "$work/data" "$work/run/var"

rpc=tcp://127.0.0.1:$(free_port)
pub=tcp://127.0.0.1:$(free_port)
http=http://127.0.0.1:$(free_port)
# The test's own settings reach the servers only through their options.
env -u VEXIL_KEY "$vexild" --data "$work/data" --rpc "$rpc" --pub "$pub" --quiet \
	--rate-limit 0 2>"$work/vexild.log" &
pids+=($!)
"$gateway" --listen "$http" --rpc "$rpc" --sub "$pub" --quiet 2>"$work/gateway.log" &
pids+=($!)

# Ready when vexild answers with its admin key and the gateway its /health.
until [ -s "$work/data/admin.key" ] &&
	"$vexilctl" --rpc "$rpc" --key "$(cat "$work/data/admin.key")" project list >/dev/null 2>&1 &&
	curl -sf "$http/health" >/dev/null 2>&1; do
	for p in "${pids[@]}"; do
		kill -0 "$p" 2>/dev/null || { echo "readme: a server did not start:" >&2;
			cat "$work/vexild.log" "$work/gateway.log" >&2; exit 1; }
	done
	sleep 0.1
done

# Splits the README into blocks: block.N.sh, or block.N.skip when marked.
awk -v dir="$work" '
	/^<!-- readme-test: skip/ { skip = 1; next }
	/^```sh[[:space:]]*$/ && !inblock { inblock = 1; n++; line = NR
		file = sprintf("%s/block.%03d.%s", dir, n, skip ? "skip" : "sh")
		printf "# README.md line %d\n", NR > file; skip = 0; next }
	/^```/ && inblock { inblock = 0; close(file); next }
	/^```/ { skip = 0 }
	inblock { print > file }
	!inblock && NF { skip = skip && /^<!--/ }
' "$readme"

ran=0 skipped=0
for block in "$work"/block.*; do
	where=$(head -1 "$block" | sed 's/^# //')
	if [ "${block##*.}" = skip ]; then
		skipped=$((skipped + 1))
		continue
	fi
	echo "==> $where" >&2
	if ! (cd "$work/run" && env -i HOME="$HOME" PATH="$PATH" G="$http" VEXIL_RPC="$rpc" \
		VEXIL_PUB="$pub" bash -e -c 'curl() { command curl --fail-with-body "$@"; }
			source "$1"' readme "$block" >"$work/out" 2>&1); then
		echo "readme: the block at $where failed:" >&2
		cat "$block" >&2
		echo "--- its output:" >&2
		cat "$work/out" >&2
		exit 1
	fi
	cat "$work/out" >&2
	echo >&2
	ran=$((ran + 1))
done
[ "$ran" -gt 0 ] || { echo "readme: no sh blocks found in $readme" >&2; exit 1; }
echo "readme: $ran blocks ran, $skipped skipped by their marker" >&2
