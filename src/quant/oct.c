/*
 * oct.c — the dot kernels of the 32-element block types (Q4_0, Q5_0, Q8_0,
 * IQ4_NL against Q8_0 activations; Q4_1, Q5_1 against Q8_1), single- and
 * multi-row.
 *
 * The "oct" layout. The costly part of a per-block kernel is not the 32
 * multiplies (one AVX-VNNI instruction) but what follows per block: an int32
 * to float conversion, a scale product, a broadcast and an FMA for each
 * block. Here 8 blocks are processed at once with each block in its own
 * 32-bit lane: vector j (0..7) holds, in lane k, elements 4j..4j+3 of block
 * k. One dpbusd per vector then adds 4 products of every block into that
 * block's lane, and after 8 of them lane k holds block k's whole integer dot:
 * one conversion, one scale product (8 weight scales times 8 activation
 * scales) and one FMA serve 8 blocks.
 *
 * Activations are brought into that shape once per matmul (rows_prepare: an
 * "oct" of 8 Q8_0 / Q8_1 blocks becomes 320 bytes: the 8 vectors, then per
 * block -8 times the sum of its quants (Q8_0) or its s = d * sum as float
 * (Q8_1), then each block's d as float); weights are rearranged in registers
 * per oct of 8 weight blocks, and that work is shared by all activation rows
 * of vec_dot_rows.
 *
 * Weights go in as unsigned bytes u = q + off (Q4_0: the nibble, off 8; Q5_0:
 * 5 bits, off 16; Q8_0 and IQ4_NL: q + 128; Q4_1 / Q5_1: the quant, off 0),
 * dpbusd's u8 x s8 form; the offset comes back as the initial value
 * -off * sum(y) of each lane (Q4_0's -8 * sum(y) as prepared, so that its
 * kernels load it as it is). Every sum is an exact int32, so the order of
 * the integer additions is free. The float order is fixed: per row, octs in
 * order (lanes = blocks mod 8),
 *     acc = fma(d_w * d_y, (float)isum, acc)
 *     acc = fma(m_w, s_y, acc)                        (Q4_1 / Q5_1 only)
 * then hsum_f32_8(acc). vec_dot (a plain activation row) computes the same
 * per-block integers another way and then runs the same float steps, so
 * vec_dot and vec_dot_rows agree bit for bit (see plain_step).
 *
 * Without AVX-VNNI the same int32 sums come from maddubs/madd: unsigned
 * quants <= 31 are summed in int16 over 4 or 8 vectors before one madd;
 * Q8_0 and IQ4_NL use the sign trick on signed weights instead of the
 * offset (their u = q + 128 would saturate maddubs).
 *
 * A row whose block count is not a multiple of 8 ends with a partial oct:
 * the activation side is zero-padded by the prepare step, the weight side
 * copied into a zeroed 8-block buffer (zero scales: those lanes add 0).
 */
#include "quant_impl.h"

#if QUANT_AVX2

#define OCT 8            /* blocks per oct */
#define OCT_AUX 256      /* byte offsets inside one prepared oct: -8 * sum (Q8_0) or s (Q8_1) */
#define OCT_D 288
#define OCT_BYTES 320

#if defined(__AVXVNNI__)
#define OCT_VNNI 1
#else
#define OCT_VNNI 0
#endif
#define OCT_AVX512 QUANT_AVX512

/* OCT_Q4_0R / OCT_Q8_0R: rearranged at load (TYPE_Q4_0_OCT / TYPE_Q8_0_OCT,
 * see octpack.c), AVX-512 only */
enum oct_kind { OCT_Q4_0, OCT_Q5_0, OCT_Q8_0, OCT_IQ4_NL, OCT_Q4_1, OCT_Q5_1, OCT_Q4_0R, OCT_Q8_0R };

/* the file's kind of a rearranged one (for partial octs, which stay plain) */
static ALWAYS_INLINE enum oct_kind oct_plain(enum oct_kind kind)
{
    return kind == OCT_Q4_0R ? OCT_Q4_0 : kind == OCT_Q8_0R ? OCT_Q8_0 : kind;
}

static ALWAYS_INLINE size_t oct_block_bytes(enum oct_kind kind)
{
    switch (kind) {
    case OCT_Q4_0:
    case OCT_Q4_0R: return sizeof(block_q4_0);
    case OCT_Q5_0: return sizeof(block_q5_0);
    case OCT_Q8_0:
    case OCT_Q8_0R: return sizeof(block_q8_0);
    case OCT_IQ4_NL: return sizeof(block_iq4_nl);
    case OCT_Q4_1: return sizeof(block_q4_1);
    default: return sizeof(block_q5_1);
    }
}

static ALWAYS_INLINE size_t oct_qs_offset(enum oct_kind kind)
{
    switch (kind) {
    case OCT_Q4_0: return offsetof(block_q4_0, qs);
    case OCT_Q5_0: return offsetof(block_q5_0, qs);
    case OCT_Q8_0: return offsetof(block_q8_0, qs);
    case OCT_IQ4_NL: return offsetof(block_iq4_nl, qs);
    case OCT_Q4_1: return offsetof(block_q4_1, qs);
    case OCT_Q5_1: return offsetof(block_q5_1, qs);
    default: __builtin_trap(); /* rearranged octs are not blocks */
    }
}

static ALWAYS_INLINE bool oct_has_min(enum oct_kind kind) { return kind == OCT_Q4_1 || kind == OCT_Q5_1; }
static ALWAYS_INLINE bool oct_is_q5(enum oct_kind kind) { return kind == OCT_Q5_0 || kind == OCT_Q5_1; }
/* Q8_0 / IQ4_NL without VNNI: signed weights and the sign trick */
static ALWAYS_INLINE bool oct_signed(enum oct_kind kind) { return !OCT_VNNI && (kind == OCT_Q8_0 || kind == OCT_IQ4_NL); }

size_t q8_0_oct_size(int64_t n)
{
    return (size_t)((n / QK8_0 + OCT - 1) / OCT) * OCT_BYTES;
}

size_t q8_1_oct_size(int64_t n)
{
    return (size_t)((n / QK8_1 + OCT - 1) / OCT) * OCT_BYTES;
}

/* t[k] = [A_k | B_k] (128-bit halves, 4 dwords each) -> q[j] = [A_0.j A_1.j
 * A_2.j A_3.j | B_0.j B_1.j B_2.j B_3.j]: a 4x4 transpose in each half. */
