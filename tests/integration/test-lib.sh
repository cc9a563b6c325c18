# The shell tests' library (sourced), in the spirit of git's t/test-lib.sh: one named
# expectation per behaviour, each run in a subshell with `set -e`, so that its first failing
# command fails it and nothing it sets leaks into the next; on failure the end of its output is
# shown. Servers a test starts are registered and killed when the script exits, however it ends.
# KEEP=1 keeps the work directory (for a look after a failure).
#
#   . "$(dirname "$0")/test-lib.sh"
#   test_expect "what it checks" command args...
#   test_done            # the summary; the script's exit code
#
# Helpers: tl_port (a free TCP port), tl_dev_env DIR (tools/dev-env with free ports, sets
# tl_api_port and tl_ops_port), tl_signerd_start CONFIG LOG / tl_signerd_stop (then
# tl_signerd_rc), tl_api CERT_DIR
# CLIENT METHOD PATH [BODY] ("STATUS BODY"), tl_metric NAME_AND_LABELS (its value), tl_until
# SECONDS command (retries until it succeeds), tl_fails_saying PATTERN command... (the command
# fails, with exit code 1, and its output matches PATTERN: a refusal for the stated reason, not
# any failure), tl_exits CODE OUTFILE command... (the command exits with CODE; its stdout and
# stderr go to OUTFILE), tl_on_exit COMMAND (run at exit, before the work directory goes).
set -euo pipefail

TL_PASSES=0
TL_FAILS=0
tl_work=$(mktemp -d "/tmp/signer-${TL_NAME:-test}-XXXXXX")
tl_pids=()
tl_signerd_pid=
tl_exit_hooks=()

tl_on_exit() { tl_exit_hooks+=("$1"); }

tl_cleanup() {
	local p h
	for h in "${tl_exit_hooks[@]}"; do eval "$h" || true; done
	for p in "${tl_pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
	[[ -n $tl_signerd_pid ]] && kill -9 "$tl_signerd_pid" 2>/dev/null || true
	if [[ -n ${KEEP:-} ]]; then echo "kept $tl_work" >&2; else rm -rf "$tl_work"; fi
}
trap tl_cleanup EXIT

test_expect() {
	local name=$1 rc
	shift
	set +e
	(set -e; "$@") >"$tl_work/.out" 2>&1
	rc=$?
	set -e
	if ((rc == 0)); then
		TL_PASSES=$((TL_PASSES + 1))
	else
		TL_FAILS=$((TL_FAILS + 1))
		echo "FAIL: $name" >&2
		tail -n 15 "$tl_work/.out" | sed 's/^/  | /' >&2
	fi
}

test_done() {
	echo "${TL_NAME:-test}: $TL_PASSES passed, $TL_FAILS failed"
	((TL_FAILS == 0))
}

# A TCP port nothing listens on, with the next one free too, below the kernel's range of
# ephemeral ports: a port in that range can be taken at any moment by an outgoing connection of
# another test running beside this one.
tl_port() {
	local p low
	read -r low _ </proc/sys/net/ipv4/ip_local_port_range || low=32768
	((low > 12000)) || low=32768
	for _ in $(seq 1 50); do
		p=$((10000 + RANDOM % (low - 10002)))
		if ! ss -Hltn "( sport = :$p )" | grep -q . && ! ss -Hltn "( sport = :$((p + 1)) )" | grep -q .; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

tl_dev_env() { # tl_dev_env DIR [dev-env options]
	local dir=$1
	shift
	tl_api_port=$(tl_port)
	tl_ops_port=$((tl_api_port + 1))
	SIGNERCTL=${SIGNERCTL:?} "$TL_ROOT/tools/dev-env" "$dir" --api-port "$tl_api_port" \
		--ops-port "$tl_ops_port" "$@" >/dev/null
}

# Starts signerd on CONFIG (its stderr appended to LOG) and waits for /healthz. Fails, showing
# the log, if it exits first.
tl_signerd_start() {
	local cfg=$1 log=$2
	"${SIGNERD:?}" --config "$cfg" >>"$log" 2>&1 &
	tl_signerd_pid=$!
	for _ in $(seq 1 200); do
		curl -sf "http://127.0.0.1:$tl_ops_port/healthz" >/dev/null 2>&1 && return 0
		if ! kill -0 "$tl_signerd_pid" 2>/dev/null; then
			wait "$tl_signerd_pid" || true
			tl_signerd_pid=
			echo "signerd exited:" >&2
			tail -n 20 "$log" >&2
			return 1
		fi
		sleep 0.05
	done
	echo "signerd did not come up" >&2
	return 1
}

# SIGTERM; its exit code in tl_signerd_rc. (Not inside test_expect: it must wait for its
# child.)
tl_signerd_rc=
tl_signerd_stop() {
	tl_signerd_rc=0
	[[ -n $tl_signerd_pid ]] || return 0
	kill -TERM "$tl_signerd_pid"
	wait "$tl_signerd_pid" || tl_signerd_rc=$?
	tl_signerd_pid=
}

# tl_api CERT_DIR CLIENT METHOD PATH [BODY]: prints "STATUS BODY" (000 when there was no HTTP
# answer). CLIENT "" sends no certificate.
tl_api() {
	local dir=$1 client=$2 method=$3 path=$4 body=${5:-} out code
	out=$(mktemp -p "$tl_work" body.XXXXXX)
	local args=(-s -o "$out" -w '%{http_code}' --max-time 10 --cacert "$dir/ca.pem" -X "$method"
		--resolve "localhost:$tl_api_port:127.0.0.1")
	[[ -n $client ]] && args+=(--cert "$dir/clients/$client.pem" --key "$dir/clients/$client.key")
	[[ -n $body ]] && args+=(-H "Content-Type: application/json" --data-binary "$body")
	code=$(curl "${args[@]}" "https://localhost:$tl_api_port$path") || code=000
	echo "$code $(cat "$out")"
	rm -f "$out"
}

# The value of one series of /metrics ("signer_x{a=\"b\"}"); empty when it is not there.
tl_metric() {
	curl -s "http://127.0.0.1:$tl_ops_port/metrics" | awk -v k="$1" '$1 == k { print $2 }'
}

# tl_fails_saying PATTERN command...: command exits 1 and its output (stdout and stderr) matches
# the extended regular expression PATTERN.
tl_fails_saying() {
	local pattern=$1 rc=0
	shift
	"$@" >"$tl_work/.said" 2>&1 || rc=$?
	if ((rc != 1)); then
		echo "exit code $rc, expected 1:"
		cat "$tl_work/.said"
		return 1
	fi
	grep -Eq -- "$pattern" "$tl_work/.said" || { echo "no '$pattern' in:"; cat "$tl_work/.said"; return 1; }
}

# tl_exits CODE OUTFILE command...: command exits with CODE (its output in OUTFILE, shown when
# it does not).
tl_exits() {
	local want=$1 out=$2 got=0
	shift 2
	"$@" >"$out" 2>&1 || got=$?
	((got == want)) || { echo "exit $got, wanted $want: $*"; cat "$out"; return 1; }
}

# tl_until SECONDS command...: runs command until it succeeds, at most SECONDS.
tl_until() {
	local seconds=$1
	shift
	local until=$((SECONDS + seconds))
	while ((SECONDS <= until)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	"$@"
}
