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
#   PERF_STAT=1 scripts/bench_apps.sh     # also the server's cost per response (below)
#
# Needs wrk and redis-benchmark (apt-get install wrk redis-tools).
#
# PERF_STAT=1 counts, with `perf stat` attached to the server during each measured run, the
# server's CPU time, syscalls, epoll_wait and futex calls and context switches, and divides them
# by the responses it wrote (its sendto + writev calls: one per HTTP response, per pipelined
# RESP batch, per echo). On a machine shared with other work these per-response figures move
# far less than req/s do, so they are the ones to A/B a change by. Needs perf with the syscall
# tracepoints (root, or kernel.perf_event_paranoid <= 1).
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
perf_pid=
trap 'if [ -n "$perf_pid" ]; then kill -INT "$perf_pid" 2>/dev/null || true; fi; stop_server; rm -rf "$work"' EXIT

# perf_start NAME / perf_stop NAME: with PERF_STAT set, count the server's costs in between and
# append them, per response written, to $work/cost_NAME_{cpu,sys,epoll,futex,cs}.
perf_start() {
  [ -n "${PERF_STAT:-}" ] || return 0
  perf stat -x, -o "$work/$1.stat" -p "$server_pid" -e task-clock,context-switches \
    -e raw_syscalls:sys_enter,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_futex \
    -e syscalls:sys_enter_sendto,syscalls:sys_enter_writev 2>/dev/null &
  perf_pid=$!
}
# count EVENT NAME: the count perf stat wrote for EVENT (0 if it is missing).
count() { awk -F, -v e="$1" '$3 == e { n = $1 + 0 } END { print n + 0 }' "$work/$2.stat" 2>/dev/null || echo 0; }
# per VALUE FORMAT: VALUE per response written (uses $writes).
per() { awk -v v="$1" -v w="$writes" -v f="$2" 'BEGIN { printf f "\n", v / w }'; }
perf_stop() {
  [ -n "$perf_pid" ] || return 0
  kill -INT "$perf_pid" 2>/dev/null || true; wait "$perf_pid" 2>/dev/null || true; perf_pid=
  local writes; writes=$(( $(count syscalls:sys_enter_sendto "$1") + $(count syscalls:sys_enter_writev "$1") ))
  if [ "$writes" -eq 0 ]; then echo "bench_apps: perf stat counted no writes for $1 (see $work/$1.stat)" >&2; return 0; fi
  per "$(count task-clock "$1")" '%.6f' | awk '{ printf "%.2f\n", $1 * 1000 }' >> "$work/cost_$1_cpu"  # ms -> µs
  per "$(count raw_syscalls:sys_enter "$1")" '%.3f' >> "$work/cost_$1_sys"
  per "$(count syscalls:sys_enter_epoll_wait "$1")" '%.3f' >> "$work/cost_$1_epoll"
  per "$(count syscalls:sys_enter_futex "$1")" '%.3f' >> "$work/cost_$1_futex"
  per "$(count context-switches "$1")" '%.3f' >> "$work/cost_$1_cs"
}

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
  perf_start "http_$name"
  wrk -t2 -c50 -d"${SECONDS_PER_RUN}s" --latency "http://127.0.0.1:$port/" > "$work/wrk.out"
  perf_stop "http_$name"
  stop_server
  awk '/^Requests\/sec/ { printf "%.0f\n", $2 }' "$work/wrk.out" >> "$work/http_${name}_rps"
  awk '$1 == "99%" { print $2 }' "$work/wrk.out" | to_ms >> "$work/http_${name}_p99"
}

run_redis() { # name cmd...
  local name=$1; shift
  start_server "$work/$name.log" "$@"
  perf_start "redis_$name"
  redis-benchmark -p "$port" -c 50 -P 16 -q -t set,get -n "$REDIS_REQUESTS" 2>/dev/null | tr '\r' '\n' > "$work/redis.out"
  perf_stop "redis_$name"
  stop_server
  awk -F'[: ]+' '/^SET: [0-9]/ { printf "%.0f\n", $2 }' "$work/redis.out" >> "$work/redis_${name}_set"
  awk -F'[: ]+' '/^GET: [0-9]/ { printf "%.0f\n", $2 }' "$work/redis.out" >> "$work/redis_${name}_get"
}

run_echo() { # name cmd...
  local name=$1; shift
  start_server "$work/$name.log" "$@"
  perf_start "echo_$name"
  "$bin/echo_load" "127.0.0.1:$port" 50 64 "$SECONDS_PER_RUN" > "$work/echo.out"
  perf_stop "echo_$name"
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

if [ -n "${PERF_STAT:-}" ]; then
  echo
  echo "Server cost per response written (perf stat on the server during each run; medians):"
  echo
  echo "| workload | server | CPU µs | syscalls | epoll_wait | futex | context switches |"
  echo "|---|---|---|---|---|---|---|"
  for w in http redis echo; do
    for side in gmp tokio mio; do
      [ -f "$work/cost_${w}_${side}_cpu" ] || continue
      printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$w" "$side" "$(median "cost_${w}_${side}_cpu")" \
        "$(median "cost_${w}_${side}_sys")" "$(median "cost_${w}_${side}_epoll")" \
        "$(median "cost_${w}_${side}_futex")" "$(median "cost_${w}_${side}_cs")"
    done
  done
fi
