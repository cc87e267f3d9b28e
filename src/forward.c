/*
 * forward.c — one Transformer forward pass, llama-style, over a batch:
 *
 *   x = embed(token)
 *   per layer:  x += Wo · attention(rope(Wq·norm(x)), rope(Wk·norm(x)), Wv·norm(x))
 *               x += Wdown · (silu(Wgate·norm(x)) ⊙ Wup·norm(x))
 *   logits = Wout · norm(x)
 *
 * Each step is a function over all items of the batch; matmuls go through
 * matmul.c, attention through attention.c, K/V into the paged cache.
 */
#include "forward.h"

#include <limits.h>
#include <math.h>
#include <omp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attention.h"
#include "pool.h"
#include "vecmath.h"

static size_t max_sz(size_t a, size_t b) { return a > b ? a : b; }

struct context *context_new(const struct model *m, const struct context_params *p, char *err,
                            size_t errlen)
{
    const struct hparams *hp = &m->hp;
    struct context *c = calloc(1, sizeof *c);
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->m = m;
    c->p = *p;
    if (c->p.n_batch < 1) c->p.n_batch = 1;
    if (c->p.n_seq_max < 1) c->p.n_seq_max = 1;
    if (c->p.kv_block < 1) c->p.kv_block = 16;
    const int64_t blocks_per_seq = ((int64_t)c->p.n_ctx + c->p.kv_block - 1) / c->p.kv_block;
    if (c->p.kv_max_blocks <= 0) {
        const int64_t pool = blocks_per_seq * c->p.n_seq_max;
        if (pool > INT_MAX / 2) {
            snprintf(err, errlen, "a KV pool of %lld blocks (%d sequences of %d tokens in blocks of %d) is too large",
                     (long long)pool, c->p.n_seq_max, c->p.n_ctx, c->p.kv_block);
            free(c);
            return NULL;
        }
        c->p.kv_max_blocks = (int)pool;
    }
    /* The pool grows on demand, but a run may fill it: refuse up front a pool
     * that could never fit, rather than fail (or be OOM-killed) mid-answer. */
    const size_t elem = c->p.kv_f32 ? 4 : 2;
    const uint64_t need = (uint64_t)c->p.kv_max_blocks * c->p.kv_block * model_kv_bytes_per_token(m, elem);
    const uint64_t avail = available_memory();
    if (avail && need > avail) {
        snprintf(err, errlen,
                 "the KV cache for %lld token(s) needs %llu bytes (%.1f GiB), but only %llu bytes "
                 "(%.1f GiB) are available: use a smaller -c",
                 (long long)c->p.kv_max_blocks * c->p.kv_block, (unsigned long long)need, need / 1073741824.0,
                 (unsigned long long)avail, avail / 1073741824.0);
        free(c);
        return NULL;
    }
    if (kv_init(&c->kv, c->p.kv_f32 ? TYPE_F32 : TYPE_F16, hp->n_layer, hp->n_kv_head * hp->head_dim, hp->n_kv_head * hp->head_dim_v,
                c->p.kv_block, c->p.kv_max_blocks, c->p.n_seq_max)) {
        snprintf(err, errlen, "cannot set up the KV cache (out of memory?)");
        free(c);
        return NULL;
    }
    const size_t B = (size_t)c->p.n_batch;
    const size_t qdim = (size_t)hp->n_head * hp->head_dim, odim = (size_t)hp->n_head * hp->head_dim_v;
    c->x = malloc(B * hp->dim * sizeof(float));
    c->xb = malloc(B * max_sz(max_sz(hp->dim, odim), qdim) * sizeof(float));
    c->q = malloc(B * qdim * sizeof(float));
    c->k = malloc(B * hp->n_kv_head * hp->head_dim * sizeof(float));
    c->v = malloc(B * hp->n_kv_head * hp->head_dim_v * sizeof(float));
    c->att = malloc(B * odim * sizeof(float));
    c->hb = malloc(B * hp->ffn_dim * sizeof(float));
    c->hb2 = malloc(B * hp->ffn_dim * sizeof(float));
    c->rope = malloc(B * (hp->n_rot + 2) * sizeof(float));
    c->logits_in = malloc(B * hp->dim * sizeof(float));
    if (!c->x || !c->xb || !c->q || !c->k || !c->v || !c->att || !c->hb || !c->hb2 || !c->rope ||
        !c->logits_in) {
        snprintf(err, errlen, "out of memory for a batch of %zu tokens", B);
        context_free(c);
        return NULL;
    }
    /* No threads to be had: OpenMP's then (pool_run with no pool). */
    c->pool = pool_new(omp_get_max_threads());
    return c;
}

