/*
 * parallel.c — many sequences in one context:
 *
 *   --parallel N     N independent samples of one prompt. The prompt is
 *                    evaluated once (and kept in a sequence of its own); every
 *                    sample forks its KV blocks (shared by reference count,
 *                    the partly filled last block copied on the first write)
 *                    and starts from its logits. Sample i uses seed + i.
 *   --prompts FILE   one prompt per line (or JSONL {"prompt", "n_predict",
 *                    "seed"}; - = stdin), run with continuous batching: up to
 *                    -np sequences at a time (4 when -np is not given); a
 *                    finished sequence frees its blocks and the next prompt
 *                    joins. Each prompt uses the seed (or its own "seed"), so
 *                    it gives what `infer -p PROMPT -s SEED` gives.
 *
 * Every decode step is ONE forward() batch of all live sequences (row-dot
 * kernels: a row's result never depends on the rest of the batch). Results
 * come out in input order: labelled text, a JSON array (--parallel --json) or
 * JSONL (--prompts --json); statistics go to stderr.
 *
 * Exactness. A sequence's outputs are bit-identical to running it alone in
 * the single-sequence mode with the same -b, because every position's K/V is
 * computed exactly as the alone run computes it:
 *  - prompts are evaluated in the chunks the alone run uses (aligned to
 *    multiples of -b; a chunk of ≥ 8 tokens takes the prompt route, whose
 *    sgemm rounding may depend on the chunk size, smaller ones row dots);
 *  - generated tokens through row dots, also when recomputed after a
 *    preemption (forced with gemm_min_batch = 0).
 * Prefix sharing follows from that: a new sequence may take the first L
 * positions of a live or cached sequence only if the tokens match and each of
 * those positions was computed by the same route and chunk size as this
 * sequence's alone run would use (see chunk_tag), and if what remains can be
 * computed the alone way (L at a chunk start, or inside a row-dot chunk).
 * For quantized models nothing takes sgemm (forward_batch_invariant), so
 * prompts share any whole KV blocks. Models with float weights share whole
 * blocks up to a multiple of both -b and --kv-block (with the default -b 512,
 * only prefixes of 512+ tokens: lower -b for finer sharing; with -b < 8
 * everything is row dots and any whole block can be shared). --parallel samples share the whole prompt: it is one
 * computation.
 *
 * Memory. The block pool holds n_parallel sequences of n_ctx tokens
 * (INFER_KV_MAX_BLOCKS=N in the environment makes it smaller, for testing).
 * Finished prompts stay cached for sharing until their blocks are needed.
 * When a step needs more blocks than are free, cached prompts are dropped
 * first, then the most recently started sequence is preempted (its blocks
 * freed, its tokens and sampler state kept) and recomputed when memory frees
 * up; new prompts wait while memory is short. A sequence that cannot fit even
 * alone ends with stop_reason "out of KV memory" — never silently.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>

#include "cli.h"

/* Prompt chunks of at least this many tokens go through sgemm, as in generate.c. */
#define GEMM_MIN_BATCH 8

enum rstate { R_NEW, R_WAITING, R_RUNNING, R_DONE };

struct request {
    int index;
    char *prompt_text;        /* --prompts: the prompt as given (NULL: given as ids) */
    int32_t *tok;             /* the prompt, then the generated tokens */
    int n_prompt, n_gen, cap;
    int n_predict;
    uint64_t seed;
    enum rstate state;
    int seq;                  /* KV sequence while running, else -1 */
    int n_kv;                 /* positions with valid K/V (the last sampled token is not yet in) */
    bool has_smp;
    struct sampler smp;
    struct detokenizer dt;
    char *text;
    size_t len, tcap;
    const char *stop;
};

/* A prompt's K/V kept for sharing: finished prompts (--prompts), or the
 * --parallel prompt. Dropped (least recently used first) when blocks are short. */
struct cached {
    int seq;
    int32_t *tok;
    int n_prompt, n_valid;
    long used;
};

struct par {
    const struct options *o;
    struct session *s;
    struct context *ctx;
    int n_vocab, n_ctx, nb, bs, n_slots, ctx_batch;
    bool batch_invariant;     /* prompt chunks compute what row dots do (forward_batch_invariant) */
    bool share, prompts_mode;
    struct request *rq;
    int n_rq;
    int *run, n_run;          /* running requests, oldest first */
    int next_new, n_waiting;  /* first never-started request; preempted ones waiting */
    struct cached *cache;
    int n_cache, cache_cap;
    long clock;
    float *logits;            /* n_slots × n_vocab */
    float *group_logits;      /* --parallel: logits after the shared prompt */
    bool group_valid;
    int32_t *btok;
    int *bpos, *bseq, *wids;
    bool *bwant;
    size_t piece_room;
    /* output */
    int next_out;
    bool out_ok, any_out;
    /* statistics */
    long st_prompt, st_computed, st_shared, st_gen, st_preempt, st_cache_hits;
    double t_prefill, t_decode, cpu_decode;
    int peak_used, peak_shared;
    long peak_live_tokens;
    bool warned_oom;
};

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int imin(int a, int b) { return a < b ? a : b; }
static int imax(int a, int b) { return a > b ? a : b; }

/* ---- requests ---- */

static bool push_token(struct request *r, int32_t t)
{
    if (r->n_prompt + r->n_gen == r->cap) {
        int cap = r->cap * 2;
        int32_t *n = realloc(r->tok, (size_t)cap * sizeof *n);
        if (!n) return false;
        r->tok = n;
        r->cap = cap;
    }
    r->tok[r->n_prompt + r->n_gen++] = t;
    return true;
}

static bool text_room(struct request *r, size_t need)
{
    if (r->len + need <= r->tcap) return true;
    size_t cap = r->tcap ? r->tcap : 256;
    while (cap < r->len + need) cap *= 2;
    char *t = realloc(r->text, cap);
    if (!t) return false;
    r->text = t;
    r->tcap = cap;
    return true;
}

