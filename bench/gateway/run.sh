#!/bin/sh
# bench/gateway: HTTP throughput and latency through vexil-gateway, with
# wrk (Debian's package). It starts vexild and the gateway from this build
# on a temp data dir and free ports, makes a user, a project and 10 flags
# through the flag-service API, then runs wrk against
#   - POST /sdk/v1/evaluate (all 10 flags for one user),
#   - POST /ofrep/v1/evaluate/flags/{key} (OpenFeature's OFREP, one flag),
#   - GET  /api/projects/{id}/flags/{id} (JWT),
#   - GET  /health, the floor: the gateway and HTTP without the core.
# It prints wrk's req/s and latency percentiles for each, and stops both
# processes at the end. No thresholds. Beside each it prints the CPU time
# vexild and the gateway spent during the run (from /proc/PID/stat).
# Extra gateway options come from $GATEWAY_ARGS, e.g. edge evaluation:
#   GATEWAY_ARGS="--edge-max-snapshots 16" bench/gateway/run.sh build
#   bench/gateway/run.sh [BUILD_DIR] [SECONDS] [CONNECTIONS]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
build=${1:-$here/../../build}
secs=${2:-5}
conns=${3:-32}
command -v wrk >/dev/null || { echo "bench_gateway: wrk is not installed (apt-get install wrk)" >&2; exit 1; }

free_port() {
	# A random port that nothing listens on yet.
	port=$(shuf -i 20000-60000 -n 1)
	while ss -ltn 2>/dev/null | grep -q ":$port "; do port=$((port + 1)); done
	echo "$port"
}

tmp=$(mktemp -d /tmp/vexil-bench-gw-XXXXXX)
rpc="tcp://127.0.0.1:$(free_port)"
pub="tcp://127.0.0.1:$(free_port)"
http_port=$(free_port)
G="http://127.0.0.1:$http_port"
# No rate limit: OFREP requests go through AuthService/Admit.
"$build/vexild" --data "$tmp/data" --rpc "$rpc" --pub "$pub" --rate-limit 0 --quiet \
	2>"$tmp/vexild.log" &
vexild=$!
# shellcheck disable=SC2086 # GATEWAY_ARGS is a list of words
"$build/vexil-gateway" --listen "$G" --rpc "$rpc" --sub "$pub" --quiet ${GATEWAY_ARGS:-} \
	2>"$tmp/gateway.log" &
gateway=$!
cleanup() {
	kill -TERM "$gateway" "$vexild" 2>/dev/null || true
	wait "$gateway" "$vexild" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

for _ in $(seq 100); do
	curl -sf "$G/health" >/dev/null 2>&1 && break
	sleep 0.05
done

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

cat >"$tmp/evaluate.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["X-SDK-Key"] = "$sdk"
local n = 0
request = function()
	n = n + 1
	return wrk.format(nil, nil, nil,
		'{"user_id":"user-' .. n .. '","user_email":"u' .. n .. '@example.org"}')
end
LUA
# The project's SDK key is bound to no environment: the context names it.
cat >"$tmp/ofrep.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $sdk"
local n = 0
request = function()
	n = n + 1
	return wrk.format(nil, nil, nil, '{"context":{"targetingKey":"user-' .. n ..
		'","email":"u' .. n .. '@example.org","environment":"production"}}')
end
LUA
cat >"$tmp/get.lua" <<LUA
wrk.headers["Authorization"] = "Bearer $token"
LUA

# utime + stime of a process, in clock ticks.
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
tick=$(getconf CLK_TCK)

run() { # name url [script]
	v0=$(cpu "$vexild")
	g0=$(cpu "$gateway")
	out=$(wrk -t2 -c"$conns" -d"${secs}s" --latency ${3:+-s "$3"} "$2")
	vcpu=$((($(cpu "$vexild") - v0) * 1000 / tick))
	gcpu=$((($(cpu "$gateway") - g0) * 1000 / tick))
	rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
	p50=$(echo "$out" | awk '$1 == "50%" {print $2}')
	p90=$(echo "$out" | awk '$1 == "90%" {print $2}')
	p99=$(echo "$out" | awk '$1 == "99%" {print $2}')
	errs=$(echo "$out" | awk '/Non-2xx|Socket errors/ {printf "%s ", $0}')
	printf '%-22s %10s %9s %9s %9s %9s %9s  %s\n' "$1" "$rps" "$p50" "$p90" "$p99" \
		"${vcpu}ms" "${gcpu}ms" "${errs:-}"
}

echo "bench_gateway: wrk -t2 -c$conns -d${secs}s; 10 flags with a rule each; $(nproc) CPUs"
printf '%-22s %10s %9s %9s %9s %9s %9s\n' endpoint req/s p50 p90 p99 vexild-cpu gw-cpu
run "GET /health (floor)" "$G/health"
run "POST /sdk/v1/evaluate" "$G/sdk/v1/evaluate" "$tmp/evaluate.lua"
run "POST OFREP one flag" "$G/ofrep/v1/evaluate/flags/flag_5" "$tmp/ofrep.lua"
run "GET flag (JWT)" "$G/api/projects/$pid/flags/$fid" "$tmp/get.lua"
