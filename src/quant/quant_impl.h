/*
 * quant_impl.h — internal to src/quant: ggml's block layouts, the shared
 * scalar helpers, the shared AVX2 helpers, and the kernel prototypes that
 * quant.c assembles into the type_traits tables.
 *
 * Blocks are declared packed (alignment 1): rows come straight from an mmapped
 * GGUF file and may sit at any byte offset, so every multi-byte field is read
 * through the packed struct (the compiler emits unaligned-safe loads) and SIMD
 * code only uses unaligned loads, taking member addresses via (const void *).
 */
#ifndef INFER_QUANT_IMPL_H
#define INFER_QUANT_IMPL_H

/* Strict float evaluation in all quant code: no a*b+c contraction into FMA
 * (explicit _mm256_fmadd_ps stays FMA). ggml-base, which holds ggml's
 * quantize_row_*_ref, is built without FMA; with contraction, -march=native
 * would change rounding decisions inside the quantizers (nearest_int(x*s),
 * q = x*id + 8.5, the error sums of make_qkx2_quants, ...) and our files
 * would stop being byte-identical with llama-quantize (test_golden_ggml
 * catches that). Dequantization does not depend on it: every d*sc*q product
 * there fits in 24 bits and is exact. This header must be the first include
 * of every .c file in src/quant, so the pragma covers everything after it. */
#if defined(__clang__)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

#include "quant.h"

#include <float.h>
#include <math.h>
#include <string.h>

#if defined(__AVX2__) && defined(__FMA__)
#define QUANT_AVX2 1
#include <immintrin.h>
#else
#define QUANT_AVX2 0
#endif

/* The AVX-512 kernels (oct.c, kquants.c) use 512-bit VNNI dot products,
 * byte permutes (VBMI) and GF(2^8) affine bit moves (GFNI); the 256-bit
 * parts rely on AVX-VNNI. Zen 4/5 and Sapphire Rapids have all of them;
 * elsewhere the AVX2 kernels run. */
#if QUANT_AVX2 && defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VL__) && \
    defined(__AVX512VNNI__) && defined(__AVX512VBMI__) && defined(__GFNI__) && defined(__AVXVNNI__)
#define QUANT_AVX512 1
#else
#define QUANT_AVX512 0
#endif

#define QK4_0 32
#define QK4_1 32
#define QK5_0 32
#define QK5_1 32
#define QK8_0 32
#define QK8_1 32
#define QK4_NL 32
#define QK_K 256
#define K_SCALE_SIZE 12

#define PACKED __attribute__((packed))

typedef struct PACKED { uint16_t d; uint8_t qs[QK4_0 / 2]; } block_q4_0;
typedef struct PACKED { uint16_t d, m; uint8_t qs[QK4_1 / 2]; } block_q4_1;
typedef struct PACKED { uint16_t d; uint8_t qh[4]; uint8_t qs[QK5_0 / 2]; } block_q5_0;
typedef struct PACKED { uint16_t d, m; uint8_t qh[4]; uint8_t qs[QK5_1 / 2]; } block_q5_1;
typedef struct PACKED { uint16_t d; int8_t qs[QK8_0]; } block_q8_0;
typedef struct PACKED { uint16_t d, s; int8_t qs[QK8_1]; } block_q8_1;
typedef struct PACKED {
    uint8_t scales[QK_K / 16]; /* low nibble scale, high nibble min */
    uint8_t qs[QK_K / 4];
    uint16_t d, dmin;
} block_q2_K;
typedef struct PACKED {
    uint8_t hmask[QK_K / 8];
    uint8_t qs[QK_K / 4];
    uint8_t scales[12]; /* 16 6-bit scales, biased by 32 */
    uint16_t d;
} block_q3_K;
typedef struct PACKED {
    uint16_t d, dmin;
    uint8_t scales[K_SCALE_SIZE]; /* 8 6-bit scales + 8 6-bit mins */
    uint8_t qs[QK_K / 2];
} block_q4_K;
typedef struct PACKED {
    uint16_t d, dmin;
    uint8_t scales[K_SCALE_SIZE];
    uint8_t qh[QK_K / 8];
    uint8_t qs[QK_K / 2];
} block_q5_K;
typedef struct PACKED {
    uint8_t ql[QK_K / 2];
    uint8_t qh[QK_K / 4];
    int8_t scales[QK_K / 16];
    uint16_t d;
} block_q6_K;
typedef struct PACKED {
    float d;
    int8_t qs[QK_K];
    int16_t bsums[QK_K / 16];
} block_q8_K;
typedef struct PACKED { uint16_t d; uint8_t qs[QK4_NL / 2]; } block_iq4_nl;

