#!/usr/bin/env bash
# Regenerates examples/ruchy/fixtures/NAME.rs from examples/ruchy/NAME.ruchy with the real Ruchy transpiler
# (`ruchy` on PATH, or RUCHY=/path/to/ruchy), and records its version. The `live_fixtures_match_the_real_ruchy`
# test (tests/ruchy.rs) fails when a committed fixture differs from what the installed ruchy prints.
#
# Install Ruchy with: cargo install ruchy --version 5.0.0-beta.2 --no-default-features --features repl
set -euo pipefail
cd "$(dirname "$0")/.."
RUCHY=${RUCHY:-ruchy}
if ! command -v "$RUCHY" >/dev/null 2>&1; then
    echo "regen-ruchy-fixtures: '$RUCHY' not found; install it with:" >&2
    echo "  cargo install ruchy --version 5.0.0-beta.2 --no-default-features --features repl" >&2
    exit 1
fi
mkdir -p examples/ruchy/fixtures
for src in examples/ruchy/*.ruchy; do
    name=$(basename "$src" .ruchy)
    # Same invocation as the live test, so the output is byte-for-byte comparable.
    "$RUCHY" transpile "$src" > "examples/ruchy/fixtures/$name.rs"
    echo "examples/ruchy/fixtures/$name.rs"
done
"$RUCHY" --version > examples/ruchy/fixtures/RUCHY_VERSION
