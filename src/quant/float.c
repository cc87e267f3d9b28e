/*
 * float.c — F32, F16 and BF16 rows (block size 1). vec_dot takes float
 * activations (vec_dot_type F32) and converts the weights on the fly.
 */
#include "quant_impl.h"

/* ---- F32 ---- */

void f32_to_float_ref(const void *src, float *dst, int64_t n)
{
    memcpy(dst, src, (size_t)n * sizeof(float));
}

void f32_from_float(const float *src, void *dst, int64_t n)
{
    memcpy(dst, src, (size_t)n * sizeof(float));
}

float f32_dot_ref(int64_t n, const void *w, const void *x)
{
    const uint8_t *a = w, *b = x;
    float s = 0;
    for (int64_t i = 0; i < n; i++) s += ld_f32(a + 4 * i) * ld_f32(b + 4 * i);
    return s;
}

/* ---- F16 ---- */

void f16_to_float_ref(const void *src, float *dst, int64_t n)
{
    const uint8_t *p = src;
    for (int64_t i = 0; i < n; i++) dst[i] = fp16_to_fp32(ld_u16(p + 2 * i));
}

void f16_from_float(const float *src, void *dst, int64_t n)
{
    uint8_t *p = dst;
    for (int64_t i = 0; i < n; i++) {
        uint16_t h = fp32_to_fp16(src[i]);
        memcpy(p + 2 * i, &h, 2);
    }
}

float f16_dot_ref(int64_t n, const void *w, const void *x)
{
    const uint8_t *a = w, *b = x;
    float s = 0;
    for (int64_t i = 0; i < n; i++) s += fp16_to_fp32(ld_u16(a + 2 * i)) * ld_f32(b + 4 * i);
    return s;
}

/* ---- BF16 ---- */

void bf16_to_float_ref(const void *src, float *dst, int64_t n)
{
    const uint8_t *p = src;
    for (int64_t i = 0; i < n; i++) dst[i] = bf16_to_fp32(ld_u16(p + 2 * i));
}

void bf16_from_float(const float *src, void *dst, int64_t n)
{
    uint8_t *p = dst;
    for (int64_t i = 0; i < n; i++) {
        uint16_t h = fp32_to_bf16(src[i]);
        memcpy(p + 2 * i, &h, 2);
    }
}

float bf16_dot_ref(int64_t n, const void *w, const void *x)
{
    const uint8_t *a = w, *b = x;
    float s = 0;
    for (int64_t i = 0; i < n; i++) s += bf16_to_fp32(ld_u16(a + 2 * i)) * ld_f32(b + 4 * i);
    return s;
}

/* ---- AVX2 ---- */
#if QUANT_AVX2

/* 8 bf16 -> 8 floats (exact: a shift). */
static inline __m256 bf16x8(const uint8_t *p)
{
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(loadu128(p)), 16));
}

/* One dot for every float row type: LOAD8(p) gives 8 weights as floats, ELT
 * is the width of one weight in bytes, SCALAR(p) converts one weight.
 * name##_dot_vec is the vector part, over n rounded down to 8: four
 * accumulators over 32 elements at a time, the rest 8 at a time into the
 * first, and their sum (acc0 + acc1) + (acc2 + acc3); vec_dot reduces it
 * with hsum_f32_8 and adds the scalar tail.
 *
 * name##_dot_many gives vec_dot's bits for up to 8 row pairs (attention's
 * query heads against their keys): the last steps of four hsum_f32_8 run
 * together on a transpose, which keeps the lanes' order of addition,
 * (l0 + l2) + (l1 + l3) after the halves are added. */
