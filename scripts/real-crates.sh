#!/usr/bin/env bash
# Runs published crates' own test suites untraced and under `ruchytrace cargo --instrument -- test`, and prints
# a table: passed/failed counts of both runs (and whether they are equal), functions instrumented, calls
# recorded, trace size, and the wall time of the test run against the untraced one.
#
#   scripts/real-crates.sh                 # every crate below; table on stdout
#   scripts/real-crates.sh --update-docs   # also replace the table in docs/cargo.md
#   CRATES="strsim@0.11.1 semver@1.0.26" scripts/real-crates.sh
#
# The crates are fetched with cargo (crates.io), copied to $WORK (default /tmp/ruchytrace-real-crates) and
# built there, each with its own target directory (deleted after its row unless KEEP=1). Both runs use
# `cargo test --tests` (unit and integration tests; doctests are left out because rustdoc compiles each one
# while the suite runs, which would swamp the time comparison). Wall times are of the test run alone (the
# build is done before), so they compare the traced code with the untraced one.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=${WORK:-${TMPDIR:-/tmp}/ruchytrace-real-crates}
export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}

# name@version|style|extra flags for `ruchytrace cargo --instrument` (e.g. --trace-sample for suites that
# make billions of calls).
DEFAULT_CRATES=(
  "indexmap@2.14.2|generic container, no_std + alloc|"
  "itertools@0.13.0|trait generics, iterator adaptors|"
  "smallvec@1.16.6|unsafe-heavy (raw pointers, unions)|"
  "semver@1.0.26|parser|"
  "nom@7.1.3|parser combinators: impl Fn returns of closures|"
  "strsim@0.11.1|string algorithms, 2015 edition|"
  "fnv@1.0.7|hasher, crate root outside src/, 2015 edition|"
)
if [[ -n "${CRATES:-}" ]]; then
  read -r -a wanted <<<"$CRATES"
  LIST=()
  for w in "${wanted[@]}"; do
    found=""
    for d in "${DEFAULT_CRATES[@]}"; do
      [[ "${d%%|*}" == "$w" ]] && found="$d"
    done
    LIST+=("${found:-$w|?|}")
  done
else
  LIST=("${DEFAULT_CRATES[@]}")
fi
UPDATE_DOCS=0
[[ "${1:-}" == "--update-docs" ]] && UPDATE_DOCS=1

mkdir -p "$WORK"
RT="$ROOT/target/debug/ruchytrace"
(cd "$ROOT" && cargo build -q -p ruchytrace)

# Fetches name@version into the registry cache and prints its source directory.
fetch() {
  local name=$1 version=$2 probe="$WORK/.fetch-$1"
  rm -rf "$probe" && mkdir -p "$probe/src"
  printf '[package]\nname = "fetch-probe"\nversion = "0.0.0"\nedition = "2021"\n[workspace]\n[dependencies]\n%s = "=%s"\n' \
    "$name" "$version" >"$probe/Cargo.toml"
  : >"$probe/src/lib.rs"
  cargo fetch -q --manifest-path "$probe/Cargo.toml" >&2
  cargo metadata -q --format-version 1 --manifest-path "$probe/Cargo.toml" |
    python3 -c "import json,sys; m=json.load(sys.stdin); print([p['manifest_path'] for p in m['packages'] if p['name']=='$name' and p['version']=='$version'][0].rsplit('/',1)[0])"
}

# Sums "N passed; M failed" over every `test result:` line of a log: prints "passed failed".
counts() {
  awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed/) p += $(i-1); if ($(i) ~ /^failed/) f += $(i-1) } }
       END { printf "%d %d\n", p, f }' "$1"
}

now() { date +%s.%N; }

