#!/bin/sh
# bench/gateway: HTTP throughput and latency through vexil-gateway, with
# wrk (Debian's package). It starts vexild and the gateway from this build
# on a temp data dir and free ports, makes a user, a project and 10 flags
# through the flag-service API and an API key with vexilctl, then runs wrk
# against
#   - GET  / of bench_tcp_floor: one epoll thread and no nng, the same
#     static body: what loopback TCP itself allows on this machine,
#   - GET  /floor of bench_http_floor: nng's bare HTTP server, static body,
#   - GET  /health, the gateway and its HTTP without the core,
#   - POST /sdk/v1/evaluate (all 10 flags for one user, SDK key),
#   - POST /ofrep/v1/evaluate/flags/{key} (OFREP, one flag) with the SDK key
#     and with the API key (admitted and rate-limited at the edge),
#   - POST /v1/sdk/evaluate (platform, all flags, API key),
#   - GET  /api/projects/{id}/flags/{id} (JWT: a core call each).
# It prints wrk's req/s and latency percentiles for each, the CPU time
# vexild and the gateway spent during the run (from /proc/PID/stat), and
# each evaluation's req/s as a ratio of /health and of the floor in the
# same run. Then a scale-out run: a second gateway on the same vexild, the
# two loaded at once (each by its own wrk, half the connections), with
# each gateway's req/s and vexild's CPU. No thresholds.
# Extra gateway options come from $GATEWAY_ARGS, e.g. no edge evaluation:
#   GATEWAY_ARGS="--edge-max-snapshots 0" bench/gateway/run.sh build
#   bench/gateway/run.sh [BUILD_DIR] [SECONDS] [CONNECTIONS]
# $FLOOR names another bench_http_floor binary (a build without one), and
# $TCP_FLOOR another bench_tcp_floor.
# $PACE_MS (unset: none) adds a paced pass at the end: every connection
# waits that many ms between its requests (wrk's delay()), so the load is
# below what the server can take and the latency is the server's own, not
# the queue of a saturated core (at full load the tail is set by how often
# the scheduler preempts a thread in the middle of a request; compare the
# epoll floor's p99 with nng's).
# $ROUNDS (default 1) repeats the whole list that many times, each
# endpoint's ratios taken against the /health and floor of its own round,
# and ends with each ratio's median over the rounds: on a shared machine
# req/s drifts by a tenth or more from one run to the next, so compare
# medians of 3 rounds or more, never one run.
# For bench/gateway/count.sh (instructions per request): $GATEWAY_WRAP is
# put before the gateway's command (valgrind), $ON_ENDPOINT is run as
# "$ON_ENDPOINT begin|end NAME GATEWAY_PID" around each endpoint's load,
# $UP_TRIES is how many 50 ms waits a server gets to answer (100), and
# SCALE_OUT=0 skips the scale-out run.
# Pinning (taskset CPU lists), so that the servers and the load generator
# do not take each other's core on a small machine: $SERVER_CPUS for
# vexild, the gateways and the floor, $WRK_CPUS for wrk, $WRK_THREADS for
# its threads (default 2), e.g.
#   SERVER_CPUS=0 WRK_CPUS=1 WRK_THREADS=1 bench/gateway/run.sh build 8 32
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../build}
secs=${2:-5}
conns=${3:-32}
command -v wrk >/dev/null || { echo "bench_gateway: wrk is not installed (apt-get install wrk)" >&2; exit 1; }
srv=${SERVER_CPUS:+taskset -c $SERVER_CPUS}
wrk="${WRK_CPUS:+taskset -c $WRK_CPUS }wrk"
wt=${WRK_THREADS:-2}

free_port() {
	# A random port that no socket uses yet: one that only an outgoing
	# connection holds as its local port still cannot be listened on.
	port=$(shuf -i 20000-60000 -n 1)
	while ss -tan 2>/dev/null | grep -q ":$port "; do port=$((port + 1)); done
	echo "$port"
}

tmp=$(mktemp -d /tmp/vexil-bench-gw-XXXXXX)
rpc="tcp://127.0.0.1:$(free_port)"
pub="tcp://127.0.0.1:$(free_port)"
http_port=$(free_port)
G="http://127.0.0.1:$http_port"
floor_port=$(free_port)
F="http://127.0.0.1:$floor_port"
floor_bin=${FLOOR:-$build/bench/bench_http_floor}
tcp_port=$(free_port)
T="http://127.0.0.1:$tcp_port"
tcp_bin=${TCP_FLOOR:-$build/bench/bench_tcp_floor}
# A limit no run reaches: API-key requests are admitted against leased
# tokens, a call per 1000 requests.
$srv "$build/vexild" --data "$tmp/data" --rpc "$rpc" --pub "$pub" --rate-limit 100000000 \
	--quiet 2>"$tmp/vexild.log" &
