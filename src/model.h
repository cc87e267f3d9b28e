/*
 * model.h — a decoder-only Transformer's hyperparameters and weights, bound
 * to tensors of an opened GGUF file (or a llama2.c checkpoint).
 *
 * Weights are views into the mapped file; only small vectors (norms, biases,
 * RoPE frequency factors) are converted to F32 copies at load time.
 */
#ifndef INFER_MODEL_H
#define INFER_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gguf.h"
#include "quant/quant.h"

/* How RoPE pairs the dimensions of a head: llama rotates adjacent pairs
 * (x[2i], x[2i+1]); NEOX-style models rotate (x[i], x[i + n_rot/2]). */
enum rope_style { ROPE_NORM, ROPE_NEOX };

struct arch_info {
    const char *name;          /* general.architecture */
    enum rope_style rope;
    bool qkv_bias;             /* attn_q/k/v.bias tensors are expected */
    bool qk_norm;              /* per-head RMSNorm of Q and K before RoPE */
};

/* A weight: rows of ne[0] elements of `type`, ne[1] rows. */
struct tensor {
    enum ggml_type type;
    int64_t ne[4];
    const void *data;
    size_t nbytes;
};

struct layer {
    const float *attn_norm, *ffn_norm;
    const float *bq, *bk, *bv;          /* NULL when the model has no biases */
    const float *q_norm, *k_norm;       /* qk_norm architectures only */
    struct tensor wq, wk, wv, wo;
    struct tensor w_gate, w_up, w_down;
};

struct hparams {
    int n_vocab, dim, n_layer, n_head, n_kv_head;
    int head_dim, head_dim_v;   /* key/query and value head sizes */
    int ffn_dim, ctx_train, n_rot;
    float rope_base, rms_eps;
    float rope_freq_scale;            /* linear RoPE scaling: 1 / rope.scaling.factor */
    const float *rope_freq_factors;   /* n_rot/2 divisors of theta (Llama 3 scaling), or NULL */
};

struct model {
    const struct arch_info *arch;
    struct hparams hp;
    struct tensor tok_embd, output;     /* output may alias tok_embd (tied) */
    const float *output_norm;
    struct layer *layers;
    struct gguf_file *gguf;             /* NULL for llama2.c checkpoints */
    struct filemap file;                /* llama2.c checkpoint bytes */
    float **owned;                      /* F32 copies made at load; freed with the model */
    int n_owned, cap_owned;
    enum ggml_type main_type;           /* the most common matrix type, for reports */
    uint64_t n_params;                  /* parameters, tied output counted once */
    uint64_t weight_bytes;              /* bytes of all weights (what decode reads) */
    char name[128];
};

/* Bind a model to an opened GGUF file (the model takes ownership of f on
 * success). On failure returns NULL with "PATH: reason" in err; f stays
 * the caller's. */
struct model *model_from_gguf(struct gguf_file *f, char *err, size_t errlen);
/* Load a llama2.c checkpoint (.bin, float32, version-0 "legacy" format). */
/* A layer's weight matrices (wq wk wv wo w_gate w_up w_down), for code that
 * treats them alike. */
#define LAYER_MATRICES 7
void layer_matrices(const struct layer *ly, const struct tensor *ws[LAYER_MATRICES]);
/* How the model's file was brought into memory. */
const struct filemap *model_file(const struct model *m);
/* Rearrange the weight matrices into this build's faster layouts
 * (quant_repack_type: Q4_0 and Q8_0 for the AVX-512 kernels) when the file was read
 * into memory; a mapped file is the page cache's and stays as it is. The
 * token embeddings (and a classifier tied to them) keep their layout. */
void model_repack(struct model *m);
struct model *model_from_llama2c(const char *path, enum load_mode mode, char *err, size_t errlen);
void model_free(struct model *m);

const struct arch_info *arch_lookup(const char *name, size_t len);
/* Bytes of K+V one token occupies in the cache, at elem bytes per value. */
size_t model_kv_bytes_per_token(const struct model *m, size_t elem);

#endif