ROWS=()
for entry in "${LIST[@]}"; do
  IFS='|' read -r spec style extra <<<"$entry"
  name=${spec%@*}
  version=${spec#*@}
  echo "== $name $version ($style)" >&2
  src=$(fetch "$name" "$version")
  dir="$WORK/$name-$version"
  rm -rf "$dir" && cp -r "$src" "$dir" && chmod -R u+w "$dir"
  # A crate from crates.io is its own workspace.
  grep -q '^\[workspace\]' "$dir/Cargo.toml" || printf '\n[workspace]\n' >>"$dir/Cargo.toml"
  export CARGO_TARGET_DIR="$dir/target"
  log="$WORK/$name-$version"
  (cd "$dir" && cargo test -q --tests --no-run) >"$log.build.log" 2>&1 || { echo "untraced build failed: $log.build.log" >&2; continue; }
  t0=$(now)
  (cd "$dir" && cargo test --tests) >"$log.untraced.log" 2>&1 || true
  t1=$(now)
  read -r up uf < <(counts "$log.untraced.log")
  # shellcheck disable=SC2086 # $extra is a list of flags
  (cd "$dir" && "$RT" cargo --instrument $extra -- test --tests) >"$log.traced.log" 2>&1 || true
  summary="$CARGO_TARGET_DIR/ruchytrace/traces/summary.txt"
  read -r tp tf < <(counts "$log.traced.log")
  if [[ -f "$summary" ]]; then
    calls=$(sed -n 's/^calls=//p' "$summary")
    bytes=$(sed -n 's/^bytes=//p' "$summary")
    wall_ms=$(sed -n 's/^wall_ms=//p' "$summary")
    fns=$(sed -n 's/^functions=//p' "$summary")
  else
    calls=0 bytes=0 wall_ms=0 fns=0
    echo "no traced run: see $log.traced.log" >&2
  fi
  same=no
  [[ "$up/$uf" == "$tp/$tf" && -f "$summary" ]] && same=yes
  ROWS+=("$(python3 - "$name" "$version" "$style" "$up" "$uf" "$tp" "$tf" "$same" "$fns" "$calls" "$bytes" "$t0" "$t1" "$wall_ms" "$extra" <<'EOF'
import sys
(name, version, style, up, uf, tp, tf, same, fns, calls, size, t0, t1, wall_ms, extra) = sys.argv[1:]
untraced = float(t1) - float(t0)
traced = int(wall_ms) / 1000
def human(n):
    n = int(n)
    for unit, div in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= div:
            return f"{n / div:.1f} {unit}"
    return f"{n} B"
ratio = f"{traced / untraced:.1f}x" if untraced > 0 else "-"
flags = f" `{extra.strip()}`" if extra.strip() else ""
print(f"| {name} {version} | {style}{flags} | {up} / {uf} | {tp} / {tf} | {same} | {fns} | {int(calls):,} | {human(size)} | {untraced:.2f}s | {traced:.2f}s | {ratio} |")
EOF
)")
  echo "${ROWS[-1]}" >&2
  [[ "${KEEP:-0}" == 1 ]] || rm -rf "$CARGO_TARGET_DIR"
done

TABLE=$(
  echo "| crate | style | untraced passed / failed | traced passed / failed | same | functions traced | calls recorded | trace size | untraced wall | traced wall | ratio |"
  echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
  printf '%s\n' "${ROWS[@]}"
)
echo "$TABLE"
if [[ $UPDATE_DOCS == 1 ]]; then
  python3 - "$ROOT/docs/cargo.md" "$TABLE" "$(date -u +%Y-%m-%d)" "$(nproc)" <<'EOF'
import re, sys
path, table, day, cpus = sys.argv[1:]
text = open(path).read()
block = (f"<!-- real-crates:begin (generated by scripts/real-crates.sh --update-docs) -->\n"
         f"Measured {day} on a {cpus}-core machine shared with other builds (loaded: wall times are indicative).\n\n"
         f"{table}\n<!-- real-crates:end -->")
text = re.sub(r"<!-- real-crates:begin.*?<!-- real-crates:end -->", lambda _: block, text, flags=re.S)
open(path, "w").write(text)
EOF
fi