static void detok_into(struct par *P, struct request *r, int32_t id)
{
    if (text_room(r, P->piece_room)) r->len += detok_push(&r->dt, id, r->text + r->len, P->piece_room);
}

/* A request for the prompt ids[0..n); takes ownership of ids and text. */
static int add_request(struct par *P, int32_t *ids, int n, char *text, int n_predict, uint64_t seed)
{
    struct request *rq = realloc(P->rq, (size_t)(P->n_rq + 1) * sizeof *rq);
    if (!rq) return -1;
    P->rq = rq;
    struct request *r = &rq[P->n_rq];
    memset(r, 0, sizeof *r);
    r->index = P->n_rq++;
    r->prompt_text = text;
    r->n_prompt = n;
    r->cap = n + 64;
    r->tok = realloc(ids, (size_t)r->cap * sizeof *ids);
    if (!r->tok) {
        r->tok = ids;
        r->cap = n;
    }
    r->n_predict = n_predict;
    r->seed = seed;
    r->seq = -1;
    r->state = R_NEW;
    return 0;
}

static void request_free(struct request *r)
{
    if (r->has_smp) sampler_free(&r->smp);
    r->has_smp = false;
    free(r->tok);
    free(r->text);
    free(r->prompt_text);
    r->tok = NULL;
    r->text = NULL;
    r->prompt_text = NULL;
}

/* ---- the prefix cache ---- */

static void cache_drop(struct par *P, int i)
{
    kv_seq_free(&P->ctx->kv, P->cache[i].seq);
    free(P->cache[i].tok);
    P->cache[i] = P->cache[--P->n_cache];
}

static void cache_evict_lru(struct par *P)
{
    int lru = 0;
    for (int i = 1; i < P->n_cache; i++)
        if (P->cache[i].used < P->cache[lru].used) lru = i;
    cache_drop(P, lru);
}

/* A finished (or stopped) request gives its sequence back: kept for sharing
 * (its prompt part) with --prompts, freed otherwise. */
static void release_seq(struct par *P, struct request *r)
{
    struct kv_cache *kv = &P->ctx->kv;
    const int keep = imin(r->n_kv, r->n_prompt);
    if (P->share && P->prompts_mode && keep > 0 && P->cache_cap > 0) {
        int32_t *t = malloc((size_t)keep * sizeof *t);
        if (t) {
            if (P->n_cache == P->cache_cap) cache_evict_lru(P);
            memcpy(t, r->tok, (size_t)keep * sizeof *t);
            kv_seq_truncate(kv, r->seq, keep);
            P->cache[P->n_cache++] = (struct cached){.seq = r->seq, .tok = t, .n_prompt = r->n_prompt,
                                                     .n_valid = keep, .used = ++P->clock};
            r->seq = -1;
            return;
        }
    }
    kv_seq_free(kv, r->seq);
    r->seq = -1;
}

/* ---- scheduling ---- */

static void run_remove(struct par *P, const struct request *r)
{
    for (int i = 0; i < P->n_run; i++) {
        if (P->run[i] == r->index) {
            memmove(P->run + i, P->run + i + 1, (size_t)(P->n_run - i - 1) * sizeof *P->run);
            P->n_run--;
            return;
        }
    }
}

static void note_peaks(struct par *P)
{
    const struct kv_cache *kv = &P->ctx->kv;
    P->peak_used = imax(P->peak_used, kv_blocks_used(kv));
    P->peak_shared = imax(P->peak_shared, kv_blocks_shared(kv));
    long live = 0;
    for (int i = 0; i < P->n_run; i++) live += P->rq[P->run[i]].n_kv;
    if (live > P->peak_live_tokens) P->peak_live_tokens = live;
}

static void finish(struct par *P, struct request *r, const char *reason)
{
    r->stop = reason;
    if (text_room(r, P->piece_room)) r->len += detok_flush(&r->dt, r->text + r->len, P->piece_room);
    if (r->has_smp) sampler_free(&r->smp);
    r->has_smp = false;
    if (r->state == R_WAITING) P->n_waiting--;
    if (r->state == R_RUNNING) run_remove(P, r);
    if (r->seq >= 0) release_seq(P, r);
    r->state = R_DONE;
    if (!strcmp(reason, "out of KV memory") && !P->warned_oom) {
        fprintf(stderr, "infer: the KV pool cannot hold sequence %d even alone: it stops early "
                        "(stop_reason \"out of KV memory\")\n", r->index);
        P->warned_oom = true;
    }
}

/* Its blocks go back to the pool; it is recomputed when it starts again. */
static void preempt(struct par *P, struct request *r)
{
    kv_seq_free(&P->ctx->kv, r->seq);
    r->seq = -1;
    r->n_kv = 0;
    run_remove(P, r);
    r->state = R_WAITING;
    P->n_waiting++;
    P->st_preempt++;
}

/* Sample the next token from logits, as generate.c's loop does, and decide
 * whether the request goes on. */
static void sample_next(struct par *P, struct request *r, float *logits)
{
    const struct options *o = P->o;
    if (r->n_gen == r->n_predict) { finish(P, r, "limit"); return; }
    if (g_interrupted) { finish(P, r, "interrupted"); return; }
    int32_t tok = sampler_sample(&r->smp, logits);
    sampler_accept(&r->smp, tok);
    if (!push_token(r, tok)) { finish(P, r, "out of memory"); return; }
    P->st_gen++;
    if (!o->ignore_eos && tokenizer_is_eog(P->s->tok, tok)) { finish(P, r, "eos"); return; }
    detok_into(P, r, tok);
    if (r->n_gen == r->n_predict) { finish(P, r, "limit"); return; }
    if (r->n_prompt + r->n_gen - 1 >= P->n_ctx) { finish(P, r, "context full"); return; }
}