vexild=$!
# shellcheck disable=SC2086 # GATEWAY_WRAP and GATEWAY_ARGS are lists of words
$srv ${GATEWAY_WRAP:-} "$build/vexil-gateway" --listen "$G" --rpc "$rpc" --sub "$pub" --quiet \
	${GATEWAY_ARGS:-} 2>"$tmp/gateway.log" &
gateway=$!
gateway2=
floor=
tcpf=
if [ -x "$floor_bin" ]; then
	$srv "$floor_bin" "$F" 2>"$tmp/floor.log" &
	floor=$!
fi
if [ -x "$tcp_bin" ]; then
	$srv "$tcp_bin" "$tcp_port" 2>"$tmp/tcp_floor.log" &
	tcpf=$!
fi
cleanup() {
	kill -TERM $gateway2 $floor $tcpf "$gateway" "$vexild" 2>/dev/null || true
	wait $gateway2 $floor $tcpf "$gateway" "$vexild" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

up() { # url
	for _ in $(seq "${UP_TRIES:-100}"); do
		curl -sf "$1" >/dev/null 2>&1 && return 0
		sleep 0.05
	done
	echo "bench_gateway: $1 does not answer" >&2
	return 1
}
up "$G/health" || { cat "$tmp/gateway.log" >&2; exit 1; }
# /health does not ask vexild: /readyz does, so the setup below does not
# race vexild's start on a loaded machine.
up "$G/readyz" || { cat "$tmp/vexild.log" "$tmp/gateway.log" >&2; exit 1; }

field() { sed -n "s/.*\"$1\":\"\\([^\"]*\\)\".*/\\1/p"; }
json='Content-Type: application/json'
curl -sf -X POST "$G/auth/register" -H "$json" -d '{"email":"bench@example.com","password":"bench-password"}' >/dev/null
token=$(curl -sf -X POST "$G/auth/login" -H "$json" \
	-d '{"email":"bench@example.com","password":"bench-password"}' | field token)
auth="Authorization: Bearer $token"
project=$(curl -sf -X POST "$G/api/projects" -H "$auth" -H "$json" -d '{"name":"bench"}')
pid=$(echo "$project" | field id)
sdk=$(echo "$project" | field sdk_key)
for i in 0 1 2 3 4 5 6 7 8 9; do
	flag=$(curl -sf -X POST "$G/api/projects/$pid/flags" -H "$auth" -H "$json" \
		-d "{\"key\":\"flag_$i\",\"name\":\"Flag $i\",\"enabled\":true,\"rollout_percentage\":$((i * 10))}")
	curl -sf -X POST "$G/api/projects/$pid/flags/$(echo "$flag" | field id)/rules" -H "$auth" -H "$json" \
		-d '{"rule_type":"email_domain","rule_value":"@example.com","priority":1}' >/dev/null
done
fid=$(echo "$flag" | field id)
# The core's number of the project: the low 48 bits of the id the
# flag-service API shows (src/gateway/format.h).
core_pid=$((0x${pid##*-}))
apikey=$("$build/vexilctl" --rpc "$rpc" --key "$(cat "$tmp/data/admin.key")" \
	key create bench --role read --project "$core_pid" --json | field secret)

# A wrk script POSTing JSON with one credential header, for users 1 to
# 1000 in turn: post_lua FILE HEADER VALUE BODY (BODY is a Lua expression
# in n). The requests are formatted once, in init(): a body built in Lua
# for every request costs wrk more CPU than it costs the gateway to parse,
# and on a small machine wrk's core is as busy as the server's.
post_lua() {
	cat >"$1" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["$2"] = "$3"
local reqs, i = {}, 0
init = function(args)
	for n = 1, 1000 do
		reqs[n] = wrk.format(nil, nil, nil, $4)
	end
end
request = function()
	i = i % 1000 + 1
	return reqs[i]
end
LUA
}
post_lua "$tmp/evaluate.lua" X-SDK-Key "$sdk" \
	"'{\"user_id\":\"user-' .. n .. '\",\"user_email\":\"u' .. n .. '@example.org\"}'"
# The project's SDK key is bound to no environment: the context names it.
ofrep="'{\"context\":{\"targetingKey\":\"user-' .. n .. '\",\"email\":\"u' .. n ..
	'@example.org\",\"environment\":\"production\"}}'"
post_lua "$tmp/ofrep.lua" Authorization "Bearer $sdk" "$ofrep"
post_lua "$tmp/ofrep_api.lua" Authorization "Bearer $apikey" "$ofrep"
post_lua "$tmp/platform.lua" Authorization "ApiKey $apikey" \
	"'{\"environment\":\"production\",\"user\":{\"id\":\"user-' .. n ..
		'\",\"email\":\"u' .. n .. '@example.org\"}}'"
cat >"$tmp/get.lua" <<LUA
wrk.headers["Authorization"] = "Bearer $token"
LUA

# utime + stime of a process, in clock ticks.
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
tick=$(getconf CLK_TCK)

run() { # name url [script]
	v0=$(cpu "$vexild")
	g0=$(cpu "$gateway")
	[ -z "${ON_ENDPOINT:-}" ] || $ON_ENDPOINT begin "$1" "$gateway"
	out=$($wrk -t"$wt" -c"$conns" -d"${secs}s" --latency ${3:+-s "$3"} "$2")
	[ -z "${ON_ENDPOINT:-}" ] || $ON_ENDPOINT end "$1" "$gateway"
	vcpu=$((($(cpu "$vexild") - v0) * 1000 / tick))
	gcpu=$((($(cpu "$gateway") - g0) * 1000 / tick))
	rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
	p50=$(echo "$out" | awk '$1 == "50%" {print $2}')
	p90=$(echo "$out" | awk '$1 == "90%" {print $2}')
	p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
	errs=$(echo "$out" | awk '/Non-2xx|Socket errors/ {printf "%s ", $0}')
	xh=$(awk -v a="$rps" -v b="${health_rps:-}" 'BEGIN {if (b) printf "%.2fx", a / b}')
	xf=$(awk -v a="$rps" -v b="${floor_rps:-}" 'BEGIN {if (b) printf "%.2fx", a / b}')
	echo "$1|$rps|$p99|${xh%x}|${xf%x}" >>"$tmp/runs"
	printf '%-26s %10s %9s %9s %9s %10s %9s %8s %8s  %s\n' "$1" "$rps" "$p50" "$p90" \
		"$p99" "${vcpu}ms" "${gcpu}ms" "${xh:--}" "${xf:--}" "${errs:-}"
	last_rps=$rps
}

columns() { # the heading of run()'s lines
	printf '%-26s %10s %9s %9s %9s %10s %9s %8s %8s\n' endpoint req/s p50 p90 p99 \
		vexild-cpu gw-cpu x/health x/floor
}

echo "bench_gateway: wrk -t$wt -c$conns -d${secs}s; 10 flags with a rule each; $(nproc) CPUs${SERVER_CPUS:+; servers on CPU $SERVER_CPUS}${WRK_CPUS:+, wrk on CPU $WRK_CPUS}"
rounds=${ROUNDS:-1}
for round in $(seq "$rounds"); do
	[ "$rounds" = 1 ] || echo "round $round of $rounds"
	columns
	health_rps=
	floor_rps=
	if [ -n "$tcpf" ] && up "$T/"; then
		run "GET / (bare epoll)" "$T/"
	fi
	if [ -n "$floor" ] && up "$F/floor"; then
		run "GET /floor (bare nng)" "$F/floor"
		floor_rps=$last_rps
	fi
	run "GET /health" "$G/health"
	health_rps=$last_rps
	run "POST /sdk/v1/evaluate" "$G/sdk/v1/evaluate" "$tmp/evaluate.lua"
	run "POST OFREP one flag" "$G/ofrep/v1/evaluate/flags/flag_5" "$tmp/ofrep.lua"
	run "POST OFREP flag, API key" "$G/ofrep/v1/evaluate/flags/flag_5" "$tmp/ofrep_api.lua"
	run "POST /v1/sdk/evaluate" "$G/v1/sdk/evaluate" "$tmp/platform.lua"
	run "GET flag (JWT)" "$G/api/projects/$pid/flags/$fid" "$tmp/get.lua"
done
if [ -n "${PACE_MS:-}" ]; then
	echo
	echo "paced: each of the $conns connections waits ${PACE_MS} ms between requests"
	columns
	for f in none evaluate ofrep; do
		# A copy of the endpoint's script (none: a bare GET) with delay().
		{ [ "$f" = none ] || cat "$tmp/$f.lua"; echo "function delay() return $PACE_MS end"; } \
			>"$tmp/paced_$f.lua"
	done
	health_rps=
	floor_rps=
	[ -z "$tcpf" ] || run "paced GET / (bare epoll)" "$T/" "$tmp/paced_none.lua"
	[ -z "$floor" ] || run "paced GET /floor (bare nng)" "$F/floor" "$tmp/paced_none.lua"
	run "paced GET /health" "$G/health" "$tmp/paced_none.lua"
	run "paced POST /sdk/v1/evaluate" "$G/sdk/v1/evaluate" "$tmp/paced_evaluate.lua"
	run "paced POST OFREP one flag" "$G/ofrep/v1/evaluate/flags/flag_5" "$tmp/paced_ofrep.lua"
fi
if [ "$rounds" != 1 ]; then
	# Each endpoint's medians over the rounds (run() keeps one line of
	# name|req/s|p99|x/health|x/floor per run in $tmp/runs).
	echo
	echo "medians of $rounds rounds"
	printf '%-26s %10s %9s %8s %8s\n' endpoint req/s p99 x/health x/floor
	awk -F'|' '
	function ms(v) { # wrk prints us, ms or s
		if (v ~ /us$/) return substr(v, 1, length(v) - 2) / 1000
		if (v ~ /ms$/) return substr(v, 1, length(v) - 2) + 0
		if (v ~ /s$/) return substr(v, 1, length(v) - 1) * 1000
		return v + 0 }
	function median(s,   a, n, i, j, t) {
		n = split(s, a, " ")
		for (i = 2; i <= n; i++) # insertion sort: a handful of rounds
			for (j = i; j > 1 && a[j - 1] + 0 > a[j] + 0; j--) {
				t = a[j]; a[j] = a[j - 1]; a[j - 1] = t }
		return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
	!($1 in seen) { seen[$1] = 1; order[++k] = $1 }
	{ rps[$1] = rps[$1] " " $2; p99[$1] = p99[$1] " " ms($3)
	  if ($4 != "") xh[$1] = xh[$1] " " $4
	  if ($5 != "") xf[$1] = xf[$1] " " $5 }
	END {
		for (i = 1; i <= k; i++) {
			e = order[i]
			printf "%-26s %10.0f %7.2fms %8s %8s\n", e, median(rps[e]), median(p99[e]),
				xh[e] == "" ? "-" : sprintf("%.2fx", median(xh[e])),
				xf[e] == "" ? "-" : sprintf("%.2fx", median(xf[e])) } }' "$tmp/runs"
fi

[ "${SCALE_OUT:-1}" != 0 ] || exit 0
# Scale-out: two gateways on one vexild, each loaded by its own wrk.
G2="http://127.0.0.1:$(free_port)"
# shellcheck disable=SC2086 # GATEWAY_ARGS is a list of words
$srv "$build/vexil-gateway" --listen "$G2" --rpc "$rpc" --sub "$pub" --quiet ${GATEWAY_ARGS:-} \
	2>"$tmp/gateway2.log" &
gateway2=$!
up "$G2/health" || { cat "$tmp/gateway2.log" >&2; exit 1; }
half=$(((conns + 1) / 2))
for g in "$G" "$G2"; do # warm: the second gateway's snapshot and keys
	$wrk -t1 -c2 -d1s -s "$tmp/evaluate.lua" "$g/sdk/v1/evaluate" >/dev/null
done
v0=$(cpu "$vexild")
g10=$(cpu "$gateway")
g20=$(cpu "$gateway2")
$wrk -t1 -c"$half" -d"${secs}s" --latency -s "$tmp/evaluate.lua" "$G/sdk/v1/evaluate" \
	>"$tmp/wrk1" &
w1=$!
$wrk -t1 -c"$half" -d"${secs}s" --latency -s "$tmp/evaluate.lua" "$G2/sdk/v1/evaluate" \
	>"$tmp/wrk2" &
w2=$!
wait "$w1" "$w2"
vcpu=$((($(cpu "$vexild") - v0) * 1000 / tick))
g1cpu=$((($(cpu "$gateway") - g10) * 1000 / tick))
g2cpu=$((($(cpu "$gateway2") - g20) * 1000 / tick))
r1=$(awk '/Requests\/sec/ {print $2}' "$tmp/wrk1")
r2=$(awk '/Requests\/sec/ {print $2}' "$tmp/wrk2")
echo
echo "scale-out: two gateways on one vexild, POST /sdk/v1/evaluate, wrk -t1 -c$half each"
printf '%-26s %10s %9s %9s\n' gateway req/s p99 gw-cpu
printf '%-26s %10s %9s %9s\n' "gateway 1" "$r1" "$(awk '$1 == "99%" {print $2}' "$tmp/wrk1")" \
	"${g1cpu}ms"
printf '%-26s %10s %9s %9s\n' "gateway 2" "$r2" "$(awk '$1 == "99%" {print $2}' "$tmp/wrk2")" \
	"${g2cpu}ms"
printf '%-26s %10s %9s %9s\n' "together" "$(awk -v a="$r1" -v b="$r2" 'BEGIN {print a + b}')" \
	"" ""
echo "vexild cpu during the scale-out run: ${vcpu}ms"
