#!/usr/bin/env bash
# PostgreSQL against raw pgbench in the same run (issue 15). Interleaved rounds, each at
# 1 and 8 clients, pool of 10,000, printing `uptime`:
#   raw       pgbench -M prepared, raw-pair.sql: acquire + release on a table without
#             triggers (the baseline of issue 15's acceptance line)
#   sql       pgbench -M prepared, mason-pair.sql: mason's own two statements on mason's
#             schema, triggers and all (the ceiling of any client)
#   LABEL     for each LABEL=MASON_BIN: `mason bench --layer store` (the PostgreSQL store
#             in process, no HTTP) and `mason bench` (an in-process mason serve over
#             HTTP, one replica), each LABEL on a database of its own
#
# usage: run.sh PGHOST PGPORT ROUNDS SECONDS LABEL=MASON_BIN...
#   (user postgres, trust auth; databases mason_raw and mason_bench_LABEL are recreated)
set -euo pipefail
host=$1 port=$2 rounds=$3 secs=$4
shift 4
here=$(cd "$(dirname "$0")" && pwd)
psql_() { psql -q -X -h "$host" -p "$port" -U postgres "$@"; }
pgb() { pgbench -n -M prepared -h "$host" -p "$port" -U postgres -c "$1" -j "$1" -T "$secs" \
          -f "$2" "$3" 2>&1 | awk '/^tps/ {printf "%.0f", $3}'; }
rate() { sed -n 's/.*"ops_per_s":\([0-9.]*\).*/\1/p' | awk '{printf "%.0f", $1}'; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f %%", 100 * a / b }'; }
{ psql_ -c 'DROP DATABASE IF EXISTS mason_raw' -c 'CREATE DATABASE mason_raw'
  psql_ -d mason_raw -f "$here/raw-setup.sql"
  for lb in "$@"; do
    psql_ -c "DROP DATABASE IF EXISTS mason_bench_${lb%%=*}" -c "CREATE DATABASE mason_bench_${lb%%=*}"
  done; } >/dev/null 2>&1
first=${1%%=*}
echo "synchronous_commit=$(psql_ -tA -c 'SHOW synchronous_commit') fsync=$(psql_ -tA -c 'SHOW fsync')"
for round in $(seq "$rounds"); do
  echo "round $round: $(uptime)"
  for c in 1 8; do
    raw=$(pgb "$c" "$here/raw-pair.sql" mason_raw)
    line="  clients $c: raw $raw pairs/s"
    for lb in "$@"; do
      label=${lb%%=*} bin=${lb#*=}
      url="postgres://postgres@$host:$port/mason_bench_$label"
      store=$("$bin" bench --layer store --store "$url" --pool-size 10000 --clients "$c" \
              --duration "${secs}s" --format json 2>/dev/null | rate)
      http=$("$bin" bench --store "$url" --pool-size 10000 --clients "$c" \
             --duration "${secs}s" --format json 2>/dev/null | rate)
      line="$line | $label store $store ($(pct "$store" "$raw")) http $http ($(pct "$http" "$raw"))"
    done
    sql=$(pgb "$c" "$here/mason-pair.sql" "mason_bench_$first")
    echo "$line | sql $sql ($(pct "$sql" "$raw"))"
  done
done