static ALWAYS_INLINE void transpose4_epi32(const __m256i t[4], __m256i q[4])
{
    const __m256i u0 = _mm256_unpacklo_epi32(t[0], t[1]), u1 = _mm256_unpackhi_epi32(t[0], t[1]);
    const __m256i u2 = _mm256_unpacklo_epi32(t[2], t[3]), u3 = _mm256_unpackhi_epi32(t[2], t[3]);
    q[0] = _mm256_unpacklo_epi64(u0, u2);
    q[1] = _mm256_unpackhi_epi64(u0, u2);
    q[2] = _mm256_unpacklo_epi64(u1, u3);
    q[3] = _mm256_unpackhi_epi64(u1, u3);
}

/* 16 bytes at p + k * stride (k = 0..7) -> q[j], lane k = dword j of block k's 16 bytes. */
static ALWAYS_INLINE void oct_gather16(const uint8_t *p, size_t stride, __m256i q[4])
{
    __m256i t[4];
    for (int k = 0; k < 4; k++)
        t[k] = _mm256_inserti128_si256(_mm256_castsi128_si256(loadu128(p + k * stride)),
                                       loadu128(p + (k + 4) * stride), 1);
    transpose4_epi32(t, q);
}

/* 32 bytes at p + k * stride -> v[j], lane k = dword j of block k's 32 bytes. */
static ALWAYS_INLINE void oct_gather32(const uint8_t *p, size_t stride, __m256i v[8])
{
    oct_gather16(p, stride, v);
    oct_gather16(p + 16, stride, v + 4);
}

/* Nibbles of 8 blocks (16 bytes each) in oct order: element e < 16 is the low
 * nibble of byte e, e >= 16 the high nibble of byte e - 16. */
static ALWAYS_INLINE void oct_nibbles(const uint8_t *qs, size_t stride, __m256i W[8])
{
    const __m256i m4 = _mm256_set1_epi8(0xF);
    __m256i q[4];
    oct_gather16(qs, stride, q);
    for (int j = 0; j < 4; j++) {
        W[j] = _mm256_and_si256(q[j], m4);
        W[j + 4] = _mm256_and_si256(_mm256_srli_epi16(q[j], 4), m4);
    }
}

/* Q5_0 / Q5_1: OR the fifth bits (bit e of the 32-bit qh, 0x10 in byte e)
 * into the nibbles. Vector j needs bits 4j..4j+3, all in byte j / 2 of qh. */
static ALWAYS_INLINE void oct_fifth_bits(const uint8_t *qh, size_t stride, __m256i W[8])
{
    uint64_t h[4];
    for (int k = 0; k < 4; k++) {
        uint32_t a, b;
        memcpy(&a, qh + 2 * k * stride, 4);
        memcpy(&b, qh + (2 * k + 1) * stride, 4);
        h[k] = a | (uint64_t)b << 32;
        __asm__("" : "+r"(h[k])); /* keep it scalar */
    }
    const __m128i lo = _mm_insert_epi64(_mm_cvtsi64_si128((long long)h[0]), (long long)h[1], 1);
    const __m128i hi = _mm_insert_epi64(_mm_cvtsi64_si128((long long)h[2]), (long long)h[3], 1);
    const __m256i H = _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1); /* lane k = qh of block k */
    const __m256i b16 = _mm256_set1_epi8(0x10);
    for (int j = 0; j < 8; j++) {
        const char c = (char)(j / 2);
        const __m256i idx = _mm256_setr_epi8(c, c, c, c, c + 4, c + 4, c + 4, c + 4, c + 8, c + 8, c + 8, c + 8,
                                             c + 12, c + 12, c + 12, c + 12, c, c, c, c, c + 4, c + 4, c + 4, c + 4,
                                             c + 8, c + 8, c + 8, c + 8, c + 12, c + 12, c + 12, c + 12);
        const int s = 4 * (j % 2);
        const __m256i bit = _mm256_set1_epi32((int)((1u << s) | (2u << s) << 8 | (4u << s) << 16 | (8u << s) << 24));
        const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(_mm256_shuffle_epi8(H, idx), bit), bit);
        W[j] = _mm256_or_si256(W[j], _mm256_and_si256(set, b16));
    }
}

/* ---- activations ---- */

/* One oct from 8 Q8_0 (q81 false) or Q8_1 blocks. */
static ALWAYS_INLINE void oct_prepare8(bool q81, const uint8_t *y, uint8_t *dst)
{
    const size_t bs = q81 ? sizeof(block_q8_1) : sizeof(block_q8_0);
    __m256i v[8], s = _mm256_setzero_si256();
    oct_gather32(y + (q81 ? offsetof(block_q8_1, qs) : offsetof(block_q8_0, qs)), bs, v);
    for (int j = 0; j < 8; j++) {
        _mm256_storeu_si256((__m256i *)(void *)(dst + 32 * j), v[j]);
        if (!q81) s = dot4_u8i8_add(s, _mm256_set1_epi8(1), v[j]);
    }
    if (q81)
        _mm256_storeu_ps((float *)(void *)(dst + OCT_AUX), fp16x8_strided(y + offsetof(block_q8_1, s), bs));
    else
        _mm256_storeu_si256((__m256i *)(void *)(dst + OCT_AUX), _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_slli_epi32(s, 3)));
    _mm256_storeu_ps((float *)(void *)(dst + OCT_D), fp16x8_strided(y, bs));
}

static ALWAYS_INLINE void oct_prepare_blocks(bool q81, const uint8_t *y, uint8_t *dst, int64_t nb)
{
    const size_t bs = q81 ? sizeof(block_q8_1) : sizeof(block_q8_0);
    int64_t i = 0;
    for (; i + OCT <= nb; i += OCT, dst += OCT_BYTES) oct_prepare8(q81, y + i * bs, dst);
    if (i < nb) {
        uint8_t tmp[OCT * sizeof(block_q8_1)];
        memset(tmp, 0, sizeof tmp);
        memcpy(tmp, y + i * bs, (size_t)(nb - i) * bs);
        oct_prepare8(q81, tmp, dst);
    }
}

void q8_0_oct_prepare(const void *qx, void *dst, int64_t n)
{
    oct_prepare_blocks(false, qx, dst, n / QK8_0);
}

void q8_1_oct_prepare(const void *qx, void *dst, int64_t n)
{
    oct_prepare_blocks(true, qx, dst, n / QK8_1);
}

/* ---- weights ---- */

/* kvalues_iq4nl plus 128, as unsigned bytes for pshufb. */
static const uint8_t iq4nl_u8[16] = { 1, 24, 45, 63, 79, 93, 106, 118, 129, 141, 153, 166, 181, 197, 217, 241 };

