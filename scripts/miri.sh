#!/usr/bin/env bash
# Runs the runtime's unsafe code under Miri: the record writer (raw stores into a segment, the
# short-copy routine, the size classes), the thread-state pointer swap and re-entrancy, and the
# segment header and bounds code over anonymous memory. Miri has no file-backed mappings, no
# memfd and no RDTSC, so the tests that map the trace file itself run only natively (the
# runtime uses the monotonic clock and records without a trace file under `cfg(miri)`).
#
# Needs a nightly toolchain with the miri component:
#   rustup toolchain install nightly --profile minimal -c miri -c rust-src
set -euo pipefail
cd "$(dirname "$0")/.."
export MIRIFLAGS="${MIRIFLAGS:--Zmiri-disable-isolation}"
for t in capture:: testing:: segment::tests::a_segment_header segment::tests::bounds_are_checked; do
    cargo +nightly miri test -p ruchytrace-runtime --all-features --lib -- "$t"
done
