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

float q4_0_dot_ref(int64_t n, const void *w, const void *a)
{
    const block_q4_0 *x = w;
    const block_q8_0 *y = a;
    float s = 0;
    for (int64_t i = 0; i < n / QK4_0; i++) {
        int q[32], sumi = 0;
        unpack_q4(x[i].qs, q);
        for (int j = 0; j < 32; j++) sumi += (q[j] - 8) * y[i].qs[j];
        s += sumi * (fp16(x[i].d) * fp16(y[i].d));
    }
    return s;
}

/* ---- Q4_0 in octs (TYPE_Q4_0_OCT) ----
 *
 * A layout of our own, never in a file: at load, Q4_0 weight rows kept in
 * memory are rearranged in place for the AVX-512 kernels (oct.c). Each whole
 * oct of 8 blocks (144 bytes) becomes the 8 scales (16 bytes), then its
 * quant bytes (128) in the order oct.c's dpbusd wants them: byte t of half
 * o (o < 2, t < 64) is byte 4·(2o + t/32) + t%4 of block t/4 % 8's qs. The
 * kernels then load them as they are instead of picking them out of the
 * blocks with byte permutes (a third of a decode's instructions). The last
 * nb % 8 blocks of a row stay plain Q4_0, and the size is the same. */

#define OCT_BLOCKS 8

static size_t oct_src(int o, int t)
{
    return (size_t)(t / 4 % OCT_BLOCKS) * sizeof(block_q4_0) + offsetof(block_q4_0, qs) + 4 * (2 * o + t / 32) + t % 4;
}

void q4_0_oct_repack(void *row, int64_t n)
{
    uint8_t *p = row, tmp[OCT_BLOCKS * sizeof(block_q4_0)];
    const int64_t nb = n / QK4_0;
    for (int64_t i = 0; i + OCT_BLOCKS <= nb; i += OCT_BLOCKS, p += sizeof tmp) {
        memcpy(tmp, p, sizeof tmp);
        for (int k = 0; k < OCT_BLOCKS; k++) memcpy(p + 2 * k, tmp + k * sizeof(block_q4_0), 2);
        for (int o = 0; o < 2; o++)
            for (int t = 0; t < 64; t++) p[16 + 64 * o + t] = tmp[oct_src(o, t)];
    }
}

void q4_0_oct_unpack(const void *oct, void *blocks)
{
    const uint8_t *p = oct;
    uint8_t *b = blocks;
    for (int k = 0; k < OCT_BLOCKS; k++) memcpy(b + k * sizeof(block_q4_0), p + 2 * k, 2);
    for (int o = 0; o < 2; o++)
        for (int t = 0; t < 64; t++) b[oct_src(o, t)] = p[16 + 64 * o + t];
}

/* Blocks i ..< i + 8 (or to the end) of a repacked row of nb blocks, as
 * plain Q4_0: how many there are. */
static int q4_0_oct_blocks(const uint8_t *row, int64_t nb, int64_t i, block_q4_0 out[OCT_BLOCKS])
{
    if (i + OCT_BLOCKS <= nb) {
        q4_0_oct_unpack(row + i * sizeof out[0], out);
        return OCT_BLOCKS;
    }
    memcpy(out, row + i * sizeof out[0], (size_t)(nb - i) * sizeof out[0]);
    return (int)(nb - i);
}

void q4_0_oct_to_float_ref(const void *src, float *dst, int64_t n)
{
    const int64_t nb = n / QK4_0;
    block_q4_0 b[OCT_BLOCKS];
    for (int64_t i = 0; i < nb; i += OCT_BLOCKS) {
        const int k = q4_0_oct_blocks(src, nb, i, b);
        q4_0_to_float_ref(b, dst + i * QK4_0, k * QK4_0);
    }
}

float q4_0_oct_dot_ref(int64_t n, const void *w, const void *a)
{
    const block_q8_0 *y = a;
    const int64_t nb = n / QK4_0;
    block_q4_0 x[OCT_BLOCKS];
    float s = 0;
    for (int64_t i = 0; i < nb; i += OCT_BLOCKS) {
        const int k = q4_0_oct_blocks(w, nb, i, x);
        for (int j = 0; j < k; j++) { /* q4_0_dot_ref's steps */
            int q[32], sumi = 0;
            unpack_q4(x[j].qs, q);
            for (int e = 0; e < 32; e++) sumi += (q[e] - 8) * y[i + j].qs[e];
            s += sumi * (fp16(x[j].d) * fp16(y[i + j].d));
        }
    }
    return s;
}

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
