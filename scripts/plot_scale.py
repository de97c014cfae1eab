#!/usr/bin/env python3
"""Plots the scale curves of benches/scale.rs and the echo runs of scripts/bench_all.sh.

    python3 scripts/plot_scale.py [RESULTS_DIR] [OUT_PNG]   # target/bench-results docs/scale.png

Reads scale_spawn.csv, scale_parked.csv, scale_procs.csv and echo.csv (whichever exist) and
draws one panel per curve, gmp beside tokio.
"""
import csv
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read(path):
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return list(csv.DictReader(f))


def series(rows, x, y, executor):
    points = sorted((float(r[x]), float(r[y])) for r in rows if r["executor"] == executor)
    return [p[0] for p in points], [p[1] for p in points]


def main():
    results = sys.argv[1] if len(sys.argv) > 1 else "target/bench-results"
    out = sys.argv[2] if len(sys.argv) > 2 else "docs/scale.png"
    panels = [
        ("scale_spawn.csv", "goroutines", "ns_per_goroutine", "spawn + join, ns per goroutine", True),
        ("scale_parked.csv", "goroutines", "bytes_per_goroutine", "bytes per parked goroutine (incl. JoinHandle)", True),
        ("scale_procs.csv", "maxprocs", "million_polls_per_sec", "throughput vs maxprocs, M polls/s", True),
        ("echo.csv", "connections", "round_trips_per_sec", "TCP echo 64 B, round trips/s", True),
        ("echo.csv", "connections", "p99_us", "TCP echo 64 B, p99 latency (µs)", True),
        ("echo.csv", "connections", "max_us", "TCP echo 64 B, max latency (µs)", True),
    ]
    present = [(read(os.path.join(results, f)), x, y, t, logx) for f, x, y, t, logx in panels]
    present = [p for p in present if p[0]]
    if not present:
        sys.exit(f"plot_scale: no CSV files in {results}")
    cols = 3
    rows = (len(present) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.6 * rows), squeeze=False)
    for ax in axes.flat[len(present):]:
        ax.set_visible(False)
    for ax, (data, x, y, title, logx) in zip(axes.flat, present):
        for executor, style in (("gmp", "o-"), ("tokio", "s--")):
            xs, ys = series(data, x, y, executor)
            if xs:
                ax.plot(xs, ys, style, label=executor)
        if logx:
            ax.set_xscale("log")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel(x)
        ax.set_ylim(bottom=0)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("gmp vs tokio (same thread count), one run, medians; shared loaded 2-CPU machine", fontsize=10)
    fig.tight_layout()
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    fig.savefig(out, dpi=90)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
