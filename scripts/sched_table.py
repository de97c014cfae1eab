#!/usr/bin/env python3
"""Prints the scheduler bench (benches/scheduler.rs) as a table of medians and ratios.

    python3 scripts/sched_table.py [CRITERION_DIR]   # default target/criterion

Reads criterion's `<group>/<executor>/<threads>/new/estimates.json` (median, ns). Ratios are
gmp's median over the other executor's, from the same run (below 1: gmp is faster).
"""
import json
import os
import sys

GROUPS = ["spawn_many_local", "spawn_many_remote_idle", "spawn_many_remote_busy", "yield_many", "ping_pong", "chained_spawn"]
EXECUTORS = ["gmp", "tokio", "async-executor"]


def median(root, group, executor, threads):
    path = os.path.join(root, group, executor, str(threads), "new", "estimates.json")
    try:
        with open(path) as f:
            return json.load(f)["median"]["point_estimate"]
    except (OSError, KeyError, ValueError):
        return None


def fmt(ns):
    if ns is None:
        return "-"
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    return f"{ns / 1e3:.0f} µs"


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "target/criterion"
    threads_seen = sorted({int(t) for g in GROUPS for e in EXECUTORS
                           if os.path.isdir(os.path.join(root, g, e))
                           for t in os.listdir(os.path.join(root, g, e)) if t.isdigit()})
    print("| workload | threads | gmp | tokio | async-executor | gmp ÷ tokio | gmp ÷ async-executor |")
    print("|---|---|---|---|---|---|---|")
    worst = {}
    for group in GROUPS:
        for threads in threads_seen:
            g, t, a = (median(root, group, e, threads) for e in EXECUTORS)
            rt = g / t if g and t else None
            ra = g / a if g and a else None
            for name, r in (("tokio", rt), ("async-executor", ra)):
                if r is not None and r > worst.get((name, threads), (0, ""))[0]:
                    worst[(name, threads)] = (r, group)
            print(f"| {group} | {threads} | {fmt(g)} | {fmt(t)} | {fmt(a)} | "
                  f"{'-' if rt is None else f'{rt:.2f}'} | {'-' if ra is None else f'{ra:.2f}'} |")
    print()
    for name in ("tokio", "async-executor"):
        parts = [f"{worst[(name, n)][0]:.2f} ({worst[(name, n)][1]}, {n} threads)" for n in threads_seen if (name, n) in worst]
        print(f"worst gmp ÷ {name}: " + " / ".join(parts))


if __name__ == "__main__":
    main()
