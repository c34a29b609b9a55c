#!/bin/sh
# End-to-end cost of tracing 10M calls into a binary file: wall time and peak RSS of the whole
# process (including the final drain), and bytes per call on disk.
#
#   scripts/perf-e2e.sh [CALLS]        (default 10000000)
#
# Builds examples/e2e_calls.rs with the bench profile, runs it once untraced (RUCHYTRACE=0) and
# once traced, each under /usr/bin/time -v.
set -eu
calls=${1:-10000000}
target=${CARGO_TARGET_DIR:-target}
cargo build -q --profile bench -p ruchytrace-suite --features trace --example e2e_calls
exe="$target/release/examples/e2e_calls"
[ -x "$exe" ] || exe="$target/bench/examples/e2e_calls"
out=$(mktemp -d)/e2e.rtrace
trap 'rm -rf "$(dirname "$out")"' EXIT

measure() {
    label=$1
    shift
    env "$@" /usr/bin/time -v "$exe" "$calls" >"$out.stdout" 2>"$out.time"
    wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$out.time")
    rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$out.time")
    user=$(sed -n 's/.*User time (seconds): //p' "$out.time")
    sys=$(sed -n 's/.*System time (seconds): //p' "$out.time")
    # CPU time (all threads) next to wall time: on a loaded machine the wall time includes
    # waiting for a CPU.
    printf '%-10s %s  wall %s  cpu %.2fs  peak RSS %.1f MiB' "$label" "$(cat "$out.stdout")" "$wall" \
        "$(echo "$user + $sys" | bc -l)" "$(echo "$rss / 1024" | bc -l)"
    if [ -f "$out" ]; then
        bytes=$(stat -c %s "$out")
        printf '  file %d bytes = %.2f bytes/call' "$bytes" "$(echo "$bytes / $calls" | bc -l)"
        rm -f "$out"
    fi
    printf '\n'
}

measure untraced RUCHYTRACE=0
measure traced RUCHYTRACE=1 RUCHYTRACE_OUTPUT="$out" RUCHYTRACE_FORMAT=binary
