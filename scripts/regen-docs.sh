#!/usr/bin/env bash
# Regenerates every example output in README.md and docs/*.md from real runs, or checks that the
# checked-in examples are still what the code prints (`--check`, run by tests/docs.rs).
#
#   scripts/regen-docs.sh [--check | --all] [FILE.md ...]   (default: README.md docs/*.md)
#
# Without a flag a block is rewritten only when its output changed beyond what the check
# ignores (see "Normalisation"), so timings do not churn; `--all` rewrites every block.
#
# ## The marker convention
#
# A generated block is a fenced code block directly preceded by a one-line HTML comment (which
# Markdown renderers do not show) holding the command that produces it:
#
#     <!-- regen: RUCHYTRACE_FORMAT=text "$EXAMPLES/fibonacci" 2 2>&1 >/dev/null -->
#     ```text
#     ...whatever the command prints (stdout and stderr together)...
#     ```
#
# * `regen:` blocks are always regenerated and checked. `regen-ptrace:` blocks need ptrace (the
#   system call tracer); with RUCHYTRACE_DOCS_NO_PTRACE=1 they are left alone and reported.
# * The command is one line of bash (with `pipefail`), run from the repository root with:
#   - `ruchytrace` on PATH (the binary under test), `$EXAMPLES` = the directory of the examples
#     built with `--features trace`, `$ROOT` = the repository root;
#   - a fresh empty directory as `$TMPDIR` (and as `$TMP`), removed afterwards;
#   - no RUCHYTRACE_* variable inherited, LC_ALL=C.
#   A command that exits non-zero is an error: end it with `|| true` if that is intended.
# * Excerpts must be honest: cut long output with the `excerpt` helper, never by hand.
#   `excerpt START END [START END ...]` prints, from its standard input, each range from the
#   first line matching the Perl regex START (searching after the previous range) to the first
#   line matching END at or after it, with a `...` line wherever lines were left out.
# * `fixture_ruchy` (a helper) puts a stand-in `ruchy` in `$RUCHY` that prints the committed
#   transpiler output `examples/ruchy/fixtures/NAME.rs` for `ruchy transpile .../NAME.ruchy` —
#   what the real Ruchy printed (scripts/regen-ruchy-fixtures.sh) — so `ruchytrace ruchy run`
#   examples run without Ruchy installed. Its builds are cached in `$XDG_CACHE_HOME`, which the
#   script points at RUCHYTRACE_DOCS_CACHE (default: `docs-cache/` next to the binaries).
# * The fence's info string (`text`, `console`, `json`...) is kept; only the body is rewritten.
#
# ## Normalisation
#
# What is written into the docs is the command's output with machine-specific parts replaced:
#   1. the run's temporary directory -> `/tmp`; the build cache -> `~/.cache`; the binaries'
#      directory -> `target/debug`; the repository root -> nothing (paths become relative);
#   2. process and thread ids are renumbered 4242, 4243, ... in order of first appearance.
#      An id is a number after `pid `, `thread `, `tid `, `"pid":`, `"tid":`,
#      `"collector_tid":`, `[tid `, or in a file name `NAME-ID.EXT` / `fn-ID.rtrace`; every other
#      occurrence of the same number (a getpid() result...) is renumbered with it.
# When checking, both the checked-in block and the fresh output are compared after masking what
# changes from run to run: timestamps `[secs.micros]`; durations (`12us`, `0.026ms`, `1.5s`);
# hexadecimal addresses of 5+ digits; 16-hex-digit build hashes after `_` (they cover the
# checkout's path); JSON `*_ns` times and the clock `source`; percentages;
# and runs of blanks next to a number or a masked value (so table columns may change width;
# indentation before names is kept). Everything else — names, arguments, values, counts,
# nesting, line order — must match exactly.
#
# Environment: RUCHYTRACE_DOCS_BIN = a directory holding the `ruchytrace` binary and `examples/`
# built with the `trace` feature (tests/docs.rs passes its own target directory); without it
# the script builds both with cargo first.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