_Static_assert(sizeof(block_q4_0) == 18, "q4_0");
_Static_assert(sizeof(block_q4_1) == 20, "q4_1");
_Static_assert(sizeof(block_q5_0) == 22, "q5_0");
_Static_assert(sizeof(block_q5_1) == 24, "q5_1");
_Static_assert(sizeof(block_q8_0) == 34, "q8_0");
_Static_assert(sizeof(block_q8_1) == 36, "q8_1");
_Static_assert(sizeof(block_q2_K) == 84, "q2_K");
_Static_assert(sizeof(block_q3_K) == 110, "q3_K");
_Static_assert(sizeof(block_q4_K) == 144, "q4_K");
_Static_assert(sizeof(block_q5_K) == 176, "q5_K");
_Static_assert(sizeof(block_q6_K) == 210, "q6_K");
_Static_assert(sizeof(block_q8_K) == 292, "q8_K");
_Static_assert(sizeof(block_iq4_nl) == 18, "iq4_nl");

extern const int8_t kvalues_iq4nl[16];

/* ---- scalar helpers shared by the family files ---- */

#define QMIN(a, b) ((a) < (b) ? (a) : (b))
#define QMAX(a, b) ((a) > (b) ? (a) : (b))

static inline float fp16(uint16_t h) { return fp16_to_fp32(h); }

/* ggml's nearest_int: round half to even via the 1.5*2^23 trick (|f| < 2^22). */
static inline int nearest_int(float f)
{
    float v = f + 12582912.f;
    int i;
    memcpy(&i, &v, sizeof i);
    return (i & 0x007fffff) - 0x00400000;
}

/* Unaligned scalar loads for the float row types. */
static inline float ld_f32(const void *p) { float f; memcpy(&f, p, 4); return f; }
static inline uint16_t ld_u16(const void *p) { uint16_t h; memcpy(&h, p, 2); return h; }

