/*
 * matmul.c — matrix multiplication dispatch: row-dot kernels for decode,
 * OpenBLAS sgemm over dequantized tiles for prompt batches. See matmul.h.
 */
#include "matmul.h"

#include "pool.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

/* Below this many weight elements a matmul runs on one thread: waking the
 * others costs more than the work. */
#define PARALLEL_MIN_WORK (1 << 16)

/* Floats in one dequantized tile: large enough for sgemm to run at full
 * rate, small enough to stay in L2/L3. */
#define TILE_FLOATS (1u << 20)

#define ROW_TILE 16

/* Weight bytes a thread takes from its own range at a time: each take is a
 * locked compare-and-swap, which stalls the loads in flight (one per 8 rows
 * cost 3 % of decode; one per 32 KB still held 0.6-1.5 % of the samples, one
 * per 128 KB 0.3-0.6 %). The end is not held up by it: near the end of a range
 * a take is a quarter of what is left (take_count). */
#define FRONT_BYTES (128 << 10)
/* Fewest tiles a take of a batch gets: with one 16-row tile per take the
 * compare-and-swaps held 4 % of the samples at -np 8 (four: +2 % tok/s). */
#define FRONT_TILES_MIN 4
/* Most tiles one set of ranges covers (their bounds are 32-bit). */
#define RANGE_MAX ((int64_t)1 << 31)

/* Activation bytes of VEC_DOT_ROWS_MAX rows that one kernel call may read:
 * more than fit in L1 beside the weights and every weight row of a tile
 * fetches them again from L2 (FFN-down's 5632 columns, 8 rows: 56 KB of Q8
 * activations, the 8-row kernel ran at 43 % of its speed on 2048 columns). */
#define SPAN_ACT_BYTES (32u << 10)
/* Spans are whole multiples of this many columns (a K-quant block, an oct). */
#define COL_SPAN_MIN 256

/* Columns per kernel call for weights of type tt with `cols` columns: the
 * fewest equal spans whose activations fit SPAN_ACT_BYTES. It depends on the
 * type and the shape only, never on the batch, so a row's result (the span
 * sums added in order) is the same in decode and in any batch. */
static int64_t col_span(const struct type_traits *tt, int64_t cols)
{
    if (cols % COL_SPAN_MIN) return cols;
    const size_t act = act_rows_size(tt, cols) * VEC_DOT_ROWS_MAX;
    const int64_t n_spans = (int64_t)((act + SPAN_ACT_BYTES - 1) / SPAN_ACT_BYTES);
    const int64_t blocks = cols / COL_SPAN_MIN;
    return (blocks + n_spans - 1) / n_spans * COL_SPAN_MIN;
}

void matmul_set_threads(int n)
{
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
}

static bool grow(void **buf, size_t *cap, size_t need)
{
    if (need <= *cap) return true;
    void *p = realloc(*buf, need);
    if (!p) return false;
    *buf = p;
    *cap = need;
    return true;
}

void matmul_scratch_free(struct matmul_scratch *s)
{
    free(s->qx);
    free(s->tile);
    s->qx = s->tile = NULL;
    s->qx_cap = s->tile_cap = 0;
}

void tensor_row_to_float(const struct tensor *w, int64_t row, float *out)
{
    size_t rb = type_row_size(w->type, w->ne[0]);
    type_traits(w->type)->to_float((const char *)w->data + (size_t)row * rb, out, w->ne[0]);
}