struct oct_w {
    __m256i W[8]; /* u = q + off (signed q for oct_signed kinds) */
    __m256i A[8]; /* |q|, oct_signed kinds only */
    __m256 d, m;  /* scales; mins for Q4_1 / Q5_1 */
};

static ALWAYS_INLINE void oct_weights(enum oct_kind kind, const uint8_t *wb, struct oct_w *o)
{
    const size_t bs = oct_block_bytes(kind), qs = oct_qs_offset(kind);
    if (kind == OCT_Q8_0) {
        oct_gather32(wb + qs, bs, o->W);
        for (int j = 0; j < 8; j++) {
            if (oct_signed(kind)) o->A[j] = _mm256_sign_epi8(o->W[j], o->W[j]);
            else o->W[j] = _mm256_xor_si256(o->W[j], _mm256_set1_epi8((char)0x80));
        }
    } else {
        oct_nibbles(wb + qs, bs, o->W);
        if (kind == OCT_IQ4_NL) {
            const __m128i t = oct_signed(kind) ? loadu128(kvalues_iq4nl) : loadu128(iq4nl_u8);
            const __m256i lut = _mm256_inserti128_si256(_mm256_castsi128_si256(t), t, 1);
            for (int j = 0; j < 8; j++) {
                o->W[j] = _mm256_shuffle_epi8(lut, o->W[j]);
                if (oct_signed(kind)) o->A[j] = _mm256_sign_epi8(o->W[j], o->W[j]);
            }
        }
        if (kind == OCT_Q5_0) oct_fifth_bits(wb + offsetof(block_q5_0, qh), bs, o->W);
        if (kind == OCT_Q5_1) oct_fifth_bits(wb + offsetof(block_q5_1, qh), bs, o->W);
    }
    o->d = fp16x8_strided(wb, bs);
    if (oct_has_min(kind)) o->m = fp16x8_strided(wb + 2, bs); /* m follows d in Q4_1 / Q5_1 */
}

/* -off * sum(y) of each block of the activation oct at p, from the prepared
 * -8 * sum(y): what unsigned weights u = q + off owe (off 8, 16 or 128). */
static ALWAYS_INLINE __m256i oct_offset_term(enum oct_kind kind, const uint8_t *p)
{
    const __m256i t = _mm256_loadu_si256((const __m256i *)(const void *)(p + OCT_AUX));
    const enum oct_kind k = oct_plain(kind);
    return k == OCT_Q4_0 ? t : _mm256_slli_epi32(t, k == OCT_Q5_0 ? 1 : 4);
}

/* Block k's integer dot in lane k, for the activation oct at p. */
static ALWAYS_INLINE __m256i oct_isum(enum oct_kind kind, const struct oct_w *o, const uint8_t *p, int chains)
{
    const __m256i *v = (const __m256i *)(const void *)p;
    const __m256i init = oct_has_min(kind) || oct_signed(kind) ? _mm256_setzero_si256() : oct_offset_term(kind, p);
    if (oct_signed(kind)) {
        const __m256i one = _mm256_set1_epi16(1);
        __m256i s = init, t = _mm256_setzero_si256();
        for (int j = 0; j < 8; j += 2) {
            const __m256i y0 = _mm256_loadu_si256(v + j), y1 = _mm256_loadu_si256(v + j + 1);
            s = _mm256_add_epi32(s, _mm256_madd_epi16(_mm256_maddubs_epi16(o->A[j], _mm256_sign_epi8(y0, o->W[j])), one));
            t = _mm256_add_epi32(t, _mm256_madd_epi16(_mm256_maddubs_epi16(o->A[j + 1], _mm256_sign_epi8(y1, o->W[j + 1])), one));
        }
        return _mm256_add_epi32(s, t);
    }
    if (!OCT_VNNI) {
        /* unsigned quants: pair products <= 2 * 31 * 127, so 4 (5-bit) or 8
         * (4-bit) maddubs results add up in int16 without saturating */
        const int group = oct_is_q5(kind) ? 4 : 8;
        __m256i s = init;
        for (int j0 = 0; j0 < 8; j0 += group) {
            __m256i s16 = _mm256_maddubs_epi16(o->W[j0], _mm256_loadu_si256(v + j0));
            for (int j = j0 + 1; j < j0 + group; j++)
                s16 = _mm256_add_epi16(s16, _mm256_maddubs_epi16(o->W[j], _mm256_loadu_si256(v + j)));
            s = _mm256_add_epi32(s, _mm256_madd_epi16(s16, _mm256_set1_epi16(1)));
        }
        return s;
    }
    __m256i c[4] = { init, _mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256() };
    for (int j = 0; j < 8; j++) c[j % chains] = dot4_u8i8_add(c[j % chains], o->W[j], _mm256_loadu_si256(v + j));
    for (int k = 1; k < chains; k++) c[0] = _mm256_add_epi32(c[0], c[k]);
    return c[0];
}

/* The float steps of one oct and one prepared activation row p, given the
 * blocks' integer dots s and the weight scales dw (mins mw): the order the
 * bit-identity of all the dot routes rests on (see the top of the file). */
static ALWAYS_INLINE __m256 oct_float_step(enum oct_kind kind, __m256 dw, __m256 mw, __m256i s, const uint8_t *p,
                                           __m256 acc)
{
    const __m256 d = _mm256_mul_ps(dw, _mm256_loadu_ps((const float *)(const void *)(p + OCT_D)));
    acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(s), acc);
    if (oct_has_min(kind)) acc = _mm256_fmadd_ps(mw, _mm256_loadu_ps((const float *)(const void *)(p + OCT_AUX)), acc);
    return acc;
}

#if OCT_AVX512
/* ---- AVX-512 VBMI: whole-vector weight loads ----
 *
 * With byte permutes that pick any byte of two 64-byte vectors (vpermt2b),
 * an oct of weight blocks is loaded as plain 64-byte vectors and rearranged
 * in a few instructions, instead of 16-byte loads, inserts and unpacks
 * (those cost a 4-bit oct more than its dot products). Z[o] holds W[2o] in
 * its low and W[2o + 1] in its high 256 bits, so one 512-bit dpbusd serves
 * two oct vectors. The integer sums are the same exact numbers, and the
 * float steps are oct_step's: the results do not change by a bit.
 *
 * Byte t of Z[o] (o < 4) comes from byte OCT_SRC of the oct: block t/4 % 8,
 * dword 2o + t/32 of the block's quants. The tables below hold those sources
 * mod 256, a byte permute reads what it needs of them (7 bits with two
 * sources, 6 bits with one), and masks say which source vectors hold them. */