/* Q4_K / Q5_K: 6-bit scale and min of sub-block j (0..7) from the 12 packed bytes. */
static inline void k4_scale_min(int j, const uint8_t *q, uint8_t *sc, uint8_t *m)
{
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

/* Q4_K / Q5_K: all 8 scales (out[0..7]) and 8 mins (out[8..15]). */
static inline void k4_unpack_scales(const uint8_t *q, uint8_t out[16])
{
    for (int j = 0; j < 8; j++) k4_scale_min(j, q, &out[j], &out[8 + j]);
}

/* Q3_K: the 16 signed scales (already minus 32). */
static inline void q3k_unpack_scales(const uint8_t *q, int8_t out[16])
{
    for (int j = 0; j < 16; j++) {
        int lo = j < 8 ? q[j] & 0xF : q[j - 8] >> 4;
        int hi = (q[8 + j % 4] >> (2 * (j / 4))) & 3;
        out[j] = (int8_t)((lo | (hi << 4)) - 32);
    }
}

/* ---- AVX2 helpers (one copy, used by every family file) ---- */
#if QUANT_AVX2

static inline float hsum_f32_8(__m256 x)
{
    __m128 r = _mm_add_ps(_mm256_extractf128_ps(x, 1), _mm256_castps256_ps128(x));
    r = _mm_add_ps(r, _mm_movehl_ps(r, r));
    r = _mm_add_ss(r, _mm_movehdup_ps(r));
    return _mm_cvtss_f32(r);
}

#if QUANT_AVX512
/* gf2p8affineqb moves and masks bits inside every byte in one instruction:
 * GF_BIT(o, i) in the matrix makes output bit o input bit i. gf_bits uses
 * matrix lo on the low 256 bits of x and hi on the high 256. */
#define GF_BIT(o, i) ((long long)((1ULL << (i)) << (8 * (7 - (o)))))
#define GF_HI_NIBBLE (GF_BIT(0, 4) | GF_BIT(1, 5) | GF_BIT(2, 6) | GF_BIT(3, 7))
static inline __m512i gf_bits(__m512i x, long long lo, long long hi)
{
    return _mm512_gf2p8affine_epi64_epi8(x, _mm512_set_epi64(hi, hi, hi, hi, lo, lo, lo, lo), 0);
}

/* The high nibble of every byte, in one instruction where a shift and a
 * mask take two. */
static inline __m512i hi_nibbles(__m512i x) { return gf_bits(x, GF_HI_NIBBLE, GF_HI_NIBBLE); }

/* hsum_f32_8 of 8 vectors at once, the halves of t[0..3]: lane 2m + k of the
 * result is hsum_f32_8 of half k of t[m], in the same order of additions
 * (x_i + x_i+4, then those 0 + 2 and 1 + 3, then the two), 12 instructions
 * where 8 reductions of one vector take 48. */
static inline __m256 hsum_f32_8x8(const __m512 t[4])
{
    /* 128-bit chunk c of s0: the first step of half c % 2 of t[c / 2]; of s1, of t[2 + c / 2] */
    const __m512 s0 = _mm512_add_ps(_mm512_shuffle_f32x4(t[0], t[1], _MM_SHUFFLE(2, 0, 2, 0)),
                                    _mm512_shuffle_f32x4(t[0], t[1], _MM_SHUFFLE(3, 1, 3, 1)));
    const __m512 s1 = _mm512_add_ps(_mm512_shuffle_f32x4(t[2], t[3], _MM_SHUFFLE(2, 0, 2, 0)),
                                    _mm512_shuffle_f32x4(t[2], t[3], _MM_SHUFFLE(3, 1, 3, 1)));
    /* chunk c: s0's lanes 0 + 2, 1 + 3, then s1's */
    const __m512 r = _mm512_add_ps(_mm512_shuffle_ps(s0, s1, _MM_SHUFFLE(1, 0, 1, 0)),
                                   _mm512_shuffle_ps(s0, s1, _MM_SHUFFLE(3, 2, 3, 2)));
    /* lane 0 of chunk c: s0's sum (vector c), lane 2: s1's (vector 4 + c) */
    const __m512 f = _mm512_add_ps(r, _mm512_shuffle_ps(r, r, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm512_castps512_ps256(_mm512_permutexvar_ps(_mm512_setr_epi32(0, 4, 8, 12, 2, 6, 10, 14, 0, 0, 0, 0, 0, 0, 0, 0), f));
}

/* The end of a two-row kernel: hsum_f32_8 of both halves of a[b] (row 0 in
 * the low, row 1 in the high 8 lanes) to out[b * os + row], b < NR. With 8
 * rows, two hsum_f32_8x8 instead of 16 reductions of one vector. */
static inline __attribute__((always_inline)) void hsum_pairs(const __m512 *a, int NR, float *out, size_t os)
{
    if (NR < 8) {
        for (int b = 0; b < NR; b++) {
            out[(size_t)b * os] = hsum_f32_8(_mm512_castps512_ps256(a[b]));
            out[(size_t)b * os + 1] = hsum_f32_8(_mm512_extractf32x8_ps(a[b], 1));
        }
        return;
    }
    float t[16]; /* lane 2b + row */
    _mm256_storeu_ps(t, hsum_f32_8x8(a));
    _mm256_storeu_ps(t + 8, hsum_f32_8x8(a + 4));
    if (os == 2) {
        memcpy(out, t, sizeof t);
        return;
    }
    for (int b = 0; b < 8; b++) memcpy(out + (size_t)b * os, t + 2 * b, 2 * sizeof(float));
}
#endif

static inline __m256i loadu256(const void *p) { return _mm256_loadu_si256((const __m256i *)p); }
static inline __m128i loadu128(const void *p) { return _mm_loadu_si128((const __m128i *)p); }

/* 16 bytes of nibbles -> 32 bytes: low nibbles in bytes 0..15, high in 16..31. */
static inline __m256i nibbles_32(const uint8_t *p)
{
    __m128i t = loadu128(p);
    __m256i b = _mm256_inserti128_si256(_mm256_castsi128_si256(t), _mm_srli_epi16(t, 4), 1);
    return _mm256_and_si256(b, _mm256_set1_epi8(0xF));
}

/* 32 bits (little endian) -> 32 bytes, 0xFF where the bit is set. */
static inline __m256i bits_to_bytes_32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    const __m256i shuf = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202,
                                           0x0101010101010101, 0x0000000000000000);
    const __m256i bit = _mm256_set1_epi64x((long long)0x8040201008040201ULL);
    __m256i b = _mm256_shuffle_epi8(_mm256_set1_epi32((int)v), shuf);
    return _mm256_cmpeq_epi8(_mm256_and_si256(b, bit), bit);
}

/* Q5_0's q - 16 as signed bytes: 0xF0 in the high bits where the 5th bit is clear. */
static inline __m256i q5_0_quants(const block_q5_0 *x)
{
    const __m256i hi = _mm256_andnot_si256(bits_to_bytes_32(x->qh), _mm256_set1_epi8((char)0xF0));
    return _mm256_or_si256(nibbles_32(x->qs), hi);
}

/* Q5_1's unsigned quants 0..31. */
static inline __m256i q5_1_quants(const block_q5_1 *x)
{
    return _mm256_or_si256(nibbles_32(x->qs), _mm256_and_si256(bits_to_bytes_32(x->qh), _mm256_set1_epi8(0x10)));
}

/* IQ4_NL: the 32 table values of a block. */
static inline __m256i iq4nl_values_32(const uint8_t *qs)
{
    const __m128i t = loadu128(kvalues_iq4nl);
    return _mm256_shuffle_epi8(_mm256_inserti128_si256(_mm256_castsi128_si256(t), t, 1), nibbles_32(qs));
}

/* 32 signed bytes -> 4 x 8 floats. */
static inline void i8x32_to_f32(__m256i q, __m256 out[4])
{
    __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
    out[0] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo));
    out[1] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8)));
    out[2] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi));
    out[3] = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8)));
}