static void matmul_gemm(struct matmul_scratch *s, float *y, const float *x, const struct tensor *w, int B)
{
    const int64_t rows = w->ne[1], cols = w->ne[0];
    if (w->type == TYPE_F32) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, (int)rows, (int)cols, 1.0f, x, (int)cols,
                    w->data, (int)cols, 0.0f, y, (int)rows);
        return;
    }
    const struct type_traits *tt = type_traits(w->type);
    const size_t rb = type_row_size(w->type, cols);
    int64_t tile_rows = TILE_FLOATS / cols;
    if (tile_rows < 16) tile_rows = 16;
    if (tile_rows > rows) tile_rows = rows;
    /* Out of memory for the tile: dequantize row by row, slowly but surely. */
    if (!grow((void **)&s->tile, &s->tile_cap, (size_t)tile_rows * cols * sizeof(float))) tile_rows = 1;
    if (tile_rows == 1 && !grow((void **)&s->tile, &s->tile_cap, (size_t)cols * sizeof(float))) {
        for (int64_t i = 0; i < (int64_t)B * rows; i++) y[i] = NAN; /* cannot even hold one row */
        return;
    }
    for (int64_t r0 = 0; r0 < rows; r0 += tile_rows) {
        const int64_t n = rows - r0 < tile_rows ? rows - r0 : tile_rows;
        float *tile = s->tile;
#pragma omp parallel for schedule(static) if (n * cols >= PARALLEL_MIN_WORK)
        for (int64_t r = 0; r < n; r++)
            tt->to_float((const char *)w->data + (size_t)(r0 + r) * rb, tile + r * cols, cols);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, (int)n, (int)cols, 1.0f, x, (int)cols,
                    tile, (int)cols, 0.0f, y + r0, (int)rows);
    }
}

/* One weight of a row-dot job, with its activations' layout. */
struct rows_weight {
    const struct type_traits *tt;
    const char *data;
    size_t wrb, xoff, xrb;   /* weight row bytes; activation rows: offset in qx, stride */
    int64_t rows;
    int64_t span;            /* columns per kernel call (see col_span) */
    int n_spans;
    size_t span_wb, span_xb; /* bytes of one span in a weight row, in an activation row */
    bool owner;              /* the first weight of its activation layout prepares x for the others */
};

/* Up to MATMUL_MANY_MAX weights sharing one input; their rows are numbered
 * one after another (weight i has rows first_row[i] ..< first_row[i + 1])
 * and split into tiles of `tile` rows. */
struct rows_job {
    int n, B, max_spans;
    int64_t cols, tile;
    const float *x;
    const char *qx;          /* prepared activations */
    float *const *ys;
    struct rows_weight m[MATMUL_MANY_MAX];
    int64_t first_row[MATMUL_MANY_MAX + 1];
};

/* Weight w's activation rows: prepared (quantized) ones, or x itself when
 * the kernel takes floats. */
static inline const char *act_rows(const struct rows_job *job, const struct rows_weight *w)
{
    return w->tt->vec_dot_type == TYPE_F32 ? (const char *)job->x : job->qx + w->xoff;
}

/* Rows r ..< r + n_rows of weight i (n_rows <= ROW_TILE), columns of span
 * k, against activation rows b ..< b + nr: span 0 stores the dots, later
 * spans add theirs in order. */
static inline void rows_span(const struct rows_job *job, int i, int64_t r, int n_rows, int b, int nr, int k)
{
    const struct rows_weight *w = &job->m[i];
    const struct type_traits *tt = w->tt;
    const int64_t c0 = k * w->span, n_c = job->cols - c0 < w->span ? job->cols - c0 : w->span;
    const char *wr = w->data + (size_t)r * w->wrb + w->span_wb * k;
    const char *xa = act_rows(job, w) + w->xrb * b + w->span_xb * k;
    float *y = job->ys[i] + (size_t)b * w->rows + r, part[ROW_TILE * VEC_DOT_ROWS_MAX];
    float *out = k == 0 ? y : part;
    const size_t os = k == 0 ? (size_t)w->rows : (size_t)n_rows;
    /* two rows of one weight share their activation loads: a gain from 4
     * rows up (8: +12 %); with 2-3 rows the kernel waits on memory and the
     * pairs ran 7-11 % slower */
    const int paired = tt->vec_dot_rows2 && nr >= 4 ? n_rows / 2 * 2 : 0;
    if (paired) tt->vec_dot_rows2(n_c, wr, w->wrb, paired, xa, w->xrb, nr, out, os);
    for (int q = paired; q < n_rows; q++) tt->vec_dot_rows(n_c, wr + (size_t)q * w->wrb, xa, w->xrb, nr, out + q, os);
    if (k)
        for (int j = 0; j < nr; j++)
            for (int q = 0; q < n_rows; q++) y[(size_t)j * w->rows + q] += part[j * n_rows + q];
}

