#!/usr/bin/env bash
# CPU per request of the RESP server (examples/kv_server.rs) on gmp and on tokio, interleaved:
# utime+stime of the server process (/proc/<pid>/stat) before and after one fixed
# `redis-benchmark -c50 -P16 -t set,get -n $REQUESTS` run, as ms of CPU per 100k requests, with
# the run's SET/GET req/s. The gmp server also prints sysmon's counters per second
# (GMP_SYSMON_COUNTS, src/sysmon.rs); the script shows their median over the run.
#
#   scripts/cpu_per_request.sh            # 3 rounds, 1M requests per test
#   ROUNDS=1 REQUESTS=200000 scripts/cpu_per_request.sh
#   NO_BUILD=1 scripts/cpu_per_request.sh # use the binary already built
#   BASELINE=/tmp/old/kv_server scripts/cpu_per_request.sh   # also an older gmp build ("base")
#
# Needs redis-benchmark (apt-get install redis-tools). Server: GMP_MAXPROCS=2 (tokio: 2 workers).
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
REQUESTS=${REQUESTS:-1000000}
export GMP_MAXPROCS=${GMP_MAXPROCS:-2}
command -v redis-benchmark >/dev/null || { echo "cpu_per_request: apt-get install redis-tools" >&2; exit 1; }
if [ -z "${NO_BUILD:-}" ]; then
  cargo build --release --features tokio-io --example kv_server >&2
fi
bin=target/release/examples/kv_server
work=$(mktemp -d)
server_pid=
stop_server() { if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; server_pid=; fi; }
trap 'stop_server; rm -rf "$work"' EXIT
hz=$(getconf CLK_TCK)

cpu_ticks() { # utime + stime of process $1, in clock ticks (fields 14 and 15 after the comm)
  sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}

median() { sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print "-" }'; }

run() { # name binary extra-args...
  local name=$1 binary=$2; shift 2
  : > "$work/$name.log"  # emptied here, not in the child: last round's port must not be read
  GMP_SYSMON_COUNTS=1000 "$binary" 127.0.0.1:0 "$@" > "$work/$name.log" 2>&1 &
  server_pid=$!
  local port=
  for _ in $(seq 100); do
    port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$work/$name.log" | head -1)
    [ -n "$port" ] && break
    sleep 0.1
  done
  [ -n "$port" ] || { echo "cpu_per_request: server did not start" >&2; cat "$work/$name.log" >&2; exit 1; }
  redis-benchmark -p "$port" -c 50 -P 16 -q -t set -n 100000 >/dev/null 2>&1   # warm-up
  local lines_before; lines_before=$(wc -l < "$work/$name.log")
  local before; before=$(cpu_ticks "$server_pid")
  redis-benchmark -p "$port" -c 50 -P 16 -q -t set,get -n "$REQUESTS" 2>/dev/null | tr '\r' '\n' > "$work/redis.out"
  local after; after=$(cpu_ticks "$server_pid")
  tail -n +"$((lines_before + 1))" "$work/$name.log" | grep '^gmp sysmon/s:' > "$work/$name.counts" || true
  stop_server
  # Two tests (SET, GET) of $REQUESTS each.
  awk -v t=$((after - before)) -v hz="$hz" -v n="$REQUESTS" \
    'BEGIN { printf "%.1f\n", t * 1000 / hz / (2 * n / 100000) }' >> "$work/${name}_cpu"
  awk -F'[: ]+' '/^SET: [0-9]/ { printf "%.0f\n", $2 }' "$work/redis.out" >> "$work/${name}_set"
  awk -F'[: ]+' '/^GET: [0-9]/ { printf "%.0f\n", $2 }' "$work/redis.out" >> "$work/${name}_get"
  if [ -s "$work/$name.counts" ]; then
    for key in rounds fast retake preempt blocked_asleep blocked_computing state_reads state_runnable nudges deep_sleeps lingers_found lingers_given_up; do
      sed -n "s/.* $key=\([0-9]*\).*/\1/p" "$work/$name.counts" | median >> "$work/${name}_$key"
    done
  fi
  echo "round $round $name: cpu_ms_per_100k=$(tail -1 "$work/${name}_cpu") set=$(tail -1 "$work/${name}_set") get=$(tail -1 "$work/${name}_get")" >&2
}

for round in $(seq "$ROUNDS"); do
  run gmp "$bin"
  [ -n "${BASELINE:-}" ] && run base "$BASELINE"
  run tokio "$bin" tokio
done

echo "| server | CPU ms / 100k requests | SET req/s | GET req/s |"
echo "| --- | --- | --- | --- |"
names="gmp tokio"
[ -n "${BASELINE:-}" ] && names="gmp base tokio"
for name in $names; do
  echo "| $name | $(median < "$work/${name}_cpu") | $(median < "$work/${name}_set") | $(median < "$work/${name}_get") |"
done
awk -v g="$(median < "$work/gmp_cpu")" -v t="$(median < "$work/tokio_cpu")" \
  'BEGIN { if (t > 0) printf "CPU per request gmp/tokio: %.2f\n", g / t }'
if [ -n "${BASELINE:-}" ]; then
  awk -v g="$(median < "$work/base_cpu")" -v t="$(median < "$work/tokio_cpu")" \
    'BEGIN { if (t > 0) printf "CPU per request base/tokio: %.2f\n", g / t }'
fi
line="gmp sysmon per second (median of each run's per-second medians):"
for key in rounds fast retake preempt blocked_asleep blocked_computing state_reads state_runnable nudges deep_sleeps lingers_found lingers_given_up; do
  [ -s "$work/gmp_$key" ] && line="$line $key=$(median < "$work/gmp_$key")"
done
echo "$line"