void context_free(struct context *c)
{
    if (!c) return;
    kv_free(&c->kv);
    matmul_scratch_free(&c->ms);
    pool_free(c->pool);
    free(c->x); free(c->xb); free(c->q); free(c->k); free(c->v);
    free(c->att); free(c->hb); free(c->hb2); free(c->rope); free(c->logits_in);
    free(c);
}

/* out = x / rms(x) * w, with the sum of squares in double as ggml does.
 * Eight running sums (vector lanes) rather than ggml's one: a chain of 2048
 * dependent adds is about 2 us, on the one thread that runs it at batch 1.
 * The order of a double sum moves only its last bits, which the float
 * scale almost always drops (no output differed in ~1M random vectors). */
static void rmsnorm(float *out, const float *x, const float *w, int n, float eps)
{
    double part[8] = {0};
    const int n8 = n - n % 8;
    for (int j = 0; j < n8; j += 8)
        for (int k = 0; k < 8; k++) part[k] += (double)(x[j + k] * x[j + k]);
    double ss = ((part[0] + part[4]) + (part[2] + part[6])) + ((part[1] + part[5]) + (part[3] + part[7]));
    for (int j = n8; j < n; j++) ss += (double)(x[j] * x[j]);
    const float scale = 1.0f / sqrtf((float)(ss / n) + eps);
    for (int i = 0; i < n; i++) out[i] = x[i] * scale * w[i];
}

static void add_bias(float *y, const float *bias, int n)
{
    if (!bias) return;
    for (int i = 0; i < n; i++) y[i] += bias[i];
}

/* The steps of a layer that work on each item's rows alone: norms, SwiGLU
 * and the residual run as the prologue of the matmul they feed (its
 * quantizing pass splits them over the threads by items), RoPE and the K/V
 * stores in a pass of their own. Each item's arithmetic is unchanged. */
struct item_step {
    struct context *c;
    int l;                   /* layer */
    const int *pos, *seq;
    void (*fn)(struct context *c, int l, int b, const int *pos, const int *seq);
    int B;
};

static void item_step_thread(void *arg, int i, int n)
{
    const struct item_step *s = arg;
    for (int b = s->B * i / n; b < s->B * (i + 1) / n; b++) s->fn(s->c, s->l, b, s->pos, s->seq);
}

static void for_each_item(struct context *c, int l, int B, const int *pos, const int *seq,
                          void (*fn)(struct context *, int, int, const int *, const int *))
{
    struct item_step s = {.c = c, .l = l, .pos = pos, .seq = seq, .fn = fn, .B = B};
    pool_run(c->ms.pool, B >= 2 ? pool_threads(c->ms.pool) : 1, item_step_thread, &s);
}

/* A matmul's prologue: fn(c, l, b) for item b of layer l. */
struct row_step {
    struct context *c;
    int l;
    void (*fn)(struct context *c, int l, int b);
};

static void row_step_run(void *arg, int b)
{
    const struct row_step *s = arg;
    s->fn(s->c, s->l, b);
}

/* x += xb: a block's output joins the residual stream. */
static void residual(struct context *c, int b)
{
    const size_t D = (size_t)c->m->hp.dim;
    for (size_t i = b * D; i < (b + 1) * D; i++) c->x[i] += c->xb[i];
}

/* The input of layer l's Q/K/V: the residual of layer l - 1's FFN, then the
 * attention norm. */
static void attn_in(struct context *c, int l, int b)
{
    const struct hparams *hp = &c->m->hp;
    const size_t D = (size_t)hp->dim;
    if (l > 0) residual(c, b);
    rmsnorm(c->xb + b * D, c->x + b * D, c->m->layers[l].attn_norm, hp->dim, hp->rms_eps);
}

