/*
 * matmul.h — y = W·x for a batch of activation rows, dispatched on W's type.
 *
 * Two routes:
 *  - row dots (decode, small batches): activations are quantized once to the
 *    weight type's vec_dot_type, then each output row is one kernel call per
 *    activation row, rows split across OpenMP threads. A row's result never
 *    depends on the batch size or the thread count.
 *  - GEMM (prompt batches): weights are dequantized tile by tile to F32 and
 *    multiplied with OpenBLAS sgemm (F32 weights go to sgemm directly).
 */
#ifndef INFER_MATMUL_H
#define INFER_MATMUL_H

#include <stdbool.h>
#include <stddef.h>

#include "model.h"

struct matmul_scratch {
    void *qx;          /* quantized activations */
    size_t qx_cap;
    float *tile;       /* dequantized weight tile */
    size_t tile_cap;
};

/* y[b*rows + r] = dot(W row r, x[b*cols ...]) for b < B. */
void matmul(struct matmul_scratch *s, float *y, const float *x, const struct tensor *w, int B,
            bool use_gemm);
/* The same for n ≤ 4 weights with the same input (Q/K/V, gate/up): one
 * parallel region, the activations quantized once. */
void matmul_many(struct matmul_scratch *s, int n, float *const ys[], const float *x,
                 const struct tensor *const ws[], int B, bool use_gemm);
void matmul_scratch_free(struct matmul_scratch *s);
/* Row `row` of W as floats (embedding lookup). */
void tensor_row_to_float(const struct tensor *w, int64_t row, float *out);
/* Sets OpenMP and OpenBLAS thread counts. */
void matmul_set_threads(int n);

#endif