/* dst[0..31] = q * d for 32 signed bytes q; elements 0..15 use d0, 16..31 d1.
 * One rounded multiply, exactly what the scalar code computes. */
static inline void store_i8x32_scaled2(float *dst, __m256i q, float d0, float d1)
{
    __m256 f[4];
    i8x32_to_f32(q, f);
    const __m256 a = _mm256_set1_ps(d0), b = _mm256_set1_ps(d1);
    _mm256_storeu_ps(dst + 0, _mm256_mul_ps(f[0], a));
    _mm256_storeu_ps(dst + 8, _mm256_mul_ps(f[1], a));
    _mm256_storeu_ps(dst + 16, _mm256_mul_ps(f[2], b));
    _mm256_storeu_ps(dst + 24, _mm256_mul_ps(f[3], b));
}

static inline void store_i8x32_scaled(float *dst, __m256i q, float d) { store_i8x32_scaled2(dst, q, d, d); }

/* dst[0..31] = d * q - m (rounded twice, as the scalar code, never fused);
 * elements 0..15 use (d0, m0), 16..31 (d1, m1). "q * d + m" is the same
 * computation with m negated (x - (-m) == x + m bit for bit). */
static inline void store_i8x32_affine2(float *dst, __m256i q, float d0, float m0, float d1, float m1)
{
    __m256 f[4];
    i8x32_to_f32(q, f);
    const __m256 a = _mm256_set1_ps(d0), b = _mm256_set1_ps(d1);
    const __m256 ma = _mm256_set1_ps(m0), mb = _mm256_set1_ps(m1);
    _mm256_storeu_ps(dst + 0, _mm256_sub_ps(_mm256_mul_ps(a, f[0]), ma));
    _mm256_storeu_ps(dst + 8, _mm256_sub_ps(_mm256_mul_ps(a, f[1]), ma));
    _mm256_storeu_ps(dst + 16, _mm256_sub_ps(_mm256_mul_ps(b, f[2]), mb));
    _mm256_storeu_ps(dst + 24, _mm256_sub_ps(_mm256_mul_ps(b, f[3]), mb));
}

