#!/bin/sh
# bench-parallel.sh MODEL — what --parallel buys, as two markdown tables:
#  1. aggregate generation throughput (all sequences' tokens per second of
#     decoding) with 1, 4 and 8 sequences: -np N -n $N_GEN --temp 0 --ignore-eos,
#     read from the run's JSON stats (--json-out); best of $REPS runs each,
#     taken in rounds of 1, 4, 8;
#     also tokens per CPU-second of decoding, which a busy machine disturbs
#     less (with -t > 1 it counts the threads' spinning too);
#  2. KV cache memory of 8 samples of a 256-token prompt (+ $N_GEN generated
#     each) against 8 separate caches.
# Ratios within one run are what to compare: throughput on a shared machine
# is noisy.
#
# Environment: INFER (default ./infer), N_GEN (64), REPS (3), CTX (-c, 2048),
# THREADS (-t; default: infer's, all cores).
set -eu

model=${1:?usage: tools/bench-parallel.sh MODEL.gguf}
infer=${INFER:-./infer}
n_gen=${N_GEN:-64}
reps=${REPS:-3}
ctx=${CTX:-2048}
threads=${THREADS:+-t $THREADS}
[ -f "$model" ] || { echo "bench-parallel: $model: no such file" >&2; exit 1; }
[ -x "$infer" ] || { echo "bench-parallel: $infer: not built (make)" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Prompts as token ids (valid for any vocabulary of ≥ 300 tokens): BOS, then
# a fixed pseudo-random walk; 16 tokens for throughput, 256 for memory.
ids() { awk -v n="$1" 'BEGIN { s = "1"; for (i = 1; i < n; i++) s = s "," (10 + (i * 37) % 290); print s }'; }
short=$(ids 16)
long=$(ids 256)

# Value of a numeric key in a stats JSON file.
get() { sed -n "s/.*\"$1\":[[:space:]]*\([-0-9.eE+]*\).*/\1/p" "$2" | head -n 1; }

# run OUT ARGS...: infer with the stats written to OUT; stdout dropped.
run() {
    out=$1
    shift
    # shellcheck disable=SC2086
    if ! "$infer" -m "$model" -c "$ctx" $threads "$@" --json-out "$out" >/dev/null 2>"$tmp/err"; then
        echo "bench-parallel: infer $* failed:" >&2
        cat "$tmp/err" >&2
        exit 1
    fi
}

# One run with N sequences; prints its aggregate tok/s and tokens per CPU-second.
one_run() {
    n=$1
    if [ "$n" -eq 1 ]; then
        # -np 1 is the single-sequence mode; --prompts with one prompt
        # runs it through the batched path with the same stats.
        printf '{"prompt_ids": [%s]}\n' "$short" >"$tmp/one.jsonl"
        run "$tmp/s.json" --prompts "$tmp/one.jsonl" -n "$n_gen" --temp 0 --ignore-eos
    else
        run "$tmp/s.json" --prompt-ids "$short" -np "$n" -n "$n_gen" --temp 0 --ignore-eos
    fi
    echo "$(get aggregate_tok_s "$tmp/s.json") $(get tok_per_cpu_s "$tmp/s.json")"
}

echo "model: $model ($(basename "$infer") -c $ctx${THREADS:+ -t $THREADS}, $n_gen tokens per sequence, best of $reps)"
echo
echo "| sequences | aggregate tok/s | vs 1 sequence | tok per CPU-s | vs 1 sequence |"
echo "|---:|---:|---:|---:|---:|"
# Round robin over the sequence counts, $reps rounds: a machine that slows
# down or speeds up during the benchmark then moves every count alike, and
# the ratios (best against best) stay fair.
: >"$tmp/runs"
for _ in $(seq "$reps"); do
    for n in 1 4 8; do
        echo "$n $(one_run "$n")" >>"$tmp/runs"
    done
done
awk '{ if ($2 > best[$1]) best[$1] = $2; if ($3 > cpu[$1]) cpu[$1] = $3 }
     END { split("1 4 8", ns, " ")
           for (i = 1; i <= 3; i++) { n = ns[i]
               printf "| %d | %.1f | %.2fx | %.1f | %.2fx |\n", n, best[n], (best[1] > 0 ? best[n] / best[1] : 0),
                      cpu[n], (cpu[1] > 0 ? cpu[n] / cpu[1] : 0) } }' "$tmp/runs"

echo
run "$tmp/shared.json" --prompt-ids "$long" -np 8 -n "$n_gen" --temp 0 --ignore-eos
run "$tmp/unshared.json" --prompt-ids "$long" -np 8 -n "$n_gen" --temp 0 --ignore-eos --no-share-prefix
used=$(get kv_bytes_used "$tmp/shared.json")
paged=$(get kv_bytes_used "$tmp/unshared.json")
exact=$(get kv_bytes_unshared "$tmp/shared.json")
contig=$(get kv_bytes_contiguous "$tmp/shared.json")
tokens=$(get kv_tokens_unshared "$tmp/shared.json")
blocks=$(get kv_blocks_allocated "$tmp/shared.json")
shared=$(get kv_blocks_shared_peak "$tmp/shared.json")
echo "KV cache, 8 samples of a 256-token prompt + $n_gen tokens each ($blocks blocks, $shared shared by all 8):"
echo
echo "| KV cache | MiB | vs shared |"
echo "|---|---:|---:|"
row() { awk -v l="$1" -v b="$2" -v s="$used" 'BEGIN { printf "| %s | %.2f | %.2fx |\n", l, b / 1048576, (s > 0 ? b / s : 0) }'; }
row "--parallel 8: prompt blocks shared (paged)" "$used"
row "8 separate paged caches (--no-share-prefix)" "$paged"
row "8 separate caches of exactly the tokens used ($tokens tokens)" "$exact"
row "8 separate contiguous caches of -c $ctx" "$contig"
