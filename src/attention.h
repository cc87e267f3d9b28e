/*
 * attention.h — causal attention of one query over a sequence's paged K/V,
 * and the rotary position embedding applied before it.
 */
#ifndef INFER_ATTENTION_H
#define INFER_ATTENTION_H

#include "kvcache.h"
#include "model.h"

/* out (n_head × head_dim_v) = softmax(q·K[0..pos] · scale) · V for every head,
 * reading K/V block by block with a running softmax (no score matrix). */
void attention(const struct kv_cache *kv, int seq, int layer, int pos, const float *q, float *out,
               const struct hparams *hp, int head);

/* cos/sin table for one position: n_rot/2 (cos, sin) pairs, as ggml computes it. */
void rope_table(float *cs, int pos, const struct hparams *hp);
/* Rotate n_heads heads of x (head_dim apart) with the table. */
void rope_apply(float *x, int n_heads, const float *cs, const struct hparams *hp, enum rope_style style);

#endif