/* Tiles t0 ..< t1 of the job. */
static void rows_tiles(const struct rows_job *job, int64_t t0, int64_t t1)
{
    const int64_t *first_row = job->first_row;
    int i = 0;
    if (job->B == 1) { /* decode: one activation row, tiles of one weight row */
        for (int64_t g = t0; g < t1;) {
            while (g >= first_row[i + 1]) i++;
            const struct rows_weight *w = &job->m[i];
            const int64_t end = t1 < first_row[i + 1] ? t1 : first_row[i + 1];
            if (w->n_spans > 1) {
                for (; g < end; g++)
                    for (int k = 0; k < w->n_spans; k++) rows_span(job, i, g - first_row[i], 1, 0, 1, k);
                continue;
            }
            /* one kernel call per row and nothing else: a row is ~1 KB of
             * weights, so per-row bookkeeping showed up at ~4 % of decode */
            const vec_dot_rows_fn dot = w->tt->vec_dot_rows;
            const char *xa = act_rows(job, w);
            const char *wr = w->data + (size_t)(g - first_row[i]) * w->wrb;
            float *y = job->ys[i] + (g - first_row[i]);
            for (; g < end; g++, wr += w->wrb, y++) dot(job->cols, wr, xa, w->xrb, 1, y, (size_t)w->rows);
        }
        return;
    }
    const int64_t all_rows = first_row[job->n];
    for (int64_t t = t0; t < t1; t++) {
        const int64_t g0 = t * job->tile, g1 = g0 + job->tile < all_rows ? g0 + job->tile : all_rows;
        for (int b = 0; b < job->B; b += VEC_DOT_ROWS_MAX) {
            const int nr = job->B - b < VEC_DOT_ROWS_MAX ? job->B - b : VEC_DOT_ROWS_MAX;
            for (int k = 0; k < job->max_spans; k++) {
                i = 0;
                /* the tile's rows of each weight in one call */
                for (int64_t g = g0; g < g1;) {
                    while (g >= first_row[i + 1]) i++;
                    const int64_t end = g1 < first_row[i + 1] ? g1 : first_row[i + 1];
                    if (k < job->m[i].n_spans) rows_span(job, i, g - first_row[i], (int)(end - g), b, nr, k);
                    g = end;
                }
            }
        }
    }
}

/* Tiles [lo, hi) left in one thread's range, both ends in one word so that
 * one compare-and-swap moves either: the owner takes from the front, the
 * others steal from the back. Own cache line: the owner updates it often. */
struct tile_range {
    _Alignas(64) _Atomic uint64_t bounds;
};

static uint64_t range_pack(int64_t lo, int64_t hi) { return (uint64_t)hi << 32 | (uint64_t)lo; }
static int64_t range_lo(uint64_t b) { return (int64_t)(b & 0xffffffffu); }
static int64_t range_hi(uint64_t b) { return (int64_t)(b >> 32); }

static int64_t range_left(struct tile_range *r)
{
    const uint64_t b = atomic_load_explicit(&r->bounds, memory_order_relaxed);
    return range_hi(b) - range_lo(b);
}

/* Tiles to take from the front of a range with `left` tiles: up to n, and
 * near the end a quarter of what is left, so that the threads run out
 * within a few rows of each other. */
static int64_t take_count(int64_t left, int64_t n)
{
    const int64_t quarter = (left + 3) / 4;
    return quarter < n ? quarter : n;
}