/* Q4_K / Q5_K: the 8 scales and 8 mins as 16 int16 (scales in the low lane). */
static inline __m256i k4_scales_mins_i16(const uint8_t *scales)
{
    uint32_t u[4];
    memcpy(u, scales, 12);
    const uint32_t m1 = 0x3f3f3f3f, m2 = 0x0f0f0f0f, m3 = 0x03030303;
    uint32_t s0 = u[0] & m1;                                  /* scales 0..3 */
    uint32_t s1 = (u[2] & m2) | (((u[0] >> 6) & m3) << 4);    /* scales 4..7 */
    uint32_t n0 = u[1] & m1;                                  /* mins 0..3 */
    uint32_t n1 = ((u[2] >> 4) & m2) | (((u[1] >> 6) & m3) << 4); /* mins 4..7 */
    return _mm256_cvtepu8_epi16(_mm_set_epi32((int)n1, (int)n0, (int)s1, (int)s0));
}

/* 8 fp16 values at p, p + stride, ..., p + 7 * stride as 8 floats (exact).
 * The halves are gathered in general registers: two vector inserts and one
 * conversion for 8 blocks instead of a conversion per block. */
static inline __m256 fp16x8_strided(const uint8_t *p, size_t stride)
{
    uint64_t h[8];
    for (int k = 0; k < 8; k++) {
        h[k] = ld_u16(p + k * stride);
        __asm__("" : "+r"(h[k])); /* keep it scalar: gcc would build this with ~20 vector ops */
    }
    const uint64_t lo = h[0] | h[1] << 16 | h[2] << 32 | h[3] << 48;
    const uint64_t hi = h[4] | h[5] << 16 | h[6] << 32 | h[7] << 48;
    return _mm256_cvtph_ps(_mm_insert_epi64(_mm_cvtsi64_si128((long long)lo), (long long)hi, 1));
}

/* acc + the 8 int32 sums of 4 adjacent u8 x s8 products. Without AVX-VNNI
 * the pairs go through int16 (maddubs), so u * s pair sums must fit int16:
 * with u <= 127, or as here for unsigned quants <= 15. */
static inline __m256i dot4_u8i8_add(__m256i acc, __m256i u, __m256i s)
{
#if defined(__AVXVNNI__)
    return _mm256_dpbusd_avx_epi32(acc, u, s);
#else
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)));
#endif
}

/* acc + madd(a, b): pairs of int16 products summed into int32 (one VNNI
 * instruction when there is AVX-VNNI). */
static inline __m256i madd16_add(__m256i acc, __m256i a, __m256i b)
{
#if defined(__AVXVNNI__)
    return _mm256_dpwssd_avx_epi32(acc, a, b);
#else
    return _mm256_add_epi32(acc, _mm256_madd_epi16(a, b));
#endif
}

/* Software prefetch of the weights, bytes [p, p + bytes) some distance
 * ahead, called by the row kernels once per step. perf showed the kernels
 * stalled on their weight loads (a third of the 8-row Q4_0 time) although
 * they read far below the memory's rate, so the hardware prefetchers alone
 * do not run far enough ahead (the mmapped file's 4 KB pages may be why;
 * not verified). The distance is about a memory latency's worth of reading:
 * one row streams fast, eight rows ~4x slower (measured best: 8 KB and
 * 2 KB). Prefetches past the end of the mapping do not fault.
 * With one activation row (decode) each weight line is read once per
 * token: a non-temporal prefetch, so that the stream does not push the
 * activations and the K/V out of the caches, nor fill the victim L3 of an
 * AMD core with lines nobody reads again. Measured 1-3 % more decode tok/s
 * (Q8_0, Q4_0, Q4_K_M; two copies decoding at once, one per core, which
 * share the machine's memory weather). With several rows a tile's weights
 * are read again by the next group of rows (prompt batches) and stay T0.
 * __builtin_prefetch, not _mm_prefetch: with the optimize pragma above,
 * GCC 12 judged the _mm_prefetch wrapper free of side effects and deleted
 * every call. */