/*
 * How position q of a sequence with an n_prompt-token prompt is computed by
 * the alone run: 0 = row dots (generated tokens, small chunks), else the size
 * of the sgemm chunk it is part of. Two sequences with the same tokens up to
 * q and the same tags up to q hold bit-identical K/V at q.
 */
static int chunk_tag(const struct par *P, int n_prompt, int q)
{
    if (q >= n_prompt || P->batch_invariant) return 0;
    const int c0 = q / P->nb * P->nb, m = imin(P->nb, n_prompt - c0);
    return m >= GEMM_MIN_BATCH ? m : 0;
}

/* Positions of r (up to target) that may be taken from a holder of htok with
 * h_valid valid positions and an h_prompt-token prompt. */
static int share_len(const struct par *P, const struct request *r, int target, bool need_logits,
                     const int32_t *htok, int h_prompt, int h_valid)
{
    int lim = imin(h_valid, need_logits ? target - 1 : target), L = 0;
    while (L < lim && htok[L] == r->tok[L] && chunk_tag(P, h_prompt, L) == chunk_tag(P, r->n_prompt, L)) L++;
    /* Whole blocks, and the rest must be computable as the alone run does:
     * from a chunk start, or inside a row-dot chunk. */
    for (L = L / P->bs * P->bs; L > 0; L -= P->bs)
        if (L >= r->n_prompt || L % P->nb == 0 || chunk_tag(P, r->n_prompt, L) == 0) break;
    return L;
}

/* The best sequence to fork for r: its id (or -1) and the positions to take. */
static int find_donor(struct par *P, const struct request *r, int target, bool need_logits, int *L_out,
                      bool *use_group, int *cache_i)
{
    int best = 0, seq = -1, ci = -1;
    *use_group = false;
    *cache_i = -1;
    for (int i = 0; i < P->n_run; i++) {
        const struct request *h = &P->rq[P->run[i]];
        if (h == r) continue;
        /* --parallel: every sample has the same prompt, evaluated once. */
        if (!P->prompts_mode && need_logits && P->group_valid && h->n_kv >= r->n_prompt) {
            *use_group = true;
            *L_out = r->n_prompt;
            return h->seq;
        }
        int L = share_len(P, r, target, need_logits, h->tok, h->n_prompt, h->n_kv);
        if (L > best) { best = L; seq = h->seq; ci = -1; }
    }
    for (int i = 0; i < P->n_cache; i++) {
        struct cached *c = &P->cache[i];
        if (!P->prompts_mode && need_logits && P->group_valid && c->n_valid >= r->n_prompt) {
            *use_group = true;
            *L_out = r->n_prompt;
            *cache_i = i;
            c->used = ++P->clock;
            return c->seq;
        }
        int L = share_len(P, r, target, need_logits, c->tok, c->n_prompt, c->n_valid);
        if (L > best) { best = L; seq = c->seq; ci = i; }
    }
    if (ci >= 0) P->cache[ci].used = ++P->clock; /* evicted last */
    *cache_i = ci;
    *L_out = best;
    return seq;
}

/* Tokens p0..p0+n of one sequence in one forward() call; row_dot forces the
 * row-dot kernels (generated tokens, partial chunks). */
static int run_chunk(struct par *P, int seq, const int32_t *tok, int p0, int n, bool row_dot, float *logits)
{
    for (int i = 0; i < n; i++) {
        P->btok[i] = tok[p0 + i];
        P->bpos[i] = p0 + i;
        P->bseq[i] = seq;
        P->bwant[i] = logits && i == n - 1;
    }
    if (row_dot) P->ctx->p.gemm_min_batch = 0;
    int rc = forward(P->ctx, n, P->btok, P->bpos, P->bseq, P->bwant, logits ? logits : P->logits);
    P->ctx->p.gemm_min_batch = GEMM_MIN_BATCH;
    return rc;
}

static int ceil_div(int a, int b) { return (a + b - 1) / b; }

