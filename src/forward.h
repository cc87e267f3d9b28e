/*
 * forward.h — the Transformer forward pass over a batch of tokens.
 *
 * A batch item is (token, position, sequence). Items of one sequence must
 * come in position order; each attends to its own sequence's cached K/V up to
 * its position. Batches of one sequence with at least `gemm_min_batch` tokens
 * (prompt processing) take matmul.h's prompt route (sgemm for float weights);
 * anything else (decode, parallel sequences) the row-dot kernels, so a
 * sequence's decode results do not depend on what else is in the batch.
 */
#ifndef INFER_FORWARD_H
#define INFER_FORWARD_H

#include <stdbool.h>
#include <stdint.h>

#include "kvcache.h"
#include "matmul.h"
#include "model.h"

struct context_params {
    int n_ctx;           /* positions per sequence */
    int n_batch;         /* tokens per forward chunk */
    int kv_block;        /* tokens per KV block */
    int n_seq_max;       /* sequences that may be live at once */
    int kv_max_blocks;   /* pool limit; 0 = n_seq_max × blocks of n_ctx */
    int gemm_min_batch;  /* prompt batches: this many tokens of one sequence or more; 0 = never */
    bool float_prompt;   /* prompt batches of quantized weights via sgemm too (see matmul.h) */
    bool kv_f32;         /* F32 K/V instead of llama.cpp's default F16 */
};

struct context {
    const struct model *m;
    struct context_params p;
    struct kv_cache kv;
    struct pool *pool;         /* threads of the passes without sgemm (NULL: OpenMP's) */
    struct matmul_scratch ms;  /* ms.pool: this pass's threads */
    /* Activations for n_batch items. */
    float *x, *xb, *q, *k, *v, *att, *hb, *hb2, *rope;
    float *logits_in;    /* normed hidden states of the rows that want logits */
};


struct context *context_new(const struct model *m, const struct context_params *p, char *err,
                            size_t errlen);
void context_free(struct context *c);

/* Run n items. want[i] (NULL = only the last item) selects the items whose
 * logits are written, in order, to logits (n_wanted × n_vocab).
 * Returns 0, or -1 when the KV pool is full (nothing is rolled back: the
 * caller decides), or -2 for an invalid token id / position. */
/* Whether a prompt batch computes each position exactly as one token at a
 * time would: true when none of the model's weights takes sgemm on the
 * prompt route (all quantized), as the row kernels' results do not depend on
 * the batch. */
bool forward_batch_invariant(const struct context *c);

int forward(struct context *c, int n, const int32_t *tokens, const int *pos, const int *seq,
            const bool *want, float *logits);

/* Context shift: drop positions [n_keep, n_keep + n_discard) of seq and move
 * the later ones down, re-rotating their cached keys by -n_discard (RoPE of a
 * difference is the product of rotations), so generation can go on past the
 * context with the same memory. Returns 0, or -1 when the pool is full. */
int context_shift(struct context *c, int seq, int n_keep, int n_discard);

/* Convenience: tokens of one sequence at positions start.., logits of the
 * last (all_logits: of every token). */
int forward_seq(struct context *c, int seq, const int32_t *tokens, int n, int start, bool all_logits,
                float *logits);

#endif
