/*
 * matmul.c — matrix multiplication dispatch: row-dot kernels for decode,
 * OpenBLAS sgemm over dequantized tiles for prompt batches. See matmul.h.
 */
#include "matmul.h"

#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>

/* Below this many weight elements a matmul runs on one thread: waking the
 * others costs more than the work. */
#define PARALLEL_MIN_WORK (1 << 16)

/* Floats in one dequantized tile: large enough for sgemm to run at full
 * rate, small enough to stay in L2/L3. */
#define TILE_FLOATS (1u << 20)

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

/* Row dots for several weights that share the input x (Q/K/V, gate/up): one
 * parallel region over all their rows, x quantized once per vec_dot_type.
 * Returns false when there is no memory for the quantized activations. */
static bool matmul_rows(struct matmul_scratch *s, int n, float *const ys[], const float *x,
                        const struct tensor *const ws[], int B)
{
    enum { MAX_W = 4 };
    const int64_t cols = ws[0]->ne[0];
    enum ggml_type qtype[MAX_W];
    size_t qoff[MAX_W], qrb[MAX_W], total = 0;
    int64_t first_row[MAX_W + 1] = {0};
    bool owner[MAX_W];  /* the first weight of its vec_dot_type quantizes x for the others */
    for (int i = 0; i < n; i++) {
        qtype[i] = type_traits(ws[i]->type)->vec_dot_type;
        qrb[i] = qtype[i] == TYPE_F32 ? (size_t)cols * sizeof(float) : type_row_size(qtype[i], cols);
        owner[i] = qtype[i] != TYPE_F32;
        qoff[i] = total;
        for (int j = 0; j < i; j++)
            if (qtype[j] == qtype[i]) owner[i] = false, qoff[i] = qoff[j];
        if (owner[i]) total += qrb[i] * (size_t)B;
        first_row[i + 1] = first_row[i] + ws[i]->ne[1];
    }
    if (!grow(&s->qx, &s->qx_cap, total ? total : 1)) return false;
    for (int i = 0; i < n; i++)
        if (owner[i])
            for (int b = 0; b < B; b++)
                quantize_activations(qtype[i], x + (size_t)b * cols, (char *)s->qx + qoff[i] + qrb[i] * b, cols);
    const int64_t all_rows = first_row[n];
    /* Rows in chunks handed out on demand, so a thread that the OS delays
     * (a busy laptop) does not hold up the others; each weight row is read
     * once for all B activations, by exactly one thread. */
#pragma omp parallel for schedule(dynamic, 32) if (all_rows * cols * B >= PARALLEL_MIN_WORK)
    for (int64_t g = 0; g < all_rows; g++) {
        int i = 0;
        while (g >= first_row[i + 1]) i++;
        const int64_t r = g - first_row[i], rows = ws[i]->ne[1];
        const char *wr = (const char *)ws[i]->data + (size_t)r * type_row_size(ws[i]->type, cols);
        const char *qx = qtype[i] == TYPE_F32 ? (const char *)x : (const char *)s->qx + qoff[i];
        const vec_dot_fn dot = type_traits(ws[i]->type)->vec_dot;
        for (int b = 0; b < B; b++) ys[i][(size_t)b * rows + r] = dot(cols, wr, qx + qrb[i] * b);
    }
    return true;
}

void matmul_many(struct matmul_scratch *s, int n, float *const ys[], const float *x,
                 const struct tensor *const ws[], int B, bool use_gemm)
{
    if (!use_gemm && matmul_rows(s, n, ys, x, ws, B)) return;
    /* Prompt batches (or no memory to quantize): the float route. */
    for (int i = 0; i < n; i++) matmul_gemm(s, ys[i], x, ws[i], B);
}

void matmul(struct matmul_scratch *s, float *y, const float *x, const struct tensor *w, int B, bool use_gemm)
{
    matmul_many(s, 1, &y, x, &w, B, use_gemm);
}