/* Tiles from the front: [*t0, *t1). False when none are left. */
static bool range_take_front(struct tile_range *r, int64_t n, int64_t *t0, int64_t *t1)
{
    uint64_t b = atomic_load_explicit(&r->bounds, memory_order_relaxed);
    for (;;) {
        const int64_t lo = range_lo(b), hi = range_hi(b);
        if (lo >= hi) return false;
        const int64_t end = lo + take_count(hi - lo, n);
        if (atomic_compare_exchange_weak(&r->bounds, &b, range_pack(end, hi))) {
            *t0 = lo, *t1 = end;
            return true;
        }
    }
}

/* The back half of what is left (at least one tile). */
static bool range_steal_back(struct tile_range *r, int64_t *t0, int64_t *t1)
{
    uint64_t b = atomic_load_explicit(&r->bounds, memory_order_relaxed);
    for (;;) {
        const int64_t lo = range_lo(b), hi = range_hi(b);
        if (lo >= hi) return false;
        const int64_t start = hi - ((hi - lo + 1) / 2);
        if (atomic_compare_exchange_weak(&r->bounds, &b, range_pack(lo, start))) {
            *t0 = start, *t1 = hi;
            return true;
        }
    }
}

/* Activation rows b0 ..< b1 of x (cols wide) in the form tt's row kernels
 * read, at dst (row stride xrb), each made by pre first (when not NULL);
 * tmp holds one plain quantized row. With no tt, only pre runs. */
static void quantize_act_rows(const struct type_traits *tt, const struct row_prologue *pre, const float *x,
                              int64_t cols, char *dst, size_t xrb, char *tmp, int b0, int b1)
{
    for (int b = b0; b < b1; b++) {
        if (pre) pre->fn(pre->arg, b);
        if (!tt) continue;
        if (tt->rows_prepare) {
            quantize_activations(tt->vec_dot_type, x + (size_t)b * cols, tmp, cols);
            tt->rows_prepare(tmp, dst + xrb * b, cols);
        } else {
            quantize_activations(tt->vec_dot_type, x + (size_t)b * cols, dst + xrb * b, cols);
        }
    }
}

/* One window of a row-dot job split into ranges, one per thread. */
struct rows_run {
    const struct rows_job *job;
    struct tile_range *ranges;
    int n_ranges;
    int64_t base, front; /* the window's first tile; tiles per take */
};

static void rows_run_thread(void *arg, int me, int n_threads)
{
    struct rows_run *run = arg;
    (void)n_threads; /* fewer threads than ranges: the others' are stolen */
    int64_t t0, t1;
    while (range_take_front(&run->ranges[me], run->front, &t0, &t1)) rows_tiles(run->job, run->base + t0, run->base + t1);
    for (;;) {
        int victim = -1;
        int64_t most = 0;
        for (int r = 0; r < run->n_ranges; r++) {
            const int64_t left = range_left(&run->ranges[r]);
            if (left > most) most = left, victim = r;
        }
        if (victim < 0) break;
        if (!range_steal_back(&run->ranges[victim], &t0, &t1)) continue;
        /* The thief's first take is its own at once (each steal makes
         * progress); the rest of the loot becomes its range, open to
         * stealing in turn. Nobody else writes an empty range: a steal from
         * it fails without a write. */
        const int64_t first = t0 + take_count(t1 - t0, run->front);
        atomic_store_explicit(&run->ranges[me].bounds, range_pack(first, t1), memory_order_relaxed);
        rows_tiles(run->job, run->base + t0, run->base + first);
        while (range_take_front(&run->ranges[me], run->front, &t0, &t1))
            rows_tiles(run->job, run->base + t0, run->base + t1);
    }
}

/* Activation rows to quantize (or only to make: tt NULL), in equal parts
 * per thread. */
struct quant_run {
    const struct type_traits *tt;
    const struct row_prologue *pre;
    const float *x;
    int64_t cols;
    char *dst, *tmp;
    size_t xrb, tmp_bytes;
    int B;
};

