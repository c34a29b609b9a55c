#!/usr/bin/env bash
# Cost of tracing Ruchy code: examples/ruchy/tiny_calls.ruchy (N calls of a one-line function) built by
# `ruchytrace ruchy build` untraced and traced, then run untraced, traced with RUCHYTRACE=0, traced with
# --trace-sample=1000 (30,000,000 calls each), and traced recording every call (3,000,000 calls, binary trace to
# /dev/null, compared with an untraced run of the same size). Prints the best of RUNS wall times and the ratios.
# Needs `ruchy` (see docs/ruchy.md). Usage: benches/ruchy_tiny_calls.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-7}
rt=${RUCHYTRACE_BIN:-}
if [ -z "$rt" ]; then
    cargo build --release -q -p ruchytrace --bin ruchytrace
    rt="${CARGO_TARGET_DIR:-target}/release/ruchytrace"
fi
prog=examples/ruchy/tiny_calls.ruchy
untraced=$("$rt" ruchy build "$prog")
traced=$("$rt" ruchy build "$prog" --trace)

best() { # best wall time in ms of "$@" over $runs runs
    local best=""
    for _ in $(seq "$runs"); do
        local t0 t1
        t0=$(date +%s%N)
        "$@" >/dev/null
        t1=$(date +%s%N)
        local ms=$(( (t1 - t0) / 1000 ))
        if [ -z "$best" ] || [ "$ms" -lt "$best" ]; then best=$ms; fi
    done
    echo "$best"
}
export -n RUCHYTRACE RUCHYTRACE_SAMPLE RUCHYTRACE_OUTPUT RUCHYTRACE_FORMAT RUCHYTRACE_FILTER 2>/dev/null || true
big=30000000
small=3000000
base=$(best "$untraced" $big)
off=$(best env RUCHYTRACE=0 "$traced" $big)
sampled=$(best env RUCHYTRACE=1 RUCHYTRACE_SAMPLE=1000 RUCHYTRACE_OUTPUT=/dev/null RUCHYTRACE_FORMAT=binary "$traced" $big)
base_small=$(best "$untraced" $small)
full=$(best env RUCHYTRACE=1 RUCHYTRACE_OUTPUT=/dev/null RUCHYTRACE_FORMAT=binary "$traced" $small)
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }
per_call() { awk -v t="$1" -v n="$2" 'BEGIN { printf "%.1f", t * 1000 / n }'; }
printf '%-36s %10s %10s %8s\n' "mode (best of $runs)" "calls" "wall us" "ratio"
printf '%-36s %10d %10d %8s\n' "untraced (no trace feature)" $big "$base" "1.00x"
printf '%-36s %10d %10d %8s\n' "traced, RUCHYTRACE=0" $big "$off" "$(ratio "$off" "$base")"
printf '%-36s %10d %10d %8s\n' "traced --trace-sample=1000" $big "$sampled" "$(ratio "$sampled" "$base")"
printf '%-36s %10d %10d %8s\n' "untraced (no trace feature)" $small "$base_small" "1.00x"
printf '%-36s %10d %10d %8s\n' "traced, every call" $small "$full" "$(ratio "$full" "$base_small")"
echo "per call: untraced $(per_call "$base" $big) ns, sampled $(per_call "$sampled" $big) ns, every call $(per_call "$full" $small) ns"