static int cmp_int(const void *a, const void *b)
{
    const int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* New blocks the next decode step takes: fresh blocks, and copies of shared
 * ones (a block shared by k that all k write is copied k-1 times). */
static int step_blocks_needed(struct par *P)
{
    const struct kv_cache *kv = &P->ctx->kv;
    int need = 0, nw = 0;
    for (int i = 0; i < P->n_run; i++) {
        const struct request *r = &P->rq[P->run[i]];
        const struct kv_seq *s = &kv->seqs[r->seq];
        const int bi = r->n_kv / kv->block_size;
        if (bi >= s->n_blocks) need++;
        else if (kv->refcount[s->table[bi]] > 1) P->wids[nw++] = s->table[bi];
    }
    qsort(P->wids, (size_t)nw, sizeof *P->wids, cmp_int);
    for (int i = 0; i < nw;) {
        int j = i;
        while (j < nw && P->wids[j] == P->wids[i]) j++;
        const int w = j - i;
        need += kv->refcount[P->wids[i]] > w ? w : w - 1;
        i = j;
    }
    return need;
}

/*
 * Start (or restart after a preemption) request r: share what can be shared,
 * compute the rest of its prompt (and, after a preemption, of its generated
 * tokens), sample its first token. Returns false when it must wait for memory.
 */
static bool start(struct par *P, struct request *r)
{
    struct kv_cache *kv = &P->ctx->kv;
    const bool need_logits = r->n_gen == 0;
    const int target = need_logits ? r->n_prompt : r->n_prompt + r->n_gen - 1;
    int L = 0, donor = -1, cache_i = -1;
    bool group = false;
    if (P->share) donor = find_donor(P, r, target, need_logits, &L, &group, &cache_i);
    /* Blocks for r up to its first decode write; a partly filled shared block is copied. */
    const int need = ceil_div(target + 1, P->bs) - L / P->bs;
    int seq = donor >= 0 ? kv_seq_fork(kv, donor, L) : kv_seq_new(kv);
    if (seq < 0) { /* cannot happen: there are slots for every runner and cache entry */
        if (P->n_run > 0) return false;
        if (r->index == P->next_new) P->next_new++;
        finish(P, r, "error");
        return true;
    }
    /* Room for r and for the next step of the running sequences. */
    while (kv_blocks_available(kv) < need + step_blocks_needed(P) && P->n_cache > 0) cache_evict_lru(P);
    if (kv_blocks_available(kv) < need + step_blocks_needed(P) && P->n_run > 0) {
        kv_seq_free(kv, seq);
        return false;
    }
    if (cache_i >= 0) P->st_cache_hits++;
    if (r->state == R_WAITING) P->n_waiting--;
    if (r->state == R_NEW) P->st_prompt += r->n_prompt;
    if (r->index == P->next_new) P->next_new++;
    r->state = R_RUNNING;
    r->seq = seq;
    r->n_kv = L;
    P->run[P->n_run++] = r->index;
    if (!r->has_smp) {
        struct sampler_params sp = P->o->sp;
        sp.seed = r->seed;
        if (sampler_init(&r->smp, &sp, P->n_vocab)) {
            finish(P, r, "out of memory");
            return true;
        }
        r->has_smp = true;
        for (int i = 0; i < r->n_prompt; i++) sampler_accept(&r->smp, r->tok[i]);
    }
    P->st_shared += L;
    float *lg = P->logits;
    const double t0 = now_seconds();
    if (group) {
        memcpy(lg, P->group_logits, (size_t)P->n_vocab * sizeof *lg);
    } else {
        int p = L;
        while (p < target) {
            int end;
            bool row_dot;
            if (p < r->n_prompt) { /* the alone run's chunk of -b tokens */
                const int c0 = p / P->nb * P->nb;
                end = imin(c0 + P->nb, r->n_prompt);
                row_dot = p != c0; /* share_len allows this only in a row-dot chunk */
            } else {
                end = imin(p + P->ctx_batch, target);
                row_dot = true;
            }
            int rc = run_chunk(P, seq, r->tok, p, end - p, row_dot, need_logits && end == target ? lg : NULL);
            if (rc == -1) {
                kv_seq_truncate(kv, seq, p);
                if (P->n_cache > 0) {
                    while (P->n_cache > 0) cache_evict_lru(P);
                    continue;
                }
                P->t_prefill += now_seconds() - t0;
                if (P->n_run > 1) { /* wait for the others to free memory */
                    preempt(P, r);
                    P->st_preempt--;
                    return false;
                }
                finish(P, r, "out of KV memory");
                return true;
            }
            if (rc) {
                P->t_prefill += now_seconds() - t0;
                finish(P, r, "error");
                return true;
            }
            P->st_computed += end - p;
            r->n_kv = p = end;
        }
    }
    P->t_prefill += now_seconds() - t0;
    note_peaks(P);
    if (need_logits) {
        if (!P->prompts_mode && P->share && !P->group_valid && P->group_logits) {
            /* --parallel: the prompt's K/V (in a sequence of its own, dropped
             * only under memory pressure) and its logits serve every sample. */
            memcpy(P->group_logits, lg, (size_t)P->n_vocab * sizeof *lg);
            P->group_valid = true;
            int32_t *t = malloc((size_t)r->n_prompt * sizeof *t);
            int ps = t && P->n_cache < P->cache_cap ? kv_seq_fork(kv, r->seq, r->n_prompt) : -1;
            if (ps >= 0) {
                memcpy(t, r->tok, (size_t)r->n_prompt * sizeof *t);
                P->cache[P->n_cache++] = (struct cached){.seq = ps, .tok = t, .n_prompt = r->n_prompt,
                                                         .n_valid = r->n_prompt, .used = ++P->clock};
            } else {
                free(t);
            }
        }
        sample_next(P, r, lg);
    }
    return true;
}

/* One token for every running sequence, in one forward() batch. */
static void decode_step(struct par *P)
{
    struct kv_cache *kv = &P->ctx->kv;
    for (;;) {
        if (step_blocks_needed(P) <= kv_blocks_available(kv)) break;
        if (P->n_cache > 0) { cache_evict_lru(P); continue; }
        if (P->n_run > 1) { preempt(P, &P->rq[P->run[P->n_run - 1]]); continue; }
        finish(P, &P->rq[P->run[0]], "out of KV memory");
        return;
    }
    const int n = P->n_run;
    int ids[n];
    memcpy(ids, P->run, (size_t)n * sizeof *ids);
    for (int i = 0; i < n; i++) {
        const struct request *r = &P->rq[ids[i]];
        P->btok[i] = r->tok[r->n_prompt + r->n_gen - 1];
        P->bpos[i] = r->n_kv;
        P->bseq[i] = r->seq;
        P->bwant[i] = true;
    }
    const double t0 = now_seconds(), c0 = cpu_s();
    int rc = forward(P->ctx, n, P->btok, P->bpos, P->bseq, P->bwant, P->logits);
    if (rc) {
        /* Not expected (the blocks were counted): undo and let the next step retry. */
        for (int i = 0; i < n; i++) kv_seq_truncate(kv, P->rq[ids[i]].seq, P->rq[ids[i]].n_kv);
        if (rc == -1 && n > 1) preempt(P, &P->rq[P->run[P->n_run - 1]]);
        else for (int i = 0; i < n; i++) finish(P, &P->rq[ids[i]], rc == -1 ? "out of KV memory" : "error");
        P->t_decode += now_seconds() - t0;
        P->cpu_decode += cpu_s() - c0;
        return;
    }
    for (int i = 0; i < n; i++) P->rq[ids[i]].n_kv++;
    note_peaks(P);
    for (int i = 0; i < n; i++) sample_next(P, &P->rq[ids[i]], P->logits + (size_t)i * P->n_vocab);
    P->t_decode += now_seconds() - t0;
    P->cpu_decode += cpu_s() - c0;
}

/* Lowest-index request that may start: a preempted one, else the next new one. */
static int next_waiting(const struct par *P)
{
    if (P->n_waiting > 0)
        for (int i = P->next_out; i < P->next_new; i++)
            if (P->rq[i].state == R_WAITING) return i;
    return P->next_new < P->n_rq ? P->next_new : -1;
}

/* ---- output ---- */

static bool write_str(struct par *P, const char *s, size_t n)
{
    if (P->out_ok && !out_write(s, n)) P->out_ok = false;
    return P->out_ok;
}

static cJSON *result_json(const struct par *P, const struct request *r)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "index", r->index);
    if (P->prompts_mode) {
        if (r->prompt_text) cJSON_AddStringToObject(j, "prompt", r->prompt_text);
        else cJSON_AddItemToObject(j, "prompt_ids", cJSON_CreateIntArray((const int *)r->tok, r->n_prompt));
    } else {
        char seed[32]; /* exact, also above 2^53 */
        snprintf(seed, sizeof seed, "%llu", (unsigned long long)r->seed);
        cJSON_AddRawToObject(j, "seed", seed);
    }
    /* The text is valid UTF-8 by construction (the detokenizer). */
    char *t = malloc(r->len + 1);
    if (t) {
        memcpy(t, r->text ? r->text : "", r->len);
        t[r->len] = 0;
    }
    cJSON_AddStringToObject(j, "text", t ? t : "");
    free(t);
    cJSON_AddNumberToObject(j, "n_tokens", r->n_gen);
    cJSON_AddStringToObject(j, "stop_reason", r->stop ? r->stop : "interrupted");
    cJSON_AddNumberToObject(j, "n_prompt_tokens", r->n_prompt);
    cJSON_AddItemToObject(j, "token_ids", cJSON_CreateIntArray((const int *)r->tok + r->n_prompt, r->n_gen));
    return j;
}

