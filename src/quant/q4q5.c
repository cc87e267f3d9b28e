/*
 * q4q5.c — Q4_0, Q4_1, Q5_0, Q5_1 (32-element blocks).
 * Element j < 16 is the low nibble of qs[j], element j >= 16 the high nibble
 * of qs[j-16]; for Q5 the fifth bit of element j is bit j of qh (LE).
 * Q4_0 / Q5_0 dot with Q8_0, Q4_1 / Q5_1 with Q8_1 (the SIMD dot kernels
 * are in oct.c).
 */
#include "quant_impl.h"

/* Element j's 5th bit (0 or 16). */
static inline int q5_hi(const uint8_t qh[4], int j)
{
    uint32_t h;
    memcpy(&h, qh, 4);
    return ((h >> j) & 1) << 4;
}

/* Quants of one 32-block as unsigned 0..15 (+16 with the 5th bit). */
static inline void unpack_q4(const uint8_t qs[16], int out[32])
{
    for (int j = 0; j < 16; j++) {
        out[j] = qs[j] & 0xF;
        out[j + 16] = qs[j] >> 4;
    }
}

static inline void unpack_q5(const uint8_t qs[16], const uint8_t qh[4], int out[32])
{
    unpack_q4(qs, out);
    for (int j = 0; j < 32; j++) out[j] |= q5_hi(qh, j);
}

/* Signed absmax of a block (the value, not the magnitude), ggml's convention. */
static inline float signed_absmax(const float *x, int n)
{
    float amax = 0, max = 0;
    for (int j = 0; j < n; j++)
        if (amax < fabsf(x[j])) { amax = fabsf(x[j]); max = x[j]; }
    return max;
}

static inline void min_max(const float *x, int n, float *mn, float *mx)
{
    float lo = FLT_MAX, hi = -FLT_MAX;
    for (int j = 0; j < n; j++) {
        if (x[j] < lo) lo = x[j];
        if (x[j] > hi) hi = x[j];
    }
    *mn = lo;
    *mx = hi;
}

/* ---- Q4_0 ---- */

void q4_0_to_float_ref(const void *src, float *dst, int64_t n)
{
    const block_q4_0 *x = src;
    for (int64_t i = 0; i < n / QK4_0; i++) {
        const float d = fp16(x[i].d);
        for (int j = 0; j < 16; j++) {
            dst[i * 32 + j] = ((x[i].qs[j] & 0xF) - 8) * d;
            dst[i * 32 + j + 16] = ((x[i].qs[j] >> 4) - 8) * d;
        }
    }
}

void q4_0_from_float(const float *src, void *dst, int64_t n)
{
    block_q4_0 *y = dst;
    for (int64_t i = 0; i < n / QK4_0; i++) {
        const float *x = src + i * QK4_0;
        const float d = signed_absmax(x, QK4_0) / -8;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = fp32_to_fp16(d);
        for (int j = 0; j < 16; j++) {
            const uint8_t a = (uint8_t)QMIN(15, (int8_t)(x[j] * id + 8.5f));
            const uint8_t b = (uint8_t)QMIN(15, (int8_t)(x[j + 16] * id + 8.5f));
            y[i].qs[j] = (uint8_t)(a | (b << 4));
        }
    }
}

float q4_0_dot_blocks(const void *w, const void *a, int64_t nb, float s)
{
    const block_q4_0 *x = w;
    const block_q8_0 *y = a;
    for (int64_t i = 0; i < nb; i++) {
        int q[32], sumi = 0;
        unpack_q4(x[i].qs, q);
        for (int j = 0; j < 32; j++) sumi += (q[j] - 8) * y[i].qs[j];
        s += sumi * (fp16(x[i].d) * fp16(y[i].d));
    }
    return s;
}

float q4_0_dot_ref(int64_t n, const void *w, const void *a) { return q4_0_dot_blocks(w, a, n / QK4_0, 0); }

/* ---- Q4_1 ---- */

void q4_1_to_float_ref(const void *src, float *dst, int64_t n)
{
    const block_q4_1 *x = src;
    for (int64_t i = 0; i < n / QK4_1; i++) {
        const float d = fp16(x[i].d), m = fp16(x[i].m);
        for (int j = 0; j < 16; j++) {
            dst[i * 32 + j] = (x[i].qs[j] & 0xF) * d + m;
            dst[i * 32 + j + 16] = (x[i].qs[j] >> 4) * d + m;
        }
    }
}

void q4_1_from_float(const float *src, void *dst, int64_t n)
{
    block_q4_1 *y = dst;
    for (int64_t i = 0; i < n / QK4_1; i++) {
        const float *x = src + i * QK4_1;
        float mn, mx;
        min_max(x, QK4_1, &mn, &mx);
        const float d = (mx - mn) / 15;
        const float id = d ? 1.0f / d : 0.0f;
        y[i].d = fp32_to_fp16(d);
        y[i].m = fp32_to_fp16(mn);
        for (int j = 0; j < 16; j++) {
            const uint8_t a = (uint8_t)QMIN(15, (int8_t)((x[j] - mn) * id + 0.5f));
            const uint8_t b = (uint8_t)QMIN(15, (int8_t)((x[j + 16] - mn) * id + 0.5f));
            y[i].qs[j] = (uint8_t)(a | (b << 4));
        }
    }
}

float q4_1_dot_ref(int64_t n, const void *w, const void *a)
{
    const block_q4_1 *x = w;
    const block_q8_1 *y = a;
    float s = 0;
    for (int64_t i = 0; i < n / QK4_1; i++) {
        int q[32], sumi = 0;
        unpack_q4(x[i].qs, q);
        for (int j = 0; j < 32; j++) sumi += q[j] * y[i].qs[j];
        s += (fp16(x[i].d) * fp16(y[i].d)) * sumi + fp16(x[i].m) * fp16(y[i].s);
    }
    return s;
}