#define OCT_SRC(bs, off, o, t) ((t) / 4 % 8 * (bs) + (off) + 4 * (2 * (o) + (t) / 32) + (t) % 4)
#define OCT_SRC8(bs, off, o, t) (OCT_SRC(bs, off, o, t) % 256)
#define OCT_SRC4(bs, off, o, t) OCT_SRC8(bs, off, o, t), OCT_SRC8(bs, off, o, (t) + 1), \
                                OCT_SRC8(bs, off, o, (t) + 2), OCT_SRC8(bs, off, o, (t) + 3)
#define OCT_SRC16(bs, off, o, t) OCT_SRC4(bs, off, o, t), OCT_SRC4(bs, off, o, (t) + 4), \
                                 OCT_SRC4(bs, off, o, (t) + 8), OCT_SRC4(bs, off, o, (t) + 12)
#define OCT_IDX(bs, off, o) { OCT_SRC16(bs, off, o, 0), OCT_SRC16(bs, off, o, 16), OCT_SRC16(bs, off, o, 32), \
                              OCT_SRC16(bs, off, o, 48) }
/* mask of the bytes of Z[o] whose source lies in [lo, hi) */
#define OCT_IN(bs, off, o, t, lo, hi) \
    ((uint64_t)(OCT_SRC(bs, off, o, t) >= (lo) && OCT_SRC(bs, off, o, t) < (hi)) << (t))
#define OCT_IN4(bs, off, o, t, lo, hi) (OCT_IN(bs, off, o, t, lo, hi) | OCT_IN(bs, off, o, (t) + 1, lo, hi) | \
                                        OCT_IN(bs, off, o, (t) + 2, lo, hi) | OCT_IN(bs, off, o, (t) + 3, lo, hi))
#define OCT_IN16(bs, off, o, t, lo, hi) (OCT_IN4(bs, off, o, t, lo, hi) | OCT_IN4(bs, off, o, (t) + 4, lo, hi) | \
                                         OCT_IN4(bs, off, o, (t) + 8, lo, hi) | OCT_IN4(bs, off, o, (t) + 12, lo, hi))
#define OCT_MASK(bs, off, o, lo, hi) (OCT_IN16(bs, off, o, 0, lo, hi) | OCT_IN16(bs, off, o, 16, lo, hi) | \
                                      OCT_IN16(bs, off, o, 32, lo, hi) | OCT_IN16(bs, off, o, 48, lo, hi))
/* the fp16 at byte k * bs + off of each block, as word indices */
#define OCT_W(bs, off, k) (((k) * (bs) + (off)) / 2)
#define OCT_WORDS(bs, off) { OCT_W(bs, off, 0), OCT_W(bs, off, 1), OCT_W(bs, off, 2), OCT_W(bs, off, 3), \
                             OCT_W(bs, off, 4), OCT_W(bs, off, 5), OCT_W(bs, off, 6), OCT_W(bs, off, 7) }
/* blocks whose fp16 lies past the first 128 bytes (blocks 0..3 never do: bs <= 34) */
#define OCT_WHI(bs, off) ((OCT_W(bs, off, 4) >= 64) << 4 | (OCT_W(bs, off, 5) >= 64) << 5 | \
                          (OCT_W(bs, off, 6) >= 64) << 6 | (OCT_W(bs, off, 7) >= 64) << 7)

struct oct_layout {
    uint8_t idx[4][64];          /* source byte mod 256 of each byte of Z[o] */
    uint64_t mid[4], top[4];     /* bytes from [128, 256) and from [256, ...) */
    uint16_t d[8], m[8];         /* word index of each block's d (and m) */
    uint8_t dhi, mhi;            /* blocks whose d (m) lies at byte 128 or later */
};

#define OCT_LAYOUT4(bs, off) { \
        { OCT_IDX(bs, off, 0), OCT_IDX(bs, off, 1) }, \
        { OCT_MASK(bs, off, 0, 128, 256), OCT_MASK(bs, off, 1, 128, 256) }, { 0, 0 }, \
        OCT_WORDS(bs, 0), OCT_WORDS(bs, 2), OCT_WHI(bs, 0), OCT_WHI(bs, 2) }
static const struct oct_layout oct_layout_18 = OCT_LAYOUT4(18, 2); /* Q4_0, IQ4_NL: d, qs[16] */
static const struct oct_layout oct_layout_20 = OCT_LAYOUT4(20, 4); /* Q4_1: d, m, qs[16] */
static const struct oct_layout oct_layout_34 = {                   /* Q8_0: d, qs[32] */
    { OCT_IDX(34, 2, 0), OCT_IDX(34, 2, 1), OCT_IDX(34, 2, 2), OCT_IDX(34, 2, 3) },
    { OCT_MASK(34, 2, 0, 128, 256), OCT_MASK(34, 2, 1, 128, 256), OCT_MASK(34, 2, 2, 128, 256),
      OCT_MASK(34, 2, 3, 128, 256) },
    { OCT_MASK(34, 2, 0, 256, 512), OCT_MASK(34, 2, 1, 256, 512), OCT_MASK(34, 2, 2, 256, 512),
      OCT_MASK(34, 2, 3, 256, 512) },
    OCT_WORDS(34, 0), { 0 }, OCT_WHI(34, 0), 0 };

static ALWAYS_INLINE const struct oct_layout *oct_layout(enum oct_kind kind)
{
    return oct_plain(kind) == OCT_Q8_0 ? &oct_layout_34 : kind == OCT_Q4_1 ? &oct_layout_20 : &oct_layout_18;
}

/* The 8 blocks as 64-byte vectors; the last one is a masked load, so nothing
 * past the oct is read (the weights end where the mapped file ends). */
static ALWAYS_INLINE int oct_load512(enum oct_kind kind, const uint8_t *wb, __m512i z[5])
{
    const int bytes = (int)(OCT * oct_block_bytes(kind)), nz = (bytes + 63) / 64;
    for (int i = 0; i < nz - 1; i++) z[i] = _mm512_loadu_si512(wb + 64 * i);
    z[nz - 1] = _mm512_maskz_loadu_epi8(~0ull >> (64 * nz - bytes), wb + 64 * (nz - 1));
    return nz;
}

static ALWAYS_INLINE __m512i oct_pick(const __m512i z[5], int nz, const struct oct_layout *l, int o)
{
    const __m512i idx = _mm512_loadu_si512(l->idx[o]);
    __m512i r = _mm512_permutex2var_epi8(z[0], idx, z[1]);
    if (nz == 3) return _mm512_mask_permutexvar_epi8(r, l->mid[o], idx, z[2]);
    r = _mm512_mask_blend_epi8(l->mid[o], r, _mm512_permutex2var_epi8(z[2], idx, z[3]));
    return _mm512_mask_permutexvar_epi8(r, l->top[o], idx, z[4]);
}