static void quant_run_thread(void *arg, int i, int n)
{
    const struct quant_run *q = arg;
    quantize_act_rows(q->tt, q->pre, q->x, q->cols, q->dst, q->xrb, q->tmp + q->tmp_bytes * i, q->B * i / n,
                      q->B * (i + 1) / n);
}

/* pre over the B rows, in a pass of their own (when no quantizing pass
 * takes it). */
static void prologue_run(struct matmul_scratch *s, const struct row_prologue *pre, int B)
{
    struct quant_run q = {.pre = pre, .B = B};
    pool_run(s->pool, B >= 2 ? pool_threads(s->pool) : 1, quant_run_thread, &q);
}

/* Row dots for several weights that share the input x (Q/K/V, gate/up): one
 * parallel region over all their rows. x is quantized once per vec_dot_type
 * (and rearranged once into the row kernels' layout, shared by the weights
 * with the same layout), the first of those passes running pre; each weight
 * row is then read once, by exactly one thread, and dotted with up to
 * VEC_DOT_ROWS_MAX activation rows per kernel call. Returns false, with pre
 * not run, when there is no memory for the quantized activations. */
static bool matmul_rows(struct matmul_scratch *s, int n, float *const ys[], const float *x,
                        const struct tensor *const ws[], int B, const struct row_prologue *pre)
{
    const int64_t cols = ws[0]->ne[0];
    struct rows_job job = {.n = n, .cols = cols, .B = B, .max_spans = 1, .x = x, .ys = ys};
    struct rows_weight *const m = job.m;
    int64_t *const first_row = job.first_row;
    size_t total = 0, tmp = 0; /* bytes of activations, of one plain quantized row (for rows_prepare) */
    for (int i = 0; i < n; i++) {
        const struct type_traits *tt = type_traits(ws[i]->type);
        m[i].tt = tt;
        m[i].data = ws[i]->data;
        m[i].wrb = type_row_size(ws[i]->type, cols);
        m[i].rows = ws[i]->ne[1];
        m[i].xrb = act_rows_size(tt, cols);
        m[i].span = col_span(tt, cols);
        m[i].n_spans = (int)((cols + m[i].span - 1) / m[i].span);
        m[i].span_wb = type_row_size(ws[i]->type, m[i].span);
        m[i].span_xb = act_rows_size(tt, m[i].span);
        m[i].owner = tt->vec_dot_type != TYPE_F32;
        m[i].xoff = total;
        for (int j = 0; j < i; j++)
            if (m[j].tt->vec_dot_type == tt->vec_dot_type && m[j].tt->rows_prepare == tt->rows_prepare)
                m[i].owner = false, m[i].xoff = m[j].xoff;
        if (m[i].owner) {
            total += (m[i].xrb * (size_t)B + 63) & ~(size_t)63; /* each layout's rows 64-byte aligned */
            if (tt->rows_prepare && type_row_size(tt->vec_dot_type, cols) > tmp)
                tmp = type_row_size(tt->vec_dot_type, cols);
        }
        first_row[i + 1] = first_row[i] + m[i].rows;
    }
    /* Several rows are quantized in parallel, each thread with its own
     * plain row (at -np 8 the other thread sat idle for 3 % of the time). */
    const int n_quant = B >= 2 ? pool_threads(s->pool) : 1;
    /* 64-byte aligned: the row kernels' 32-byte activation loads must not
     * straddle cache lines (that alone cost ~25 % with 8 rows) */
    if (!grow(&s->qx, &s->qx_cap, total + tmp * (size_t)n_quant + 64)) return false;
    char *const qx = (char *)s->qx + (-(uintptr_t)s->qx & 63), *const qtmp = qx + total;
    for (int i = 0; i < n; i++) {
        if (!m[i].owner) continue;
        struct quant_run q = {.tt = m[i].tt, .pre = pre, .x = x, .cols = cols, .dst = qx + m[i].xoff, .tmp = qtmp,
                              .xrb = m[i].xrb, .tmp_bytes = tmp, .B = B};
        pool_run(s->pool, n_quant, quant_run_thread, &q);
        pre = NULL;
    }
    if (pre) prologue_run(s, pre, B); /* float activations: nothing quantized */
    job.qx = qx;
    for (int i = 0; i < n; i++)
        if (m[i].n_spans > job.max_spans) job.max_spans = m[i].n_spans;
    /* Several activation rows go in tiles of weight rows: one group of
     * activation rows (one span of columns) stays in L1 while it meets every
     * row of the tile, and the tile stays in L2 while all groups pass. */
    const int64_t all_rows = first_row[n];
    job.tile = B > 1 ? ROW_TILE : 1;
    const int64_t n_tiles = (all_rows + job.tile - 1) / job.tile;
    const int n_ranges = all_rows * cols * B >= PARALLEL_MIN_WORK ? pool_threads(s->pool) : 1;
    /* Decode reads every weight byte once, so what matters is the memory
     * streams. Each thread walks its own contiguous range front to back (one
     * long stream the prefetchers keep up with); one that finishes early
     * takes the back half of the range with the most left, so a thread the
     * OS delayed is covered and all finish within a few rows of each other.
     * OpenMP's guided schedule ended each matmul with short runs that start
     * cold, and one thread idle for ~8 us per matmul (7 % of decode). */
    const int64_t tile_bytes = (int64_t)m[0].wrb * job.tile;
    int64_t front = tile_bytes < FRONT_BYTES ? FRONT_BYTES / tile_bytes : 1;
    if (B > 1 && front < FRONT_TILES_MIN) front = FRONT_TILES_MIN;
    /* ranges hold 32-bit tile numbers: windows of at most RANGE_MAX tiles */
    for (int64_t base = 0; base < n_tiles; base += RANGE_MAX) {
        const int64_t n_win = n_tiles - base < RANGE_MAX ? n_tiles - base : RANGE_MAX;
        struct tile_range ranges[n_ranges];
        for (int r = 0; r < n_ranges; r++)
            atomic_init(&ranges[r].bounds, range_pack(n_win * r / n_ranges, n_win * (r + 1) / n_ranges));
        struct rows_run run = {.job = &job, .ranges = ranges, .n_ranges = n_ranges, .base = base, .front = front};
        pool_run(s->pool, n_ranges, rows_run_thread, &run);
    }
    return true;
}

