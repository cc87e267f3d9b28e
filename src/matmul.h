/*
 * matmul.h — y = W·x for a batch of activation rows, dispatched on W's type.
 *
 * Two routes:
 *  - row dots: activations are quantized once to the weight type's
 *    vec_dot_type, then each weight row meets up to VEC_DOT_ROWS_MAX
 *    activation rows per kernel call, rows split across the threads of the
 *    scratch's pool (pool.h). A row's result never depends on the batch
 *    size or the thread count.
 *  - GEMM: weights are dequantized tile by tile to F32 and multiplied with
 *    OpenBLAS sgemm (F32 weights go to sgemm directly).
 * Decode takes row dots. Prompt batches take sgemm for float weights, and
 * row dots for quantized ones: their integer dots ran 2-3x faster than sgemm
 * on dequantized tiles (pp64 and pp512, Q4_0 / Q8_0 / Q4_K_M, 2 threads).
 */
#ifndef INFER_MATMUL_H
#define INFER_MATMUL_H

#include <stdbool.h>
#include <stddef.h>

#include "model.h"

#define MATMUL_MANY_MAX 4

struct pool;

struct matmul_scratch {
    struct pool *pool; /* threads for the row kernels, not owned (NULL: OpenMP's) */
    void *qx;          /* quantized activations */
    size_t qx_cap;
    float *tile;       /* dequantized weight tile */
    size_t tile_cap;
};

enum matmul_route {
    MATMUL_ROWS,         /* row dots for every weight type (decode) */
    MATMUL_PROMPT,       /* sgemm for float weights, row dots for quantized ones */
    MATMUL_PROMPT_FLOAT, /* sgemm for every type: float activations throughout */
};

/* A step that makes activation row b of a matmul's input (a norm, SwiGLU,
 * the residual): fn(arg, b) for each b < B before the row is read. The row
 * route runs it in its quantizing pass, on the thread that then quantizes
 * row b, so such steps need no parallel pass of their own. */
struct row_prologue {
    void (*fn)(void *arg, int b);
    void *arg;
};

/* y[b*rows + r] = dot(W row r, x[b*cols ...]) for b < B. */
void matmul(struct matmul_scratch *s, float *y, const float *x, const struct tensor *w, int B,
            enum matmul_route route);
/* The same for n ≤ 4 weights with the same input (Q/K/V, gate/up): one
 * parallel region, the activations quantized once; pre (or NULL) makes the
 * input first. */
void matmul_many(struct matmul_scratch *s, int n, float *const ys[], const float *x,
                 const struct tensor *const ws[], int B, enum matmul_route route, const struct row_prologue *pre);
/* Whether w goes through sgemm on this route (its results then depend on B). */
bool matmul_uses_gemm(const struct tensor *w, enum matmul_route route);
void matmul_scratch_free(struct matmul_scratch *s);
/* Row `row` of W as floats (embedding lookup). */
void tensor_row_to_float(const struct tensor *w, int64_t row, float *out);
/* Sets OpenMP and OpenBLAS thread counts. */
void matmul_set_threads(int n);

#endif
