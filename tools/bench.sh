#!/bin/sh
# bench.sh — `make bench`: the numbers the issues ask for, on TinyLlama-1.1B-shape
# models with random weights (made here when missing: gen_model writes F16,
# infer-quantize makes Q8_0 / Q4_0 / Q4_K_M; ~5 GB in models/bench/).
#
#  1. infer --bench per type: prompt processing (pp128, pp512) and generation
#     (tg128) tok/s, decode bandwidth and its % of the measured read bandwidth;
#  2. the OpenBLAS sgemm rate on F32, next to the GFLOP/s that pp512 reaches;
#  3. parallel sequences (tools/bench-parallel.sh) on Q4_0 and Q8_0;
# and, at the start and the end, how much arithmetic each thread got
# (tools/core_probe.c): compute-bound numbers move with it on shared machines.
# Environment: BENCH_DIR (models/bench), THREADS (2), REPS (3), TYPES
# ("f16 q8_0 q4_0 q4_k_m"), PARALLEL (1: also run the parallel benchmark).
# Timings on a shared 2-core machine are noisy: compare ratios within one run.
set -eu
dir=${BENCH_DIR:-models/bench}
threads=${THREADS:-2}
reps=${REPS:-3}
types=${TYPES:-f16 q8_0 q4_0 q4_k_m}
mkdir -p "$dir"
f16="$dir/tinyllama-1.1b-f16.gguf"
if [ ! -f "$f16" ]; then
    echo "bench: writing $f16 (random weights, TinyLlama-1.1B shape)" >&2
    build/tools/gen_model "$f16" --preset tinyllama-1.1b
fi
for t in $types; do
    [ "$t" = f16 ] && continue
    m="$dir/tinyllama-1.1b-$t.gguf"
    [ -f "$m" ] || ./infer-quantize "$f16" "$m" "$t" -t "$threads" 2>/dev/null
done

echo "machine at the start: $(build/tools/core_probe "$threads")"
echo
echo "## infer --bench (TinyLlama-1.1B shape, $threads threads, $reps repetitions)"
echo
first=1
for t in $types; do
    # One table: the header of the first run only.
    ./infer --bench -m "$dir/tinyllama-1.1b-$t.gguf" -p 128,512 -n 128 -r "$reps" -t "$threads" --roofline 2>/dev/null |
        if [ $first = 1 ]; then cat; else tail -n +3; fi
    first=0
done

echo
echo "## prompt processing vs sgemm"
echo
gflops=$(build/tools/sgemm_probe 512 5632 2048 "$threads")
echo "OpenBLAS sgemm, F32, 512x5632x2048: $gflops GFLOP/s"
for t in $types; do
    ./infer --bench -m "$dir/tinyllama-1.1b-$t.gguf" -p 512 -n 0 -r "$reps" -t "$threads" -o jsonl 2>/dev/null |
        awk -v t="$t" -v peak="$gflops" -F'[:,]' '{
            for (i = 1; i <= NF; i++) { if ($i ~ /"avg_ts"/) ts = $(i+1); if ($i ~ /"model_n_params"/) np = $(i+1) }
            g = ts * 2 * np / 1e9
            printf "pp512 %-7s %8.1f tok/s = %6.1f GFLOP/s (%.0f%% of sgemm)\n", t, ts, g, 100 * g / peak }'
done

if [ "${PARALLEL:-1}" = 1 ]; then
    for t in q4_0 q8_0; do
        case " $types " in *" $t "*) ;; *) continue ;; esac
        echo
        echo "## parallel sequences, $t"
        echo
        THREADS=$threads tools/bench-parallel.sh "$dir/tinyllama-1.1b-$t.gguf"
    done
fi

echo
echo "machine at the end: $(build/tools/core_probe "$threads")"