static void write_result(struct par *P, struct request *r)
{
    if (P->o->json) {
        cJSON *j = result_json(P, r);
        char *s = cJSON_PrintUnformatted(j);
        cJSON_Delete(j);
        if (!s) { P->out_ok = false; return; }
        if (!P->prompts_mode) write_str(P, P->any_out ? ",\n" : "[\n", 2);
        write_str(P, s, strlen(s));
        if (P->prompts_mode) write_str(P, "\n", 1);
        free(s);
    } else {
        char hdr[96];
        int k = snprintf(hdr, sizeof hdr, "%s--- %s %d ---\n", P->any_out ? "\n" : "",
                         P->prompts_mode ? "prompt" : "sample", r->index);
        write_str(P, hdr, (size_t)k);
        write_str(P, r->text ? r->text : "", r->len);
    }
    P->any_out = true;
    if (r->stop && (!strcmp(r->stop, "out of KV memory") || !strcmp(r->stop, "error") ||
                    !strcmp(r->stop, "out of memory")))
        fprintf(stderr, "infer: %s %d stopped early: %s\n", P->prompts_mode ? "prompt" : "sample", r->index, r->stop);
}

/* A pipe whose reader went away, noticed before the next write (results of
 * --parallel only come at the end). */
static bool stdout_gone(void)
{
    struct pollfd pf = {.fd = STDOUT_FILENO, .events = POLLOUT};
    return poll(&pf, 1, 0) == 1 && (pf.revents & (POLLERR | POLLHUP | POLLNVAL));
}

/* Finished results, in input order. */
static bool flush_out(struct par *P)
{
    while (P->next_out < P->n_rq && P->rq[P->next_out].state == R_DONE) {
        struct request *r = &P->rq[P->next_out++];
        if (P->out_ok) write_result(P, r);
        request_free(r);
    }
    return P->out_ok;
}

static void close_out(struct par *P)
{
    if (P->o->json && !P->prompts_mode) {
        if (!P->any_out) write_str(P, "[", 1);
        write_str(P, "\n]\n", 3);
    } else if (!P->o->json && P->any_out) {
        write_str(P, "\n", 1);
    }
}

/* ---- input ---- */

static int32_t *encode(const struct par *P, const char *text, size_t len, size_t *n)
{
    const bool bos = tokenizer_add_bos(P->s->tok) && !P->o->no_bos;
    return tokenizer_encode(P->s->tok, text, len, bos, P->o->special, n);
}