/* The input of the gate/up: the residual of the attention, then the FFN norm. */
static void ffn_in(struct context *c, int l, int b)
{
    const struct hparams *hp = &c->m->hp;
    const size_t D = (size_t)hp->dim;
    residual(c, b);
    rmsnorm(c->xb + b * D, c->x + b * D, c->m->layers[l].ffn_norm, hp->dim, hp->rms_eps);
}

/* The input of FFN-down. */
static void swiglu_in(struct context *c, int l, int b)
{
    const size_t F = (size_t)c->m->hp.ffn_dim;
    (void)l;
    swiglu(c->hb + b * F, c->hb2 + b * F, F);
}

/* Item b's new q, k, v: biases, QK norms, RoPE; k and v into the cache. */
static void qkv_item(struct context *c, int l, int b, const int *pos, const int *seq)
{
    const struct model *m = c->m;
    const struct hparams *hp = &m->hp;
    const struct layer *ly = &m->layers[l];
    const size_t qd = (size_t)hp->n_head * hp->head_dim, kd = (size_t)hp->n_kv_head * hp->head_dim,
                 vd = (size_t)hp->n_kv_head * hp->head_dim_v;
    float *q = c->q + b * qd, *k = c->k + b * kd, *v = c->v + b * vd;
    add_bias(q, ly->bq, (int)qd);
    add_bias(k, ly->bk, (int)kd);
    add_bias(v, ly->bv, (int)vd);
    if (ly->q_norm) {
        for (int h = 0; h < hp->n_head; h++)
            rmsnorm(q + h * hp->head_dim, q + h * hp->head_dim, ly->q_norm, hp->head_dim, hp->rms_eps);
        for (int h = 0; h < hp->n_kv_head; h++)
            rmsnorm(k + h * hp->head_dim, k + h * hp->head_dim, ly->k_norm, hp->head_dim, hp->rms_eps);
    }
    const float *cs = c->rope + (size_t)b * (hp->n_rot + 2);
    rope_apply(q, hp->n_head, cs, hp, m->arch->rope);
    rope_apply(k, hp->n_kv_head, cs, hp, m->arch->rope);
    kv_store(&c->kv, kv_k(&c->kv, seq[b], l, pos[b]), k, (int)kd);
    kv_store(&c->kv, kv_v(&c->kv, seq[b], l, pos[b]), v, (int)vd);
}

/* Attention calls (item, group of heads) of one layer, taken in turn by the
 * threads. */
struct attention_run {
    struct context *c;
    int l;
    const int *pos, *seq;
    int per, n_calls, n_items; /* heads per call, calls per item, items */
    _Atomic int next;
};

static void attention_run_thread(void *arg, int i, int n)
{
    struct attention_run *r = arg;
    struct context *c = r->c;
    const struct hparams *hp = &c->m->hp;
    const size_t qd = (size_t)hp->n_head * hp->head_dim, od = (size_t)hp->n_head * hp->head_dim_v;
    (void)i, (void)n;
    for (int t; (t = atomic_fetch_add_explicit(&r->next, 1, memory_order_relaxed)) < r->n_items * r->n_calls;) {
        const int b = t / r->n_calls, h0 = t % r->n_calls * r->per;
        const int nh = hp->n_head - h0 < r->per ? hp->n_head - h0 : r->per;
        attention(&c->kv, r->seq[b], r->l, r->pos[b], c->q + b * qd, c->att + b * od, hp, h0, nh);
    }
}

/* Attention block of layer l for B items: its output in xb, which the
 * next step's prologue (ffn_in) adds to x. */
static void attention_block(struct context *c, int l, int B, const int *pos, const int *seq,
                            enum matmul_route route)
{
    const struct model *m = c->m;
    const struct hparams *hp = &m->hp;
    const struct layer *ly = &m->layers[l];

