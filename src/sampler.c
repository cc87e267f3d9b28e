/*
 * sampler.c — token sampling. The random draw uses a 64-bit generator seeded
 * from --seed, so a run is reproducible for any thread count.
 */
#include "sampler.h"

#include "vecmath.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void sampler_defaults(struct sampler_params *p)
{
    *p = (struct sampler_params){.temp = 0.8f, .top_k = 40, .top_p = 0.95f, .min_p = 0.05f,
                                 .repeat_penalty = 1.0f, .repeat_last_n = 64, .seed = 0};
}

int sampler_init(struct sampler *s, const struct sampler_params *p, int n_vocab)
{
    memset(s, 0, sizeof *s);
    s->p = *p;
    s->n_vocab = n_vocab;
    /* splitmix64 of the seed, so that nearby seeds give unrelated streams */
    uint64_t z = p->seed + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    s->rng = (z ^ (z >> 31)) | 1;
    s->cand = malloc((size_t)n_vocab * sizeof *s->cand);
    s->hist_cap = p->repeat_last_n < 0 ? 4096 : p->repeat_last_n;
    s->history = malloc((size_t)(s->hist_cap ? s->hist_cap : 1) * sizeof *s->history);
    return s->cand && s->history ? 0 : -1;
}

void sampler_free(struct sampler *s)
{
    free(s->cand);
    free(s->history);
    s->cand = NULL;
    s->history = NULL;
}

void sampler_accept(struct sampler *s, int32_t id)
{
    if (!s->hist_cap) return;
    s->history[s->hist_pos] = id;
    s->hist_pos = (s->hist_pos + 1) % s->hist_cap;
    if (s->hist_len < s->hist_cap) s->hist_len++;
}

int32_t argmax(const float *logits, int n)
{
    return n > 0 ? (int32_t)argmax_f32(logits, (size_t)n) : 0;
}

static uint64_t next_u64(uint64_t *x)
{
    /* xorshift64* */
    *x ^= *x >> 12;
    *x ^= *x << 25;
    *x ^= *x >> 27;
    return *x * 0x2545F4914F6CDD1Dull;
}

/* Best first; NaN (from a broken model) counts as -inf so the order stays total. */
static int cmp_desc(const void *a, const void *b)
{
    const struct candidate *x = a, *y = b;
    const float lx = isnan(x->logit) ? -INFINITY : x->logit, ly = isnan(y->logit) ? -INFINITY : y->logit;
    if (lx != ly) return lx < ly ? 1 : -1;
    return (x->id > y->id) - (x->id < y->id);
}

/* llama.cpp's penalties: repeat divides positive / multiplies negative logits
 * of tokens seen in the window; frequency and presence subtract. */
static void apply_penalties(struct sampler *s, float *logits)
{
    const struct sampler_params *p = &s->p;
    if (p->repeat_penalty == 1.0f && p->presence_penalty == 0.0f && p->frequency_penalty == 0.0f) return;
    for (int i = 0; i < s->hist_len; i++) {
        const int32_t id = s->history[i];
        if (id < 0 || id >= s->n_vocab) continue;
        /* Count each distinct token once for repeat/presence, n times for frequency. */
        int count = 0, first = 1;
        for (int j = 0; j < s->hist_len; j++) {
            if (s->history[j] != id) continue;
            if (j < i) first = 0;
            count++;
        }
        if (!first) continue;
        float *l = &logits[id];
        *l = *l <= 0 ? *l * p->repeat_penalty : *l / p->repeat_penalty;
        *l -= (float)count * p->frequency_penalty + p->presence_penalty;
    }
}

/* Sift the candidate at i down a min-heap of n (the worst candidate on top). */
static void sift_down(struct candidate *h, int n, int i)
{
    for (;;) {
        int c = 2 * i + 1;
        if (c >= n) return;
        if (c + 1 < n && cmp_desc(&h[c + 1], &h[c]) > 0) c++;
        if (cmp_desc(&h[c], &h[i]) <= 0) return;
        struct candidate t = h[i];
        h[i] = h[c];
        h[c] = t;
        i = c;
    }
}

/* The k best logits into s->cand[0..k), best first. A heap of k keeps this
 * O(n log k): sorting a 150k vocabulary for every token would cost more than
 * a small model's forward pass. */
static int select_top(struct sampler *s, const float *logits, int k)
{
    struct candidate *h = s->cand;
    for (int i = 0; i < k; i++) h[i] = (struct candidate){i, logits[i]};
    for (int i = k / 2 - 1; i >= 0; i--) sift_down(h, k, i);
    for (int i = k; i < s->n_vocab; i++) {
        const struct candidate c = {i, logits[i]};
        if (cmp_desc(&c, &h[0]) >= 0) continue; /* not better than the worst kept */
        h[0] = c;
        sift_down(h, k, 0);
    }
    qsort(h, (size_t)k, sizeof *h, cmp_desc);
    return k;
}

int32_t sampler_sample(struct sampler *s, float *logits)
{
    const struct sampler_params *p = &s->p;
    apply_penalties(s, logits);
    if (p->temp <= 0.0f) return argmax(logits, s->n_vocab);

    int n = select_top(s, logits, p->top_k > 0 && p->top_k < s->n_vocab ? p->top_k : s->n_vocab);
    /* Probabilities at temperature 1 for top-p and min-p, as llama.cpp's chain does. */
    double *prob = malloc((size_t)n * sizeof *prob);
    if (!prob) return s->cand[0].id;
    double sum = 0.0;
    for (int i = 0; i < n; i++) sum += prob[i] = exp((double)s->cand[i].logit - s->cand[0].logit);
    if (p->top_p < 1.0f) {
        double cum = 0.0;
        for (int i = 0; i < n; i++) {
            cum += prob[i] / sum;
            if (cum >= p->top_p) { n = i + 1; break; }
        }
    }
    if (p->min_p > 0.0f) {
        int keep = 1;
        while (keep < n && prob[keep] >= p->min_p * prob[0]) keep++;
        n = keep;
    }
    sum = 0.0;
    for (int i = 0; i < n; i++)
        sum += prob[i] = exp(((double)s->cand[i].logit - s->cand[0].logit) / p->temp);
    const double r = (double)(next_u64(&s->rng) >> 11) * (1.0 / 9007199254740992.0) * sum;
    double cum = 0.0;
    int32_t pick = s->cand[n - 1].id;
    for (int i = 0; i < n; i++) {
        cum += prob[i];
        if (r < cum) { pick = s->cand[i].id; break; }
    }
    free(prob);
    return pick;
}