/* One --prompts line (NUL-terminated, no newline). 0, or 1 after reporting an error. */
static int parse_line(struct par *P, const char *file, int ln, char *line)
{
    const struct options *o = P->o;
    const char *p = line;
    while (*p == ' ' || *p == '\t') p++;
    if (!*p) return 0;
    int n_predict = o->n_predict;
    uint64_t seed = o->sp.seed;
    int32_t *ids = NULL;
    size_t n = 0;
    char *text = NULL;
    if (*p == '{') {
        cJSON *j = cJSON_Parse(p);
        if (!j || !cJSON_IsObject(j)) {
            fprintf(stderr, "infer: %s:%d: not a JSON object\n", file, ln);
            cJSON_Delete(j);
            return 1;
        }
        const cJSON *pr = cJSON_GetObjectItemCaseSensitive(j, "prompt");
        const cJSON *pi = cJSON_GetObjectItemCaseSensitive(j, "prompt_ids");
        const cJSON *np = cJSON_GetObjectItemCaseSensitive(j, "n_predict");
        const cJSON *sd = cJSON_GetObjectItemCaseSensitive(j, "seed");
        const char *bad = NULL;
        if (np && (!cJSON_IsNumber(np) || np->valuedouble < -1 || np->valuedouble > 1e9 ||
                   np->valuedouble != (double)(int)np->valuedouble))
            bad = "\"n_predict\" must be an integer ≥ -1";
        else if (sd && (!cJSON_IsNumber(sd) || sd->valuedouble < 0 || sd->valuedouble > 9007199254740992.0 ||
                        sd->valuedouble != (double)(uint64_t)sd->valuedouble))
            bad = "\"seed\" must be a non-negative integer";
        else if (cJSON_IsString(pr)) {
            text = strdup(pr->valuestring);
            ids = text ? encode(P, text, strlen(text), &n) : NULL;
            if (!ids) bad = "out of memory";
        } else if (cJSON_IsArray(pi)) {
            n = (size_t)cJSON_GetArraySize(pi);
            ids = malloc((n ? n : 1) * sizeof *ids);
            size_t k = 0;
            const cJSON *e;
            cJSON_ArrayForEach(e, pi) {
                if (!cJSON_IsNumber(e) || e->valueint < 0 || e->valueint >= P->n_vocab) {
                    bad = "\"prompt_ids\" must be token ids of the model's vocabulary";
                    break;
                }
                if (ids) ids[k++] = (int32_t)e->valueint;
            }
            if (!ids && !bad) bad = "out of memory";
        } else {
            bad = "needs \"prompt\" (a string) or \"prompt_ids\" (an array of token ids)";
        }
        if (!bad) {
            if (np) n_predict = (int)np->valuedouble;
            if (sd) seed = (uint64_t)sd->valuedouble;
        }
        cJSON_Delete(j);
        if (bad) {
            fprintf(stderr, "infer: %s:%d: %s\n", file, ln, bad);
            free(ids);
            free(text);
            return 1;
        }
    } else {
        text = strdup(line);
        ids = text ? encode(P, text, strlen(text), &n) : NULL;
        if (!ids) {
            fprintf(stderr, "infer: out of memory\n");
            free(text);
            return 1;
        }
    }
    if (n == 0 || n > (size_t)P->n_ctx) {
        if (n == 0) fprintf(stderr, "infer: %s:%d: empty prompt (and no BOS token to start from)\n", file, ln);
        else fprintf(stderr, "infer: %s:%d: the prompt has %zu tokens, more than the context size %d (use -c)\n",
                     file, ln, n, P->n_ctx);
        free(ids);
        free(text);
        return 1;
    }
    if (add_request(P, ids, (int)n, text, n_predict, seed)) {
        fprintf(stderr, "infer: out of memory\n");
        free(ids);
        free(text);
        return 1;
    }
    return 0;
}

static int load_prompts(struct par *P, const char *path)
{
    const bool std_in = !strcmp(path, "-");
    FILE *f = std_in ? stdin : fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "infer: %s: %s\n", path, strerror(errno));
        return 1;
    }
    size_t len;
    char *buf = read_input(f, &len);
    if (!std_in) fclose(f);
    if (!buf) {
        fprintf(stderr, "infer: %s: cannot read the prompts\n", std_in ? "stdin" : path);
        return 1;
    }
    const char *name = std_in ? "stdin" : path;
    int ln = 0, rc = 0;
    for (char *line = buf; line < buf + len && !rc;) {
        char *nl = memchr(line, '\n', (size_t)(buf + len - line));
        char *end = nl ? nl : buf + len;
        ln++;
        if (end > line && end[-1] == '\r') end--;
        *end = 0;
        if (strlen(line) != (size_t)(end - line)) {
            fprintf(stderr, "infer: %s:%d: NUL byte in the prompt\n", name, ln);
            rc = 1;
            break;
        }
        rc = parse_line(P, name, ln, line);
        line = nl ? nl + 1 : buf + len;
    }
    free(buf);
    if (!rc && P->n_rq == 0) {
        fprintf(stderr, "infer: %s: no prompts\n", name);
        rc = 1;
    }
    return rc;
}

/* ---- statistics ---- */

