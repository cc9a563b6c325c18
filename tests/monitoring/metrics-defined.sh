# metrics_defined: every metric name on standard input (signer_*, blockchain_*; _bucket, _sum and
# _count of a histogram taken as its family) is one signerd exports (its sources: api/ and
# tools/signerctl/, which writes the readiness textfile) or one the guide defines (the adapters'):
# a query with a misspelt name would show "No data", or never fire, for ever. Needs $root and
# $guide. Sourced by rules.sh and dashboard.sh.
metrics_defined() {
	local m base bad=0
	for m in $(grep -oE '\b(signer|blockchain)_[a-z0-9_]+' | sort -u); do
		base=$(sed -E 's/_(bucket|sum|count)$//' <<<"$m")
		case $m in
		signer_*)
			grep -rqwF --include='*.c' "$base" "$root/api" "$root/tools/signerctl" ||
				{ echo "$m: signerd exports no such metric" >&2; bad=1; } ;;
		blockchain_*)
			[[ -f $guide ]] || { echo "$guide is missing (it defines the adapters' metrics)" >&2; return 1; }
			grep -qwF "$base" "$guide" || { echo "$m: the guide defines no such metric" >&2; bad=1; } ;;
		esac
	done
	return $bad
}