static inline void rows_prefetch(int nrows, const void *p, size_t bytes)
{
    const size_t dist = nrows >= 4 ? 2048 : 8192;
    if (nrows == 1)
        for (size_t b = 0; b < bytes; b += 64) __builtin_prefetch((const char *)p + dist + b, 0, 0);
    else
        for (size_t b = 0; b < bytes; b += 64) __builtin_prefetch((const char *)p + dist + b, 0, 3);
}

/* Broadcast int16 element k (0..7) of each 128-bit lane to the whole lane. */
static inline __m256i bcast_i16(__m256i v, int k)
{
    const __m256i idx = _mm256_set1_epi16((short)((2 * k) | ((2 * k + 1) << 8)));
    return _mm256_shuffle_epi8(v, idx);
}

/* Two int16 scales for 2 x 16 elements: lane 0 gets element a, lane 1 element b
 * of the 8 int16 in s (used by the 16-element-group K-quants). */
static inline __m256i scale_pair_i16(__m128i s, int a, int b)
{
    const __m128i ia = _mm_set1_epi16((short)((2 * a) | ((2 * a + 1) << 8)));
    const __m128i ib = _mm_set1_epi16((short)((2 * b) | ((2 * b + 1) << 8)));
    return _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_shuffle_epi8(s, ia)),
                                   _mm_shuffle_epi8(s, ib), 1);
}
#endif /* QUANT_AVX2 */

/* vec_dot_rows for a compile-time row count: IMPL(n, w, x, xrb, NR, out, os)
 * is an always-inline body; this makes one specialised copy per count so the
 * per-row accumulators live in registers. */
#define ROWS_DISPATCH(IMPL, n, w, x, xrb, nrows, out, os)         \
    switch (nrows) {                                            \
    case 1: IMPL(n, w, x, xrb, 1, out, os); break;              \
    case 2: IMPL(n, w, x, xrb, 2, out, os); break;              \
    case 3: IMPL(n, w, x, xrb, 3, out, os); break;              \
    case 4: IMPL(n, w, x, xrb, 4, out, os); break;              \
    case 5: IMPL(n, w, x, xrb, 5, out, os); break;              \
    case 6: IMPL(n, w, x, xrb, 6, out, os); break;              \
    case 7: IMPL(n, w, x, xrb, 7, out, os); break;              \
    default: IMPL(n, w, x, xrb, 8, out, os); break;             \
    }

/* The same for the two-row kernels, IMPL(n, w, wrb, x, xrb, NR, out, os) for
 * one pair of weight rows, inlined in one loop over the call's w_rows. */
#define ROWS2_DISPATCH(IMPL, n, w, wrb, w_rows, x, xrb, nrows, out, os)          \
    switch (nrows) {                                                            \
    case 1: ROWS2_PAIRS(IMPL, n, w, wrb, w_rows, x, xrb, 1, out, os); break;    \
    case 2: ROWS2_PAIRS(IMPL, n, w, wrb, w_rows, x, xrb, 2, out, os); break;    \
    case 3: ROWS2_PAIRS(IMPL, n, w, wrb, w_rows, x, xrb, 3, out, os); break;    \
    case 4: ROWS2_PAIRS(IMPL, n, w, wrb, w_rows, x, xrb, 4, out, os); break;    \
    case 5: ROWS2_PAIRS(IMPL, n, w, wrb, w_rows, x, xrb, 5, out, os); break;    \
    case 6: ROWS2_PAIRS(IMPL, n, w, wrb, w_rows, x, xrb, 6, out, os); break;    \
    case 7: ROWS2_PAIRS(IMPL, n, w, wrb, w_rows, x, xrb, 7, out, os); break;    \
    default: ROWS2_PAIRS(IMPL, n, w, wrb, w_rows, x, xrb, 8, out, os); break;   \
    }
#define ROWS2_PAIRS(IMPL, n, w, wrb, w_rows, x, xrb, NR, out, os) \
    for (int r_ = 0; r_ + 1 < (w_rows); r_ += 2)                  \
    IMPL(n, (const char *)(w) + (size_t)r_ * (wrb), wrb, x, xrb, NR, (out) + r_, os)

#define ALWAYS_INLINE inline __attribute__((always_inline))

