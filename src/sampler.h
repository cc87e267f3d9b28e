/*
 * sampler.h — picking the next token from logits, in llama.cpp's default
 * order: repetition penalties → top-k → top-p → min-p → temperature → draw.
 * Temperature ≤ 0 means greedy (argmax after penalties).
 */
#ifndef INFER_SAMPLER_H
#define INFER_SAMPLER_H

#include <stdint.h>

struct sampler_params {
    float temp;            /* 0.8 */
    int top_k;             /* 40; ≤ 0 = off */
    float top_p;           /* 0.95; 1 = off */
    float min_p;           /* 0.05; 0 = off */
    float repeat_penalty;  /* 1.0 = off */
    int repeat_last_n;     /* 64; -1 = whole history */
    float presence_penalty, frequency_penalty;
    uint64_t seed;
};

struct sampler {
    struct sampler_params p;
    uint64_t rng;
    int n_vocab;
    struct candidate { int32_t id; float logit; } *cand;
    int32_t *history;      /* ring of the last repeat_last_n tokens */
    int hist_cap, hist_len, hist_pos;
};

void sampler_defaults(struct sampler_params *p);
int sampler_init(struct sampler *s, const struct sampler_params *p, int n_vocab);
void sampler_free(struct sampler *s);
/* Remember a token (prompt or generated) for the penalties. */
void sampler_accept(struct sampler *s, int32_t id);
/* Choose a token; logits may be modified. */
int32_t sampler_sample(struct sampler *s, float *logits);
/* Index of the largest logit (first one on ties). */
int32_t argmax(const float *logits, int n);

#endif
