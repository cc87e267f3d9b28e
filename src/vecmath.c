/*
 * vecmath.c — element-wise math of the forward pass, vectorized.
 *
 * libm's expf is a function call per element: in decode the FFN's 5632
 * SiLUs per layer ran on one thread while the others waited at the next
 * barrier. The exp here is the textbook one: x = n ln2 + r with |r| <= ln2/2
 * (ln2 split in two so n ln2 is exact), e^r by its Taylor series to r^6
 * (truncation < 2e-7 relative), and 2^n put into the exponent bits.
 *
 * Attention needs more: its softmax factors must be libm's expf to the bit
 * (llama.cpp's kernel calls expf), so expf_many runs glibc's own algorithm
 * (since 2.28, from Arm's optimized routines) eight lanes at a time in
 * double: x·32/ln2 = k + r, 2^(k/32) from a 32-entry table of 2^(i/32)
 * with the exponent added in, a cubic in r, one rounding to float at the
 * end. With FMA it gives glibc's FMA build the same bits for all 2^32
 * inputs (checked exhaustively once; test_vecmath checks a sweep).
 */
#include "vecmath.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>

#define EXP_HI 88.3f   /* n <= 127: 2^n stays finite */
#define EXP_LO -87.3f  /* n >= -126: 2^n stays normal */

static inline __m256 exp8(__m256 x0)
{
    /* max/min return their second operand when one is NaN: NaN goes through. */
    const __m256 x = _mm256_min_ps(_mm256_set1_ps(EXP_HI), _mm256_max_ps(_mm256_set1_ps(EXP_LO), x0));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693145751953125f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(1.428606765330187e-6f), r);
    __m256 p = _mm256_set1_ps(1.0f / 720);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    const __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    const __m256 y = _mm256_mul_ps(p, _mm256_castsi256_ps(e));
    /* beyond the clamps: overflow to inf, underflow (to denormals) as 0 */
    const __m256 big = _mm256_cmp_ps(x0, _mm256_set1_ps(EXP_HI), _CMP_GT_OQ);
    const __m256 tiny = _mm256_cmp_ps(x0, _mm256_set1_ps(EXP_LO), _CMP_LT_OQ);
    return _mm256_andnot_ps(tiny, _mm256_blendv_ps(y, _mm256_set1_ps(INFINITY), big));
}
#endif

#if defined(__AVX2__) && defined(__FMA__)
/* 2^(i/32) as double bits, minus i << 47: adding k << 47 for k = 32q + i
 * then yields 2^q · 2^(i/32). */
static const uint64_t exp2_32[32] = {
    0x3ff0000000000000, 0x3fefd9b0d3158574, 0x3fefb5586cf9890f, 0x3fef9301d0125b51,
    0x3fef72b83c7d517b, 0x3fef54873168b9aa, 0x3fef387a6e756238, 0x3fef1e9df51fdee1,
    0x3fef06fe0a31b715, 0x3feef1a7373aa9cb, 0x3feedea64c123422, 0x3feece086061892d,
    0x3feebfdad5362a27, 0x3feeb42b569d4f82, 0x3feeab07dd485429, 0x3feea47eb03a5585,
    0x3feea09e667f3bcd, 0x3fee9f75e8ec5f74, 0x3feea11473eb0187, 0x3feea589994cce13,
    0x3feeace5422aa0db, 0x3feeb737b0cdc5e5, 0x3feec49182a3f090, 0x3feed503b23e255d,
    0x3feee89f995ad3ad, 0x3feeff76f2fb5e47, 0x3fef199bdd85529c, 0x3fef3720dcef9069,
    0x3fef5818dcfba487, 0x3fef7c97337b9b5f, 0x3fefa4afa2a490da, 0x3fefd0765b6e4540,
};

/* glibc's constants: 1.5·2^52 (adding it rounds to an integer, kept in the
 * low bits), 32/ln2, and the cubic's coefficients, scaled for r = x·32/ln2 - k. */
