/*
 * gen_model.c — write a random-weight llama-architecture GGUF of any shape,
 * so benchmarks and tests run on realistic sizes without downloads.
 *
 *   gen_model OUT.gguf [--preset tinyllama-1.1b | tiny] [--dim N] [--layers N]
 *             [--heads N] [--kv-heads N] [--ffn N] [--vocab N] [--ctx N]
 *             [--type f32|f16] [--seed N] [--chatml] [--tied]
 *
 * Weights are N(0, 0.02²) like a fresh initialisation (norms are 1), so the
 * model's output is gibberish but its cost is that of a real model. The
 * vocabulary is SentencePiece-style: <unk> <s> </s>, the 256 byte tokens,
 * then made-up pieces; --chatml adds <|im_start|>/<|im_end|> control tokens
 * and a ChatML chat template.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf_write.h"
#include "quant/quant.h"

struct shape {
    int dim, layers, heads, kv_heads, ffn, vocab, ctx;
};

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Approximately normal: the sum of four uniforms, scaled to unit variance. */
static float randn(uint64_t *s)
{
    float u = 0;
    for (int i = 0; i < 4; i++) u += (float)(rng_next(s) >> 40) * (1.0f / 16777216.0f);
    return (u - 2.0f) * 1.7320508f;
}

static void *weights(int64_t n, enum ggml_type type, uint64_t *seed, float std, size_t *bytes)
{
    *bytes = type_row_size(type, n);
    void *p = malloc(*bytes);
    if (!p) {
        fprintf(stderr, "gen_model: out of memory\n");
        exit(1);
    }
    float chunk[4096];
    for (int64_t i = 0; i < n; i += 4096) {
        int64_t k = n - i < 4096 ? n - i : 4096;
        for (int64_t j = 0; j < k; j++) chunk[j] = std ? randn(seed) * std : 1.0f;
        if (type == TYPE_F32) memcpy((float *)p + i, chunk, (size_t)k * 4);
        else for (int64_t j = 0; j < k; j++) ((uint16_t *)p)[i + j] = fp32_to_fp16(chunk[j]);
    }
    return p;
}

