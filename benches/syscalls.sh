#!/bin/sh
# System call tracing benchmark: ruchytrace vs `strace -f -o FILE` vs untraced on the same
# workloads. Runs are interleaved (one run of every variant per round), so background load
# on a shared machine hits all variants alike; the table shows medians.
#
#   benches/syscalls.sh [ROUNDS]       (needs strace and rustc; builds ruchytrace --release)
#
# Workloads: a tight getppid loop, a file-heavy directory walk, 4 threads writing, a fork/exec
# loop; each traced fully and filtered (-e trace=openat, a rare syscall in all of them).
# Variants of ruchytrace: the default (`--cpu-mode auto`: the tracer's own thread sits on the
# traced thread's CPU as a SCHED_IDLE thread while the machine has idle CPUs; the program's
# affinity and policy are untouched), `-follow` (the tracer's thread pinned to the traced
# thread's last CPU, as SCHED_OTHER),
# `-nofollow` (the scheduler alone places the tracer), and `-pin` (`--pin-cpu`: tracer and
# program pinned to one CPU: the program sees a one-CPU affinity mask). The last section checks
# that the default leaves the program's affinity and scheduling policy as they were. Goal
# (issue 14): full tracing <= 0.5x strace on the single-threaded workloads and <= 1.0x on the
# threaded one; figures need a quiet machine (nothing else running).
#
# Counts instead of times (for a loaded machine): `COUNTS=1 benches/syscalls.sh` prints, per
# workload, the system calls the tracer's own thread makes per traced system call (counted by
# `strace -c` on the tracer: ptrace, waitpid, memory reads, /proc reads, placement) next to
# strace's own (counted the same way), and the tracer's placement log (stops, CPU look-ups,
# moves). These do not depend on what else runs on the machine.
#
# User stacks: `VARIANTS="ruchytrace ruchytrace-k strace-k" benches/syscalls.sh 7` compares
# `syscalls -k` with plain full tracing and with `strace -f -k` on the same workloads (the
# table's "vs strace" column is then against plain strace; benches/stacks.sh prints the -k
# ratios directly).
set -eu
ROUNDS=${1:-7}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
cargo build -q --release -p ruchytrace --bin ruchytrace --manifest-path "$ROOT/Cargo.toml"
RT="$TARGET/release/ruchytrace"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
rustc -O --edition 2021 -o "$WORK/sys_loop" "$ROOT/benches/programs/sys_loop.rs"
rustc -O --edition 2021 -o "$WORK/sys_threads" "$ROOT/benches/programs/sys_threads.rs"

VARIANTS=${VARIANTS:-"untraced strace ruchytrace ruchytrace-follow ruchytrace-nofollow ruchytrace-pin strace-openat ruchytrace-openat"}

variant_cmd() {
    case $1 in
    untraced) echo "$2" ;;
    strace) echo "strace -f -o $WORK/s.txt $2" ;;
    ruchytrace) echo "$RT syscalls -f -o $WORK/r.txt -- $2" ;;
    ruchytrace-follow) echo "$RT syscalls -f --cpu-mode follow -o $WORK/r.txt -- $2" ;;
    ruchytrace-nofollow) echo "$RT syscalls -f --cpu-mode off -o $WORK/r.txt -- $2" ;;
    ruchytrace-pin) echo "$RT syscalls -f --pin-cpu -o $WORK/r.txt -- $2" ;;
    strace-openat) echo "strace -f --seccomp-bpf -e trace=openat -o $WORK/s.txt $2" ;;
    ruchytrace-openat) echo "$RT syscalls -f -e trace=openat -o $WORK/r.txt -- $2" ;;
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
    echo "| variant | median ms | vs untraced | vs strace (same mode) |"
    echo "|:---|---:|---:|---:|"
    for v in $VARIANTS; do
        grep "^$v " "$WORK/times" | awk '{print $2}' | sort -n |
            awk '{a[NR]=$1} END {m = (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2; print m}' >"$WORK/med.$v"
    done
    u=$(cat "$WORK/med.untraced" 2>/dev/null || echo 1)
    for v in $VARIANTS; do
        m=$(cat "$WORK/med.$v")
        case $v in
        *openat) ref=$(cat "$WORK/med.strace-openat" 2>/dev/null || echo 1) ;;
        *) ref=$(cat "$WORK/med.strace" 2>/dev/null || echo 1) ;;
        esac
        awk -v v="$v" -v m="$m" -v u="$u" -v s="$ref" \
            'BEGIN { printf "| %s | %.1f | %.2fx | %.2fx |\n", v, m / 1000, m / u, m / s }'
    done
    echo
}

# counts NAME CMD: system calls of the tracer's own thread per traced system call.
counts() {
    name=$1
    cmd=$2
    # The traced program's calls: what strace itself saw.
    eval "strace -f -o $WORK/c.txt $cmd" >/dev/null 2>&1
    calls=$(grep -cv -e '^[0-9]* *+++' -e '^[0-9]* *---' -e 'resumed>' "$WORK/c.txt")
    echo "### $name: \`$cmd\` ($calls traced calls)"
    echo
    echo "| tracer | calls per traced call | top calls (per traced call) |"
    echo "|:---|---:|:---|"
    for who in ruchytrace strace; do
        case $who in
        # --debug for the placement log only (other targets filtered out: no log writes).
        ruchytrace) c="env RUST_LOG=ruchytrace::syscalls::tracer::cpu=debug $RT syscalls -f --debug -o $WORK/r.txt -- $cmd" ;;
        strace) c="strace -f -o $WORK/s.txt $cmd" ;;
        esac
        eval "strace -c -o $WORK/count.txt $c" >/dev/null 2>"$WORK/debug.$who" || true
        awk -v n="$calls" -v who="$who" '
            $1 ~ /^[0-9.]+$/ && NF >= 5 && $NF != "total" { c = $4; name = $NF; total += c; per[name] = c }
            END {
                top = ""
                k = 0
                while (k < 5) {
                    best = ""; bc = -1
                    for (x in per) if (per[x] > bc) { bc = per[x]; best = x }
                    if (best == "") break
                    top = top sprintf("%s %.2f, ", best, bc / n)
                    delete per[best]
                    k++
                }
                printf "| %s | %.2f | %s |\n", who, total / n, top
            }' "$WORK/count.txt"
    done
    grep -o 'tracer placement stops=.*' "$WORK/debug.ruchytrace" | sed 's/^/ruchytrace /' || true
    echo
}

if [ "${COUNTS:-0}" = 1 ]; then
    counts loop "$WORK/sys_loop 10000"
    counts walk "find /usr/share -maxdepth 2"
    counts threads "$WORK/sys_threads 1000"
    counts forkexec "sh -c 'for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do /bin/true; done'"
    exit 0
fi

bench loop "$WORK/sys_loop 10000"
bench walk "find /usr/share -maxdepth 2"
bench threads "$WORK/sys_threads 1000"
bench forkexec "sh -c 'for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do /bin/true; done'"

echo "### affinity and scheduling policy seen by the program"
echo
probe="grep Cpus_allowed_list /proc/self/status; grep -E '^policy' /proc/self/sched"
plain=$(sh -c "$probe" | tr -s ' \t' ' ')
traced=$("$RT" syscalls -o /dev/null -- sh -c "$WORK/sys_loop 2000; $probe" 2>/dev/null | tr -s ' \t' ' ')
echo "untraced: \`$plain\`, under ruchytrace: \`$traced\`"
[ "$plain" = "$traced" ] && echo "(unchanged)" || echo "(CHANGED)"
