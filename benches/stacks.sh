#!/bin/sh
# Cost of user stacks (`syscalls -k`): ruchytrace -k vs ruchytrace without stacks vs
# `strace -f -k` vs untraced, on the same workloads. Runs are interleaved (one run of every
# variant per round) so background load hits all variants alike; the table shows medians.
#
#   benches/stacks.sh [ROUNDS]       (needs strace built with -k support and rustc; builds
#                                     ruchytrace --release)
#
# Workloads (built optimized with debug info, as a release build with `debug = 1` is): a tight
# getppid loop (deep-ish std stacks, the symbol cache's best case), 4 threads writing, a
# directory walk by `find` (a C program: libc CFI, no debug info) and a fork/exec loop (new
# processes: modules parsed once, maps read per process).
set -eu
ROUNDS=${1:-7}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
cargo build -q --release -p ruchytrace --bin ruchytrace --manifest-path "$ROOT/Cargo.toml"
RT="$TARGET/release/ruchytrace"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
rustc -O -g --edition 2021 -o "$WORK/sys_loop" "$ROOT/benches/programs/sys_loop.rs"
rustc -O -g --edition 2021 -o "$WORK/sys_threads" "$ROOT/benches/programs/sys_threads.rs"

VARIANTS="untraced ruchytrace ruchytrace-k strace-k"

variant_cmd() {
    case $1 in
    untraced) echo "$2" ;;
    ruchytrace) echo "$RT syscalls -f -o $WORK/r.txt -- $2" ;;
    ruchytrace-k) echo "$RT syscalls -f -k -o $WORK/r.txt -- $2" ;;
    strace-k) echo "strace -f -k -o $WORK/s.txt $2" ;;
    esac
}

bench() {
    name=$1
    cmd=$2
    : >"$WORK/times"
    r=0
    while [ $r -lt "$ROUNDS" ]; do
        for v in $VARIANTS; do
            c=$(variant_cmd "$v" "$cmd")
            t0=$(date +%s%N)
            eval "$c" >/dev/null 2>&1
            t1=$(date +%s%N)
            echo "$v $(( (t1 - t0) / 1000 ))" >>"$WORK/times"
        done
        r=$((r + 1))
    done
    echo "### $name: \`$cmd\`"
    echo
    echo "| variant | median ms | vs untraced | vs ruchytrace (no -k) | vs strace -k |"
    echo "|:---|---:|---:|---:|---:|"
    for v in $VARIANTS; do
        grep "^$v " "$WORK/times" | awk '{print $2}' | sort -n |
            awk '{a[NR]=$1} END {m = (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2; print m}' >"$WORK/med.$v"
    done
    u=$(cat "$WORK/med.untraced")
    p=$(cat "$WORK/med.ruchytrace")
    s=$(cat "$WORK/med.strace-k")
    for v in $VARIANTS; do
        m=$(cat "$WORK/med.$v")
        awk -v v="$v" -v m="$m" -v u="$u" -v p="$p" -v s="$s" \
            'BEGIN { printf "| %s | %.1f | %.2fx | %.2fx | %.2fx |\n", v, m / 1000, m / u, m / p, m / s }'
    done
    # Stack lines per traced call, to show both tools printed stacks.
    echo
    echo "stack lines: ruchytrace $(grep -c '^ > ' "$WORK/r.txt" || true), strace $(grep -c '^ > ' "$WORK/s.txt" || true)"
    echo
}

bench loop "$WORK/sys_loop 2000"
bench threads "$WORK/sys_threads 200"
bench walk "find /usr/share/doc -maxdepth 2"
bench forkexec "sh -c 'for i in 1 2 3 4 5 6 7 8 9 10; do /bin/true; done'"
