/*
 * vecmath.c — element-wise math of the forward pass, vectorized.
 *
 * libm's expf is a function call per element: in decode the FFN's 5632
 * SiLUs per layer ran on one thread while the others waited at the next
 * barrier. The exp here is the textbook one: x = n ln2 + r with |r| <= ln2/2
 * (ln2 split in two so n ln2 is exact), e^r by its Taylor series to r^6
 * (truncation < 2e-7 relative), and 2^n put into the exponent bits.
 */
#include "vecmath.h"

#include <math.h>

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
