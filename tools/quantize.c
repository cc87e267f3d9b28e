/*
 * quantize.c — infer-quantize: rewrite a GGUF model with quantized weights.
 *
 *   infer-quantize IN.gguf OUT.gguf TYPE [-t THREADS]
 *   TYPE: f32 f16 bf16 q8_0 q4_0 q4_1 q5_0 q5_1 iq4_nl q4_k_s q4_k_m q5_k_s q5_k_m q6_k
 *
 * Which tensor gets which type follows llama-quantize, so that files are
 * alike: 1-D tensors (norms, biases) stay F32; the output matrix gets Q6_K
 * in every mix below Q8_0; the _M k-quant mixes give attn_v and ffn_down
 * Q6_K in the layers llama.cpp picks (use_more_bits); rows whose length is
 * not a multiple of the block fall back to a type whose block fits, else F16.
 * Quantization uses the reference rounding of quant/ (Q8_0 and Q4_0 are
 * byte-identical to llama-quantize's).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gguf.h"
#include "gguf_write.h"
#include "matmul.h"
#include "quant/quant.h"

struct mix {
    const char *name;
    enum ggml_type base, output, more_bits; /* more_bits: attn_v / ffn_down in chosen layers */
    uint32_t ftype;                          /* general.file_type (llama_ftype) */
};

static const struct mix mixes[] = {
    {"f32", TYPE_F32, TYPE_F32, TYPE_F32, 0},
    {"f16", TYPE_F16, TYPE_F16, TYPE_F16, 1},
    {"bf16", TYPE_BF16, TYPE_BF16, TYPE_BF16, 32},
    {"q8_0", TYPE_Q8_0, TYPE_Q8_0, TYPE_Q8_0, 7},
    {"q4_0", TYPE_Q4_0, TYPE_Q6_K, TYPE_Q4_0, 2},
    {"q4_1", TYPE_Q4_1, TYPE_Q6_K, TYPE_Q4_1, 3},
    {"q5_0", TYPE_Q5_0, TYPE_Q6_K, TYPE_Q5_0, 8},
    {"q5_1", TYPE_Q5_1, TYPE_Q6_K, TYPE_Q5_1, 9},
    {"iq4_nl", TYPE_IQ4_NL, TYPE_Q6_K, TYPE_IQ4_NL, 25},
    {"q4_k_s", TYPE_Q4_K, TYPE_Q6_K, TYPE_Q4_K, 14},
    {"q4_k_m", TYPE_Q4_K, TYPE_Q6_K, TYPE_Q6_K, 15},
    {"q5_k_s", TYPE_Q5_K, TYPE_Q6_K, TYPE_Q5_K, 16},
    {"q5_k_m", TYPE_Q5_K, TYPE_Q6_K, TYPE_Q6_K, 17},
    {"q6_k", TYPE_Q6_K, TYPE_Q6_K, TYPE_Q6_K, 18},
};

/* llama.cpp's choice of layers that get more bits in the _M mixes. */
static bool use_more_bits(int layer, int n_layers)
{
    return layer < n_layers / 8 || layer >= 7 * n_layers / 8 || (layer - n_layers / 8) % 3 == 2;
}

/* A type whose block divides the row length, falling back like llama-quantize. */
static enum ggml_type fit(enum ggml_type t, int64_t ne0)
{
    for (int guard = 0; guard < 4; guard++) {
        if (ne0 % type_traits(t)->block_size == 0) return t;
        switch (t) {
        case TYPE_Q4_K: case TYPE_Q2_K: case TYPE_Q3_K: t = TYPE_Q5_0; break;
        case TYPE_Q5_K: t = TYPE_Q5_1; break;
        case TYPE_Q6_K: t = TYPE_Q8_0; break;
        default: t = TYPE_F16; break;
        }
    }
    return TYPE_F16;
}

static bool ends_with(struct gguf_str s, const char *suffix)
{
    size_t n = strlen(suffix);
    return s.len >= n && !memcmp(s.ptr + s.len - n, suffix, n);
}

static int layer_of(struct gguf_str name)
{
    int l;
    char buf[64];
    snprintf(buf, sizeof buf, "%.*s", (int)(name.len < 60 ? name.len : 60), name.ptr);
    return sscanf(buf, "blk.%d.", &l) == 1 ? l : -1;
}

