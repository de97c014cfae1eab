#!/usr/bin/env python3
"""Draws a gmp execution trace (Chrome trace-event JSON) as a PNG, one lane per thread.

This is a stand-in for a Perfetto screenshot where no browser viewer can be loaded: it reads
the same file Perfetto would and draws the same things (poll slices, nested syscall slices,
instants, queue-length counters).

    cargo run --release --example trace            # writes target/trace.json
    python3 docs/render_trace.py target/trace.json docs/trace.png

Needs matplotlib.
"""

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

# marker, colour, height in the lane (so instants at the same time stay apart)
INSTANT_STYLE = {
    "steal": ("v", "#1f77b4", 0.5),
    "handoff": ("D", "#d62728", 0.7),
    "preempt": ("^", "#ff7f0e", 0.3),
    "stuck poll retake": ("X", "#9467bd", 0.3),
}


def main(source, target):
    events = json.load(open(source))["traceEvents"]
    names, order = {}, {}
    for event in events:
        if event["ph"] == "M" and event["name"] == "thread_name":
            names[event["tid"]] = event["args"]["name"]
        if event["ph"] == "M" and event["name"] == "thread_sort_index":
            order[event["tid"]] = event["args"]["sort_index"]
    timed = [e for e in events if e["ph"] != "M"]
    start = min(e["ts"] for e in timed)
    tids = sorted({e["tid"] for e in timed if "tid" in e}, key=lambda t: order.get(t, t))
    lane = {tid: i for i, tid in enumerate(tids)}

    figure, (counters, lanes) = plt.subplots(
        2, 1, figsize=(16, 2.2 + 0.62 * len(tids)), sharex=True,
        gridspec_kw={"height_ratios": [1.4, 0.62 * len(tids)]},
    )
    palette = plt.get_cmap("tab20").colors

    for event in timed:
        if event["ph"] != "X":
            continue
        x, width = (event["ts"] - start) / 1000, event["dur"] / 1000
        y = lane[event["tid"]]
        if event["name"] == "syscall":
            # Nested in its poll, so drawn under it (as Perfetto draws a child slice).
            lanes.add_patch(Rectangle((x, y + 0.58), width, 0.34, color="#444444"))
            if width > 0.35:
                lanes.text(x + width / 2, y + 0.75, "syscall", ha="center", va="center", fontsize=6, color="white")
        else:
            colour = palette[event["args"]["goroutine"] % len(palette)]
            lanes.add_patch(Rectangle((x, y + 0.08), width, 0.48, color=colour, linewidth=0))
            if width > 0.5:
                lanes.text(x + width / 2, y + 0.32, event["name"], ha="center", va="center", fontsize=6.5)

    seen = set()
    for event in timed:
        if event["ph"] != "i":
            continue
        marker, colour, height = INSTANT_STYLE.get(event["name"], ("o", "black", 0.5))
        label = event["name"] if event["name"] not in seen else None
        seen.add(event["name"])
        lanes.plot((event["ts"] - start) / 1000, lane[event["tid"]] + height, marker=marker, color=colour,
                   markersize=7, linestyle="none", label=label, markeredgecolor="black", markeredgewidth=0.4)

    series = {}
    for event in timed:
        if event["ph"] == "C":
            series.setdefault(event["name"], []).append(((event["ts"] - start) / 1000, event["args"]["goroutines"]))
    for name, points in sorted(series.items()):
        points.sort()
        counters.step([p[0] for p in points], [p[1] for p in points], where="post", label=name, linewidth=1.2)
    counters.set_ylabel("goroutines\nqueued", fontsize=8)
    counters.legend(loc="upper right", fontsize=7, ncol=len(series))
    counters.grid(axis="y", alpha=0.3)

    lanes.set_ylim(len(tids), 0)
    lanes.set_yticks([i + 0.5 for i in range(len(tids))])
    lanes.set_yticklabels([names.get(t, str(t)) for t in tids], fontsize=8)
    end = max((e["ts"] + e.get("dur", 0) - start) / 1000 for e in timed)
    lanes.set_xlim(0, end * 1.01)
    lanes.set_xlabel("ms since the trace started")
    lanes.grid(axis="x", alpha=0.3)
    lanes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.09), fontsize=8, ncol=4, frameon=False)
    figure.suptitle(
        "gmp execution trace of examples/trace.rs (maxprocs 2): polls (coloured by goroutine), "
        "gmp::syscall (grey), instants, run-queue counters\n"
        "drawn by docs/render_trace.py from the trace JSON; not a Perfetto screenshot",
        fontsize=10,
    )
    figure.tight_layout()
    figure.savefig(target, dpi=110)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
