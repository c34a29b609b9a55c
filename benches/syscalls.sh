#!/bin/sh
# System call tracing benchmark: ruchytrace vs `strace -f -o FILE` vs untraced, on the same
# workloads in one hyperfine run each (interleaved by hyperfine's alternating warmups/runs).
#
#   benches/syscalls.sh [RUNS]        (needs hyperfine, strace, rustc; builds ruchytrace --release)
#
# Workloads: a tight getppid loop, a file-heavy directory walk, 4 threads writing, a fork/exec
# loop; each traced fully and filtered (-e trace=openat, a rare syscall in all of them).
set -eu
RUNS=${1:-5}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
cargo build -q --release -p ruchytrace --bin ruchytrace --manifest-path "$ROOT/Cargo.toml"
RT="$TARGET/release/ruchytrace"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
rustc -O --edition 2021 -o "$WORK/sys_loop" "$ROOT/benches/programs/sys_loop.rs"
rustc -O --edition 2021 -o "$WORK/sys_threads" "$ROOT/benches/programs/sys_threads.rs"

bench() {
    name=$1; shift
    cmd="$*"
    echo "== $name: $cmd"
    hyperfine -N --runs "$RUNS" --warmup 1 --style basic --export-markdown "$WORK/$name.md" \
        -n untraced "$cmd" \
        -n strace "strace -f -o $WORK/s.txt $cmd" \
        -n ruchytrace "$RT syscalls -f -o $WORK/r.txt -- $cmd" \
        -n ruchytrace-pin "$RT syscalls -f --pin-cpu -o $WORK/r.txt -- $cmd" \
        -n strace-openat "strace -f --seccomp-bpf -e trace=openat -o $WORK/s.txt $cmd" \
        -n ruchytrace-openat "$RT syscalls -f -e trace=openat -o $WORK/r.txt -- $cmd" >/dev/null
    cat "$WORK/$name.md"
    echo
}

bench loop "$WORK/sys_loop 10000"
bench walk "find /usr/share -maxdepth 2"
bench threads "$WORK/sys_threads 1000"
bench forkexec "sh -c 'for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do /bin/true; done'"