    struct row_step in = {.c = c, .l = l, .fn = attn_in};
    const struct row_prologue pre = {row_step_run, &in};
    float *const qkv[] = {c->q, c->k, c->v};
    const struct tensor *const wqkv[] = {&ly->wq, &ly->wk, &ly->wv};
    matmul_many(&c->ms, 3, qkv, c->xb, wqkv, B, route, &pre);
    for_each_item(c, l, B, pos, seq, qkv_item);

    /* two calls or more per thread, so that taking them in turn can even out */
    const int n_threads = pool_threads(c->ms.pool);
    const int min_calls = (2 * n_threads + B - 1) / B;
    const int per = attention_heads_per_call(hp, &c->kv, min_calls);
    struct attention_run run = {.c = c, .l = l, .pos = pos, .seq = seq, .per = per,
                                .n_calls = (hp->n_head + per - 1) / per, .n_items = B};
    atomic_init(&run.next, 0);
    /* Work ≈ keys visited × head size; tiny models and short contexts stay on one thread. */
    long work = 0;
    for (int b = 0; b < B; b++) work += (long)(pos[b] + 1) * hp->n_head * (hp->head_dim + hp->head_dim_v);
    pool_run(c->ms.pool, work >= (1 << 15) ? n_threads : 1, attention_run_thread, &run);

    matmul(&c->ms, c->xb, c->att, &ly->wo, B, route);
}

/* FFN block of layer l: the attention's residual and the norm first, its
 * output in xb for the next layer's prologue (attn_in). */
static void ffn_block(struct context *c, int l, int B, enum matmul_route route)
{
    const struct layer *ly = &c->m->layers[l];
    struct row_step in = {.c = c, .l = l, .fn = ffn_in}, act = {.c = c, .l = l, .fn = swiglu_in};
    const struct row_prologue pre_in = {row_step_run, &in}, pre_act = {row_step_run, &act};
    float *const gate_up[] = {c->hb, c->hb2};
    const struct tensor *const wgu[] = {&ly->w_gate, &ly->w_up};
    matmul_many(&c->ms, 2, gate_up, c->xb, wgu, B, route, &pre_in);
    float *const down[] = {c->xb};
    const struct tensor *const wd[] = {&ly->w_down};
    matmul_many(&c->ms, 1, down, c->hb, wd, B, route, &pre_act);
}

static enum matmul_route prompt_route(const struct context *c)
{
    return c->p.float_prompt ? MATMUL_PROMPT_FLOAT : MATMUL_PROMPT;
}

bool forward_batch_invariant(const struct context *c)
{
    const struct model *m = c->m;
    const enum matmul_route route = prompt_route(c);
    if (c->p.gemm_min_batch <= 0) return true;
    if (matmul_uses_gemm(&m->output, route)) return false;
    for (int l = 0; l < m->hp.n_layer; l++) {
        const struct tensor *w[LAYER_MATRICES];
        layer_matrices(&m->layers[l], w);
        for (int i = 0; i < LAYER_MATRICES; i++)
            if (matmul_uses_gemm(w[i], route)) return false;
    }
    return true;
}

/* One chunk of at most n_batch items. */
static int forward_chunk(struct context *c, int B, const int32_t *tokens, const int *pos, const int *seq,
                         const bool *want, bool final, float *logits, int *n_out)
{
    const struct model *m = c->m;
    const struct hparams *hp = &m->hp;
    bool one_seq = true;
    for (int b = 0; b < B; b++) {
        if (tokens[b] < 0 || tokens[b] >= hp->n_vocab || pos[b] < 0 || pos[b] >= c->p.n_ctx ||
            seq[b] < 0 || seq[b] >= c->kv.n_seqs)
            return -2;
        one_seq &= seq[b] == seq[0];
    }
    for (int b = 0; b < B; b++)
        if (!kv_prepare_write(&c->kv, seq[b], pos[b])) return -1;
    const bool batch = one_seq && c->p.gemm_min_batch > 0 && B >= c->p.gemm_min_batch;
    const enum matmul_route route = batch ? prompt_route(c) : MATMUL_ROWS;
    /* A pass with sgemm in it runs all on OpenMP's threads: OpenBLAS runs
     * on them, they spin for milliseconds after each call, and the pool's
     * beside them would fight them for the cores. */
    c->ms.pool = batch && !forward_batch_invariant(c) ? NULL : c->pool;

    for (int b = 0; b < B; b++) {
        tensor_row_to_float(&m->tok_embd, tokens[b], c->x + (size_t)b * hp->dim);
        rope_table(c->rope + (size_t)b * (hp->n_rot + 2), pos[b], hp);
    }
    for (int l = 0; l < hp->n_layer; l++) {
        attention_block(c, l, B, pos, seq, route);
        ffn_block(c, l, B, route);
    }
    int n = 0;
    for (int b = 0; b < B; b++) {
        if (want ? !want[b] : !(final && b == B - 1)) continue;
        residual(c, b); /* the last FFN's (x is read again only here) */
        rmsnorm(c->logits_in + (size_t)n * hp->dim, c->x + (size_t)b * hp->dim, m->output_norm, hp->dim, hp->rms_eps);
        n++;
    }
    if (n) matmul(&c->ms, logits, c->logits_in, &m->output, n, n >= c->p.gemm_min_batch ? route : MATMUL_ROWS);
    *n_out = n;
    return 0;
}