#define EXPF_SHIFT 0x1.8p+52
#define EXPF_INV_LN2_N (0x1.71547652b82fep+0 * 32)
#define EXPF_C0 (0x1.c6af84b912394p-5 / 32 / 32 / 32)
#define EXPF_C1 (0x1.ebfce50fac4f3p-3 / 32 / 32)
#define EXPF_C2 (0x1.62e42ff0c52d6p-1 / 32)

#if defined(__AVX512F__) && defined(__AVX512VL__)
/* Eight lanes of glibc's expf in double, before the specials. The table is
 * four vectors and the lookup two-register permutes: the AVX2 route's
 * gather cost several times as much on AMD's cores (expf_many took about
 * half the time with permutes). */
static inline __m256 expf_core8(__m256 x)
{
    const __m512d shift = _mm512_set1_pd(EXPF_SHIFT);
    const __m512d z = _mm512_mul_pd(_mm512_set1_pd(EXPF_INV_LN2_N), _mm512_cvtps_pd(x));
    const __m512d kshift = _mm512_add_pd(z, shift);
    const __m512i k = _mm512_castpd_si512(kshift);
    const __m512d r = _mm512_sub_pd(z, _mm512_sub_pd(kshift, shift));
    /* entry k & 31: bits 0-3 pick within a pair of vectors, bit 4 the pair */
    const __m512d *tab = (const __m512d *)(const void *)exp2_32;
    const __m512d lo = _mm512_permutex2var_pd(_mm512_loadu_pd(tab), k, _mm512_loadu_pd(tab + 1));
    const __m512d hi = _mm512_permutex2var_pd(_mm512_loadu_pd(tab + 2), k, _mm512_loadu_pd(tab + 3));
    const __m512d e = _mm512_mask_blend_pd(_mm512_test_epi64_mask(k, _mm512_set1_epi64(16)), lo, hi);
    const __m512i t = _mm512_add_epi64(_mm512_castpd_si512(e), _mm512_slli_epi64(k, 47));
    const __m512d c2 = _mm512_fmadd_pd(_mm512_set1_pd(EXPF_C0), r, _mm512_set1_pd(EXPF_C1));
    __m512d y = _mm512_fmadd_pd(_mm512_set1_pd(EXPF_C2), r, _mm512_set1_pd(1.0));
    y = _mm512_fmadd_pd(c2, _mm512_mul_pd(r, r), y);
    return _mm512_cvtpd_ps(_mm512_mul_pd(y, _mm512_castsi512_pd(t)));
}
#else
/* Four lanes of glibc's expf in double, before the specials. */
static inline __m128 expf_core4(__m128 x)
{
    const __m256d shift = _mm256_set1_pd(EXPF_SHIFT);
    const __m256d z = _mm256_mul_pd(_mm256_set1_pd(EXPF_INV_LN2_N), _mm256_cvtps_pd(x));
    const __m256d kshift = _mm256_add_pd(z, shift);
    const __m256i k = _mm256_castpd_si256(kshift); /* k in the low bits */
    const __m256d r = _mm256_sub_pd(z, _mm256_sub_pd(kshift, shift));
    __m256i t = _mm256_i64gather_epi64((const long long *)exp2_32, _mm256_and_si256(k, _mm256_set1_epi64x(31)), 8);
    t = _mm256_add_epi64(t, _mm256_slli_epi64(k, 47));
    const __m256d c2 = _mm256_fmadd_pd(_mm256_set1_pd(EXPF_C0), r, _mm256_set1_pd(EXPF_C1));
    __m256d y = _mm256_fmadd_pd(_mm256_set1_pd(EXPF_C2), r, _mm256_set1_pd(1.0));
    y = _mm256_fmadd_pd(c2, _mm256_mul_pd(r, r), y);
    return _mm256_cvtpd_ps(_mm256_mul_pd(y, _mm256_castsi256_pd(t)));
}

