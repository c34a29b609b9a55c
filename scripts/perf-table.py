#!/usr/bin/env python3
"""Regenerates the "Function tracing" table of docs/performance.md from criterion's output.

Usage: scripts/perf-table.py [CRITERION_DIR]   (default: $CARGO_TARGET_DIR/criterion, else
target/criterion). Reads <group>/<case>/new/estimates.json written by
`cargo bench -p ruchytrace-suite --features trace --bench compare` and prints a Markdown table:
median ns per traced call (fib12 divides by its 465 calls per iteration), and the cost added over
the uninstrumented function. A case that was not run shows as "-".
"""
import json
import os
import sys

GROUPS = [("add", 1, "add(i64, i64)"), ("fib12", 465, "fib(12), per call"), ("greet", 1, "greet(&str, Point)")]
CASES = [
    ("uninstrumented", "uninstrumented"),
    ("compiled out (feature off)", None),
    ("ruchytrace, disabled at run time", "ruchy_disabled"),
    ("ruchytrace, filtered out", "ruchy_filtered"),
    ("ruchytrace, sampled 1/1000", "ruchy_sampled_1000"),
    ("ruchytrace, enabled (args + return)", "ruchy_enabled"),
    ("ruchytrace, enabled, 2 threads (per thread)", "ruchy_enabled_2threads"),
    ("ruchytrace, enabled, sustained (back to back)", "ruchy_enabled_sustained"),
    ("hand-written ideal", "ideal"),
    ("tracing #[instrument], no subscriber", "tracing_no_subscriber"),
    ("tracing + tracing-chrome (args)", "tracing_chrome"),
    ("fastrace #[trace] + reporter", "fastrace"),
    ("fastrace #[trace] + reporter, args as properties", "fastrace_args"),
]


def median_ns(root, group, case, calls):
    path = os.path.join(root, group, case, "new", "estimates.json")
    try:
        with open(path) as f:
            est = json.load(f)
    except OSError:
        return None
    return est["median"]["point_estimate"] / calls


def fmt(v):
    if v is None:
        return "-"
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.environ.get("CARGO_TARGET_DIR", "target"), "criterion")
    if not os.path.isdir(root):
        sys.exit(f"no criterion output in {root}: run the bench first")
    head = "| case | " + " | ".join(f"{label}: ns/call (added)" for _, _, label in GROUPS) + " |"
    print(head)
    print("|" + " --- |" * (len(GROUPS) + 1))
    base = {g: median_ns(root, g, "uninstrumented", n) for g, n, _ in GROUPS}
    for label, case in CASES:
        cells = []
        for g, n, _ in GROUPS:
            if case is None:
                cells.append("= uninstrumented (identical code)")
                continue
            v = median_ns(root, g, case, n)
            if v is None:
                cells.append("-")
            elif case == "uninstrumented" or base[g] is None:
                cells.append(fmt(v))
            else:
                cells.append(f"{fmt(v)} (+{fmt(max(v - base[g], 0.0))})")
        print(f"| {label} | " + " | ".join(cells) + " |")
    # Ratio of the enabled path to the ideal, the headline figure.
    print()
    for g, n, _ in GROUPS:
        e, i = median_ns(root, g, "ruchy_enabled", n), median_ns(root, g, "ideal", n)
        if e and i:
            print(f"* {g}: ruchytrace enabled / hand-written ideal = {e / i:.2f}x")


if __name__ == "__main__":
    main()
