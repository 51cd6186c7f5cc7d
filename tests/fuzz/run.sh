#!/usr/bin/env bash
# Runs every libFuzzer target for SECONDS each, starting from the committed corpus in
# tests/fuzz/corpus/<target>/ (TAP output with the exec counts).
#   tests/fuzz/run.sh BUILD_DIR SECONDS [--merge]
# --merge minimises what the run found back into tests/fuzz/corpus/ (used by `make fuzz`).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
dir=${1:?usage: run.sh BUILD_DIR SECONDS [--merge]}
secs=${2:?usage: run.sh BUILD_DIR SECONDS [--merge]}
merge=${3:-}
work=$dir/fuzz-work
rm -rf "$work"
mkdir -p "$work/artifacts"
n=0
bad=0
for t in "$dir"/fuzz/fuzz_*; do
	[[ -x $t ]] || continue
	name=$(basename "$t")
	seeds=tests/fuzz/corpus/$name
	mkdir -p "$seeds" "$work/$name"
	n=$((n + 1))
	log=$work/$name.log
	"$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=8192 -print_final_stats=1 \
		-artifact_prefix="$work/artifacts/$name-" "$work/$name" "$seeds" >"$log" 2>&1
	rc=$?
	execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
	cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo 0)
	if [[ $rc -eq 0 ]]; then
		echo "ok $n - $name: ${execs:-0} execs in ${secs}s, coverage ${cov:-0}"
		if [[ $merge == --merge ]]; then
			"$t" -merge=1 "$seeds" "$work/$name" >>"$log" 2>&1
		fi
	else
		bad=$((bad + 1))
		echo "not ok $n - $name crashed after ${execs:-?} execs (artifacts in $work/artifacts)"
		grep -E 'ERROR|runtime error|SUMMARY|==[0-9]+==' "$log" | head -20 | sed 's/^/# /'
	fi
done
echo "1..$n"
[[ $bad -eq 0 ]]