/* The 8 words at the word indices w (all below 128). */
static ALWAYS_INLINE __m128i oct_pick_words(const __m512i z[5], int nz, const uint16_t w[8], uint8_t hi)
{
    const __m512i idx = _mm512_zextsi128_si512(_mm_loadu_si128((const __m128i *)(const void *)w));
    __m512i r = _mm512_permutex2var_epi16(z[0], idx, z[1]);
    if (nz == 3) r = _mm512_mask_permutexvar_epi16(r, hi, idx, z[2]);
    else r = _mm512_mask_blend_epi16(hi, r, _mm512_permutex2var_epi16(z[2], idx, z[3]));
    return _mm512_castsi512_si128(r);
}

/* 8 fp16 at the word indices w as floats. */
static ALWAYS_INLINE __m256 oct_pick_f16(const __m512i z[5], int nz, const uint16_t w[8], uint8_t hi)
{
    return _mm256_cvtph_ps(oct_pick_words(z, nz, w, hi));
}

struct oct_w512 {
    __m512i Z[4]; /* Z[o] = W[2o] | W[2o + 1], u = q + off as in struct oct_w */
    __m256 d, m;
};

static ALWAYS_INLINE void oct_weights512(enum oct_kind kind, const uint8_t *wb, struct oct_w512 *o)
{
    if (kind == OCT_Q4_0R || kind == OCT_Q8_0R) { /* already in Z order: the 8 scales, then 64-byte parts */
        if (kind == OCT_Q8_0R) {
            for (int i = 0; i < 4; i++)
                o->Z[i] = _mm512_xor_si512(_mm512_loadu_si512(wb + 16 + 64 * i), _mm512_set1_epi8((char)0x80));
        } else {
            const __m512i m4 = _mm512_set1_epi8(0xF);
            for (int i = 0; i < 2; i++) {
                /* one load for both uses (gcc would fold it into each):
                 * most of these cross a cache line, and split loads cost */
                __m512i q = _mm512_loadu_si512(wb + 16 + 64 * i);
                __asm__("" : "+v"(q));
                o->Z[i] = _mm512_and_si512(q, m4);
                o->Z[i + 2] = hi_nibbles(q);
            }
        }
        o->d = _mm256_cvtph_ps(loadu128(wb));
        return;
    }
    const struct oct_layout *l = oct_layout(kind);
    __m512i z[5];
    const int nz = oct_load512(kind, wb, z);
    if (kind == OCT_Q8_0) {
        for (int i = 0; i < 4; i++) o->Z[i] = _mm512_xor_si512(oct_pick(z, nz, l, i), _mm512_set1_epi8((char)0x80));
    } else {
        const __m512i m4 = _mm512_set1_epi8(0xF);
        for (int i = 0; i < 2; i++) {
            const __m512i q = oct_pick(z, nz, l, i);
            o->Z[i] = _mm512_and_si512(q, m4);
            o->Z[i + 2] = hi_nibbles(q);
        }
        if (kind == OCT_IQ4_NL) {
            const __m512i lut = _mm512_broadcast_i32x4(loadu128(iq4nl_u8));
            for (int i = 0; i < 4; i++) o->Z[i] = _mm512_shuffle_epi8(lut, o->Z[i]);
        }
    }
    o->d = oct_pick_f16(z, nz, l->d, l->dhi);
    if (oct_has_min(kind)) o->m = oct_pick_f16(z, nz, l->m, l->mhi);
}

/* Two Q4_0R rows' octs (wb0, wb1) for oct_rows2 with many activation rows,
 * with the rows mixed: o0->Z[o] = [row 0's W[2o] | row 1's W[2o + 1]] and
 * o1->Z[o] = [row 1's W[2o] | row 0's W[2o + 1]]. Against the activation
 * vector [v[2o] | v[2o + 1]], o0's chain sums row 0's even vectors in lanes
 * 0-7 and row 1's odd ones in lanes 8-15, o1's the other halves, so one
 * swap of o1's halves and an add give both rows' dots. Two blends a part,
 * shared by all activation rows, buy one 128-bit shuffle per activation row
 * and oct: the kernel is bound by its vector operations. */
static ALWAYS_INLINE void oct_weights512_mixed(const uint8_t *wb0, const uint8_t *wb1, struct oct_w512 *o0,
                                               struct oct_w512 *o1)
{
    const __m512i m4 = _mm512_set1_epi8(0xF);
    for (int i = 0; i < 2; i++) {
        __m512i q0 = _mm512_loadu_si512(wb0 + 16 + 64 * i), q1 = _mm512_loadu_si512(wb1 + 16 + 64 * i);
        __asm__("" : "+v"(q0), "+v"(q1)); /* one load each, as in oct_weights512 */
        const __m512i a = _mm512_mask_blend_epi64(0xF0, q0, q1), b = _mm512_mask_blend_epi64(0xF0, q1, q0);
        o0->Z[i] = _mm512_and_si512(a, m4);
        o0->Z[i + 2] = hi_nibbles(a);
        o1->Z[i] = _mm512_and_si512(b, m4);
        o1->Z[i + 2] = hi_nibbles(b);
    }
    o0->d = _mm256_cvtph_ps(loadu128(wb0));
    o1->d = _mm256_cvtph_ps(loadu128(wb1));
}

/* octpack.c's layout made from plain octs (Q4_0, Q8_0): the 8 scales, then
 * the parts that oct_weights512 picks out of plain blocks, stored, so the
 * rearranged kernels load what the plain ones compute. In place (each oct is
 * loaded whole before it is written); the last nb % 8 blocks stay plain.
 * A few dozen instructions an oct, where the byte-by-byte table it replaces
 * took most of a model's load time. */
static ALWAYS_INLINE void oct_repack512(enum oct_kind kind, uint8_t *row, int64_t nb)
{
    const struct oct_layout *l = oct_layout(kind);
    const int parts = kind == OCT_Q8_0 ? 4 : 2;
    for (int64_t i = 0; i + OCT <= nb; i += OCT, row += OCT * oct_block_bytes(kind)) {
        __m512i z[5], part[4];
        const int nz = oct_load512(kind, row, z);
        const __m128i d = oct_pick_words(z, nz, l->d, l->dhi);
        for (int o = 0; o < parts; o++) part[o] = oct_pick(z, nz, l, o);
        _mm_storeu_si128((__m128i *)(void *)row, d);
        for (int o = 0; o < parts; o++) _mm512_storeu_si512(row + 16 + 64 * o, part[o]);
    }
}