int forward(struct context *c, int n, const int32_t *tokens, const int *pos, const int *seq,
            const bool *want, float *logits)
{
    const int nb = c->p.n_batch;
    for (int i = 0; i < n; i += nb) {
        const int B = n - i < nb ? n - i : nb;
        int n_out = 0;
        int rc = forward_chunk(c, B, tokens + i, pos + i, seq + i, want ? want + i : NULL, i + B == n,
                               logits, &n_out);
        if (rc) return rc;
        if (logits) logits += (size_t)n_out * c->m->hp.n_vocab;
    }
    return 0;
}

int forward_seq(struct context *c, int seq, const int32_t *tokens, int n, int start, bool all_logits,
                float *logits)
{
    int *pos = malloc((size_t)n * sizeof *pos), *sq = malloc((size_t)n * sizeof *sq);
    bool *want = all_logits ? malloc((size_t)n * sizeof *want) : NULL;
    int rc = -1;
    if (pos && sq && (want || !all_logits)) {
        for (int i = 0; i < n; i++) {
            pos[i] = start + i;
            sq[i] = seq;
            if (want) want[i] = true;
        }
        rc = forward(c, n, tokens, pos, sq, want, logits);
    }
    free(pos);
    free(sq);
    free(want);
    return rc;
}

int context_shift(struct context *c, int seq, int n_keep, int n_discard)
{
    const struct hparams *hp = &c->m->hp;
    struct kv_cache *kv = &c->kv;
    const int n = kv->seqs[seq].n_tokens, kd = kv->k_dim, vd = kv->v_dim;
    if (n_keep < 0 || n_discard <= 0 || n_keep + n_discard > n) return 0;
    float *row = malloc((size_t)(kd > vd ? kd : vd) * sizeof *row);
    float *cs = malloc((size_t)(hp->n_rot + 2) * sizeof *cs);
    if (!row || !cs) {
        free(row);
        free(cs);
        return -1;
    }
    rope_table(cs, -n_discard, hp);
    const size_t esz = kv->elem;
    int rc = 0;
    for (int from = n_keep + n_discard; from < n && !rc; from++) {
        const int to = from - n_discard;
        if (!kv_prepare_write(kv, seq, to)) { rc = -1; break; }
        for (int l = 0; l < hp->n_layer; l++) {
            /* K: to float, rotate back by n_discard positions, store. */
            const void *k = kv_k(kv, seq, l, from);
            if (kv->type == TYPE_F16) for (int i = 0; i < kd; i++) row[i] = fp16_to_fp32(((const uint16_t *)k)[i]);
            else memcpy(row, k, (size_t)kd * sizeof *row);
            rope_apply(row, hp->n_kv_head, cs, hp, c->m->arch->rope);
            kv_store(kv, kv_k(kv, seq, l, to), row, kd);
            memcpy(kv_v(kv, seq, l, to), kv_v(kv, seq, l, from), (size_t)vd * esz);
        }
    }
    if (!rc) kv_seq_truncate(kv, seq, n - n_discard);
    free(row);
    free(cs);
    return rc;
}
