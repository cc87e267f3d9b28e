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

#if QUANT_AVX512
/* Attention's scores, one key against up to 8 queries of HD (64 or 128)
 * columns, the queries' lanes past nq repeating the last: f16_dot_avx2's bits.
 * That dot keeps four 8-lane sums (chunks of 32 elements in turn) and ends
 * with (s0 + s1) + (s2 + s3), then hsum_f32_8. Here s0|s1 and s2|s3 are two
 * 16-lane sums, the key's row is widened once for the queries that share it
 * (heads of one KV head), and the 8 final sums run side by side: a third of
 * the instructions of a dot per query. */
static ALWAYS_INLINE __m256 f16_key_dots(const uint8_t *kj, const size_t *koff, const float *q, int nq, int HD)
{
    __m512 k[128 / 16], t[4]; /* the widened row: HD <= 128 */
    size_t cur = koff[0];
#pragma GCC unroll 8
    for (int i = 0; i < HD / 16; i++) k[i] = _mm512_cvtph_ps(loadu256(kj + cur + 32 * i));
    for (int p = 0; p < 4; p++) {
        __m512 z[2][2];
        for (int e = 0; e < 2; e++) {
            const int h = 2 * p + e < nq ? 2 * p + e : nq - 1;
            if (koff[h] != cur) {
                cur = koff[h];
#pragma GCC unroll 8
                for (int i = 0; i < HD / 16; i++) k[i] = _mm512_cvtph_ps(loadu256(kj + cur + 32 * i));
            }
            const float *qh = q + (size_t)h * HD;
            z[e][0] = _mm512_fmadd_ps(k[0], _mm512_loadu_ps(qh), _mm512_setzero_ps());
            z[e][1] = _mm512_fmadd_ps(k[1], _mm512_loadu_ps(qh + 16), _mm512_setzero_ps());
#pragma GCC unroll 8
            for (int i = 2; i < HD / 16; i++) z[e][i % 2] = _mm512_fmadd_ps(k[i], _mm512_loadu_ps(qh + 16 * i), z[e][i % 2]);
        }
        /* [s0 + s1 of query 2p | of query 2p + 1] + [s2 + s3 | ...] */
        const __m512 a = _mm512_add_ps(_mm512_shuffle_f32x4(z[0][0], z[1][0], _MM_SHUFFLE(1, 0, 1, 0)),
                                       _mm512_shuffle_f32x4(z[0][0], z[1][0], _MM_SHUFFLE(3, 2, 3, 2)));
        const __m512 b = _mm512_add_ps(_mm512_shuffle_f32x4(z[0][1], z[1][1], _MM_SHUFFLE(1, 0, 1, 0)),
                                       _mm512_shuffle_f32x4(z[0][1], z[1][1], _MM_SHUFFLE(3, 2, 3, 2)));
        t[p] = _mm512_add_ps(a, b);
    }
    return hsum_f32_8x8(t);
}

/* Out of line per size: inlined into a loop with other work, the widened row
 * went to memory. */
#define F16_DOT_KEYS(HD)                                                                                       \
    static __attribute__((noinline)) void f16_dot_keys_##HD(const uint8_t *k, size_t krow, int n_keys,         \
                                                           const size_t *koff, const float *q, int nq, float *out) \
    {                                                                                                          \
        for (int j = 0; j < n_keys; j++) _mm256_storeu_ps(out + 8 * j, f16_key_dots(k + (size_t)j * krow, koff, q, nq, HD)); \
    }
F16_DOT_KEYS(64)
F16_DOT_KEYS(128)

void f16_dot_keys_avx2(int64_t n, const void *k, size_t krow, int n_keys, const size_t *koff, const float *q, int nq,
                       float *out)
{
    if (n == 64) {
        f16_dot_keys_64(k, krow, n_keys, koff, q, nq, out);
        return;
    }
    if (n == 128) {
        f16_dot_keys_128(k, krow, n_keys, koff, q, nq, out);
        return;
    }
    for (int j = 0; j < n_keys; j++) { /* other head sizes: f16_dot_many per key */
        const void *kr[8], *qr[8];
        for (int h = 0; h < 8; h++) {
            const int hq = h < nq ? h : nq - 1;
            kr[h] = (const uint8_t *)k + (size_t)j * krow + koff[hq];
            qr[h] = q + (size_t)hq * n;
        }
        f16_dot_many_avx2(n, kr, qr, 8, out + 8 * j);
    }
}
#endif /* QUANT_AVX512 */
#endif /* __F16C__ */

#endif /* QUANT_AVX2 */
