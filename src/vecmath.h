/*
 * vecmath.h — element-wise math of the forward pass, vectorized.
 */
#ifndef INFER_VECMATH_H
#define INFER_VECMATH_H

#include <stddef.h>

/* h[i] = silu(h[i]) * u[i], silu(g) = g / (1 + e^-g): the gated FFN's
 * activation. With AVX2 the exp is within 4 ulp of expf where e^-g is a
 * normal float (beyond: inf, or 0 for denormals). */
void swiglu(float *h, const float *u, size_t n);

/* y[i] = expf(x[i]) with glibc's bits (its algorithm, vectorized, where the
 * machine has AVX2 and FMA; else libm's expf itself). */
void expf_many(float *y, const float *x, size_t n);

/* The index of the largest x[i], the first among equals, NaN counted below
 * everything (all NaN: 0); n >= 1. Greedy sampling's pick: at -np 8 eight
 * scans of the vocabulary ran between two forward passes, on one thread. */
size_t argmax_f32(const float *x, size_t n);

#endif
