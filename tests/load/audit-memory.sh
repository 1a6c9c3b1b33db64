#!/usr/bin/env bash
# The server's resident memory while it audits a data directory, as docs/architecture.md
# ("Audit") reports it. Usage: tests/load/audit-memory.sh DATA_DIR PORT
# (for a log of a million commits: target/release/docket demo --scale 22 --data-dir DATA_DIR).
set -euo pipefail
dir=$1; port=$2; bin=${DOCKET_BIN:-target/release/docket}
$bin serve --data-dir "$dir" --listen 127.0.0.1:$port --grpc-listen off > "$dir/audit-memory-serve.log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
until curl -sf http://127.0.0.1:$port/healthz >/dev/null; do sleep 0.5; done
start=$(date +%s)
while true; do
  lag=$(curl -sf http://127.0.0.1:$port/v1/status | python3 -c 'import json,sys; print(json.load(sys.stdin)["lag"])')
  [ "$lag" = 0 ] && break
  sleep 2
done
echo "projected in $(( $(date +%s) - start )) s"
rss() { awk '/^VmRSS/ {print $2}' /proc/$pid/status; }
hwm() { awk '/^VmHWM/ {print $2}' /proc/$pid/status; }
echo "before the audit: VmRSS $(rss) kB, VmHWM $(hwm) kB"
token=$($bin token --role admin --data-dir "$dir")
run=$(curl -sf -X POST -H "authorization: Bearer $token" http://127.0.0.1:$port/v1/audit/runs | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
astart=$(date +%s); peak=0
while true; do
  r=$(rss); [ "$r" -gt "$peak" ] && peak=$r
  view=$(curl -sf -H "authorization: Bearer $token" http://127.0.0.1:$port/v1/audit/runs/$run)
  status=$(echo "$view" | python3 -c 'import json,sys; v=json.load(sys.stdin); print(v["status"])')
  [ "$status" != running ] && break
  sleep 1
done
echo "audit $status in $(( $(date +%s) - astart )) s; peak VmRSS sampled during it: $peak kB; VmHWM now $(hwm) kB"
echo "$view" | python3 -c 'import json,sys; v=json.load(sys.stdin); print({k: v.get(k) for k in ["holds","commits","cases","rows_compared","mismatches","compared_at"]})'