static enum ggml_type choose(const struct mix *m, const struct gguf_tensor *t, int n_layers)
{
    if (t->n_dims < 2 || t->ne[1] == 1) return TYPE_F32;
    enum ggml_type want = m->base;
    if (gguf_str_eq(t->name, "output.weight")) want = m->output;
    else if (ends_with(t->name, "attn_v.weight") || ends_with(t->name, "ffn_down.weight")) {
        int l = layer_of(t->name);
        if (l >= 0 && use_more_bits(l, n_layers)) want = m->more_bits;
    }
    return fit(want, t->ne[0]);
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: infer-quantize IN.gguf OUT.gguf TYPE [-t THREADS]\n  TYPE:");
        for (size_t i = 0; i < sizeof mixes / sizeof mixes[0]; i++) fprintf(stderr, " %s", mixes[i].name);
        fputc('\n', stderr);
        return 2;
    }
    const struct mix *m = NULL;
    for (size_t i = 0; i < sizeof mixes / sizeof mixes[0]; i++)
        if (!strcasecmp(argv[3], mixes[i].name)) m = &mixes[i];
    if (!m) {
        fprintf(stderr, "infer-quantize: unknown type '%s'\n", argv[3]);
        return 2;
    }
    if (argc >= 6 && !strcmp(argv[4], "-t")) matmul_set_threads(atoi(argv[5]) > 0 ? atoi(argv[5]) : 1);
    char err[1024];
    struct gguf_file *in = gguf_open(argv[1], err, sizeof err);
    if (!in) {
        fprintf(stderr, "infer-quantize: %s\n", err);
        return 1;
    }
    int64_t n_layers = 0;
    struct gguf_str arch;
    if (gguf_get_str(in, "general.architecture", &arch) == GGUF_OK) {
        char key[96];
        snprintf(key, sizeof key, "%.*s.block_count", (int)(arch.len < 64 ? arch.len : 64), arch.ptr);
        gguf_get_int(in, key, &n_layers);
    }
    struct gguf_writer *w = gguf_writer_new();
    for (uint64_t i = 0; i < in->n_kv; i++) gw_copy_kv(w, &in->kv[i]);
    gw_u32(w, "general.file_type", m->ftype);
    gw_u32(w, "general.quantization_version", 2);

    void **bufs = calloc(in->n_tensors ? in->n_tensors : 1, sizeof *bufs);
    size_t total_in = 0, total_out = 0;
    int rc = 0;
    for (uint64_t i = 0; i < in->n_tensors && !rc; i++) {
        const struct gguf_tensor *t = &in->tensors[i];
        const struct type_traits *src = type_traits(t->type);
        const enum ggml_type to = choose(m, t, (int)n_layers);
        const struct type_traits *dst = type_traits(to);
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)(t->name.len < 250 ? t->name.len : 250), t->name.ptr);
        if (!src->to_float || !dst->from_float) {
            fprintf(stderr, "infer-quantize: %s: cannot convert %s to %s\n", name, src->name, dst->name);
            rc = 1;
            break;
        }
        const int64_t cols = t->ne[0], rows = t->nbytes / type_row_size(t->type, cols);
        const size_t in_row = type_row_size(t->type, cols), out_row = type_row_size(to, cols);
        char *out = t->type == to ? NULL : malloc(out_row * (size_t)rows);
        if (t->type != to && !out) {
            fprintf(stderr, "infer-quantize: out of memory\n");
            rc = 1;
            break;
        }
        if (out) {
            /* Row by row, in parallel; each thread has its own float row. */
#pragma omp parallel
            {
                float *row = malloc((size_t)cols * sizeof *row);
#pragma omp for schedule(dynamic, 16)
                for (int64_t r = 0; r < rows; r++) {
                    src->to_float((const char *)t->data + (size_t)r * in_row, row, cols);
                    dst->from_float(row, out + (size_t)r * out_row, cols);
                }
                free(row);
            }
        }
        bufs[i] = out;
        gw_tensor(w, name, (int)t->n_dims, t->ne, to, out ? out : t->data, out_row * (size_t)rows);
        total_in += t->nbytes;
        total_out += out_row * (size_t)rows;
        fprintf(stderr, "%-32s %-6s -> %-6s [%lld x %lld]\n", name, src->name, dst->name, (long long)cols,
                (long long)rows);
    }
    if (!rc && gw_write(w, argv[2], err, sizeof err)) {
        fprintf(stderr, "infer-quantize: %s\n", err);
        rc = 1;
    }
    if (!rc)
        fprintf(stderr, "infer-quantize: %s: %.2f MiB -> %.2f MiB (%s)\n", argv[2], total_in / 1048576.0,
                total_out / 1048576.0, m->name);
    for (uint64_t i = 0; i < in->n_tensors; i++) free(bufs[i]);
    free(bufs);
    gguf_writer_free(w);
    gguf_close(in);
    return rc;
}
