#!/usr/bin/env bash
# Regenerates every benchmark table of BENCHMARKS.md and the scale plot docs/scale.png.
#
#   scripts/bench_all.sh            # everything (about 15-20 minutes on a loaded 2-CPU machine)
#   scripts/bench_all.sh --quick    # smaller counts, fewer rounds, 3 s echo runs (a few minutes)
#
# What it runs, gmp beside tokio (same thread count) in one process or back to back:
#   scheduler  cargo bench --bench scheduler -- --interleaved ROUNDS       (tokio's six workloads)
#   scale      cargo bench --bench scale [-- --quick]                      (spawn, parked, maxprocs)
#   echo       examples/echo{,_tokio,_mio} loaded by examples/echo_load at 50, 500, 2000 connections
#   handoff    cargo run --release --example tour                          (blocked thread -> next)
#   memory     benches/scale.rs (parked goroutines), examples/sleep_memory (pending sleeps)
#   channels   cargo bench --bench chan
#   fs         cargo run --release --example fs_bench
#   net        cargo bench --bench net (full mode only)
#   apps       scripts/bench_apps.sh (full mode only, if wrk and redis-benchmark are installed)
# The tables go to target/bench-results/tables.md and replace the generated section of
# BENCHMARKS.md; the plot (python3 + matplotlib, installed with pip if missing) goes to
# docs/scale.png. Every load loop is bounded in count and time.
set -euo pipefail
cd "$(dirname "$0")/.."

quick=0
[ "${1:-}" = "--quick" ] && quick=1
if [ $quick = 1 ]; then
  SCHED_ROUNDS=7; SCALE_ARGS=(--quick); ECHO_SECONDS=3; ECHO_ROUNDS=1; CHAN_ROUNDS=5; FS_ROUNDS=200
else
  SCHED_ROUNDS=21; SCALE_ARGS=(); ECHO_SECONDS=10; ECHO_ROUNDS=3; CHAN_ROUNDS=15; FS_ROUNDS=1000
fi
export GMP_MAXPROCS=${GMP_MAXPROCS:-2}
results=target/bench-results
mkdir -p "$results" docs
out=$results/tables.md
: > "$out"

section() { printf '\n### %s\n\n' "$1" >> "$out"; }
command_line() { printf 'Command: `%s`\n\n' "$*" >> "$out"; }
log() { echo "bench_all: $*" >&2; }

{
  echo "Machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(awk '/MemTotal/ { printf "%.1f GiB", $2/1048576 }' /proc/meminfo) RAM"
  echo "Date: $(date -u '+%Y-%m-%d %H:%M UTC'); $(rustc --version); mode: $([ $quick = 1 ] && echo quick || echo full)"
  echo "Load average when the run started: $(cut -d' ' -f1-3 /proc/loadavg) (the machine is shared; every figure is a median, every ratio is from one run with both sides under the same load)"
} >> "$out"

log "building"
cargo build --release --example echo --example echo_tokio --example echo_mio --example echo_load --example tour \
  --example sleep_memory --example fs_bench >&2
cargo bench --no-run --bench scheduler --bench scale --bench chan >&2
bin=target/release/examples

log "scheduler"
section "Scheduler: tokio's rt_multi_threaded workloads (median of $SCHED_ROUNDS interleaved rounds)"
command_line cargo bench --bench scheduler -- --interleaved "$SCHED_ROUNDS"
cargo bench --bench scheduler -- --interleaved "$SCHED_ROUNDS" 2>/dev/null | grep '^|' >> "$out"
python3 - "$results/scheduler.csv" >> "$out" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
med = {(r["workload"], int(r["threads"]), r["executor"]): float(r["median_ns"]) for r in rows}
threads = sorted({k[1] for k in med})
print()
for other in ("tokio", "async-executor"):
    parts = []
    for n in threads:
        ratios = [(med[(w, t, "gmp")] / med[(w, t, other)], w) for (w, t, e) in med if t == n and e == "gmp"]
        r, w = max(ratios)
        parts.append(f"{r:.2f} ({w})")
    print(f"Worst gmp ÷ {other} at {' / '.join(str(n) for n in threads)} threads: {' / '.join(parts)}  ")
floor = sorted((med[(w, 1, "gmp")] / v, w) for (w, t, e), v in med.items() if e == "floor")
if floor:
    print("gmp/1 ÷ one-thread floor: " + ", ".join(f"{w} {r:.2f}" for r, w in floor) + "  ")
PY

log "scale"
section "Scale curves (plot: docs/scale.png)"
command_line cargo bench --bench scale -- "${SCALE_ARGS[@]}"
cargo bench --bench scale -- "${SCALE_ARGS[@]}" 2>/dev/null | grep -v '^\s*$' | sed 's/^\([^|].*\)$/\n\1\n/' >> "$out"

