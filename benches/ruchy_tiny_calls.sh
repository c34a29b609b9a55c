#!/usr/bin/env bash
# Cost of tracing Ruchy code: examples/ruchy/tiny_calls.ruchy (3,000,000 calls of a one-line function) built by
# `ruchytrace ruchy build` untraced and traced, then run untraced, traced (every call, binary trace to
# /dev/null), and traced with --trace-sample=1000. Prints the best of RUNS wall times and the ratios.
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
base=$(best "$untraced")
full=$(best env RUCHYTRACE=1 RUCHYTRACE_OUTPUT=/dev/null RUCHYTRACE_FORMAT=binary "$traced")
sampled=$(best env RUCHYTRACE=1 RUCHYTRACE_SAMPLE=1000 RUCHYTRACE_OUTPUT=/dev/null RUCHYTRACE_FORMAT=binary "$traced")
off=$(best env RUCHYTRACE=0 "$traced")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }
printf '%-40s %10s %8s\n' "mode (3,000,000 calls, best of $runs)" "wall us" "ratio"
printf '%-40s %10d %8s\n' "untraced (no trace feature)" "$base" "1.00x"
printf '%-40s %10d %8s\n' "traced, RUCHYTRACE=0" "$off" "$(ratio "$off" "$base")"
printf '%-40s %10d %8s\n' "traced --trace-sample=1000" "$sampled" "$(ratio "$sampled" "$base")"
printf '%-40s %10d %8s\n' "traced, every call" "$full" "$(ratio "$full" "$base")"