#define FLOAT_DOT_KERNELS(name, ELT, LOAD8, SCALAR)                                                   \
    static inline __attribute__((always_inline)) __m256 name##_dot_vec(int64_t n, const uint8_t *a,  \
                                                                       const float *b)               \
    {                                                                                                 \
        __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();                                \
        __m256 acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();                                \
        int64_t i = 0;                                                                                \
        for (; i + 32 <= n; i += 32) {                                                                \
            acc0 = _mm256_fmadd_ps(LOAD8(a + (i + 0) * ELT), _mm256_loadu_ps(b + i + 0), acc0);       \
            acc1 = _mm256_fmadd_ps(LOAD8(a + (i + 8) * ELT), _mm256_loadu_ps(b + i + 8), acc1);       \
            acc2 = _mm256_fmadd_ps(LOAD8(a + (i + 16) * ELT), _mm256_loadu_ps(b + i + 16), acc2);     \
            acc3 = _mm256_fmadd_ps(LOAD8(a + (i + 24) * ELT), _mm256_loadu_ps(b + i + 24), acc3);     \
        }                                                                                             \
        for (; i + 8 <= n; i += 8) acc0 = _mm256_fmadd_ps(LOAD8(a + i * ELT), _mm256_loadu_ps(b + i), acc0); \
        return _mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3));                   \
    }                                                                                                 \
    float name##_dot_avx2(int64_t n, const void *w, const void *x)                                    \
    {                                                                                                 \
        const uint8_t *a = w;                                                                         \
        const float *b = x;                                                                           \
        float s = hsum_f32_8(name##_dot_vec(n, a, b));                                                \
        for (int64_t i = n & ~(int64_t)7; i < n; i++) s += SCALAR(a + i * ELT) * ld_f32(b + i);        \
        return s;                                                                                     \
    }                                                                                                 \
    void name##_dot_many_avx2(int64_t n, const void *const *w, const void *const *x, int count, float *out) \
    {                                                                                                 \
        if (n % 8) {                                                                                  \
            for (int r = 0; r < count; r++) out[r] = name##_dot_avx2(n, w[r], x[r]);                  \
            return;                                                                                   \
        }                                                                                             \
        for (int r0 = 0; r0 < count; r0 += 4) {                                                       \
            if (count - r0 == 1) { /* the same additions, without three spare rows */                 \
                out[r0] = hsum_f32_8(name##_dot_vec(n, w[r0], x[r0]));                                \
                break;                                                                                \
            }                                                                                         \
            __m128 h[4];                                                                              \
            _Pragma("GCC unroll 4") for (int k = 0; k < 4; k++) {                                     \
                const int r = r0 + k < count ? r0 + k : count - 1; /* a spare lane repeats a row */   \
                const __m256 v = name##_dot_vec(n, w[r], x[r]);                                        \
                h[k] = _mm_add_ps(_mm256_extractf128_ps(v, 1), _mm256_castps256_ps128(v));            \
            }                                                                                         \
            float s[4];                                                                               \
            _mm_storeu_ps(s, hsum4_f32_4(h));                                                         \
            for (int k = 0; k < 4 && r0 + k < count; k++) out[r0 + k] = s[k];                         \
        }                                                                                             \
    }

/* lane k = (h[k]_0 + h[k]_2) + (h[k]_1 + h[k]_3), as the end of hsum_f32_8 */
static inline __m128 hsum4_f32_4(const __m128 h[4])
{
    const __m128 t0 = _mm_unpacklo_ps(h[0], h[1]), t1 = _mm_unpackhi_ps(h[0], h[1]);
    const __m128 t2 = _mm_unpacklo_ps(h[2], h[3]), t3 = _mm_unpackhi_ps(h[2], h[3]);
    const __m128 l0 = _mm_movelh_ps(t0, t2), l1 = _mm_movehl_ps(t2, t0); /* lanes 0 and 1 of each */
    const __m128 l2 = _mm_movelh_ps(t1, t3), l3 = _mm_movehl_ps(t3, t1); /* lanes 2 and 3 */
    return _mm_add_ps(_mm_add_ps(l0, l2), _mm_add_ps(l1, l3));
}

#define LOAD_F32(p) _mm256_loadu_ps((const float *)(const void *)(p))
#define SCALAR_F32(p) ld_f32(p)
FLOAT_DOT_KERNELS(f32, 4, LOAD_F32, SCALAR_F32)

#define SCALAR_BF16(p) bf16_to_fp32(ld_u16(p))
FLOAT_DOT_KERNELS(bf16, 2, bf16x8, SCALAR_BF16)

void bf16_to_float_avx2(const void *src, float *dst, int64_t n)
{
    const uint8_t *p = src;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, bf16x8(p + 2 * i));
    for (; i < n; i++) dst[i] = bf16_to_fp32(ld_u16(p + 2 * i));
}

#if defined(__F16C__)
static inline __m256 f16x8(const uint8_t *p) { return _mm256_cvtph_ps(loadu128(p)); }
#define SCALAR_F16(p) fp16_to_fp32(ld_u16(p))

FLOAT_DOT_KERNELS(f16, 2, f16x8, SCALAR_F16)

void f16_to_float_avx2(const void *src, float *dst, int64_t n)
{
    const uint8_t *p = src;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, f16x8(p + 2 * i));
    for (; i < n; i++) dst[i] = fp16_to_fp32(ld_u16(p + 2 * i));
}
#endif

#endif /* QUANT_AVX2 */