static void report(struct par *P, double wall)
{
    const struct options *o = P->o;
    const struct kv_cache *kv = &P->ctx->kv;
    const double bpt = (double)kv->block_bytes / kv->block_size; /* K+V bytes per token */
    const double used = (double)kv->n_allocated * kv->block_bytes;
    const double contiguous = (double)P->n_slots * P->n_ctx * bpt, unshared = (double)P->peak_live_tokens * bpt;
    const double gen_tps = P->t_decode > 0 ? P->st_gen / P->t_decode : 0.0;
    const double pp_tps = P->t_prefill > 0 ? P->st_computed / P->t_prefill : 0.0;
    const double MiB = 1024.0 * 1024.0;
    cJSON *st = cJSON_CreateObject();
    cJSON_AddStringToObject(st, "mode", P->prompts_mode ? "prompts" : "parallel");
    cJSON_AddNumberToObject(st, "n_sequences", P->n_rq);
    cJSON_AddNumberToObject(st, "n_parallel", P->n_slots);
    cJSON_AddNumberToObject(st, "n_ctx", P->n_ctx);
    cJSON_AddNumberToObject(st, "n_batch", P->nb);
    cJSON_AddBoolToObject(st, "share_prefix", P->share);
    cJSON_AddNumberToObject(st, "prompt_tokens", (double)P->st_prompt);
    cJSON_AddNumberToObject(st, "prompt_tokens_computed", (double)P->st_computed);
    cJSON_AddNumberToObject(st, "prompt_tokens_shared", (double)P->st_shared);
    cJSON_AddNumberToObject(st, "generated_tokens", (double)P->st_gen);
    cJSON_AddNumberToObject(st, "prompt_s", P->t_prefill);
    cJSON_AddNumberToObject(st, "gen_s", P->t_decode);
    cJSON_AddNumberToObject(st, "wall_s", wall);
    cJSON_AddNumberToObject(st, "prompt_tok_s", pp_tps);
    cJSON_AddNumberToObject(st, "aggregate_tok_s", gen_tps);
    cJSON_AddNumberToObject(st, "overall_tok_s", wall > 0 ? P->st_gen / wall : 0.0);
    /* CPU time of the decode steps (all threads): steadier than wall time on a busy machine. */
    cJSON_AddNumberToObject(st, "gen_cpu_s", P->cpu_decode);
    cJSON_AddNumberToObject(st, "tok_per_cpu_s", P->cpu_decode > 0 ? P->st_gen / P->cpu_decode : 0.0);
    cJSON_AddNumberToObject(st, "kv_block", kv->block_size);
    cJSON_AddNumberToObject(st, "kv_bytes_per_token", bpt);
    cJSON_AddNumberToObject(st, "kv_blocks_max", kv->max_blocks);
    cJSON_AddNumberToObject(st, "kv_blocks_allocated", kv->n_allocated);
    cJSON_AddNumberToObject(st, "kv_blocks_peak_used", P->peak_used);
    cJSON_AddNumberToObject(st, "kv_blocks_shared_peak", P->peak_shared);
    cJSON_AddNumberToObject(st, "kv_bytes_used", used);
    cJSON_AddNumberToObject(st, "kv_tokens_unshared", (double)P->peak_live_tokens);
    cJSON_AddNumberToObject(st, "kv_bytes_unshared", unshared);
    cJSON_AddNumberToObject(st, "kv_bytes_contiguous", contiguous);
    cJSON_AddNumberToObject(st, "cow_copies", (double)kv->n_cow);
    cJSON_AddNumberToObject(st, "preemptions", (double)P->st_preempt);
    cJSON_AddNumberToObject(st, "prefix_cache_hits", (double)P->st_cache_hits);
    cJSON *wrap = cJSON_CreateObject();
    cJSON_AddItemToObject(wrap, "stats", st);
    if (o->json_out) {
        char *s = cJSON_Print(wrap);
        FILE *f = fopen(o->json_out, "w");
        if (!f || !s || fputs(s, f) < 0 || fputc('\n', f) < 0 || fclose(f)) {
            fprintf(stderr, "infer: %s: %s\n", o->json_out, f ? "write failed" : strerror(errno));
            f = NULL;
        }
        free(s);
    }
    if (o->json) {
        char *s = cJSON_PrintUnformatted(wrap);
        if (s) fprintf(stderr, "%s\n", s);
        free(s);
    } else {
        fprintf(stderr,
                "infer: %d sequences, %d at a time | prompt %ld tokens (%ld computed in %.3f s, %.2f tok/s; %ld shared) | "
                "generated %ld tokens in %.3f s (%.2f tok/s aggregate) | wall %.3f s\n",
                P->n_rq, P->n_slots, P->st_prompt, P->st_computed, P->t_prefill, pp_tps, P->st_shared, P->st_gen,
                P->t_decode, gen_tps, wall);
        fprintf(stderr,
                "infer: KV %d blocks of %d tokens (%.2f MiB), %d shared at peak, %lld copied on write, %ld preempted | "
                "unshared: %ld tokens = %.2f MiB | contiguous %d x %d ctx = %.2f MiB\n",
                kv->n_allocated, kv->block_size, used / MiB, P->peak_shared, (long long)kv->n_cow, P->st_preempt,
                P->peak_live_tokens, unshared / MiB, P->n_slots, P->n_ctx, contiguous / MiB);
    }
    cJSON_Delete(wrap);
}

/* ---- the mode ---- */

