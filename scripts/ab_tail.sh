#!/usr/bin/env bash
# Interleaved A/B of HTTP servers' tail latency: short `wrk -t2 -c50 --latency` runs on GET /,
# one per binary per round, the binaries taking turns, so that the noise of a shared machine
# falls on all of them alike. One line per run: req/s, p50, p90, p99 and max latency, and
# with PERF_STAT=1 the server's cost per response (CPU µs, context switches, epoll_wait and
# futex calls; responses counted as its sendto + writev calls, as in scripts/bench_apps.sh).
# The medians per binary follow.
#
#   scripts/ab_tail.sh BINARY...                       # 8 rounds of 3 s
#   ROUNDS=5 SECONDS_PER_RUN=3 PERF_STAT=1 scripts/ab_tail.sh /work/wt/bin/http_server.old \
#       target/release/examples/http_server target/release/examples/http_server_tokio
#
# A BINARY may be a wrapper script (to set environment variables); each is started as
# `BINARY 127.0.0.1:0` and must print `listening on 127.0.0.1:PORT` (the example servers'
# contract). GMP_MAXPROCS defaults to 2 (the tokio twins read it too). Needs wrk; PERF_STAT
# needs perf with the syscall tracepoints.
#
# On the 2-core machine shared with other sessions, one run's req/s and p99 move by +-30% and
# more between identical binaries; compare medians over 5+ rounds, count the rounds each
# binary wins, and trust the per-response counters most.
set -euo pipefail

ROUNDS=${ROUNDS:-8}
SECONDS_PER_RUN=${SECONDS_PER_RUN:-3}
export GMP_MAXPROCS=${GMP_MAXPROCS:-2}
[ $# -ge 1 ] || { echo "usage: scripts/ab_tail.sh BINARY..." >&2; exit 2; }
command -v wrk >/dev/null || { echo "ab_tail: wrk is not installed (apt-get install wrk)" >&2; exit 1; }

work=$(mktemp -d)
server_pid=
perf_pid=
cleanup() {
  if [ -n "$perf_pid" ]; then kill -INT "$perf_pid" 2>/dev/null || true; fi
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# to_ms VALUE: wrk's latency (850.00us, 1.20ms, 1.01s) in ms.
to_ms() { awk -v v="$1" 'BEGIN { if (v ~ /us$/) { sub(/us$/,"",v); v/=1000 } else if (v ~ /ms$/) { sub(/ms$/,"",v) } else if (v ~ /s$/) { sub(/s$/,"",v); v*=1000 } printf "%.2f", v }'; }

run() { # index binary round
  local i=$1 binary=$2 round=$3 log="$work/server.log" port=
  : > "$log"
  "$binary" 127.0.0.1:0 > "$log" 2>&1 &
  server_pid=$!
  for _ in $(seq 100); do
    port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$log" | head -1)
    [ -n "$port" ] && break
    sleep 0.1
  done
  [ -n "$port" ] || { echo "ab_tail: $binary did not start" >&2; cat "$log" >&2; exit 1; }
  timeout 10 wrk -t2 -c50 -d1s "http://127.0.0.1:$port/" > /dev/null   # warm-up
  if [ -n "${PERF_STAT:-}" ]; then
    perf stat -x, -o "$work/stat" -p "$server_pid" -e task-clock,context-switches \
      -e syscalls:sys_enter_epoll_wait,syscalls:sys_enter_futex \
      -e syscalls:sys_enter_sendto,syscalls:sys_enter_writev 2>/dev/null &
    perf_pid=$!
  fi
  timeout $((SECONDS_PER_RUN + 20)) wrk -t2 -c50 -d"${SECONDS_PER_RUN}s" --latency "http://127.0.0.1:$port/" > "$work/wrk.out"
  if [ -n "$perf_pid" ]; then kill -INT "$perf_pid" 2>/dev/null || true; wait "$perf_pid" 2>/dev/null || true; perf_pid=; fi
  kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; server_pid=
  local rps p50 p90 p99 max cost=""
  rps=$(awk '/^Requests\/sec/ { printf "%.0f", $2 }' "$work/wrk.out")
  p50=$(to_ms "$(awk '$1 == "50%" { print $2 }' "$work/wrk.out")")
  p90=$(to_ms "$(awk '$1 == "90%" { print $2 }' "$work/wrk.out")")
  p99=$(to_ms "$(awk '$1 == "99%" { print $2 }' "$work/wrk.out")")
  max=$(to_ms "$(awk '$1 == "Latency" && NF >= 4 { print $4 }' "$work/wrk.out")")
  printf '%s %s %s %s %s\n' "$rps" "$p50" "$p90" "$p99" "$max" >> "$work/runs_$i"
  if [ -n "${PERF_STAT:-}" ]; then
    cost=$(awk -F, '$3 == "task-clock" { c = $1 } $3 == "context-switches" { cs = $1 }
      $3 ~ /epoll_wait/ { e = $1 } $3 ~ /futex/ { f = $1 } $3 ~ /sendto|writev/ { w += $1 }
      END { if (w > 0) printf "%.2f %.3f %.3f %.3f", c * 1000 / w, cs / w, e / w, f / w }' "$work/stat")
    [ -n "$cost" ] && echo "$cost" >> "$work/cost_$i"
    cost=${cost:+" cpu_us/cs/epoll/futex per response: $cost"}
  fi
  printf 'round %d %s: req/s %s p50 %s p90 %s p99 %s max %s ms%s\n' "$round" "$binary" "$rps" "$p50" "$p90" "$p99" "$max" "$cost"
}

for round in $(seq "$ROUNDS"); do
  i=0
  for binary in "$@"; do
    i=$((i + 1))
    run "$i" "$binary" "$round"
  done
done

# median FILE COLUMN
median() { awk -v c="$2" '{ print $c }' "$1" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
echo
echo "Medians of $ROUNDS rounds of ${SECONDS_PER_RUN} s, GMP_MAXPROCS=$GMP_MAXPROCS, $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "| server | req/s | p50 ms | p90 ms | p99 ms | max ms |${PERF_STAT:+ CPU µs | cs | epoll_wait | futex |}"
echo "|---|---|---|---|---|---|${PERF_STAT:+---|---|---|---|}"
i=0
for binary in "$@"; do
  i=$((i + 1))
  row="| $binary | $(median "$work/runs_$i" 1) | $(median "$work/runs_$i" 2) | $(median "$work/runs_$i" 3) | $(median "$work/runs_$i" 4) | $(median "$work/runs_$i" 5) |"
  if [ -n "${PERF_STAT:-}" ] && [ -s "$work/cost_$i" ]; then
    row="$row $(median "$work/cost_$i" 1) | $(median "$work/cost_$i" 2) | $(median "$work/cost_$i" 3) | $(median "$work/cost_$i" 4) |"
  fi
  echo "$row"
done
