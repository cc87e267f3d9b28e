/*
 * matmul.c — matrix multiplication dispatch: row-dot kernels for decode,
 * OpenBLAS sgemm over dequantized tiles for prompt batches. See matmul.h.
 */
#include "matmul.h"

#include <cblas.h>
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
    /* Out of memory for the tile: fall back to row dots, which need none. */
    if (!grow((void **)&s->tile, &s->tile_cap, (size_t)tile_rows * cols * sizeof(float))) {
        matmul(s, y, x, w, B, false);
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

void matmul(struct matmul_scratch *s, float *y, const float *x, const struct tensor *w, int B, bool use_gemm)
{
    if (use_gemm) {
        matmul_gemm(s, y, x, w, B);
        return;
    }
    const int64_t rows = w->ne[1], cols = w->ne[0];
    const struct type_traits *tt = type_traits(w->type);
    const size_t rb = type_row_size(w->type, cols);
    const void *qx = x;
    size_t qrb = (size_t)cols * sizeof(float);
    if (tt->vec_dot_type != TYPE_F32) {
        qrb = type_row_size(tt->vec_dot_type, cols);
        if (!grow(&s->qx, &s->qx_cap, qrb * (size_t)B)) {
            matmul_gemm(s, y, x, w, B); /* no memory to quantize: the float route */
            return;
        }
        for (int b = 0; b < B; b++)
            quantize_activations(tt->vec_dot_type, x + (size_t)b * cols, (char *)s->qx + qrb * b, cols);
        qx = s->qx;
    }
    const vec_dot_fn dot = tt->vec_dot;
    const char *wd = w->data;
    /* Rows in chunks handed out on demand, so a thread that the OS delays
     * (a busy laptop) does not hold up the others; each weight row is read
     * once for all B activations, by exactly one thread. */
#pragma omp parallel for schedule(dynamic, 32) if (rows * cols * B >= PARALLEL_MIN_WORK)
    for (int64_t r = 0; r < rows; r++) {
        const char *wr = wd + (size_t)r * rb;
        for (int b = 0; b < B; b++) y[(size_t)b * rows + r] = dot(cols, wr, (const char *)qx + qrb * b);
    }
}
