#!/bin/sh
# seed-corpus.sh MKSEEDS DIR — the fuzz targets' seed corpus in DIR/<target>/:
# tiny generated inputs (MKSEEDS, built from fuzz/mkseeds.c), copies of the
# small model files of $INFER_TEST_DATA (default ../shared), and the
# regression inputs of fuzz/regress/. DIR is scratch space: nothing here is
# meant to be committed (the shared files stay where they are).
set -e
mkseeds=$1 dir=$2
[ -n "$mkseeds" ] && [ -n "$dir" ] || { echo "usage: $0 MKSEEDS DIR" >&2; exit 2; }
data=${INFER_TEST_DATA:-../shared}
"$mkseeds" "$dir"
copy() { # copy TARGET FILE...: the files that exist
    t=$1; shift
    for f in "$@"; do [ -f "$data/$f" ] && cp "$data/$f" "$dir/$t/" || true; done
}
copy gguf models/stories260K.gguf models/tinystories-656k-q8_0.gguf \
    models/synthetic/rand-qwen3-q8_0.gguf models/synthetic/rand-llama-q2_k.gguf \
    models/synthetic/rand-llama-q4_k_m.gguf models/vocab/ggml-vocab-bert-bge.gguf
copy llama2c models/tok512.bin models/aidreams260K_tok512.bin models/stories260K.bin
# The tokenizer target's input is: vocab selector byte, flags byte, text.
i=0
for f in "$data"/models/vocab/*.inp; do
    [ -f "$f" ] || continue
    for flags in 0 1 2 3; do
        { printf "\\$(printf %03o $((i % 13)))\\$(printf %03o $flags)"; cat "$f"; } > "$dir/tokenizer/inp-$i-$flags"
    done
    i=$((i + 1))
done
for t in gguf tokenizer llama2c; do
    [ -d "fuzz/regress/$t" ] && find "fuzz/regress/$t" -type f ! -name '*.md' -exec cp {} "$dir/$t/" \; || true
done
