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

#endif
