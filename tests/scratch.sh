# Sourced by the shell tests (tests/readme/run.sh, tests/install/*.sh):
# a scratch directory that goes away on exit together with the processes
# started in it, and free loopback ports.
#
#   . tests/scratch.sh
#   scratch NAME        sets $work to a new temp dir; on exit every pid in
#                       the array $pids gets SIGTERM and is waited for,
#                       then $work is removed
#   free_port           prints a port nothing listens on

pids=()
scratch() {
	work=$(mktemp -d "${TMPDIR:-/tmp}/vexil-$1.XXXXXX")
	trap scratch_cleanup EXIT
}
scratch_cleanup() {
	for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$work"
}

# A free loopback port: one nothing answers on now, below the ephemeral
# range (32768-) where outgoing connections hold ports they do not listen on.
free_port() {
	local p
	while :; do
		p=$((20000 + RANDOM % 12000))
		(exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null || { echo $p; return; }
	done
}
