#!/usr/bin/env bash
# The application benchmarks of issue 16, gmp side by side with tokio, one run:
#   - HTTP: the axum app of examples/http_server.rs on gmp and examples/http_server_tokio.rs on
#     tokio, `wrk -t2 -c50 -d10s --latency` on GET /;
#   - RESP: examples/kv_server.rs on gmp and on tokio (the same connection code),
#     `redis-benchmark -c50 -P16 -q -t set,get`;
#   - TCP echo: examples/echo.rs and echo_tokio.rs, 50 connections of 64-byte round trips
#     (examples/echo_load.rs, one epoll thread, no executor), and examples/echo_mio.rs (plain
#     mio, one epoll loop per thread: the floor; its column is filled on the echo rows only).
# Each server gets GMP_MAXPROCS=2 (tokio: 2 workers); client and server share the machine.
# Every measurement is taken 3 times, gmp and tokio interleaved; the table shows the medians.
#
#   scripts/bench_apps.sh                 # the whole table (about 4 minutes)
#   ROUNDS=1 SECONDS_PER_RUN=3 scripts/bench_apps.sh   # a quick look
#
# Needs wrk and redis-benchmark (apt-get install wrk redis-tools).
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-10}
REDIS_REQUESTS=${REDIS_REQUESTS:-2000000}
export GMP_MAXPROCS=${GMP_MAXPROCS:-2}

for tool in wrk redis-benchmark; do
  command -v "$tool" >/dev/null || { echo "bench_apps: $tool is not installed (apt-get install wrk redis-tools)" >&2; exit 1; }
done

cargo build --release --features hyper,tokio-io \
  --example http_server --example http_server_tokio --example kv_server \
  --example echo --example echo_tokio --example echo_mio --example echo_load >&2
bin=target/release/examples
work=$(mktemp -d)
server_pid=
stop_server() { if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; server_pid=; fi; }
trap 'stop_server; rm -rf "$work"' EXIT

# start_server LOG CMD...: starts a server on a free port and sets $port once it listens.
start_server() {
  local log=$1; shift
  : > "$log"  # emptied here, not in the child: a stale "listening on" must not be read
  "$@" > "$log" 2>&1 &
  server_pid=$!
  for _ in $(seq 100); do
    if grep -q '^listening on ' "$log"; then
      port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$log" | head -1)
      return
    fi
    sleep 0.1
  done
  echo "bench_apps: server did not start: $*" >&2; cat "$log" >&2; exit 1
}

# wrk's "Latency Distribution" 99% line, in ms.
to_ms() { awk '{ v=$1; if (v ~ /us$/) { sub(/us$/,"",v); v/=1000 } else if (v ~ /ms$/) { sub(/ms$/,"",v) } else if (v ~ /s$/) { sub(/s$/,"",v); v*=1000 } printf "%.2f\n", v }'; }

run_http() { # name cmd...
  local name=$1; shift
  start_server "$work/$name.log" "$@"
  wrk -t2 -c50 -d1s "http://127.0.0.1:$port/" >/dev/null   # warm-up
  wrk -t2 -c50 -d"${SECONDS_PER_RUN}s" --latency "http://127.0.0.1:$port/" > "$work/wrk.out"
  stop_server
  awk '/^Requests\/sec/ { printf "%.0f\n", $2 }' "$work/wrk.out" >> "$work/http_${name}_rps"
  awk '$1 == "99%" { print $2 }' "$work/wrk.out" | to_ms >> "$work/http_${name}_p99"
}

run_redis() { # name cmd...
  local name=$1; shift
  start_server "$work/$name.log" "$@"
  redis-benchmark -p "$port" -c 50 -P 16 -q -t set,get -n "$REDIS_REQUESTS" 2>/dev/null | tr '\r' '\n' > "$work/redis.out"
  stop_server
  awk -F'[: ]+' '/^SET: [0-9]/ { printf "%.0f\n", $2 }' "$work/redis.out" >> "$work/redis_${name}_set"
  awk -F'[: ]+' '/^GET: [0-9]/ { printf "%.0f\n", $2 }' "$work/redis.out" >> "$work/redis_${name}_get"
}

run_echo() { # name cmd...
  local name=$1; shift
  start_server "$work/$name.log" "$@"
  "$bin/echo_load" "127.0.0.1:$port" 50 64 "$SECONDS_PER_RUN" > "$work/echo.out"
  stop_server
  sed -n 's/.*round_trips_per_sec=\([0-9]*\).*/\1/p' "$work/echo.out" >> "$work/echo_${name}_rps"
  sed -n 's/.*p99_us=\([0-9]*\).*/\1/p' "$work/echo.out" >> "$work/echo_${name}_p99"
}

for round in $(seq "$ROUNDS"); do
  echo "round $round of $ROUNDS" >&2
  run_http gmp "$bin/http_server" 127.0.0.1:0
  run_http tokio "$bin/http_server_tokio" 127.0.0.1:0
  run_redis gmp "$bin/kv_server" 127.0.0.1:0
  run_redis tokio "$bin/kv_server" 127.0.0.1:0 tokio
  run_echo gmp "$bin/echo" 127.0.0.1:0
  run_echo tokio "$bin/echo_tokio" 127.0.0.1:0
  run_echo mio "$bin/echo_mio" 127.0.0.1:0
done

median() { sort -g "$work/$1" | awk '{ v[NR]=$1 } END { print v[int((NR+1)/2)] }'; }
all() { paste -sd' ' "$work/$1"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a/b }'; }

row() { # label unit gmp_file tokio_file [mio_file]
  local g t m=- vs_mio=-; g=$(median "$3"); t=$(median "$4")
  if [ $# -ge 5 ]; then m=$(median "$5"); vs_mio="$(ratio "$g" "$m")×"; fi
  printf '| %s | %s | %s | %s× | %s | %s |\n' "$1 ($2)" "$g" "$t" "$(ratio "$g" "$t")" "$m" "$vs_mio"
}

echo
echo "Medians of $ROUNDS, GMP_MAXPROCS=$GMP_MAXPROCS, $(nproc) CPUs, $(date -u +%Y-%m-%d)"
echo
echo "| workload | gmp | tokio | gmp ÷ tokio | mio | gmp ÷ mio |"
echo "|---|---|---|---|---|---|"
row "HTTP axum, wrk -t2 -c50, req/s" "higher is better" http_gmp_rps http_tokio_rps
row "HTTP axum, wrk p99" "ms, lower is better" http_gmp_p99 http_tokio_p99
row "RESP SET, redis-benchmark -c50 -P16, req/s" "higher is better" redis_gmp_set redis_tokio_set
row "RESP GET, redis-benchmark -c50 -P16, req/s" "higher is better" redis_gmp_get redis_tokio_get
row "TCP echo 64 B x 50 conns, round trips/s" "higher is better" echo_gmp_rps echo_tokio_rps echo_mio_rps
row "TCP echo p99" "µs, lower is better" echo_gmp_p99 echo_tokio_p99 echo_mio_p99
echo
echo "Every run (gmp | tokio | mio, echo only):"
for m in http_%s_rps http_%s_p99 redis_%s_set redis_%s_get echo_%s_rps echo_%s_p99; do
  mio_runs=; [ -f "$work/$(printf "$m" mio)" ] && mio_runs=" | $(all "$(printf "$m" mio)")"
  printf '  %-14s %s | %s%s\n' "$(printf "$m" x)" "$(all "$(printf "$m" gmp)")" "$(all "$(printf "$m" tokio)")" "$mio_runs"
done