/* ---- kernels (defined in the family files) ---- */
#define DECL_TO(name) void name##_to_float_ref(const void *, float *, int64_t)
#define DECL_DOT(name) float name##_dot_ref(int64_t, const void *, const void *)
#define DECL_FROM(name) void name##_from_float(const float *, void *, int64_t)
#define DECL_TO_SIMD(name) void name##_to_float_avx2(const void *, float *, int64_t)
#define DECL_DOT_SIMD(name) float name##_dot_avx2(int64_t, const void *, const void *)
#define DECL_ROWS2_SIMD(name) \
    void name##_dot_rows2_avx2(int64_t, const void *, size_t, int, const void *, size_t, int, float *, size_t)
#define DECL_DOT_MANY(name) void name##_dot_many_avx2(int64_t, const void *const *, const void *const *, int, float *)
#define DECL_ROWS(name) void name##_dot_rows_ref(int64_t, const void *, const void *, size_t, int, float *, size_t)
#define DECL_ROWS_SIMD(name) void name##_dot_rows_avx2(int64_t, const void *, const void *, size_t, int, float *, size_t)

/* A vec_dot_rows that calls vec_dot once per row (types without a
 * multi-row kernel of their own: trivially bit-identical). */
#define ROWS_BY_DOT(rows_name, dot_name)                                                        \
    void rows_name(int64_t n, const void *w, const void *x, size_t xrb, int nrows, float *out,  \
                   size_t os)                                                                   \
    {                                                                                           \
        for (int b = 0; b < nrows; b++) out[(size_t)b * os] = dot_name(n, w, (const char *)x + (size_t)b * xrb); \
    }

/* float.c */
DECL_TO(f32); DECL_FROM(f32); DECL_DOT(f32);
DECL_TO(f16); DECL_FROM(f16); DECL_DOT(f16);
DECL_TO(bf16); DECL_FROM(bf16); DECL_DOT(bf16);
/* q8.c */
DECL_TO(q8_0); DECL_FROM(q8_0); DECL_DOT(q8_0);
DECL_TO(q8_1); DECL_FROM(q8_1);
DECL_TO(q8_K); DECL_FROM(q8_K);
void q8_0_from_float_act(const float *, void *, int64_t);
void q8_1_from_float_act(const float *, void *, int64_t);
/* q4q5.c */
DECL_TO(q4_0); DECL_FROM(q4_0); DECL_DOT(q4_0);
/* the plain dots' steps over nb blocks, continuing the sum s (octpack.c) */
float q4_0_dot_blocks(const void *w, const void *a, int64_t nb, float s);
float q8_0_dot_blocks(const void *w, const void *a, int64_t nb, float s);
/* octpack.c: Q4_0 / Q8_0 rearranged at load for the oct kernels */
DECL_TO(q4_0_oct); DECL_DOT(q4_0_oct);
DECL_TO(q8_0_oct); DECL_DOT(q8_0_oct);
void q4_0_oct_unpack(const void *oct, void *blocks); /* one oct back to 8 plain blocks */
void q8_0_oct_unpack(const void *oct, void *blocks);
DECL_TO(q4_1); DECL_FROM(q4_1); DECL_DOT(q4_1);
DECL_TO(q5_0); DECL_FROM(q5_0); DECL_DOT(q5_0);
DECL_TO(q5_1); DECL_FROM(q5_1); DECL_DOT(q5_1);
/* kquants.c */
DECL_TO(q2_K); DECL_FROM(q2_K); DECL_DOT(q2_K);
DECL_TO(q3_K); DECL_FROM(q3_K); DECL_DOT(q3_K);
DECL_TO(q4_K); DECL_FROM(q4_K); DECL_DOT(q4_K);
DECL_TO(q5_K); DECL_FROM(q5_K); DECL_DOT(q5_K);
DECL_TO(q6_K); DECL_FROM(q6_K); DECL_DOT(q6_K);
/* iq4nl.c */
DECL_TO(iq4_nl); DECL_FROM(iq4_nl); DECL_DOT(iq4_nl);