log "echo"
section "TCP echo, 64 B closed loop, GMP_MAXPROCS=$GMP_MAXPROCS (tokio: as many workers, mio: as many epoll threads), medians of $ECHO_ROUNDS"
command_line "examples/echo (gmp), examples/echo_tokio and examples/echo_mio (plain mio, one epoll loop per thread), load: examples/echo_load ADDR CONNS 64 $ECHO_SECONDS"
work=$(mktemp -d)
server_pid=
stop_server() { if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; server_pid=; fi; }
trap 'stop_server; rm -rf "$work"' EXIT
start_server() { # log cmd...
  local log=$1; shift
  : > "$log"  # emptied here, not in the child: a stale "listening on" must not be read
  "$@" > "$log" 2>&1 &
  server_pid=$!
  for _ in $(seq 100); do
    if grep -q '^listening on ' "$log"; then
      port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$log" | head -1); return
    fi
    sleep 0.1
  done
  echo "bench_all: server did not start: $*" >&2; cat "$log" >&2; exit 1
}
echo "connections,executor,round_trips_per_sec,p99_us,max_us" > "$results/echo.csv"
field() { sed -n "s/.*$1=\([0-9]*\).*/\1/p" "$2"; }
median_of() { sort -g | awk '{ v[NR]=$1 } END { print v[int((NR+1)/2)] }'; }
for conns in 50 500 2000; do
  for round in $(seq "$ECHO_ROUNDS"); do
    for side in gmp tokio mio; do
      server=$bin/echo; [ $side != gmp ] && server=$bin/echo_$side
      start_server "$work/server.log" "$server" 127.0.0.1:0
      timeout $((ECHO_SECONDS + 60)) "$bin/echo_load" "127.0.0.1:$port" "$conns" 64 "$ECHO_SECONDS" > "$work/load.out"
      stop_server
      for f in round_trips_per_sec p99_us max_us; do field $f "$work/load.out" >> "$work/${side}_${conns}_$f"; done
    done
  done
  for side in gmp tokio mio; do
    printf '%s,%s,%s,%s,%s\n' "$conns" "$side" \
      "$(median_of < "$work/${side}_${conns}_round_trips_per_sec")" \
      "$(median_of < "$work/${side}_${conns}_p99_us")" "$(median_of < "$work/${side}_${conns}_max_us")" >> "$results/echo.csv"
  done
done
python3 - "$results/echo.csv" >> "$out" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
by = {(r["connections"], r["executor"]): r for r in rows}
print("| connections | gmp round trips/s | tokio | mio | gmp ÷ tokio | gmp ÷ mio | gmp p99 µs | tokio p99 µs | mio p99 µs | gmp max µs | tokio max µs | mio max µs |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for c in sorted({r["connections"] for r in rows}, key=int):
    g, t, m = by[(c, "gmp")], by[(c, "tokio")], by[(c, "mio")]
    rps = lambda r: float(r["round_trips_per_sec"])
    print(f"| {c} | {g['round_trips_per_sec']} | {t['round_trips_per_sec']} | {m['round_trips_per_sec']} | {rps(g) / rps(t):.2f} | {rps(g) / rps(m):.2f} "
          f"| {g['p99_us']} | {t['p99_us']} | {m['p99_us']} | {g['max_us']} | {t['max_us']} | {m['max_us']} |")
PY

log "handoff and memory"
section "Handoff, memory, an idle runtime (examples/tour)"
command_line cargo run --release --example tour
"$bin/tour" 2>/dev/null | sed 's/^/    /' >> "$out"
section "Memory per pending sleep (parked goroutines: the scale curves above)"
command_line cargo run --release --example sleep_memory
# (examples/parked_memory polls runtime::goroutines() over 200,000 goroutines between yields,
# which takes many minutes on a loaded machine; benches/scale.rs measures the same figure.)
timeout 300 "$bin/sleep_memory" 2>/dev/null | sed 's/^/    /' >> "$out"

log "channels"
section "Channels (benches/chan.rs, median of $CHAN_ROUNDS)"
command_line cargo bench --bench chan -- "$CHAN_ROUNDS"
cargo bench --bench chan -- "$CHAN_ROUNDS" 2>/dev/null | sed 's/^/    /' >> "$out"

log "fs"
section "Files (examples/fs_bench)"
command_line cargo run --release --example fs_bench -- "$FS_ROUNDS"
"$bin/fs_bench" "$FS_ROUNDS" 2>/dev/null | sed 's/^/    /' >> "$out"

if [ $quick = 0 ]; then
  log "net"
  section "TCP echo inside one process (benches/net.rs)"
  command_line cargo bench --bench net -- --noplot
  cargo bench --bench net -- --noplot 2>/dev/null | grep -E 'time:|tcp_echo|p50|p99|^(gmp|tokio|gmp/tokio) +[0-9]' | sed 's/^/    /' >> "$out"
  if command -v wrk >/dev/null && command -v redis-benchmark >/dev/null; then
    log "apps"
    section "Applications (scripts/bench_apps.sh)"
    command_line scripts/bench_apps.sh
    scripts/bench_apps.sh 2>/dev/null >> "$out"
  else
    section "Applications"
    echo "Skipped: scripts/bench_apps.sh needs wrk and redis-benchmark (apt-get install wrk redis-tools)." >> "$out"
  fi
fi

log "plot"
python3 -c 'import matplotlib' 2>/dev/null || pip install --user matplotlib >&2 || pip install --user --break-system-packages matplotlib >&2
python3 scripts/plot_scale.py "$results" docs/scale.png >&2

# Replace the generated section of BENCHMARKS.md.
python3 - "$out" <<'PY'
import sys
tables = open(sys.argv[1]).read().strip()
path = "BENCHMARKS.md"
text = open(path).read()
begin, end = "<!-- bench_all:begin -->", "<!-- bench_all:end -->"
head, rest = text.split(begin, 1)
_, tail = rest.split(end, 1)
open(path, "w").write(f"{head}{begin}\n\n{tables}\n\n{end}{tail}")
PY
log "done: $out, BENCHMARKS.md, docs/scale.png"