check=0
all=0
files=()
for arg in "$@"; do
    case "$arg" in
        --check) check=1 ;;
        --all) all=1 ;;
        -h | --help)
            sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *) files+=("$arg") ;;
    esac
done
if [ ${#files[@]} -eq 0 ]; then
    files=(README.md docs/*.md)
fi

if [ -z "${RUCHYTRACE_DOCS_BIN:-}" ]; then
    cargo build -q -p ruchytrace --bin ruchytrace
    cargo build -q --examples --features trace
    RUCHYTRACE_DOCS_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug"
fi
BIN="$(cd "$RUCHYTRACE_DOCS_BIN" && pwd)"
[ -x "$BIN/ruchytrace" ] || { echo "regen-docs: no ruchytrace binary in $BIN" >&2; exit 2; }

CACHE="${RUCHYTRACE_DOCS_CACHE:-$BIN/docs-cache}"
mkdir -p "$CACHE"

# Helpers available to the commands.
HELPERS='
fixture_ruchy() {
    printf "#!/bin/sh\n[ \"\$1\" = transpile ] || exit 2\nexec cat \"%s/examples/ruchy/fixtures/\$(basename \"\$2\" .ruchy).rs\"\n" "$ROOT" >"$TMPDIR/ruchy"
    chmod +x "$TMPDIR/ruchy"
    export RUCHY="$TMPDIR/ruchy"
}
excerpt() {
    perl -e '"'"'
        my @pairs = @ARGV; @ARGV = ();
        my @lines = <STDIN>;
        my ($i, $last, @out) = (0, -1);
        while (@pairs) {
            my ($s, $e) = splice(@pairs, 0, 2);
            die "excerpt: END missing for /$s/\n" unless defined $e;
            my ($from) = grep { $lines[$_] =~ /$s/ } $i .. $#lines;
            die "excerpt: no line matches /$s/\n" unless defined $from;
            my ($to) = grep { $lines[$_] =~ /$e/ } $from .. $#lines;
            die "excerpt: no line matches /$e/ after /$s/\n" unless defined $to;
            push @out, "...\n" if $from > $last + 1;
            push @out, @lines[$from .. $to];
            ($last, $i) = ($to, $to + 1);
        }
        push @out, "...\n" if $last < $#lines;
        print @out;
    '"'"' -- "$@"
}
'

# normalise TMPDIR < output > output (see "Normalisation" above).
normalise() {
    perl -0777 -pe '
        BEGIN { ($tmp, $cache, $bin, $root) = splice(@ARGV, 0, 4) }
        s/\Q$tmp\E/\/tmp/g;
        s/\Q$cache\E/~\/.cache/g;
        s/\Q$bin\E/target\/debug/g;
        s/\Q$root\E\///g;
        s/\Q$root\E/./g;
        my (%id, $next);
        $next = 4242;
        while (/(?:\bpid |\bthread |\btid |\[tid |"pid":|"tid":|"collector_tid":|[A-Za-z]-)(\d{2,})(?!\d)/g) {
            $id{$1} //= $next++;
        }
        if (%id) {
            my $re = join "|", map { quotemeta } sort { length($b) <=> length($a) } keys %id;
            s/(?<!\d)($re)(?!\d)/$id{$1}/g;
        }
    ' "$1" "$CACHE" "$BIN" "$ROOT"
}

# mask < text > text: what may change between two runs (see above).
mask() {
    perl -pe '
        s/\[\d+\.\d{6}\]/[T]/g;
        s/"(\w+_ns)":\d+/"$1":N/g;
        s/"source":"[^"]*"/"source":S/g;
        s/0x[0-9a-f]{5,}/0xADDR/g;
        s/_[0-9a-f]{16}\b/_HASH/g;
        s/(?<![\w.])\d+(?:\.\d+)?(?:ns|us|ms|s)\b/D/g;
        s/\d+(?:\.\d+)?%/P%/g;
        s/[ \t]+(?=D\b|P%|\d)/ /g;
        s/(?<=D|%|\d)[ \t]+/ /g;
        s/^ //;
        s/[ \t]+$//;
    '
}

# run_block COMMAND: prints the normalised output; fails with the output when the command does.
run_block() {
    local cmd="$1" tmp out status
    tmp="$(mktemp -d)"
    set +e
    out="$(
        unset $(compgen -e | grep '^RUCHYTRACE' || true)
        cd "$ROOT" && env PATH="$BIN:$PATH" EXAMPLES="$BIN/examples" ROOT="$ROOT" \
            TMPDIR="$tmp" TMP="$tmp" LC_ALL=C XDG_CACHE_HOME="$CACHE" \
            bash -o pipefail -c "$HELPERS
$cmd" 2>&1
    )"
    status=$?
    set -e
    if [ $status -ne 0 ]; then
        rm -rf "$tmp"
        printf '%s\n' "$out" >&2
        return $status
    fi
    printf '%s\n' "$out" | normalise "$tmp"
    rm -rf "$tmp"
}

failed=0
blocks=0
rewritten=0
skipped=0
for file in "${files[@]}"; do
    mapfile -t lines <"$file"
    result=()
    n=${#lines[@]}
    i=0
    changed=0
    while [ $i -lt $n ]; do
        line="${lines[$i]}"
        result+=("$line")
        i=$((i + 1))
        if [[ ! "$line" =~ ^\<\!--\ regen(-ptrace)?:\ (.*)\ --\>$ ]]; then
            continue
        fi
        kind="${BASH_REMATCH[1]}"
        cmd="${BASH_REMATCH[2]}"
        where="$file:$i"
        if [ $i -ge $n ] || [[ ! "${lines[$i]}" =~ ^\`\`\` ]]; then
            echo "$where: a regen marker must be followed directly by a fenced block" >&2
            failed=1
            continue
        fi
        result+=("${lines[$i]}")
        i=$((i + 1))
        old=()
        while [ $i -lt $n ] && [[ ! "${lines[$i]}" =~ ^\`\`\`$ ]]; do
            old+=("${lines[$i]}")
            i=$((i + 1))
        done
        if [ $i -ge $n ]; then
            echo "$where: unterminated fenced block" >&2
            failed=1
            break
        fi
        blocks=$((blocks + 1))
        if [ "$kind" = "-ptrace" ] && [ -n "${RUCHYTRACE_DOCS_NO_PTRACE:-}" ]; then
            echo "$where: skipped (needs ptrace): $cmd" >&2
            skipped=$((skipped + 1))
            result+=("${old[@]}")
            continue
        fi
        if ! new="$(run_block "$cmd")"; then
            echo "$where: the command failed: $cmd" >&2
            failed=1
            result+=("${old[@]}")
            continue
        fi
        mapfile -t new_lines < <(printf '%s\n' "$new")
        if [ $check -eq 1 ]; then
            if ! diff_out="$(diff -u --label "$where (checked in, masked)" --label "now (masked)" \
                <(printf '%s\n' "${old[@]}" | mask) <(printf '%s\n' "${new_lines[@]}" | mask))"; then
                echo "$where: the example differs from what \`$cmd\` prints now" >&2
                printf '%s\n' "$diff_out" >&2
                failed=1
            fi
            result+=("${old[@]}")
        elif [ $all -eq 0 ] && [ "$(printf '%s\n' "${old[@]}" | mask)" = "$(printf '%s\n' "${new_lines[@]}" | mask)" ]; then
            # Same up to timings: keep the checked-in block (no churn in the diff).
            result+=("${old[@]}")
        else
            changed=1
            rewritten=$((rewritten + 1))
            result+=("${new_lines[@]}")
        fi
    done
    if [ $check -eq 0 ] && [ $changed -eq 1 ]; then
        printf '%s\n' "${result[@]}" >"$file"
        echo "updated $file"
    fi
done

if [ $check -eq 1 ]; then
    echo "regen-docs: checked $blocks blocks ($skipped skipped)" >&2
else
    echo "regen-docs: ran $blocks blocks, rewrote $rewritten ($skipped skipped)" >&2
fi
exit $failed
