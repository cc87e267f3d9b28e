/*
 * attention.h — causal attention of one query over a sequence's paged K/V,
 * and the rotary position embedding applied before it.
 */
#ifndef INFER_ATTENTION_H
#define INFER_ATTENTION_H

#include "kvcache.h"
#include "model.h"

/* Most query heads one attention() call takes. */
#define ATT_HEADS_MAX 8

/* For heads head0 ..< head0 + n_heads (up to ATT_HEADS_MAX go together): their rows of
 * out (n_head × head_dim_v) = softmax(q·K[0..pos] · scale) · V, reading K/V
 * block by block with a running softmax (no score matrix). Each head's
 * result is the same whichever heads go with it. */
void attention(const struct kv_cache *kv, int seq, int layer, int pos, const float *q, float *out,
               const struct hparams *hp, int head0, int n_heads);
/* Heads per attention() call: whole passes of the F16 accumulator (which
 * fill the vector registers), up to ATT_HEADS_MAX, fewer when that gives
 * less than min_calls calls for all heads (threads to feed). */
int attention_heads_per_call(const struct hparams *hp, const struct kv_cache *kv, int min_calls);

/* cos/sin table for one position: n_rot/2 (cos, sin) pairs, as ggml computes it. */
void rope_table(float *cs, int pos, const struct hparams *hp);
/* Rotate n_heads heads of x (head_dim apart) with the table. */
void rope_apply(float *x, int n_heads, const float *cs, const struct hparams *hp, enum rope_style style);

#endif