static void usage(void)
{
    fprintf(stderr, "usage: gen_model OUT.gguf [--preset tinyllama-1.1b|tiny] [--dim N] [--layers N] [--heads N]\n"
                    "       [--kv-heads N] [--ffn N] [--vocab N] [--ctx N] [--type f32|f16] [--seed N] [--chatml] [--tied]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    if (argc < 2) usage();
    const char *out = argv[1];
    struct shape s = {2048, 22, 32, 4, 5632, 32000, 2048}; /* TinyLlama-1.1B */
    enum ggml_type type = TYPE_F16;
    uint64_t seed = 42;
    bool chatml = false, tied = false;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--chatml")) { chatml = true; continue; }
        if (!strcmp(a, "--tied")) { tied = true; continue; }
        if (!v) usage();
        i++;
        if (!strcmp(a, "--preset")) {
            if (!strcmp(v, "tinyllama-1.1b")) s = (struct shape){2048, 22, 32, 4, 5632, 32000, 2048};
            else if (!strcmp(v, "tiny")) s = (struct shape){64, 2, 4, 2, 128, 320, 256};
            else usage();
        } else if (!strcmp(a, "--type")) {
            if (!strcmp(v, "f32")) type = TYPE_F32;
            else if (!strcmp(v, "f16")) type = TYPE_F16;
            else usage();
        } else {
            long x = strtol(v, NULL, 10);
            if (x <= 0 || x > (1 << 24)) usage();
            if (!strcmp(a, "--dim")) s.dim = (int)x;
            else if (!strcmp(a, "--layers")) s.layers = (int)x;
            else if (!strcmp(a, "--heads")) s.heads = (int)x;
            else if (!strcmp(a, "--kv-heads")) s.kv_heads = (int)x;
            else if (!strcmp(a, "--ffn")) s.ffn = (int)x;
            else if (!strcmp(a, "--vocab")) s.vocab = (int)x;
            else if (!strcmp(a, "--ctx")) s.ctx = (int)x;
            else if (!strcmp(a, "--seed")) seed = (uint64_t)x;
            else usage();
        }
    }
    const int n_special = chatml ? 2 : 0;
    if (s.dim % s.heads || s.heads % s.kv_heads || (s.dim / s.heads) % 2 || s.vocab < 259 + n_special + 1) {
        fprintf(stderr, "gen_model: inconsistent shape (dim %% heads, heads %% kv_heads, even head size, vocab ≥ %d)\n",
                260 + n_special);
        return 2;
    }
    struct gguf_writer *w = gguf_writer_new();
    gw_str(w, "general.architecture", "llama");
    gw_str(w, "general.name", "infer random llama");
    gw_u32(w, "general.file_type", type == TYPE_F32 ? 0 : 1);
    gw_u32(w, "llama.context_length", (uint32_t)s.ctx);
    gw_u32(w, "llama.embedding_length", (uint32_t)s.dim);
    gw_u32(w, "llama.block_count", (uint32_t)s.layers);
    gw_u32(w, "llama.feed_forward_length", (uint32_t)s.ffn);
    gw_u32(w, "llama.attention.head_count", (uint32_t)s.heads);
    gw_u32(w, "llama.attention.head_count_kv", (uint32_t)s.kv_heads);
    gw_u32(w, "llama.rope.dimension_count", (uint32_t)(s.dim / s.heads));
    gw_f32(w, "llama.rope.freq_base", 10000.0f);
    gw_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
    gw_u32(w, "llama.vocab_size", (uint32_t)s.vocab);

    /* Vocabulary: specials, bytes, then pieces "▁a".."▁z", "▁aa".. with falling scores. */
    char **tokens = calloc((size_t)s.vocab, sizeof *tokens);
    float *scores = calloc((size_t)s.vocab, sizeof *scores);
    int32_t *types = calloc((size_t)s.vocab, sizeof *types);
    int n = 0;
    const char *specials[] = {"<unk>", "<s>", "</s>"};
    const int special_types[] = {2, 3, 3};
    for (int i = 0; i < 3; i++, n++) {
        tokens[n] = strdup(specials[i]);
        types[n] = special_types[i];
    }
    for (int b = 0; b < 256; b++, n++) {
        char buf[8];
        snprintf(buf, sizeof buf, "<0x%02X>", b);
        tokens[n] = strdup(buf);
        types[n] = 6;
    }
    if (chatml) {
        tokens[n] = strdup("<|im_start|>"), types[n++] = 3;
        tokens[n] = strdup("<|im_end|>"), types[n++] = 3;
    }
    for (int k = 0; n < s.vocab; k++, n++) {
        char piece[32] = "\xe2\x96\x81"; /* ▁ */
        int len = 3;
        for (int x = k; ; x = x / 26 - 1) {
            piece[len++] = (char)('a' + x % 26);
            if (x < 26) break;
        }
        piece[len] = 0;
        tokens[n] = strdup(piece);
        scores[n] = -(float)k;
        types[n] = 1;
    }
    gw_str(w, "tokenizer.ggml.model", "llama");
    gw_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)tokens, (uint64_t)s.vocab);
    gw_arr_f32(w, "tokenizer.ggml.scores", scores, (uint64_t)s.vocab);
    gw_arr_i32(w, "tokenizer.ggml.token_type", types, (uint64_t)s.vocab);
    gw_u32(w, "tokenizer.ggml.unknown_token_id", 0);
    gw_u32(w, "tokenizer.ggml.bos_token_id", 1);
    gw_u32(w, "tokenizer.ggml.eos_token_id", chatml ? 260 : 2); /* <|im_end|> ends a chat turn */
    if (chatml)
        gw_str(w, "tokenizer.chat_template",
               "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
               "'<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}");

    const float std = 0.02f;
    const int64_t D = s.dim, hd = s.dim / s.heads, KV = (int64_t)s.kv_heads * hd;
    void **bufs = calloc((size_t)(s.layers * 9 + 3), sizeof *bufs);
    int nb = 0;
    size_t bytes;
#define TENSOR(name, ne0, ne1, t, sd)                                                   \
    do {                                                                                \
        int64_t ne[2] = {(ne0), (ne1)};                                                 \
        bufs[nb] = weights(ne[0] * ne[1], (t), &seed, (sd), &bytes);                    \
        gw_tensor(w, (name), ne[1] == 1 ? 1 : 2, ne, (t), bufs[nb++], bytes);           \
    } while (0)
    TENSOR("token_embd.weight", D, s.vocab, type, std);
    for (int l = 0; l < s.layers; l++) {
        char name[64];
#define L(suffix) (snprintf(name, sizeof name, "blk.%d." suffix, l), name)
        TENSOR(L("attn_norm.weight"), D, 1, TYPE_F32, 0);
        TENSOR(L("attn_q.weight"), D, D, type, std);
        TENSOR(L("attn_k.weight"), D, KV, type, std);
        TENSOR(L("attn_v.weight"), D, KV, type, std);
        TENSOR(L("attn_output.weight"), D, D, type, std);
        TENSOR(L("ffn_norm.weight"), D, 1, TYPE_F32, 0);
        TENSOR(L("ffn_gate.weight"), D, s.ffn, type, std);
        TENSOR(L("ffn_up.weight"), D, s.ffn, type, std);
        TENSOR(L("ffn_down.weight"), s.ffn, D, type, std);
#undef L
    }
    TENSOR("output_norm.weight", D, 1, TYPE_F32, 0);
    if (!tied) TENSOR("output.weight", D, s.vocab, type, std);
#undef TENSOR
    char err[512];
    int rc = gw_write(w, out, err, sizeof err);
    if (rc) fprintf(stderr, "gen_model: %s\n", err);
    for (int i = 0; i < nb; i++) free(bufs[i]);
    for (int i = 0; i < s.vocab; i++) free(tokens[i]);
    free(bufs);
    free(tokens);
    free(scores);
    free(types);
    gguf_writer_free(w);
    return rc ? 1 : 0;
}
