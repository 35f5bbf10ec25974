#!/bin/sh
# Fuzz the core for SECONDS (default 60) with libFuzzer on stable Rust, as cargo-fuzz would
# build it (coverage instrumentation, debug assertions, overflow checks), seeded with the
# real exports in tests/data/real. Crashes are written to native/fuzz/artifacts/.
# Usage: native/fuzz/run.sh [SECONDS] [extra libFuzzer flags...]
set -eu
here=$(cd "$(dirname "$0")" && pwd)
secs=${1:-60}
[ $# -gt 0 ] && shift
export RUSTC_BOOTSTRAP=1
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing"
# An explicit --target keeps RUSTFLAGS off the build scripts (as cargo-fuzz does).
host=$(rustc -vV | sed -n 's/^host: //p')
cargo build --quiet --release --manifest-path "$here/Cargo.toml" --bin core --target "$host"
corpus="$here/corpus"
mkdir -p "$corpus" "$here/artifacts"
if [ -z "$(ls -A "$corpus")" ]; then  # seeds: the real exports, a few lines per file
    for f in "$here"/../../tests/data/real/*.log; do
        head -c 4096 "$f" > "$corpus/seed-$(basename "$f")"
    done
fi
exec "$here/target/$host/release/core" -max_total_time="$secs" -max_len=4096 -timeout=10 \
    -artifact_prefix="$here/artifacts/" -print_final_stats=1 "$@" "$corpus"
