#!/bin/bash
# Run the libFuzzer harnesses of a DS_FUZZ=ON build (docs/FUZZING.md).
#
#   tests/fuzz/run.sh BUILD_DIR [SECONDS] [TARGET...]
#
# Each harness fuzzes for SECONDS (default 600) per job, starting from the
# committed corpus and regression inputs, which it only reads; new corpus
# entries and crash artifacts go to a scratch folder. Prints executions and
# findings per harness; exits 1 if any harness crashed or reported.
#
# Environment:
#   DS_FUZZ_JOBS  parallel fuzzing processes per harness (default: 2 on a
#                 machine with 2 cores or more, else 1)
#   DS_FUZZ_OUT   scratch folder (default BUILD_DIR/fuzz-out); TARGET/corpus
#                 keeps the new entries, TARGET/artifacts the crashes
#   DS_FUZZ_ARGS  extra libFuzzer flags (e.g. -max_len=8192)
# Fuzzers run under `nice -n 19`: the machine may be measuring something else.
set -uo pipefail

if [ $# -lt 1 ]; then
	sed -n '2,17s/^# \{0,1\}//p' "$0" >&2
	exit 2
fi
build=$(cd "$1" && pwd) || exit 2
secs=${2:-600}
shift $(($# >= 2 ? 2 : 1))
src=$(cd "$(dirname "$0")" && pwd)
bin=$build/tests/fuzz
out=${DS_FUZZ_OUT:-$build/fuzz-out}
cores=$(nproc)
jobs=${DS_FUZZ_JOBS:-$((cores >= 2 ? 2 : 1))}
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
	targets=(wire server corefile scenario decode k8s_load k8s_watch k8s_stream)
fi

status=0
printf '%-10s %14s %10s %8s  %s\n' target executions exec/s new findings
for t in "${targets[@]}"; do
	exe=$bin/fuzz_$t
	if [ ! -x "$exe" ]; then
		echo "$t: $exe missing (configure with -DDS_FUZZ=ON and build fuzz_all)" >&2
		status=1
		continue
	fi
	dir=$out/$t
	mkdir -p "$dir/corpus" "$dir/artifacts" "$dir/logs"
	rm -f "$dir"/logs/*.log
	touch "$dir/logs/.start"
	before=$(find "$dir/corpus" -type f | wc -l)
	# Read-only seeds after the writable folder: libFuzzer adds new
	# entries to the first folder only. A target without regressions yet
	# has no folder.
	seeds=("$src/corpus/$t")
	[ -d "$src/regressions/$t" ] && seeds+=("$src/regressions/$t")
	# -jobs with -workers: that many fuzzing processes side by side, each
	# writing its log to logs/fuzz-N.log; each stops after $secs.
	# stdout is closed (-close_fd_mask=1): the server harness's log
	# plugin writes there; reports go to stderr.
	(cd "$dir/logs" && nice -n 19 "$exe" -max_total_time="$secs" -jobs="$jobs" \
		-workers="$jobs" -print_final_stats=1 -close_fd_mask=1 -timeout=25 \
		-rss_limit_mb=2048 -artifact_prefix="$dir/artifacts/" ${DS_FUZZ_ARGS:-} \
		"$dir/corpus" "${seeds[@]}" >/dev/null 2>&1)
	execs=0
	rate=0
	for log in "$dir"/logs/fuzz-*.log; do
		[ -f "$log" ] || continue
		n=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
		r=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
		execs=$((execs + ${n:-0}))
		rate=$((rate + ${r:-0}))
	done
	after=$(find "$dir/corpus" -type f | wc -l)
	# Findings: what libFuzzer saved (crash-, leak-, timeout-, oom-) and
	# the first report line of each log that has one.
	found=$(find "$dir/artifacts" -type f -newer "$dir/logs/.start" 2>/dev/null | sort)
	reports=$(grep -h -m1 -E '^==[0-9]+==ERROR|runtime error:|invariant failed|ERROR: libFuzzer' \
		"$dir"/logs/fuzz-*.log 2>/dev/null | sort -u)
	if [ -n "$found" ] || [ -n "$reports" ]; then
		status=1
		summary="$(echo "$found" | grep -c .) saved"
	else
		summary=none
	fi
	printf '%-10s %14d %10d %8d  %s\n' "$t" "$execs" "$rate" $((after - before)) "$summary"
	[ -n "$reports" ] && echo "$reports" | sed 's/^/    /'
	[ -n "$found" ] && echo "$found" | sed 's/^/    /'
done
exit $status