/* ---- Q5_0 ---- */

void q5_0_to_float_ref(const void *src, float *dst, int64_t n)
{
    const block_q5_0 *x = src;
    for (int64_t i = 0; i < n / QK5_0; i++) {
        const float d = fp16(x[i].d);
        int q[32];
        unpack_q5(x[i].qs, x[i].qh, q);
        for (int j = 0; j < 32; j++) dst[i * 32 + j] = (q[j] - 16) * d;
    }
}

static inline void pack_q5(const uint8_t q[32], uint8_t qs[16], uint8_t qh[4])
{
    uint32_t h = 0;
    for (int j = 0; j < 16; j++) {
        qs[j] = (uint8_t)((q[j] & 0xF) | ((q[j + 16] & 0xF) << 4));
        h |= (uint32_t)((q[j] >> 4) & 1) << j;
        h |= (uint32_t)((q[j + 16] >> 4) & 1) << (j + 16);
    }
    memcpy(qh, &h, 4);
}

void q5_0_from_float(const float *src, void *dst, int64_t n)
{
    block_q5_0 *y = dst;
    for (int64_t i = 0; i < n / QK5_0; i++) {
        const float *x = src + i * QK5_0;
        const float d = signed_absmax(x, QK5_0) / -16;
        const float id = d ? 1.0f / d : 0.0f;
        uint8_t q[32];
        for (int j = 0; j < 32; j++) q[j] = (uint8_t)QMIN(31, (int8_t)(x[j] * id + 16.5f));
        y[i].d = fp32_to_fp16(d);
        pack_q5(q, y[i].qs, y[i].qh);
    }
}

float q5_0_dot_ref(int64_t n, const void *w, const void *a)
{
    const block_q5_0 *x = w;
    const block_q8_0 *y = a;
    float s = 0;
    for (int64_t i = 0; i < n / QK5_0; i++) {
        int q[32], sumi = 0;
        unpack_q5(x[i].qs, x[i].qh, q);
        for (int j = 0; j < 32; j++) sumi += (q[j] - 16) * y[i].qs[j];
        s += sumi * (fp16(x[i].d) * fp16(y[i].d));
    }
    return s;
}

/* ---- Q5_1 ---- */

void q5_1_to_float_ref(const void *src, float *dst, int64_t n)
{
    const block_q5_1 *x = src;
    for (int64_t i = 0; i < n / QK5_1; i++) {
        const float d = fp16(x[i].d), m = fp16(x[i].m);
        int q[32];
        unpack_q5(x[i].qs, x[i].qh, q);
        for (int j = 0; j < 32; j++) dst[i * 32 + j] = q[j] * d + m;
    }
}

void q5_1_from_float(const float *src, void *dst, int64_t n)
{
    block_q5_1 *y = dst;
    for (int64_t i = 0; i < n / QK5_1; i++) {
        const float *x = src + i * QK5_1;
        float mn, mx;
        min_max(x, QK5_1, &mn, &mx);
        const float d = (mx - mn) / 31;
        const float id = d ? 1.0f / d : 0.0f;
        uint8_t q[32];
        for (int j = 0; j < 32; j++) q[j] = (uint8_t)((x[j] - mn) * id + 0.5f); /* no clamp, as ggml */
        y[i].d = fp32_to_fp16(d);
        y[i].m = fp32_to_fp16(mn);
        pack_q5(q, y[i].qs, y[i].qh);
    }
}

float q5_1_dot_ref(int64_t n, const void *w, const void *a)
{
    const block_q5_1 *x = w;
    const block_q8_1 *y = a;
    float s = 0;
    for (int64_t i = 0; i < n / QK5_1; i++) {
        int q[32], sumi = 0;
        unpack_q5(x[i].qs, x[i].qh, q);
        for (int j = 0; j < 32; j++) sumi += q[j] * y[i].qs[j];
        s += (fp16(x[i].d) * fp16(y[i].d)) * sumi + fp16(x[i].m) * fp16(y[i].s);
    }
    return s;
}

/* ---- AVX2 ---- */
#if QUANT_AVX2

void q4_0_to_float_avx2(const void *src, float *dst, int64_t n)
{
    const block_q4_0 *x = src;
    for (int64_t i = 0; i < n / QK4_0; i++) {
        const __m256i q = _mm256_sub_epi8(nibbles_32(x[i].qs), _mm256_set1_epi8(8));
        store_i8x32_scaled(dst + i * 32, q, fp16(x[i].d));
    }
}

void q4_1_to_float_avx2(const void *src, float *dst, int64_t n)
{
    const block_q4_1 *x = src;
    for (int64_t i = 0; i < n / QK4_1; i++) {
        const float d = fp16(x[i].d), m = fp16(x[i].m);
        store_i8x32_affine2(dst + i * 32, nibbles_32(x[i].qs), d, -m, d, -m);
    }
}

void q5_0_to_float_avx2(const void *src, float *dst, int64_t n)
{
    const block_q5_0 *x = src;
    for (int64_t i = 0; i < n / QK5_0; i++) store_i8x32_scaled(dst + i * 32, q5_0_quants(&x[i]), fp16(x[i].d));
}

void q5_1_to_float_avx2(const void *src, float *dst, int64_t n)
{
    const block_q5_1 *x = src;
    for (int64_t i = 0; i < n / QK5_1; i++) {
        const float d = fp16(x[i].d), m = fp16(x[i].m);
        store_i8x32_affine2(dst + i * 32, q5_1_quants(&x[i]), d, -m, d, -m);
    }
}

#endif
