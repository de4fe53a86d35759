#!/bin/sh
# Copy every shard's results file out of the load Job's pods, release the
# pods, and merge the shards into one run (OUTDIR/merged.db):
#   collect.sh [NAMESPACE [JOB [OUTDIR]]]    (dnsurge-load dnsurge-load shards)
# Needs kubectl (with access to the namespace) and dnsurge on this machine.
# A pod holds its file in an emptyDir until /results/collected exists, so
# this can run while the load is still going: it waits for each shard.
set -eu
ns=${1:-dnsurge-load}
job=${2:-dnsurge-load}
out=${3:-shards}
mkdir -p "$out"

pods=$(kubectl -n "$ns" get pods -l "job-name=$job" \
	-o jsonpath='{range .items[*]}{.metadata.name}={.metadata.annotations.batch\.kubernetes\.io/job-completion-index}{"\n"}{end}')
[ -n "$pods" ] || { echo "collect.sh: no pods of job $ns/$job" >&2; exit 1; }

for pi in $pods; do
	pod=${pi%%=*}
	i=${pi#*=}
	echo "shard $i: waiting for pod $pod to finish its run"
	until kubectl -n "$ns" exec "$pod" -- test -e "/results/shard-$i.rc" 2>/dev/null; do
		sleep 5
	done
	# The run checkpoints its WAL into the file when it ends; a -wal file
	# with data left means it was killed: copy that too, the next open
	# replays it.
	kubectl -n "$ns" exec "$pod" -- cat "/results/shard-$i.db" >"$out/shard-$i.db"
	if kubectl -n "$ns" exec "$pod" -- test -s "/results/shard-$i.db-wal"; then
		kubectl -n "$ns" exec "$pod" -- cat "/results/shard-$i.db-wal" >"$out/shard-$i.db-wal"
	fi
	echo "shard $i: copied to $out/shard-$i.db (dnsurge load exit" \
		"$(kubectl -n "$ns" exec "$pod" -- cat "/results/shard-$i.rc"))"
	kubectl -n "$ns" exec "$pod" -- touch /results/collected
done

# merge exits 2 when the shards do not belong together (another label,
# profile, seed, a shard missing or twice: docs/REPORT.md, merge) and 3
# when it merged but a shard was invalid: show the run either way.
# OUTDIR/merged.db is made from the shards in OUTDIR alone, afresh.
rm -f "$out/merged.db" "$out/merged.db-wal" "$out/merged.db-shm"
rc=0
dnsurge report merge "$out/merged.db" "$out"/shard-*.db || rc=$?
[ "$rc" = 2 ] || dnsurge report show --db "$out/merged.db"
exit "$rc"