int run_parallel(const struct options *o, struct session *s)
{
    const struct model *m = s->model;
    struct par P = {.o = o, .s = s, .out_ok = true};
    int rc = 1;
    P.prompts_mode = o->prompts_file != NULL;
    P.share = !o->no_share_prefix;
    P.n_vocab = m->hp.n_vocab;
    P.n_ctx = o->n_ctx > 0 ? o->n_ctx : default_ctx(m);
    P.nb = o->n_batch > 0 ? o->n_batch : 1;
    P.bs = o->kv_block > 0 ? o->kv_block : 16;
    P.n_slots = o->n_parallel > 0 ? o->n_parallel : (P.prompts_mode ? 4 : 1);
    P.piece_room = tokenizer_max_token_bytes(s->tok) + 72;
    if (o->dump_logits || o->context_shift) {
        fprintf(stderr, "infer: %s is not supported with --parallel/--prompts\n",
                o->dump_logits ? "--dump-logits" : "--context-shift");
        return 1;
    }
    if (P.prompts_mode && (o->prompt || o->prompt_file || o->prompt_ids)) {
        fprintf(stderr, "infer: --prompts cannot be combined with -p, -f or --prompt-ids\n");
        return 1;
    }

    /* The requests. */
    if (P.prompts_mode) {
        if (load_prompts(&P, o->prompts_file)) goto done;
        if (P.n_slots > P.n_rq) P.n_slots = P.n_rq;
    } else {
        size_t n;
        int32_t *prompt = prompt_tokens(o, s, &n);
        if (!prompt) return 1;
        if (n == 0 || n > (size_t)P.n_ctx) {
            if (n == 0) fprintf(stderr, "infer: empty prompt (and no BOS token to start from)\n");
            else fprintf(stderr, "infer: the prompt has %zu tokens, more than the context size %d (use -c)\n", n, P.n_ctx);
            free(prompt);
            return 1;
        }
        for (int i = 0; i < P.n_slots; i++) {
            int32_t *ids = malloc(n * sizeof *ids);
            if (ids) memcpy(ids, prompt, n * sizeof *ids);
            if (!ids || add_request(&P, ids, (int)n, NULL, o->n_predict, o->sp.seed + (uint64_t)i)) {
                free(ids);
                free(prompt);
                fprintf(stderr, "infer: out of memory\n");
                goto done;
            }
        }
        free(prompt);
    }
    for (int i = 0; i < P.n_rq; i++) {
        struct request *r = &P.rq[i];
        const bool echo_strip = r->tok[0] == tokenizer_bos(s->tok);
        detok_init(&r->dt, s->tok, o->echo && echo_strip);
        if (o->echo)
            for (int k = 0; k < r->n_prompt; k++) detok_into(&P, r, r->tok[k]);
    }

    /* The context: a pool for n_slots sequences of n_ctx tokens; sequence
     * slots for the runners and the prefix cache. */
    P.cache_cap = !P.share ? 0 : P.prompts_mode ? P.n_slots : 1;
    P.ctx_batch = imax(P.nb, P.n_slots);
    const int per_seq = ceil_div(P.n_ctx, P.bs);
    int max_blocks = P.n_slots * per_seq;
    /* A pool for all n_slots sequences at full context may not fit in memory,
     * but sharing means it is rarely filled, and when it is, sequences wait:
     * keep it to 90% of the available memory, as long as one sequence fits. */
    const uint64_t block_bytes = (uint64_t)P.bs * model_kv_bytes_per_token(m, o->kv_f32 ? 4 : 2);
    const uint64_t avail = available_memory() / 10 * 9;
    if (avail && (uint64_t)max_blocks * block_bytes > avail && avail / block_bytes >= (uint64_t)per_seq) {
        max_blocks = (int)(avail / block_bytes);
        fprintf(stderr, "infer: the KV pool is limited to %d blocks (%.2f GiB, %d full sequences) by the memory "
                        "available: sequences may wait\n", max_blocks, max_blocks * (double)block_bytes / 1073741824.0,
                max_blocks / per_seq);
    }
    const char *env = getenv("INFER_KV_MAX_BLOCKS");
    if (env && atoi(env) > 0) max_blocks = atoi(env);
    char err[512];
    struct context_params cp = {.n_ctx = P.n_ctx, .n_batch = P.ctx_batch, .kv_block = P.bs,
                                .n_seq_max = P.n_slots + P.cache_cap + 1, .kv_max_blocks = max_blocks,
                                .gemm_min_batch = GEMM_MIN_BATCH, .kv_f32 = o->kv_f32};
    P.ctx = context_new(m, &cp, err, sizeof err);
    if (!P.ctx) {
        fprintf(stderr, "infer: %s\n", err);
        goto done;
    }
    P.batch_invariant = forward_batch_invariant(P.ctx);
    P.logits = malloc((size_t)P.n_slots * P.n_vocab * sizeof *P.logits);
    P.group_logits = P.prompts_mode ? NULL : malloc((size_t)P.n_vocab * sizeof *P.group_logits);
    P.btok = malloc((size_t)P.ctx_batch * sizeof *P.btok);
    P.bpos = malloc((size_t)P.ctx_batch * sizeof *P.bpos);
    P.bseq = malloc((size_t)P.ctx_batch * sizeof *P.bseq);
    P.bwant = malloc((size_t)P.ctx_batch * sizeof *P.bwant);
    P.wids = malloc((size_t)P.n_slots * sizeof *P.wids);
    P.run = malloc((size_t)P.n_slots * sizeof *P.run);
    P.cache = calloc((size_t)(P.cache_cap ? P.cache_cap : 1), sizeof *P.cache);
    if (!P.logits || (!P.prompts_mode && !P.group_logits) || !P.btok || !P.bpos || !P.bseq || !P.bwant ||
        !P.wids || !P.run || !P.cache) {
        fprintf(stderr, "infer: out of memory\n");
        goto done;
    }
    char what[96];
    snprintf(what, sizeof what, " | %d %s, %d at a time", P.n_rq, P.prompts_mode ? "prompts" : "samples", P.n_slots);
    print_model_line(o, m, P.n_ctx, what);

    catch_signals();

    const double t0 = now_seconds();
    while (P.out_ok && !g_interrupted) {
        int started = 0;
        while (P.n_run < P.n_slots && !g_interrupted) {
            int i = next_waiting(&P);
            if (i < 0 || !start(&P, &P.rq[i])) break;
            started++;
        }
        if (!flush_out(&P)) break;
        if (P.n_run == 0) {
            if (next_waiting(&P) < 0 || !started) break;
            continue;
        }
        decode_step(&P);
        if (!flush_out(&P) || stdout_gone()) {
            P.out_ok = false;
            break;
        }
    }
    /* Ctrl-C or a closed stdout: what has started ends here, with its partial text. */
    while (P.n_run > 0) finish(&P, &P.rq[P.run[0]], P.out_ok ? "interrupted" : "stdout closed");
    for (int i = P.next_out; i < P.next_new; i++)
        if (P.rq[i].state == R_WAITING) finish(&P, &P.rq[i], P.out_ok ? "interrupted" : "stdout closed");
    const bool complete = P.next_new == P.n_rq;
    flush_out(&P);
    close_out(&P);
    const double wall = now_seconds() - t0;
    report(&P, wall);
    if (!complete && !g_interrupted && P.out_ok) {
        fprintf(stderr, "infer: internal error: %d prompts were not run\n", P.n_rq - P.next_new);
        goto done;
    }
    rc = g_interrupted ? 130 : 0;
done:
    for (int i = 0; i < P.n_rq; i++) request_free(&P.rq[i]);
    free(P.rq);
    if (P.ctx)
        while (P.n_cache > 0) cache_drop(&P, 0);
    free(P.cache);
    free(P.logits);
    free(P.group_logits);
    free(P.btok);
    free(P.bpos);
    free(P.bseq);
    free(P.bwant);
    free(P.wids);
    free(P.run);
    context_free(P.ctx);
    return rc;
}