void q4_0_oct_repack(void *row, int64_t n) { oct_repack512(OCT_Q4_0, row, n / QK4_0); }
void q8_0_oct_repack(void *row, int64_t n) { oct_repack512(OCT_Q8_0, row, n / QK8_0); }

/* oct_isum with 512-bit dot products: lanes k and k + 8 of the result hold
 * two parts of block k's dot (oct_isum512 adds them). */
static ALWAYS_INLINE __m512i oct_isum512_halves(enum oct_kind kind, const struct oct_w512 *o, const uint8_t *p)
{
    const __m512i *v = (const __m512i *)(const void *)p;
    const __m256i init = oct_has_min(kind) ? _mm256_setzero_si256() : oct_offset_term(kind, p);
    __m512i c0 = _mm512_dpbusd_epi32(_mm512_zextsi256_si512(init), o->Z[0], _mm512_loadu_si512(v));
    __m512i c1 = _mm512_dpbusd_epi32(_mm512_setzero_si512(), o->Z[1], _mm512_loadu_si512(v + 1));
    c0 = _mm512_dpbusd_epi32(c0, o->Z[2], _mm512_loadu_si512(v + 2));
    c1 = _mm512_dpbusd_epi32(c1, o->Z[3], _mm512_loadu_si512(v + 3));
    return _mm512_add_epi32(c0, c1);
}

static ALWAYS_INLINE __m256i oct_isum512(enum oct_kind kind, const struct oct_w512 *o, const uint8_t *p)
{
    const __m512i s = oct_isum512_halves(kind, o, p);
    return _mm256_add_epi32(_mm512_castsi512_si256(s), _mm512_extracti64x4_epi64(s, 1));
}

static ALWAYS_INLINE void oct_step512(enum oct_kind kind, const uint8_t *wb, const uint8_t *px, size_t xrb, int NR,
                                      __m256 *acc)
{
    struct oct_w512 o;
    oct_weights512(kind, wb, &o);
    for (int b = 0; b < NR; b++) {
        const uint8_t *p = px + (size_t)b * xrb;
        const __m256i s = oct_isum512(kind, &o, p);
        acc[b] = oct_float_step(kind, o.d, o.m, s, p, acc[b]);
    }
}
#endif /* OCT_AVX512 */

/* One oct of weights (8 blocks at wb) against NR activation rows. */
static ALWAYS_INLINE void oct_step(enum oct_kind kind, const uint8_t *wb, const uint8_t *px, size_t xrb, int NR,
                                   __m256 *acc)
{
#if OCT_AVX512
    if (!oct_is_q5(kind)) { /* Q5_0 / Q5_1 (rarely used) keep the 256-bit route */
        oct_step512(kind, wb, px, xrb, NR, acc);
        return;
    }
#endif
    struct oct_w o;
    oct_weights(kind, wb, &o);
    /* one row has no other chains to overlap with: split its dpbusd chain */
    const int chains = NR == 1 ? 4 : NR == 2 ? 2 : 1;
    for (int b = 0; b < NR; b++) {
        const uint8_t *p = px + (size_t)b * xrb;
        const __m256i s = oct_isum(kind, &o, p, chains);
        acc[b] = oct_float_step(kind, o.d, o.m, s, p, acc[b]);
    }
}

/* nb weight blocks at w against the prepared rows at px (octs in order). */
static ALWAYS_INLINE void oct_span(enum oct_kind kind, int64_t nb, const uint8_t *w, const uint8_t *px, size_t xrb,
                                   int NR, __m256 *acc)
{
    const size_t bs = oct_block_bytes(kind);
    int64_t i = 0;
    for (; i + OCT <= nb; i += OCT, px += OCT_BYTES) {
        rows_prefetch(NR, w + i * bs, OCT * bs);
        oct_step(kind, w + i * bs, px, xrb, NR, acc);
    }
    if (i < nb) { /* a partial oct (never repacked) */
        uint8_t tmp[OCT * sizeof(block_q8_0)];
        memset(tmp, 0, sizeof tmp);
        memcpy(tmp, w + i * bs, (size_t)(nb - i) * bs);
        oct_step(oct_plain(kind), tmp, px, xrb, NR, acc);
    }
}

static ALWAYS_INLINE void oct_rows(enum oct_kind kind, int64_t n, const void *w, const void *x, size_t xrb, int NR,
                                   float *out, size_t os)
{
    __m256 acc[VEC_DOT_ROWS_MAX];
    for (int b = 0; b < NR; b++) acc[b] = _mm256_setzero_ps();
    oct_span(kind, n / QK8_0, w, x, xrb, NR, acc);
    for (int b = 0; b < NR; b++) out[(size_t)b * os] = hsum_f32_8(acc[b]);
}

#if OCT_AVX512
/* Two weight rows (w and w + wrb) against the same NR activation rows: each
 * activation vector is loaded once for both, which matters once NR is large
 * (at 8 rows the single-row kernel issues more loads than dot products).
 * Each row's steps are oct_rows' steps. */
