/*
 * q8.c — Q8_0, Q8_1 and Q8_K: 8-bit blocks, used for weights (Q8_0) and as
 * the activation types of the integer dot products.
 *
 * from_float is ggml's quantize_row_*_ref, bit for bit (what llama-quantize
 * writes). *_from_float_act is what llama.cpp's CPU backend computes at run
 * time for activations (id = 127/amax, round half to even). The SIMD Q8_0
 * dot kernels are in oct.c.
 */
#include "quant_impl.h"

/* ---- Q8_0 ---- */

void q8_0_to_float_ref(const void *src, float *dst, int64_t n)
{
    const block_q8_0 *x = src;
    for (int64_t i = 0; i < n / QK8_0; i++) {
        const float d = fp16(x[i].d);
        for (int j = 0; j < QK8_0; j++) dst[i * QK8_0 + j] = x[i].qs[j] * d;
    }
}

static inline float absmax(const float *x, int n)
{
    float amax = 0;
    for (int j = 0; j < n; j++) amax = QMAX(amax, fabsf(x[j]));
    return amax;
}

void q8_0_from_float(const float *src, void *dst, int64_t n)
{
    block_q8_0 *y = dst;
    for (int64_t i = 0; i < n / QK8_0; i++) {
        const float *x = src + i * QK8_0;
        const float d = absmax(x, QK8_0) / 127;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = fp32_to_fp16(d);
        for (int j = 0; j < QK8_0; j++) y[i].qs[j] = (int8_t)roundf(x[j] * id);
    }
}

/* absmax of 32 values with vector maxima (a maximum does not depend on the
 * order, short of NaNs): absmax's chain of 32 dependent maxima was half the
 * cost of quantizing the activations. */
static inline float absmax32(const float *x)
{
#if QUANT_AVX2
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 m = _mm256_andnot_ps(sign, _mm256_loadu_ps(x));
    for (int j = 8; j < 32; j += 8) m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + j)));
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    return _mm_cvtss_f32(_mm_max_ss(h, _mm_movehdup_ps(h)));
#else
    return absmax(x, 32);
#endif
}

/* llama.cpp's run-time activation rounding; returns the sum of the quants. */
static inline int q8_act_block(const float *x, int8_t *qs, uint16_t *dh, float *dout)
{
    const float amax = absmax32(x);
    const float d = amax / 127.f;
    const float id = amax != 0.0f ? 127.f / amax : 0.0f;
    int sum = 0;
    for (int j = 0; j < 32; j++) {
        const int q = (int)rintf(x[j] * id); /* default mode: ties to even */
        qs[j] = (int8_t)q;
        sum += q;
    }
    *dh = fp32_to_fp16(d);
    *dout = d;
    return sum;
}

void q8_0_from_float_act(const float *src, void *dst, int64_t n)
{
    block_q8_0 *y = dst;
    for (int64_t i = 0; i < n / QK8_0; i++) {
        uint16_t dh;
        float d;
        q8_act_block(src + i * QK8_0, y[i].qs, &dh, &d);
        y[i].d = dh;
    }
}

float q8_0_dot_blocks(const void *w, const void *a, int64_t nb, float s)
{
    const block_q8_0 *x = w, *y = a;
    for (int64_t i = 0; i < nb; i++) {
        int sumi = 0;
        for (int j = 0; j < QK8_0; j++) sumi += x[i].qs[j] * y[i].qs[j];
        s += sumi * (fp16(x[i].d) * fp16(y[i].d));
    }
    return s;
}

float q8_0_dot_ref(int64_t n, const void *w, const void *a) { return q8_0_dot_blocks(w, a, n / QK8_0, 0); }

/* ---- Q8_1 ---- */

void q8_1_to_float_ref(const void *src, float *dst, int64_t n)
{
    const block_q8_1 *x = src;
    for (int64_t i = 0; i < n / QK8_1; i++) {
        const float d = fp16(x[i].d);
        for (int j = 0; j < QK8_1; j++) dst[i * QK8_1 + j] = x[i].qs[j] * d;
    }
}

void q8_1_from_float(const float *src, void *dst, int64_t n)
{
    block_q8_1 *y = dst;
    for (int64_t i = 0; i < n / QK8_1; i++) {
        const float *x = src + i * QK8_1;
        const float d = absmax(x, QK8_1) / 127;
        const float id = d ? 1.0f / d : 0.0f;
        int sum = 0;
        for (int j = 0; j < QK8_1; j++) {
            y[i].qs[j] = (int8_t)roundf(x[j] * id);
            sum += y[i].qs[j];
        }
        y[i].d = fp32_to_fp16(d);
        y[i].s = fp32_to_fp16(sum * d);
    }
}

void q8_1_from_float_act(const float *src, void *dst, int64_t n)
{
    block_q8_1 *y = dst;
    for (int64_t i = 0; i < n / QK8_1; i++) {
        uint16_t dh;
        float d;
        int sum = q8_act_block(src + i * QK8_1, y[i].qs, &dh, &d);
        y[i].d = dh;
        y[i].s = fp32_to_fp16(d * (float)sum);
    }
}

/* ---- Q8_K ---- */

void q8_K_to_float_ref(const void *src, float *dst, int64_t n)
{
    const block_q8_K *x = src;
    for (int64_t i = 0; i < n / QK_K; i++)
        for (int j = 0; j < QK_K; j++) dst[i * QK_K + j] = x[i].d * x[i].qs[j];
}

void q8_K_from_float(const float *src, void *dst, int64_t n)
{
    block_q8_K *y = dst;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float *x = src + i * QK_K;
        float max = 0, amax = 0;
        for (int j = 0; j < QK_K; j++) {
            const float ax = fabsf(x[j]);
            if (ax > amax) { amax = ax; max = x[j]; }
        }
        if (!amax) { /* ggml leaves bsums unwritten here; zero them */
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        const float iscale = -127.f / max;
        for (int j = 0; j < QK_K; j++) y[i].qs[j] = (int8_t)QMIN(127, nearest_int(iscale * x[j]));
        for (int g = 0; g < QK_K / 16; g++) {
            int sum = 0;
            for (int l = 0; l < 16; l++) sum += y[i].qs[16 * g + l];
            y[i].bsums[g] = (int16_t)sum;
        }
        y[i].d = 1 / iscale;
    }
}

/* ---- AVX2 ---- */
#if QUANT_AVX2

void q8_0_to_float_avx2(const void *src, float *dst, int64_t n)
{
    const block_q8_0 *x = src;
    for (int64_t i = 0; i < n / QK8_0; i++)
        store_i8x32_scaled(dst + i * QK8_0, loadu256((const void *)x[i].qs), fp16(x[i].d));
}

#endif
