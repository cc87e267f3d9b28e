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

/* One dot loop for every float row type: LOAD8(p) gives 8 weights as floats,
 * ELT is the width of one weight in bytes, SCALAR(p) converts one weight. */
#define FLOAT_DOT_BODY(ELT, LOAD8, SCALAR)                                          \
    const uint8_t *a = w;                                                           \
    const float *b = x;                                                             \
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();                  \
    __m256 acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();                  \
    int64_t i = 0;                                                                  \
    for (; i + 32 <= n; i += 32) {                                                  \
        acc0 = _mm256_fmadd_ps(LOAD8(a + (i + 0) * ELT), _mm256_loadu_ps(b + i + 0), acc0);   \
        acc1 = _mm256_fmadd_ps(LOAD8(a + (i + 8) * ELT), _mm256_loadu_ps(b + i + 8), acc1);   \
        acc2 = _mm256_fmadd_ps(LOAD8(a + (i + 16) * ELT), _mm256_loadu_ps(b + i + 16), acc2); \
        acc3 = _mm256_fmadd_ps(LOAD8(a + (i + 24) * ELT), _mm256_loadu_ps(b + i + 24), acc3); \
    }                                                                               \
    for (; i + 8 <= n; i += 8)                                                      \
        acc0 = _mm256_fmadd_ps(LOAD8(a + i * ELT), _mm256_loadu_ps(b + i), acc0);   \
    float s = hsum_f32_8(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3))); \
    for (; i < n; i++) s += SCALAR(a + i * ELT) * ld_f32(b + i);                             \
    return s;

#define LOAD_F32(p) _mm256_loadu_ps((const float *)(const void *)(p))
#define SCALAR_F32(p) ld_f32(p)
float f32_dot_avx2(int64_t n, const void *w, const void *x)
{
    FLOAT_DOT_BODY(4, LOAD_F32, SCALAR_F32)
}

#define SCALAR_BF16(p) bf16_to_fp32(ld_u16(p))
float bf16_dot_avx2(int64_t n, const void *w, const void *x)
{
    FLOAT_DOT_BODY(2, bf16x8, SCALAR_BF16)
}

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

float f16_dot_avx2(int64_t n, const void *w, const void *x)
{
    FLOAT_DOT_BODY(2, f16x8, SCALAR_F16)
}

void f16_to_float_avx2(const void *src, float *dst, int64_t n)
{
    const uint8_t *p = src;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, f16x8(p + 2 * i));
    for (; i < n; i++) dst[i] = fp16_to_fp32(ld_u16(p + 2 * i));
}
#endif

#endif /* QUANT_AVX2 */