static ALWAYS_INLINE void oct_rows2(enum oct_kind kind, int64_t n, const void *w, size_t wrb, const void *x,
                                    size_t xrb, int NR, float *out, size_t os)
{
    /* acc[b]: lanes 0-7 row 0's oct_rows accumulator, lanes 8-15 row 1's,
     * so that one conversion, scale product and FMA serve both rows */
    __m512 acc[VEC_DOT_ROWS_MAX];
    for (int b = 0; b < NR; b++) acc[b] = _mm512_setzero_ps();
    const size_t bs = oct_block_bytes(kind);
    const int64_t nb = n / QK8_0;
    const uint8_t *w0 = w, *w1 = w0 + wrb, *px = x;
    /* Prefetch distance: the pair after next for 4-bit weights, the next
     * pair for 8-bit. Measured with 8 sequences of the 1.1B-shape models:
     * two pairs ahead ran 2-5 % faster than one for Q4_0 (and three pairs
     * no faster), but 5 % slower for Q8_0, which streams twice the bytes
     * for the same dot products. */
    const size_t ahead = (oct_plain(kind) == OCT_Q8_0 ? 2 : 4) * wrb;
    /* Rows mixed (oct_weights512_mixed) where the blends pay: 4 per oct,
     * against one shuffle saved per activation row. Q8_0R would need as
     * many blends as it saves shuffles. */
    const bool mixed = kind == OCT_Q4_0R && NR >= 4;
    int64_t i = 0;
    for (; i + OCT <= nb; i += OCT, px += OCT_BYTES) {
        /* the rows of a later call */
        for (size_t c = 0; c < OCT * bs; c += 64) {
            __builtin_prefetch(w0 + ahead + i * bs + c, 0, 3);
            __builtin_prefetch(w1 + ahead + i * bs + c, 0, 3);
        }
        struct oct_w512 o0, o1;
        if (mixed) {
            oct_weights512_mixed(w0 + i * bs, w1 + i * bs, &o0, &o1);
        } else {
            oct_weights512(kind, w0 + i * bs, &o0);
            oct_weights512(kind, w1 + i * bs, &o1);
        }
        const __m512 dw = _mm512_insertf32x8(_mm512_castps256_ps512(o0.d), o1.d, 1);
        const __m512 mw = oct_has_min(kind) ? _mm512_insertf32x8(_mm512_castps256_ps512(o0.m), o1.m, 1) : dw;
        for (int b = 0; b < NR; b++) {
            const uint8_t *p = px + (size_t)b * xrb;
            /* Each activation vector in a register for both rows: gcc would
             * fold it into both dot products as a memory operand, loading it
             * twice, and the loads, not the dot products, set the pace. */
            const __m512i *v = (const __m512i *)(const void *)p;
            __m512i v0 = _mm512_loadu_si512(v), v1 = _mm512_loadu_si512(v + 1);
            __m512i v2 = _mm512_loadu_si512(v + 2), v3 = _mm512_loadu_si512(v + 3);
            __asm__("" : "+v"(v0), "+v"(v1), "+v"(v2), "+v"(v3));
            /* Row 1's offset term loaded again: a register copy of row 0's
             * (a dot product overwrites its sum) costs more than a load. */
            const uint8_t *p1 = p;
            __asm__("" : "+r"(p1));
            __m512i s0 = oct_has_min(kind) ? _mm512_setzero_si512() : _mm512_zextsi256_si512(oct_offset_term(kind, p));
            __m512i s1 = oct_has_min(kind) ? _mm512_setzero_si512() : _mm512_zextsi256_si512(oct_offset_term(kind, p1));
            /* one chain per row (or mixed row): 16 chains in flight hide the latency */
            s0 = _mm512_dpbusd_epi32(s0, o0.Z[0], v0);
            s1 = _mm512_dpbusd_epi32(s1, o1.Z[0], v0);
            s0 = _mm512_dpbusd_epi32(s0, o0.Z[1], v1);
            s1 = _mm512_dpbusd_epi32(s1, o1.Z[1], v1);
            s0 = _mm512_dpbusd_epi32(s0, o0.Z[2], v2);
            s1 = _mm512_dpbusd_epi32(s1, o1.Z[2], v2);
            s0 = _mm512_dpbusd_epi32(s0, o0.Z[3], v3);
            s1 = _mm512_dpbusd_epi32(s1, o1.Z[3], v3);
            /* mixed: s0 + s1 with its halves swapped; else [s0 lanes 0-7 |
             * s1 lanes 0-7] + [s0 lanes 8-15 | s1 lanes 8-15] */
            const __m512i s = mixed ? _mm512_add_epi32(s0, _mm512_shuffle_i64x2(s1, s1, _MM_SHUFFLE(1, 0, 3, 2)))
                                    : _mm512_add_epi32(_mm512_shuffle_i64x2(s0, s1, _MM_SHUFFLE(1, 0, 1, 0)),
                                                       _mm512_shuffle_i64x2(s0, s1, _MM_SHUFFLE(3, 2, 3, 2)));
            const __m512 dy = _mm512_broadcast_f32x8(_mm256_loadu_ps((const float *)(const void *)(p + OCT_D)));
            acc[b] = _mm512_fmadd_ps(_mm512_mul_ps(dw, dy), _mm512_cvtepi32_ps(s), acc[b]);
            if (oct_has_min(kind))
                acc[b] = _mm512_fmadd_ps(mw, _mm512_broadcast_f32x8(_mm256_loadu_ps((const float *)(const void *)(p + OCT_AUX))),
                                         acc[b]);
        }
    }
    if (i < nb) { /* the partial oct as oct_span takes it, on each row's half */
        __m256 acc0[VEC_DOT_ROWS_MAX], acc1[VEC_DOT_ROWS_MAX];
        for (int b = 0; b < NR; b++) {
            acc0[b] = _mm512_castps512_ps256(acc[b]);
            acc1[b] = _mm512_extractf32x8_ps(acc[b], 1);
        }
        oct_span(kind, nb - i, w0 + i * bs, px, xrb, NR, acc0);
        oct_span(kind, nb - i, w1 + i * bs, px, xrb, NR, acc1);
        for (int b = 0; b < NR; b++) acc[b] = _mm512_insertf32x8(_mm512_castps256_ps512(acc0[b]), acc1[b], 1);
    }
    hsum_pairs(acc, NR, out, os);
}

