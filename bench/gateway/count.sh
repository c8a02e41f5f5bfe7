#!/bin/sh
# bench/gateway/count.sh: instructions per request through vexil-gateway,
# for a machine too busy for wall-clock figures. It runs run.sh with the
# gateway under valgrind's callgrind (GATEWAY_WRAP), zeroes the counts as
# each endpoint's load starts and dumps them as it ends (ON_ENDPOINT), and
# prints for each endpoint the instructions of the request path (conn.c's
# on_read and on_write, the pool's workers: inclusive) divided by the
# responses written (calls of vx_http1_write_response), the figure
# docs/gateway.md quotes. Instruction counts hardly depend on the load
# around, so one run compares two builds. No thresholds.
#   bench/gateway/count.sh [BUILD_DIR] [SECONDS] [CONNECTIONS]
# The callgrind files stay in the directory printed at the end, for
# callgrind_annotate.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
if [ "${1:-}" = hook ]; then # run.sh's ON_ENDPOINT: hook begin|end NAME PID
	case $2 in
	begin) callgrind_control -z "$4" >/dev/null 2>&1 ;;
	end) callgrind_control -d "$(echo "$3" | tr -c 'A-Za-z0-9\n' _)" "$4" >/dev/null 2>&1 ;;
	esac
	exit 0
fi
for t in valgrind callgrind_control callgrind_annotate; do
	command -v $t >/dev/null || { echo "bench_count: $t is not installed (apt-get install valgrind)" >&2; exit 1; }
done
build=$(cd "${1:-$here/../../build}" && pwd)
out=$(mktemp -d /tmp/vexil-bench-count-XXXXXX)
# Under valgrind the gateway starts slowly and serves ~20x fewer requests;
# the scale-out run has nothing to count.
GATEWAY_WRAP="valgrind --tool=callgrind --dump-instr=no --callgrind-out-file=$out/cg.%p" \
	ON_ENDPOINT="$here/count.sh hook" UP_TRIES=1200 SCALE_OUT=0 \
	sh "$here/run.sh" "$build" "${2:-5}" "${3:-8}" >"$out/run.txt"
printf '%-26s %10s %12s\n' endpoint responses instr/resp
for f in "$out"/cg.*.*; do
	name=$(sed -n 's/^desc: Trigger: dump //p' "$f")
	callgrind_annotate --inclusive=yes --tree=caller --threshold=100 "$f" 2>/dev/null | awk -v name="$name" '
	# "<" lines name a function'"'"'s callers with their call counts; the "*"
	# line after them is the function itself, with its inclusive cost.
	/^ *[0-9,]+ .*< .*\([0-9,]+x\)/ {
		m = $0; sub(/.*\(/, "", m); sub(/x\).*/, "", m); gsub(",", "", m); calls += m; next }
	/^ *[0-9,]+ .*\* / {
		fn = $0; sub(/.*\* +[^:]*:/, "", fn); sub(/ .*/, "", fn)
		v = $1; gsub(",", "", v); incl[fn] = v; ncalls[fn] = calls; calls = 0; next }
	/^$/ { calls = 0 }
	END {
		r = ncalls["vx_http1_write_response"]
		p = incl["on_read"] + incl["on_write"] + incl["worker_main"]
		if (r > 0) printf "%-26s %10d %12.0f\n", name, r, p / r }'
done
echo "callgrind files: $out"
