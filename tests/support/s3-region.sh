# shellcheck shell=bash
# S3 regions for the shell tests (sourced after tests/integration/test-lib.sh): each one is
# s3rver behind a proxy that checks AWS Signature V4 (tests/support/s3-region.mjs), on its own
# port, with its own directory and its own random credentials.
#
#   s3_region_start NAME BUCKET [REGION]   # REGION (the SigV4 scope) defaults to us-east-1
#   s3_region_stop NAME                    # SIGTERM; a stopped region is a region that is down
#   s3_region_stats NAME                   # {"verified":N,"refused":M}
#
# s3_region_start writes $tl_work/s3/NAME.ini (owner-only, profile [default]) and sets
# S3_ENDPOINT_<NAME>, S3_CREDENTIALS_<NAME> and S3_PID_<NAME> (NAME upper-cased, '-' as '_');
# it also prints the endpoint. Call it outside test_expect (whose subshell would lose them). The
# region is stopped when the script exits, however it ends (tl_on_exit).

s3_region_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

_s3_var() { local n=${1^^}; echo "${n//-/_}"; }

s3_region_start() {
	local name=$1 bucket=$2 region=${3:-us-east-1} var dir ini port out pid line
	if [[ ! -d $s3_region_root/tests/clients/node_modules/s3rver ]]; then
		echo "s3_region_start: $s3_region_root/tests/clients/node_modules/s3rver is missing; run tools/deps (npm ci in tests/clients)" >&2
		return 1
	fi
	var=$(_s3_var "$name")
	dir=$tl_work/s3/$name
	ini=$tl_work/s3/$name.ini
	out=$tl_work/s3/$name.ready
	mkdir -p "$dir"
	# random credentials of this region only, in a file nobody else can read
	(umask 077 && printf '[default]\naws_access_key_id = AKIA%s\naws_secret_access_key = %s\n' \
		"$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n' | tr a-f A-F)" \
		"$(head -c 30 /dev/urandom | base64 | tr -d '\n')" >"$ini")
	port=$(tl_port)
	# the legacy provider: s3rver's continuation tokens are DES (see s3-region.mjs)
	/usr/bin/node --openssl-legacy-provider "$s3_region_root/tests/support/s3-region.mjs" --dir "$dir" --bucket "$bucket" \
		--credentials "$ini" --region "$region" --port "$port" >"$out" 2>>"$tl_work/s3/$name.log" &
	pid=$!
	printf -v "S3_PID_$var" '%s' "$pid"
	tl_on_exit "s3_region_stop $name"
	for _ in $(seq 1 200); do
		line=$(head -n 1 "$out" 2>/dev/null || true)
		if [[ $line == *'"endpoint"'* ]]; then
			printf -v "S3_ENDPOINT_$var" '%s' "$(jq -r .endpoint <<<"$line")"
			printf -v "S3_CREDENTIALS_$var" '%s' "$ini"
			local ep="S3_ENDPOINT_$var"
			echo "${!ep}"
			return 0
		fi
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "s3_region_start $name: s3-region.mjs exited:" >&2
			tail -n 20 "$tl_work/s3/$name.log" >&2
			return 1
		fi
		sleep 0.05
	done
	echo "s3_region_start $name: not ready after 10 s" >&2
	tail -n 20 "$tl_work/s3/$name.log" >&2
	return 1
}

s3_region_stop() {
	local var pidvar pid
	var=$(_s3_var "$1")
	pidvar="S3_PID_$var"
	pid=${!pidvar:-}
	[[ -n $pid ]] || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 1 100); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || true; fi
	wait "$pid" 2>/dev/null || true
	printf -v "$pidvar" '%s' ""
}

s3_region_stats() {
	local var ep
	var=$(_s3_var "$1")
	ep="S3_ENDPOINT_$var"
	curl -sf --max-time 5 "${!ep}/-/stats"
}