#define ROWS2_KERNELS(name, KIND)                                                                            \
    static ALWAYS_INLINE void name##_rows2_nr(int64_t n, const void *w, size_t wrb, const void *x, size_t xrb, \
                                              int NR, float *out, size_t os)                                 \
    {                                                                                                         \
        oct_rows2(KIND, n, w, wrb, x, xrb, NR, out, os);                                                      \
    }                                                                                                         \
    void name##_dot_rows2_avx2(int64_t n, const void *w, size_t wrb, int w_rows, const void *x, size_t xrb,   \
                               int nrows, float *out, size_t os)                                              \
    {                                                                                                         \
        ROWS2_DISPATCH(name##_rows2_nr, n, w, wrb, w_rows, x, xrb, nrows, out, os)                            \
    }

ROWS2_KERNELS(q4_0, OCT_Q4_0)
ROWS2_KERNELS(q8_0, OCT_Q8_0)
ROWS2_KERNELS(iq4_nl, OCT_IQ4_NL)
ROWS2_KERNELS(q4_1, OCT_Q4_1)
ROWS2_KERNELS(q4_0_oct, OCT_Q4_0R)
ROWS2_KERNELS(q8_0_oct, OCT_Q8_0R)
#endif /* OCT_AVX512 */

/* ---- vec_dot: one row of plain Q8_0 / Q8_1 blocks ----
 *
 * Rearranging a lone activation row would cost as much as the dot itself, so
 * vec_dot takes each block in its natural layout instead: one 32-byte dot
 * per block (8 partial int32 sums), and 8 blocks' partials reduced so that
 * block k's exact sum lands in lane k. Those are the same integers oct_isum
 * produces, and the float steps below are oct_step's: vec_dot gives exactly
 * the bits of vec_dot_rows. */

/* 8 partial int32 sums of one block's 32 products (signed weight x
 * activation: the sign trick; Q4_1 / Q5_1: unsigned quants, no offset). */
static ALWAYS_INLINE __m256i plain_block_dot(enum oct_kind kind, const uint8_t *wb, const uint8_t *yb)
{
    const __m256i y = loadu256(yb + (oct_has_min(kind) ? offsetof(block_q8_1, qs) : offsetof(block_q8_0, qs)));
    __m256i w;
    switch (kind) {
    case OCT_Q4_0: w = _mm256_sub_epi8(nibbles_32(wb + offsetof(block_q4_0, qs)), _mm256_set1_epi8(8)); break;
    case OCT_Q5_0: w = q5_0_quants((const block_q5_0 *)(const void *)wb); break;
    case OCT_Q8_0: w = loadu256(wb + offsetof(block_q8_0, qs)); break;
    case OCT_IQ4_NL: w = iq4nl_values_32(wb + offsetof(block_iq4_nl, qs)); break;
    case OCT_Q4_1: return dot4_u8i8_add(_mm256_setzero_si256(), nibbles_32(wb + offsetof(block_q4_1, qs)), y);
    case OCT_Q5_1: return dot4_u8i8_add(_mm256_setzero_si256(), q5_1_quants((const block_q5_1 *)(const void *)wb), y);
    default: __builtin_trap(); /* rearranged octs are not blocks: oct_dot unpacks them */
    }
    /* |w| <= 128 and y != -128: no maddubs pair reaches 2^15 */
    const __m256i a = _mm256_sign_epi8(w, w), sy = _mm256_sign_epi8(y, w);
#if OCT_VNNI
    return _mm256_dpbusd_avx_epi32(_mm256_setzero_si256(), a, sy);
#else
    return _mm256_madd_epi16(_mm256_maddubs_epi16(a, sy), _mm256_set1_epi16(1));
#endif
}

/* lane k = the sum of v[k]'s 8 lanes */
static ALWAYS_INLINE __m256i hsum8x8_epi32(const __m256i v[8])
{
    const __m256i a0 = _mm256_hadd_epi32(v[0], v[1]), a1 = _mm256_hadd_epi32(v[2], v[3]);
    const __m256i a2 = _mm256_hadd_epi32(v[4], v[5]), a3 = _mm256_hadd_epi32(v[6], v[7]);
    const __m256i b0 = _mm256_hadd_epi32(a0, a1), b1 = _mm256_hadd_epi32(a2, a3);
    return _mm256_add_epi32(_mm256_permute2x128_si256(b0, b1, 0x20), _mm256_permute2x128_si256(b0, b1, 0x31));
}

/* One oct: 8 weight blocks at wb, 8 activation blocks at yb. */
static ALWAYS_INLINE __m256 plain_step(enum oct_kind kind, const uint8_t *wb, const uint8_t *yb, __m256 acc)
{
    const bool q81 = oct_has_min(kind);
    const size_t bs = oct_block_bytes(kind), ybs = q81 ? sizeof(block_q8_1) : sizeof(block_q8_0);
    __m256i v[8];
    for (int k = 0; k < 8; k++) v[k] = plain_block_dot(kind, wb + k * bs, yb + k * ybs);
    const __m256i s = hsum8x8_epi32(v);
    const __m256 d = _mm256_mul_ps(fp16x8_strided(wb, bs), fp16x8_strided(yb, ybs));
    acc = _mm256_fmadd_ps(d, _mm256_cvtepi32_ps(s), acc);
    if (q81) /* m follows d in Q4_1 / Q5_1, s follows d in Q8_1 */
        acc = _mm256_fmadd_ps(fp16x8_strided(wb + 2, bs), fp16x8_strided(yb + offsetof(block_q8_1, s), ybs), acc);
    return acc;
}

static ALWAYS_INLINE float oct_dot(enum oct_kind kind, int64_t n, const void *w, const void *x)
{
    const bool q81 = oct_has_min(kind);
    const size_t bs = oct_block_bytes(kind), ybs = q81 ? sizeof(block_q8_1) : sizeof(block_q8_0);
    const uint8_t *wb = w, *yb = x;
    const int64_t nb = n / QK8_0;
    __m256 acc = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + OCT <= nb; i += OCT) {
        if (kind != oct_plain(kind)) { /* back to plain blocks: the same integers */
            uint8_t plain[OCT * sizeof(block_q8_0)];
            if (kind == OCT_Q4_0R) q4_0_oct_unpack(wb + i * bs, plain);
            else q8_0_oct_unpack(wb + i * bs, plain);
            acc = plain_step(oct_plain(kind), plain, yb + i * ybs, acc);
        } else {
            acc = plain_step(kind, wb + i * bs, yb + i * ybs, acc);
        }
    }
    if (i < nb) { /* zero-padded, as oct_span and the prepared rows */
        uint8_t tw[OCT * sizeof(block_q8_0)], ty[OCT * sizeof(block_q8_1)];
        memset(tw, 0, sizeof tw);
        memset(ty, 0, sizeof ty);
        memcpy(tw, wb + i * bs, (size_t)(nb - i) * bs);
        memcpy(ty, yb + i * ybs, (size_t)(nb - i) * ybs);
        acc = plain_step(oct_plain(kind), tw, ty, acc);
    }
    return hsum_f32_8(acc);
}

#define OCT_KERNELS(name, KIND)                                                                            \
    static ALWAYS_INLINE void name##_rows_nr(int64_t n, const void *w, const void *x, size_t xrb, int NR, \
                                             float *out, size_t os)                                       \
    {                                                                                                     \
        oct_rows(KIND, n, w, x, xrb, NR, out, os);                                                        \
    }                                                                                                     \
    void name##_dot_rows_avx2(int64_t n, const void *w, const void *x, size_t xrb, int nrows, float *out, \
                              size_t os)                                                                  \
    {                                                                                                     \
        ROWS_DISPATCH(name##_rows_nr, n, w, x, xrb, nrows, out, os)                                       \
    }                                                                                                     \
    float name##_dot_avx2(int64_t n, const void *w, const void *x) { return oct_dot(KIND, n, w, x); }

OCT_KERNELS(q4_0, OCT_Q4_0)
OCT_KERNELS(q5_0, OCT_Q5_0)
OCT_KERNELS(q8_0, OCT_Q8_0)
OCT_KERNELS(iq4_nl, OCT_IQ4_NL)
OCT_KERNELS(q4_1, OCT_Q4_1)
OCT_KERNELS(q5_1, OCT_Q5_1)
#if OCT_AVX512
OCT_KERNELS(q4_0_oct, OCT_Q4_0R)
OCT_KERNELS(q8_0_oct, OCT_Q8_0R)
#endif

#endif /* QUANT_AVX2 */
