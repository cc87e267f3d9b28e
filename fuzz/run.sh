#!/bin/sh
# run.sh BUILD SECONDS TARGET... — run each libFuzzer target BUILD/fuzz_TARGET
# for SECONDS on the seed corpus plus fuzz/corpus-TARGET/ (kept between runs,
# not in git), one after the other, and print one summary line per target.
# Crashing inputs land in BUILD/artifacts/TARGET/; copy each into
# fuzz/regress/TARGET/ once fixed (tests/test_regress.c replays them).
# FUZZ_JOBS=N runs N targets at once (default 1).
build=$1 secs=$2
shift 2
[ -n "$build" ] && [ -n "$secs" ] && [ $# -gt 0 ] || { echo "usage: $0 BUILD SECONDS TARGET..." >&2; exit 2; }
seeds=$(mktemp -d /tmp/infer-fuzz-seeds.XXXXXX)
trap 'rm -rf "$seeds"' EXIT
fuzz/seed-corpus.sh "$build/mkseeds" "$seeds" || exit 1
export INFER_TEST_DATA=${INFER_TEST_DATA:-../shared}
# Leaks are findings too; libFuzzer reports them at exit of the input's run.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1:suppressions=$(pwd)/fuzz/ubsan.supp}

# Per-target options. GGUF inputs are capped at 128 KiB: the generated tiny
# models fit whole, real models are cut (their headers and first tensors still
# exercise the parser), and an execution stays in the milliseconds.
opts_gguf="-max_len=131072"

run_one() {
    t=$1
    mkdir -p "fuzz/corpus-$t" "$build/artifacts/$t"
    eval "opts=\${opts_$t:-}"
    "$build/fuzz_$t" $opts -max_total_time="$secs" -timeout=30 -rss_limit_mb=4096 -print_final_stats=1 \
        -artifact_prefix="$build/artifacts/$t/" "fuzz/corpus-$t" "$seeds/$t" \
        > "$build/fuzz-$t.log" 2>&1
    rc=$?
    # Recoverable UBSan reports (see FUZZ_CFLAGS) do not stop libFuzzer: an unsuppressed one fails the run.
    if [ $rc -eq 0 ] && grep -q 'runtime error:' "$build/fuzz-$t.log"; then rc=1; fi
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$build/fuzz-$t.log" | grep -o '[0-9]*$')
    cov=$(grep -o 'cov: [0-9]*' "$build/fuzz-$t.log" | tail -1)
    n=$(ls "fuzz/corpus-$t" | wc -l)
    if [ $rc -eq 0 ]; then
        echo "fuzz_$t: ${runs:-?} runs in ${secs}s, $cov, corpus $n files: no crash"
    else
        echo "fuzz_$t: FAILED (exit $rc) after ${runs:-?} runs — see $build/fuzz-$t.log and $build/artifacts/$t/"
        grep -m1 -A3 'ERROR\|runtime error\|invariant violated' "$build/fuzz-$t.log" | sed 's/^/    /'
    fi
    return $rc
}

jobs=${FUZZ_JOBS:-1} failed=0 pids=""
for t in "$@"; do
    if [ "$jobs" -gt 1 ]; then
        run_one "$t" > "$build/fuzz-$t.summary" &
        pids="$pids $!"
    else
        run_one "$t" || failed=1
    fi
done
if [ -n "$pids" ]; then
    for p in $pids; do wait "$p" || failed=1; done
    for t in "$@"; do cat "$build/fuzz-$t.summary"; done
fi
exit $failed