static inline __m256 expf_core8(__m256 x)
{
    return _mm256_insertf128_ps(_mm256_castps128_ps256(expf_core4(_mm256_castps256_ps128(x))),
                                expf_core4(_mm256_extractf128_ps(x, 1)), 1);
}
#endif

static inline __m256 expf8_exact(__m256 x)
{
    __m256 y = expf_core8(x);
    /* glibc's special cases: below ln(2^-150) 0 (also -inf), above ln(2^128)
     * inf, NaN as x + x */
    y = _mm256_blendv_ps(y, _mm256_setzero_ps(), _mm256_cmp_ps(x, _mm256_set1_ps(-0x1.9fe368p6f), _CMP_LT_OQ));
    y = _mm256_blendv_ps(y, _mm256_set1_ps(INFINITY), _mm256_cmp_ps(x, _mm256_set1_ps(0x1.62e42ep6f), _CMP_GT_OQ));
    return _mm256_blendv_ps(y, _mm256_add_ps(x, x), _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
}
#endif

void expf_many(float *y, const float *x, size_t n)
{
    size_t i = 0;
#if defined(__AVX2__) && defined(__FMA__)
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, expf8_exact(_mm256_loadu_ps(x + i)));
    if (i < n) {
        float in[8] = {0}, out[8];
        memcpy(in, x + i, (n - i) * sizeof *in);
        _mm256_storeu_ps(out, expf8_exact(_mm256_loadu_ps(in)));
        memcpy(y + i, out, (n - i) * sizeof *out);
        return;
    }
#endif
    for (; i < n; i++) y[i] = expf(x[i]);
}

size_t argmax_f32(const float *x, size_t n)
{
    /* the largest value first (maxps keeps its second operand when the
     * first is NaN), then the first index that holds it */
    float best = -INFINITY;
    size_t i = 0;
#if defined(__AVX2__)
    __m256 m0 = _mm256_set1_ps(-INFINITY), m1 = m0, m2 = m0, m3 = m0;
    for (; i + 32 <= n; i += 32) {
        m0 = _mm256_max_ps(_mm256_loadu_ps(x + i), m0);
        m1 = _mm256_max_ps(_mm256_loadu_ps(x + i + 8), m1);
        m2 = _mm256_max_ps(_mm256_loadu_ps(x + i + 16), m2);
        m3 = _mm256_max_ps(_mm256_loadu_ps(x + i + 24), m3);
    }
    float lanes[8];
    _mm256_storeu_ps(lanes, _mm256_max_ps(_mm256_max_ps(m0, m1), _mm256_max_ps(m2, m3)));
    for (int k = 0; k < 8; k++) best = lanes[k] > best ? lanes[k] : best;
#endif
    for (; i < n; i++) best = x[i] > best ? x[i] : best;
    i = 0;
#if defined(__AVX2__)
    for (const __m256 b = _mm256_set1_ps(best); i + 8 <= n; i += 8) {
        const unsigned hit = (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(x + i), b, _CMP_EQ_OQ));
        if (hit) return i + (size_t)__builtin_ctz(hit);
    }
#endif
    for (; i < n; i++)
        if (x[i] == best) return i;
    return 0; /* all NaN */
}

void swiglu(float *h, const float *u, size_t n)
{
    size_t i = 0;
#if defined(__AVX2__) && defined(__FMA__)
    const __m256 one = _mm256_set1_ps(1.0f), neg = _mm256_set1_ps(-0.0f);
    for (; i + 8 <= n; i += 8) {
        const __m256 g = _mm256_loadu_ps(h + i);
        const __m256 s = _mm256_div_ps(g, _mm256_add_ps(one, exp8(_mm256_xor_ps(g, neg))));
        _mm256_storeu_ps(h + i, _mm256_mul_ps(s, _mm256_loadu_ps(u + i)));
    }
#endif
    for (; i < n; i++) h[i] = h[i] / (1.0f + expf(-h[i])) * u[i];
}