/* rows.c: the reference multi-row kernels (one vec_dot_ref per row) */
DECL_ROWS(f32); DECL_ROWS(f16); DECL_ROWS(bf16);
DECL_ROWS(q4_0); DECL_ROWS(q4_1); DECL_ROWS(q5_0); DECL_ROWS(q5_1); DECL_ROWS(q8_0);
DECL_ROWS(q4_0_oct); DECL_ROWS(q8_0_oct);
DECL_ROWS(q2_K); DECL_ROWS(q3_K); DECL_ROWS(q4_K); DECL_ROWS(q5_K); DECL_ROWS(q6_K);
DECL_ROWS(iq4_nl);

#if QUANT_AVX2
/* oct.c: the 32-element block types against Q8_0 / Q8_1 activations in the oct layout */
void q8_0_oct_prepare(const void *qx, void *dst, int64_t n);
size_t q8_0_oct_size(int64_t n);
void q8_1_oct_prepare(const void *qx, void *dst, int64_t n);
size_t q8_1_oct_size(int64_t n);
DECL_ROWS_SIMD(q4_0); DECL_ROWS_SIMD(q5_0); DECL_ROWS_SIMD(q8_0); DECL_ROWS_SIMD(iq4_nl);
DECL_ROWS_SIMD(q4_1); DECL_ROWS_SIMD(q5_1);
DECL_ROWS2_SIMD(q4_0); DECL_ROWS2_SIMD(q8_0); DECL_ROWS2_SIMD(iq4_nl); DECL_ROWS2_SIMD(q4_1);
#if QUANT_AVX512
/* kquants.c: Q8_K rows rearranged for the Q4_K / Q5_K and the Q6_K kernels */
void q8_K_k4_prepare(const void *qx, void *dst, int64_t n);
void q8_K_q6k_prepare(const void *qx, void *dst, int64_t n);
size_t q8_K_prep_size(int64_t n);
void q4_0_oct_repack(void *row, int64_t n); /* oct.c: plain rows into the layouts, in place */
void q8_0_oct_repack(void *row, int64_t n);
DECL_ROWS_SIMD(q4_0_oct); DECL_ROWS2_SIMD(q4_0_oct); DECL_DOT_SIMD(q4_0_oct);
DECL_ROWS_SIMD(q8_0_oct); DECL_ROWS2_SIMD(q8_0_oct); DECL_DOT_SIMD(q8_0_oct);
#endif
/* the others */
DECL_ROWS_SIMD(f32); DECL_ROWS_SIMD(f16); DECL_ROWS_SIMD(bf16);
DECL_ROWS_SIMD(q2_K); DECL_ROWS_SIMD(q3_K); DECL_ROWS_SIMD(q4_K); DECL_ROWS_SIMD(q5_K); DECL_ROWS_SIMD(q6_K);
#if QUANT_AVX512
DECL_ROWS2_SIMD(q6_K);
#endif
DECL_DOT_SIMD(f32); DECL_DOT_MANY(f32);
DECL_TO_SIMD(bf16); DECL_DOT_SIMD(bf16); DECL_DOT_MANY(bf16);
#if defined(__F16C__)
DECL_TO_SIMD(f16); DECL_DOT_SIMD(f16); DECL_DOT_MANY(f16);
#if QUANT_AVX512
void f16_dot_keys_avx2(int64_t n, const void *k, size_t krow, int n_keys, const size_t *koff, const float *q, int nq,
                       float *out);
#endif
#endif
DECL_TO_SIMD(q8_0); DECL_DOT_SIMD(q8_0);
DECL_TO_SIMD(q4_0); DECL_DOT_SIMD(q4_0);
DECL_TO_SIMD(q4_1); DECL_DOT_SIMD(q4_1);
DECL_TO_SIMD(q5_0); DECL_DOT_SIMD(q5_0);
DECL_TO_SIMD(q5_1); DECL_DOT_SIMD(q5_1);
DECL_TO_SIMD(q2_K); DECL_DOT_SIMD(q2_K);
DECL_TO_SIMD(q3_K); DECL_DOT_SIMD(q3_K);
DECL_TO_SIMD(q4_K); DECL_DOT_SIMD(q4_K);
DECL_TO_SIMD(q5_K); DECL_DOT_SIMD(q5_K);
DECL_TO_SIMD(q6_K); DECL_DOT_SIMD(q6_K);
DECL_TO_SIMD(iq4_nl); DECL_DOT_SIMD(iq4_nl);
#endif

#endif