bool matmul_uses_gemm(const struct tensor *w, enum matmul_route route)
{
    const enum ggml_type vt = type_traits(w->type)->vec_dot_type;
    return route == MATMUL_PROMPT_FLOAT || (route == MATMUL_PROMPT && (vt == TYPE_F32 || vt == TYPE_F16 || vt == TYPE_BF16));
}

void matmul_many(struct matmul_scratch *s, int n, float *const ys[], const float *x,
                 const struct tensor *const ws[], int B, enum matmul_route route, const struct row_prologue *pre)
{
    float *rys[MATMUL_MANY_MAX];
    const struct tensor *rws[MATMUL_MANY_MAX];
    int nr = 0;
    for (int i = 0; i < n; i++)
        if (!matmul_uses_gemm(ws[i], route)) rys[nr] = ys[i], rws[nr++] = ws[i];
    /* No memory to quantize the activations: the float route for all. */
    const bool rows_done = nr && matmul_rows(s, nr, rys, x, rws, B, pre);
    if (pre && !rows_done) prologue_run(s, pre, B);
    for (int i = 0; i < n; i++)
        if (matmul_uses_gemm(ws[i], route) || (nr && !rows_done)) matmul_gemm(s, ys[i], x, ws[i], B);
}

void matmul(struct matmul_scratch *s, float *y, const float *x, const struct tensor *w, int B, enum matmul_route route)
{
    matmul_many(s, 1, &y, x, &w, B, route, NULL);
}
