/*
 * test_quant.c — the quantized-tensor kernel layer (src/quant).
 *
 * For every supported type, on Gaussian data quantized by from_float and on
 * random bytes with sane scales, over 1, 3, 7 and 16 blocks, from buffers at
 * odd addresses:
 *   (a) SIMD to_float == reference to_float, bit for bit (both compute the
 *       same d*q and d*q - m; the products are exact in every format, so
 *       not even FMA could change a bit);
 *   (b) SIMD vec_dot == reference vec_dot within a float-rounding bound;
 *   (c) reference vec_dot == double-precision dot of the dequantized weights
 *       with the dequantized activations (is the dot the right math?);
 * then (d) zero blocks, extreme fp16 scales and extreme quants, (e) round-trip
 * error bounds per type, (f) software fp16 vs F16C bit-exactness, bf16
 * rounding, (g) hand-built blocks that pin the layouts, and (h) the
 * multi-row kernels against vec_dot, bit for bit.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <float.h>
#include <cmocka.h>

#include "quant/quant_impl.h" /* ggml's block layouts (and quant.h) */

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define HAVE_X86 1
#else
#define HAVE_X86 0
#endif

/* ---- random numbers ---- */

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t rnd64(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 0x2545F4914F6CDD1Dull;
}
static float rnd_unit(void) { return (float)(rnd64() >> 40) * 0x1p-24f; } /* [0, 1) */
static float rnd_gauss(void)
{
    float u = rnd_unit() + 0x1p-25f, v = rnd_unit();
    return sqrtf(-2.0f * logf(u)) * cosf(6.2831853f * v);
}
static void fill_gauss(float *x, int64_t n, float sigma)
{
    for (int64_t i = 0; i < n; i++) x[i] = sigma * rnd_gauss();
}

/* ---- the types under test ---- */

static const enum ggml_type kTypes[] = {
    TYPE_F32, TYPE_F16, TYPE_BF16, TYPE_Q4_0, TYPE_Q4_1, TYPE_Q5_0, TYPE_Q5_1, TYPE_Q8_0,
    TYPE_Q2_K, TYPE_Q3_K, TYPE_Q4_K, TYPE_Q5_K, TYPE_Q6_K, TYPE_IQ4_NL,
};
#define NTYPES (sizeof kTypes / sizeof kTypes[0])

static const struct type_traits *ref(enum ggml_type t) { return type_traits_reference(t); }
static const struct type_traits *simd(enum ggml_type t) { return type_traits(t); }
static bool is_float_type(enum ggml_type t) { return t == TYPE_F32 || t == TYPE_F16 || t == TYPE_BF16; }

/* Buffer at an odd address, so nothing may assume alignment. */
struct obuf { uint8_t *base, *p; };
static struct obuf oalloc(size_t n)
{
    struct obuf b;
    b.base = calloc(n + 64, 1);
    assert_non_null(b.base);
    b.p = b.base + 1;
    return b;
}

/* Set the per-block fp16 scale fields of a quantized row. */
static void set_scales(enum ggml_type t, uint8_t *row, int64_t nb, uint16_t d, uint16_t m)
{
    const size_t ts = ref(t)->type_size;
    for (int64_t i = 0; i < nb; i++) {
        void *b = row + i * ts;
        switch (t) {
        case TYPE_Q4_0: ((block_q4_0 *)b)->d = d; break;
        case TYPE_Q4_1: ((block_q4_1 *)b)->d = d; ((block_q4_1 *)b)->m = m; break;
        case TYPE_Q5_0: ((block_q5_0 *)b)->d = d; break;
        case TYPE_Q5_1: ((block_q5_1 *)b)->d = d; ((block_q5_1 *)b)->m = m; break;
        case TYPE_Q8_0: ((block_q8_0 *)b)->d = d; break;
        case TYPE_Q2_K: ((block_q2_K *)b)->d = d; ((block_q2_K *)b)->dmin = m; break;
        case TYPE_Q3_K: ((block_q3_K *)b)->d = d; break;
        case TYPE_Q4_K: ((block_q4_K *)b)->d = d; ((block_q4_K *)b)->dmin = m; break;
        case TYPE_Q5_K: ((block_q5_K *)b)->d = d; ((block_q5_K *)b)->dmin = m; break;
        case TYPE_Q6_K: ((block_q6_K *)b)->d = d; break;
        case TYPE_IQ4_NL: ((block_iq4_nl *)b)->d = d; break;
        default: break;
        }
    }
}

/* Zero the quant fields (keep the scales): dequantizing that gives each
 * element's offset part (min, -8d, ...), used to bound rounding errors. */
static void zero_quants(enum ggml_type t, uint8_t *row, int64_t nb)
{
    const size_t ts = ref(t)->type_size;
    for (int64_t i = 0; i < nb; i++) {
        void *b = row + i * ts;
        switch (t) {
        case TYPE_Q4_0: memset(((block_q4_0 *)b)->qs, 0, 16); break;
        case TYPE_Q4_1: memset(((block_q4_1 *)b)->qs, 0, 16); break;
        case TYPE_Q5_0: memset(((block_q5_0 *)b)->qs, 0, 16); memset(((block_q5_0 *)b)->qh, 0, 4); break;
        case TYPE_Q5_1: memset(((block_q5_1 *)b)->qs, 0, 16); memset(((block_q5_1 *)b)->qh, 0, 4); break;
        case TYPE_Q8_0: memset(((block_q8_0 *)b)->qs, 0, 32); break;
        case TYPE_Q2_K: memset(((block_q2_K *)b)->qs, 0, 64); break;
        case TYPE_Q3_K: memset(((block_q3_K *)b)->qs, 0, 64); memset(((block_q3_K *)b)->hmask, 0, 32); break;
        case TYPE_Q4_K: memset(((block_q4_K *)b)->qs, 0, 128); break;
        case TYPE_Q5_K: memset(((block_q5_K *)b)->qs, 0, 128); memset(((block_q5_K *)b)->qh, 0, 32); break;
        case TYPE_Q6_K: memset(((block_q6_K *)b)->ql, 0, 128); memset(((block_q6_K *)b)->qh, 0, 64); break;
        case TYPE_IQ4_NL: memset(((block_iq4_nl *)b)->qs, 0, 16); break;
        default: memset(b, 0, ts); break;
        }
    }
}

/* A weight row of n elements: Gaussian data through from_float (mode 0) or
 * random bytes with sane fp16 scales (mode 1, reaches every bit pattern). */
static struct obuf make_weights(enum ggml_type t, int64_t n, int mode, float *src)
{
    const struct type_traits *tt = ref(t);
    const size_t sz = type_row_size(t, n);
    struct obuf b = oalloc(sz);
    fill_gauss(src, n, 1.0f);
    if (mode == 0 || is_float_type(t)) {
        tt->from_float(src, b.p, n);
        return b;
    }
    for (size_t i = 0; i < sz; i++) b.p[i] = (uint8_t)rnd64();
    const int64_t nb = n / tt->block_size;
    for (int64_t i = 0; i < nb; i++) {
        const float d = (0.002f + 0.02f * rnd_unit()) * (rnd64() & 1 ? 1 : -1);
        const float m = (0.002f + 0.02f * rnd_unit()) * (rnd64() & 1 ? 1 : -1);
        set_scales(t, b.p + i * tt->type_size, 1, fp32_to_fp16(d), fp32_to_fp16(m));
    }
    return b;
}

/* Activations for a dot with weights of type t: F32, or quantized to the
 * vec_dot_type the way the matmul layer does. */
static struct obuf make_acts(enum ggml_type t, int64_t n, float *src, float sigma)
{
    const enum ggml_type vt = ref(t)->vec_dot_type;
    struct obuf b;
    fill_gauss(src, n, sigma);
    if (vt == TYPE_F32) {
        b.base = calloc((size_t)n + 16, sizeof(float)); /* float rows stay 4-byte aligned */
        assert_non_null(b.base);
        b.p = b.base;
    } else {
        b = oalloc(type_row_size(vt, n));
    }
    quantize_activations(vt, src, b.p, n);
    return b;
}

/* (a), (b), (c) for one weight row and one activation row. */
static void check_row(enum ggml_type t, const uint8_t *w, const uint8_t *x, int64_t n, const char *what)
{
    const struct type_traits *r = ref(t), *s = simd(t);
    const enum ggml_type vt = r->vec_dot_type;
    const int64_t nb = n / r->block_size;
    float *wr = malloc(n * sizeof(float)), *ws = malloc(n * sizeof(float));
    float *w0 = malloc(n * sizeof(float)), *xd = malloc(n * sizeof(float));
    const size_t wsz = type_row_size(t, n);
    uint8_t *wz = malloc(wsz);
    assert_true(wr && ws && w0 && xd && wz);

    /* (a) dequantization: SIMD == reference, bit for bit */
    r->to_float(w, wr, n);
    s->to_float(w, ws, n);
    for (int64_t i = 0; i < n; i++) {
        if (memcmp(&wr[i], &ws[i], 4) != 0) {
            fail_msg("%s %s n=%ld: to_float[%ld] ref %.9g simd %.9g", r->name, what, (long)n, (long)i, wr[i], ws[i]);
        }
        assert_true(isfinite(wr[i]));
    }

    /* error budget: A = sum (|w| + |offset part|) |x| bounds every term */
    memcpy(wz, w, wsz);
    zero_quants(t, wz, nb);
    r->to_float(wz, w0, n);
    type_traits_reference(vt)->to_float(x, xd, n);
    double A = 0, exact = 0, s_term = 0;
    for (int64_t i = 0; i < n; i++) {
        A += (fabs((double)wr[i]) + fabs((double)w0[i])) * fabs((double)xd[i]);
        exact += (double)wr[i] * (double)xd[i];
    }
    if (vt == TYPE_Q8_1) { /* s = fp16(d * sum q) carries its own rounding */
        for (int64_t i = 0; i < nb; i++) {
            const float m = t == TYPE_Q4_1 ? fp16(((const block_q4_1 *)w)[i].m) : fp16(((const block_q5_1 *)w)[i].m);
            s_term += fabs((double)m * fp16(((const block_q8_1 *)x)[i].s)) * 0x1p-9;
        }
    }
    /* rounded terms: every product for float rows; per block, the SIMD
     * kernels fold <= 8 int32 lanes for the scales and <= 8 for the mins */
    const double nterms = is_float_type(t) ? (double)n : 16.0 * (double)nb;
    const double tol = (nterms + 16) * FLT_EPSILON * A + 1e-30;

    /* (b) SIMD dot == reference dot */
    const float dr = r->vec_dot(n, w, x), ds = s->vec_dot(n, w, x);
    assert_true(isfinite(dr));
    if (fabs((double)dr - ds) > tol)
        fail_msg("%s %s n=%ld: dot ref %.9g simd %.9g (tol %.3g)", r->name, what, (long)n, dr, ds, tol);

    /* (c) reference dot == the float dot of what the blocks mean */
    if (fabs((double)dr - exact) > tol + s_term)
        fail_msg("%s %s n=%ld: dot ref %.9g, dequantized %.9g (tol %.3g)", r->name, what, (long)n, dr, exact,
                 tol + s_term);

    free(wr); free(ws); free(w0); free(xd); free(wz);
}

static void check_type_random(enum ggml_type t, int mode)
{
    static const int64_t nb_list[] = { 1, 3, 7, 16 };
    static const int64_t nf_list[] = { 1, 3, 7, 8, 9, 31, 32, 33, 100, 1000 };
    const bool fl = is_float_type(t);
    const size_t cnt = fl ? 10 : 4;
    for (size_t k = 0; k < cnt; k++) {
        const int64_t n = fl ? nf_list[k] : nb_list[k] * ref(t)->block_size;
        float *src = malloc(n * sizeof(float)), *xs = malloc(n * sizeof(float));
        struct obuf w = make_weights(t, n, mode, src);
        struct obuf x = make_acts(t, n, xs, 1.0f);
        check_row(t, w.p, x.p, n, mode ? "random-bytes" : "quantized");
        free(w.base); free(x.base); free(src); free(xs);
    }
}

/* ------------------------------------------------------------------------ */

static void test_traits_table(void **state)
{
    (void)state;
    static const struct { enum ggml_type t; const char *name; int bs; size_t ts; enum ggml_type vt; } want[] = {
        { TYPE_F32, "F32", 1, 4, TYPE_F32 },       { TYPE_F16, "F16", 1, 2, TYPE_F32 },
        { TYPE_BF16, "BF16", 1, 2, TYPE_F32 },     { TYPE_Q4_0, "Q4_0", 32, 18, TYPE_Q8_0 },
        { TYPE_Q4_1, "Q4_1", 32, 20, TYPE_Q8_1 },  { TYPE_Q5_0, "Q5_0", 32, 22, TYPE_Q8_0 },
        { TYPE_Q5_1, "Q5_1", 32, 24, TYPE_Q8_1 },  { TYPE_Q8_0, "Q8_0", 32, 34, TYPE_Q8_0 },
        { TYPE_Q8_1, "Q8_1", 32, 36, TYPE_Q8_1 },  { TYPE_Q2_K, "Q2_K", 256, 84, TYPE_Q8_K },
        { TYPE_Q3_K, "Q3_K", 256, 110, TYPE_Q8_K }, { TYPE_Q4_K, "Q4_K", 256, 144, TYPE_Q8_K },
        { TYPE_Q5_K, "Q5_K", 256, 176, TYPE_Q8_K }, { TYPE_Q6_K, "Q6_K", 256, 210, TYPE_Q8_K },
        { TYPE_Q8_K, "Q8_K", 256, 292, TYPE_Q8_K }, { TYPE_IQ4_NL, "IQ4_NL", 32, 18, TYPE_Q8_0 },
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        const struct type_traits *r = ref(want[i].t), *s = simd(want[i].t);
        assert_non_null(r);
        assert_non_null(s);
        assert_string_equal(r->name, want[i].name);
        assert_string_equal(s->name, want[i].name);
        assert_int_equal(r->block_size, want[i].bs);
        assert_int_equal(r->type_size, want[i].ts);
        assert_int_equal(r->vec_dot_type, want[i].vt);
        assert_int_equal(s->vec_dot_type, want[i].vt);
        assert_non_null(r->to_float);
        assert_non_null(s->to_float);
        assert_non_null(r->from_float);
        if (want[i].t != TYPE_Q8_1 && want[i].t != TYPE_Q8_K) {
            assert_non_null(r->vec_dot);
            assert_non_null(s->vec_dot);
        }
    }
    /* geometry-only types: sized and named, no kernels */
    static const struct { int id; const char *name; int bs; size_t ts; } geo[] = {
        { 16, "IQ2_XXS", 256, 66 }, { 17, "IQ2_XS", 256, 74 }, { 18, "IQ3_XXS", 256, 98 },
        { 19, "IQ1_S", 256, 50 },   { 21, "IQ3_S", 256, 110 }, { 22, "IQ2_S", 256, 82 },
        { 23, "IQ4_XS", 256, 136 }, { 24, "I8", 1, 1 },        { 25, "I16", 1, 2 },
        { 26, "I32", 1, 4 },        { 27, "I64", 1, 8 },       { 28, "F64", 1, 8 },
        { 29, "IQ1_M", 256, 56 },   { 34, "TQ1_0", 256, 54 },  { 35, "TQ2_0", 256, 66 },
        { 39, "MXFP4", 32, 17 },
    };
    for (size_t i = 0; i < sizeof geo / sizeof geo[0]; i++) {
        const struct type_traits *r = type_traits((enum ggml_type)geo[i].id);
        assert_non_null(r);
        assert_string_equal(r->name, geo[i].name);
        assert_int_equal(r->block_size, geo[i].bs);
        assert_int_equal(r->type_size, geo[i].ts);
        assert_null(r->to_float);
        assert_null(r->vec_dot);
        assert_null(r->from_float);
    }
    /* our own layouts: past every id a file may name (the loader stops at TYPE_COUNT) */
    static const struct { enum ggml_type t; const char *name; size_t ts; } ours[] = {
        { TYPE_Q4_0_OCT, "Q4_0_OCT", 18 }, { TYPE_Q8_0_OCT, "Q8_0_OCT", 34 } };
    for (size_t i = 0; i < sizeof ours / sizeof ours[0]; i++) {
        const struct type_traits *oct = ref(ours[i].t);
        assert_true(ours[i].t >= TYPE_COUNT);
        assert_non_null(oct);
        assert_string_equal(oct->name, ours[i].name);
        assert_int_equal(oct->block_size, 32);
        assert_int_equal(oct->type_size, ours[i].ts);
        assert_int_equal(oct->vec_dot_type, TYPE_Q8_0);
        assert_null(oct->from_float); /* made by quant_repack only */
    }
    static const int none[] = { 4, 5, 31, 32, 33, 36, 37, 38, TYPE_ALL, 1000, -1 };
    for (size_t i = 0; i < sizeof none / sizeof none[0]; i++) {
        assert_null(type_traits((enum ggml_type)none[i]));
        assert_null(type_traits_reference((enum ggml_type)none[i]));
        assert_int_equal(type_row_size((enum ggml_type)none[i], 256), 0);
    }
    assert_int_equal(type_row_size(TYPE_Q4_0, 4096), 4096 / 32 * 18);
    assert_int_equal(type_row_size(TYPE_Q4_K, 4096), 16 * 144);
    assert_int_equal(type_row_size(TYPE_Q8_K, 512), 2 * 292);
    assert_int_equal(type_row_size(TYPE_F16, 7), 14);
    assert_int_equal(type_row_size(TYPE_Q4_0, 33), 0);
    assert_int_equal(type_row_size(TYPE_Q6_K, 128), 0);
    assert_int_equal(type_row_size((enum ggml_type)23, 512), 2 * 136);
    assert_int_equal(type_row_size(TYPE_F32, 0), 0);

    /* the force-reference switch */
    quant_force_reference(true);
    for (size_t i = 0; i < NTYPES; i++) assert_ptr_equal(type_traits(kTypes[i]), ref(kTypes[i]));
    assert_string_equal(quant_simd_name(), "scalar");
    quant_force_reference(false);
    assert_string_equal(quant_simd_name(), QUANT_AVX512 ? "AVX-512" : QUANT_AVX2 ? "AVX2" : "scalar");
    for (size_t i = 0; i < NTYPES; i++) assert_true((type_traits(kTypes[i]) == ref(kTypes[i])) == !QUANT_AVX2);
}

static void test_random_quantized(void **state)
{
    (void)state;
    for (size_t i = 0; i < NTYPES; i++) check_type_random(kTypes[i], 0);
}

static void test_random_bytes(void **state)
{
    (void)state;
    for (size_t i = 0; i < NTYPES; i++) check_type_random(kTypes[i], 1);
}

/* (d) all-zero data: zero blocks dequantize to exact zeros, every dot is 0. */
static void test_zero_blocks(void **state)
{
    (void)state;
    for (size_t k = 0; k < NTYPES; k++) {
        const enum ggml_type t = kTypes[k];
        const int64_t n = 3 * (ref(t)->block_size == 1 ? 32 : ref(t)->block_size);
        float *z = calloc(n, sizeof(float)), *xs = malloc(n * sizeof(float)), *out = malloc(n * sizeof(float));
        struct obuf w = oalloc(type_row_size(t, n));
        ref(t)->from_float(z, w.p, n);
        for (int pass = 0; pass < 2; pass++) {
            const struct type_traits *tt = pass ? simd(t) : ref(t);
            tt->to_float(w.p, out, n);
            for (int64_t i = 0; i < n; i++) assert_true(out[i] == 0.0f);
            struct obuf x = make_acts(t, n, xs, 1.0f);
            assert_true(tt->vec_dot(n, w.p, x.p) == 0.0f);
            free(x.base);
        }
        /* random weights against all-zero activations */
        struct obuf w2 = make_weights(t, n, 1, xs);
        struct obuf x0 = make_acts(t, n, xs, 0.0f);
        assert_true(ref(t)->vec_dot(n, w2.p, x0.p) == 0.0f);
        assert_true(simd(t)->vec_dot(n, w2.p, x0.p) == 0.0f);
        free(w.base); free(w2.base); free(x0.base); free(z); free(xs); free(out);
    }
    /* activation types of zeros: d = 0, quants 0, bsums 0, no NaN */
    float z[256] = { 0 };
    block_q8_K yk;
    memset(&yk, 0x55, sizeof yk);
    quantize_activations(TYPE_Q8_K, z, &yk, 256);
    assert_true(yk.d == 0.0f);
    for (int i = 0; i < 16; i++) assert_int_equal(yk.bsums[i], 0);
    block_q8_1 y1;
    quantize_activations(TYPE_Q8_1, z, &y1, 32);
    assert_int_equal(y1.d, 0);
    assert_int_equal(y1.s, 0);
}

/* (d) extreme fp16 scales on random-byte weights, and large activations. */
static void test_extreme_scales(void **state)
{
    (void)state;
    static const uint16_t scales[][2] = {
        { 0x7BFF, 0x7BFF }, /* 65504, the largest half */
        { 0xFBFF, 0x7BFF }, /* -65504 */
        { 0x0001, 0x0001 }, /* 2^-24, the smallest subnormal */
        { 0x03FF, 0x8001 }, /* largest subnormal, negative tiny min */
        { 0x3C00, 0x0000 }, /* 1, no min */
    };
    for (size_t k = 0; k < NTYPES; k++) {
        const enum ggml_type t = kTypes[k];
        if (is_float_type(t)) continue;
        const int64_t n = 3 * ref(t)->block_size;
        float *src = malloc(n * sizeof(float)), *xs = malloc(n * sizeof(float));
        for (size_t s = 0; s < sizeof scales / sizeof scales[0]; s++) {
            struct obuf w = make_weights(t, n, 1, src);
            set_scales(t, w.p, n / ref(t)->block_size, scales[s][0], scales[s][1]);
            /* large, but keeping Q8_1's s = fp16(d * sum q) below 65504 */
            struct obuf x = make_acts(t, n, xs, 100.0f);
            check_row(t, w.p, x.p, n, "extreme-scale");
            free(w.base); free(x.base);
        }
        free(src); free(xs);
    }
    /* float rows at the edges of their ranges */
    float big[67];
    for (int i = 0; i < 67; i++) big[i] = (i & 1 ? -1 : 1) * (i % 3 ? 65504.0f : 6.0e-8f);
    for (int f = 0; f < 3; f++) {
        const enum ggml_type t = f == 0 ? TYPE_F32 : f == 1 ? TYPE_F16 : TYPE_BF16;
        struct obuf w = oalloc(type_row_size(t, 67));
        ref(t)->from_float(big, w.p, 67);
        float *xs = malloc(67 * sizeof(float));
        struct obuf x = make_acts(t, 67, xs, 100.0f);
        check_row(t, w.p, x.p, 67, "extreme-values");
        free(w.base); free(x.base); free(xs);
    }
}

/* (d) the largest quants: every kernel must hold the int8/int16 extremes. */
static void test_extreme_quants(void **state)
{
    (void)state;
    float xs[512], scratch[512];
    for (size_t k = 0; k < NTYPES; k++) {
        const enum ggml_type t = kTypes[k];
        if (is_float_type(t)) continue;
        const int64_t n = 2 * ref(t)->block_size;
        for (int pat = 0; pat < 4; pat++) {
            struct obuf w = oalloc(type_row_size(t, n));
            /* all bits set, all clear, alternating: every quant at an end of its range */
            const uint8_t fillb = pat == 0 ? 0xFF : pat == 1 ? 0x00 : pat == 2 ? 0xAA : 0x80;
            memset(w.p, fillb, type_row_size(t, n));
            set_scales(t, w.p, n / ref(t)->block_size, 0x3C00, 0x3800);
            /* activations at +-127 (|x| all equal to the block max) */
            for (int64_t i = 0; i < n; i++) xs[i] = (pat & 1) ? ((i & 1) ? -1.0f : 1.0f) : -1.0f;
            struct obuf x = make_acts(t, n, scratch, 1.0f); /* allocate, then overwrite */
            quantize_activations(ref(t)->vec_dot_type, xs, x.p, n);
            check_row(t, w.p, x.p, n, "extreme-quants");
            free(w.base); free(x.base);
        }
    }
    /* Q8_0 weight -128 (never written by ggml, legal in a file) times -127 */
    block_q8_0 w[2], a[2];
    for (int b = 0; b < 2; b++) {
        w[b].d = 0x3C00; /* 1 */
        a[b].d = 0x3C00;
        memset(w[b].qs, 0x80, 32);
        memset(a[b].qs, -127, 32);
    }
    const float want = 2 * 32 * 128.0f * 127.0f;
    assert_true(ref(TYPE_Q8_0)->vec_dot(64, w, a) == want);
    assert_true(simd(TYPE_Q8_0)->vec_dot(64, w, a) == want);
}

/* (h) vec_dot_rows == vec_dot, bit for bit: for every batch size 1..8 and
 * every position of the rows in an 8-row batch, with rows prepared the way
 * the matmul layer prepares them, at odd addresses and an odd row stride,
 * writing exactly the nrows outputs at out_stride. src holds 8 rows of n. */
static void check_rows(const struct type_traits *tt, const uint8_t *w, int64_t n, const float *src, const char *what)
{
    const enum ggml_type vt = tt->vec_dot_type;
    const bool fl = vt == TYPE_F32;
    const size_t qrb = fl ? (size_t)n * sizeof(float) : type_row_size(vt, n);
    const size_t prb = act_rows_size(tt, n);
    assert_true(prb >= qrb || tt->rows_prepare);
    const size_t xrb = fl ? prb + 4 : prb + 3; /* float rows stay 4-byte aligned */
    struct obuf qx[8];
    float want[8];
    for (int b = 0; b < 8; b++) {
        if (fl) {
            qx[b].base = calloc(n + 16, sizeof(float));
            assert_non_null(qx[b].base);
            qx[b].p = qx[b].base;
        } else {
            qx[b] = oalloc(qrb);
        }
        quantize_activations(vt, src + (size_t)b * n, qx[b].p, n);
        want[b] = tt->vec_dot(n, w, qx[b].p);
    }
    uint8_t *pbase = calloc(8 * xrb + 64, 1);
    assert_non_null(pbase);
    uint8_t *px = fl ? pbase : pbase + 1;
    for (int b = 0; b < 8; b++) {
        if (tt->rows_prepare) tt->rows_prepare(qx[b].p, px + b * xrb, n);
        else memcpy(px + b * xrb, qx[b].p, qrb);
    }
    const uint32_t sentinel = 0x7fc0beefu;
    for (int B = 1; B <= VEC_DOT_ROWS_MAX; B++) {
        for (int s = 0; s + B <= 8; s++) {
            float out[8 * 3 + 1];
            for (size_t i = 0; i < sizeof out / sizeof out[0]; i++) memcpy(&out[i], &sentinel, 4);
            tt->vec_dot_rows(n, w, px + s * xrb, xrb, B, out, 3);
            for (int i = 0; i < (int)(sizeof out / sizeof out[0]); i++) {
                if (i % 3 == 0 && i / 3 < B) {
                    if (memcmp(&out[i], &want[s + i / 3], 4) != 0)
                        fail_msg("%s %s n=%ld: rows(B=%d, from %d)[%d] = %.9g, vec_dot %.9g", tt->name, what,
                                 (long)n, B, s, i / 3, out[i], want[s + i / 3]);
                } else if (memcmp(&out[i], &sentinel, 4) != 0) {
                    fail_msg("%s %s n=%ld B=%d: wrote out[%d]", tt->name, what, (long)n, B, i);
                }
            }
        }
    }
    for (int b = 0; b < 8; b++) free(qx[b].base);
    free(pbase);
}

/* Rows a, b, b, a (rb bytes each) wrb bytes apart, for check_rows2. */
static uint8_t *four_rows(const uint8_t *a, const uint8_t *b, size_t rb, size_t wrb)
{
    uint8_t *w = calloc(3 * wrb + rb, 1);
    assert_non_null(w);
    for (int r = 0; r < 4; r++) memcpy(w + r * wrb, r == 0 || r == 3 ? a : b, rb);
    return w;
}

/* vec_dot_rows2 on two or four weight rows (w + r * wrb) gives each row's
 * vec_dot bits, for every activation row count and start, with a gap
 * between the results of one activation row and the next or none, and
 * writes nothing else. */
static void check_rows2(const struct type_traits *tt, const uint8_t *w, size_t wrb, int64_t n, const float *src,
                        const char *what)
{
    const enum ggml_type vt = tt->vec_dot_type;
    const size_t qrb = type_row_size(vt, n), xrb = act_rows_size(tt, n) + 3;
    struct obuf qx[8];
    float want[4][8];
    uint8_t *pbase = calloc(8 * xrb + 64, 1), *px = pbase + 1;
    assert_non_null(pbase);
    for (int b = 0; b < 8; b++) {
        qx[b] = oalloc(qrb);
        quantize_activations(vt, src + (size_t)b * n, qx[b].p, n);
        for (int r = 0; r < 4; r++) want[r][b] = tt->vec_dot(n, w + r * wrb, qx[b].p);
        if (tt->rows_prepare) tt->rows_prepare(qx[b].p, px + b * xrb, n);
        else memcpy(px + b * xrb, qx[b].p, qrb);
    }
    const uint32_t sentinel = 0x7fc0beefu;
    for (int nw = 2; nw <= 4; nw += 2) {
        for (int B = 1; B <= VEC_DOT_ROWS_MAX; B++) {
            for (int s = 0; s + B <= 8; s++) {
                for (int os = nw; os <= nw + 1; os++) {
                    float out[8 * 5 + 1];
                    for (size_t i = 0; i < sizeof out / sizeof out[0]; i++) memcpy(&out[i], &sentinel, 4);
                    tt->vec_dot_rows2(n, w, wrb, nw, px + s * xrb, xrb, B, out, (size_t)os);
                    for (int i = 0; i < (int)(sizeof out / sizeof out[0]); i++) {
                        const int b = i / os, r = i % os;
                        if (r < nw && b < B) {
                            if (memcmp(&out[i], &want[r][s + b], 4) != 0)
                                fail_msg("%s %s n=%ld: rows2(%d rows, B=%d, from %d, stride %d) row %d [%d] = %.9g, "
                                         "vec_dot %.9g",
                                         tt->name, what, (long)n, nw, B, s, os, r, b, out[i], want[r][s + b]);
                        } else if (memcmp(&out[i], &sentinel, 4) != 0) {
                            fail_msg("%s %s n=%ld %d rows B=%d stride %d: rows2 wrote out[%d]", tt->name, what,
                                     (long)n, nw, B, os, i);
                        }
                    }
                }
            }
        }
    }
    for (int b = 0; b < 8; b++) free(qx[b].base);
    free(pbase);
}

static void test_rows_match_dot(void **state)
{
    (void)state;
    /* block counts around multiples of 8 (the oct kernels) and past 64 (their
     * vec_dot prepares the activations 64 blocks at a time) */
    static const int64_t nb_list[] = { 1, 2, 3, 7, 8, 9, 15, 16, 17, 24, 33, 64, 65, 137 };
    static const int64_t nf_list[] = { 1, 7, 8, 9, 31, 33, 100, 1000 };
    for (size_t k = 0; k < NTYPES; k++) {
        const enum ggml_type t = kTypes[k];
        const bool fl = is_float_type(t);
        const size_t cnt = fl ? sizeof nf_list / sizeof nf_list[0] : sizeof nb_list / sizeof nb_list[0];
        for (size_t c = 0; c < cnt; c++) {
            const int64_t n = fl ? nf_list[c] : nb_list[c] * ref(t)->block_size;
            float *src = malloc(8 * n * sizeof(float)), *ws = malloc(n * sizeof(float));
            for (int mode = 0; mode < 3; mode++) {
                struct obuf w = make_weights(t, n, mode & 1, ws);
                if (mode == 2 && !fl) /* extreme scales: the largest and smallest halves */
                    for (int64_t i = 0; i < n / ref(t)->block_size; i++)
                        set_scales(t, w.p + i * ref(t)->type_size, 1, (i & 1) ? 0x7BFF : 0x0001,
                                   (i & 2) ? 0xFBFF : 0x8001);
                fill_gauss(src, 8 * n, mode == 2 ? 100.0f : 1.0f);
                if (mode == 1) memset(src + 3 * n, 0, n * sizeof(float)); /* one all-zero row */
                check_rows(ref(t), w.p, n, src, mode == 0 ? "ref quantized" : mode == 1 ? "ref random" : "ref extreme");
                check_rows(simd(t), w.p, n, src, mode == 0 ? "quantized" : mode == 1 ? "random" : "extreme");
                if (simd(t)->vec_dot_rows2) { /* this row and another, at an odd distance */
                    const size_t rb = type_row_size(t, n), wrb = rb + 5;
                    struct obuf w2 = make_weights(t, n, 1, ws);
                    uint8_t *four = four_rows(w.p, w2.p, rb, wrb);
                    check_rows2(simd(t), four, wrb, n, src, mode == 0 ? "quantized" : mode == 1 ? "random" : "extreme");
                    free(four);
                    free(w2.base);
                }
                free(w.base);
            }
            free(src); free(ws);
        }
    }
}

/* Q4_0 and Q8_0 rows rearranged at load (quant_repack: TYPE_Q4_0_OCT,
 * TYPE_Q8_0_OCT) dequantize and dot to the bits of the rows they came from,
 * with whole and partial octs, in every kernel (vec_dot, rows, row pairs)
 * and in the reference. */
static void check_repacked(enum ggml_type t)
{
    const enum ggml_type rt = quant_repack_type(t);
    /* the AVX-512 kernels take the rearranged layouts; other builds keep rows as they are */
    if (!strcmp(quant_simd_name(), "AVX-512")) assert_true(rt >= TYPE_COUNT);
    else assert_int_equal(rt, t);
    static const int64_t nb_list[] = { 1, 7, 8, 9, 16, 17, 24, 33, 64, 65, 137 };
    for (size_t c = 0; c < sizeof nb_list / sizeof nb_list[0]; c++) {
        const int64_t n = nb_list[c] * ref(t)->block_size;
        const size_t rb = type_row_size(t, n), wrb = rb + 5;
        float *src = malloc(8 * n * sizeof(float)), *ws = malloc(n * sizeof(float));
        float *a = malloc(n * sizeof(float)), *b = malloc(n * sizeof(float));
        for (int mode = 0; mode < 3; mode++) {
            struct obuf w = make_weights(t, n, mode & 1, ws), w2 = make_weights(t, n, 1, ws);
            if (mode == 2)
                for (int64_t i = 0; i < nb_list[c]; i++)
                    set_scales(t, w.p + i * ref(t)->type_size, 1, (i & 1) ? 0x7BFF : 0x0001, 0);
            /* r: the row repacked; r2: it and another, at an odd distance (as in check_rows2) */
            uint8_t *r = malloc(rb), *r2b = malloc(rb);
            assert_true(r && r2b);
            memcpy(r, w.p, rb);
            quant_repack(t, r, 1, n);
            memcpy(r2b, w2.p, rb);
            quant_repack(t, r2b, 1, n);
            uint8_t *r2 = four_rows(r, r2b, rb, wrb);
            free(r2b);
            if (rt == t) { /* nothing to rearrange on this build */
                assert_memory_equal(r, w.p, rb);
                free(r); free(r2); free(w.base); free(w2.base);
                continue;
            }
            if (nb_list[c] >= 8 && !memcmp(r, w.p, rb)) fail_msg("%s n=%ld: repack left the row as it was", ref(t)->name, (long)n);
            for (int k = 0; k < 2; k++) { /* the reference, then the build's kernels */
                const struct type_traits *from = k ? simd(t) : ref(t), *to = k ? simd(rt) : ref(rt);
                from->to_float(w.p, a, n);
                to->to_float(r, b, n);
                if (memcmp(a, b, n * sizeof(float))) fail_msg("%s n=%ld %s: to_float differs", ref(t)->name, (long)n, k ? "simd" : "ref");
                fill_gauss(src, 8 * n, mode == 2 ? 100.0f : 1.0f);
                struct obuf qx = oalloc(type_row_size(TYPE_Q8_0, n));
                for (int row = 0; row < 8; row++) {
                    quantize_activations(TYPE_Q8_0, src + (size_t)row * n, qx.p, n);
                    const float want = from->vec_dot(n, w.p, qx.p), got = to->vec_dot(n, r, qx.p);
                    if (memcmp(&want, &got, 4))
                        fail_msg("%s n=%ld %s: vec_dot %.9g, on the original %.9g", ref(t)->name, (long)n, k ? "simd" : "ref", got, want);
                }
                free(qx.base);
                /* the rows kernels against this type's vec_dot (= the original's, above) */
                check_rows(to, r, n, src, k ? "repacked" : "ref repacked");
                if (to->vec_dot_rows2) check_rows2(to, r2, wrb, n, src, "repacked");
            }
            free(r); free(r2); free(w.base); free(w2.base);
        }
        free(src); free(ws); free(a); free(b);
    }
}

static void test_repacked(void **state)
{
    (void)state;
    quant_force_reference(false);
    check_repacked(TYPE_Q4_0);
    check_repacked(TYPE_Q8_0);
}

/* vec_dot_many (float rows: attention's heads) gives vec_dot's bits for
 * every count of pairs and length, tails included. */
static void test_dot_many_match_dot(void **state)
{
    (void)state;
    static const int64_t n_list[] = { 1, 7, 8, 16, 40, 64, 100, 128, 256 };
    for (size_t k = 0; k < NTYPES; k++) {
        const enum ggml_type t = kTypes[k];
        if (!simd(t)->vec_dot_many) continue;
        assert_true(is_float_type(t));
        for (size_t c = 0; c < sizeof n_list / sizeof n_list[0]; c++) {
            const int64_t n = n_list[c];
            struct obuf w[8];
            float *x[8], *ws = malloc(n * sizeof(float));
            const void *wp[8], *xp[8];
            for (int r = 0; r < 8; r++) {
                w[r] = make_weights(t, n, r & 1, ws);
                x[r] = malloc(n * sizeof(float));
                fill_gauss(x[r], n, r == 5 ? 100.0f : 1.0f);
                wp[r] = w[r].p;
                xp[r] = x[r];
            }
            /* distinct rows, then one row for all (GQA heads sharing a key) */
            for (int same = 0; same < 2; same++)
                for (int count = 1; count <= 8; count++) {
                    float got[8];
                    const void *wr[8];
                    for (int r = 0; r < 8; r++) wr[r] = same ? wp[0] : wp[r];
                    simd(t)->vec_dot_many(n, wr, xp, count, got);
                    for (int r = 0; r < count; r++) {
                        const float want = simd(t)->vec_dot(n, wr[r], xp[r]);
                        if (memcmp(&got[r], &want, sizeof want))
                            fail_msg("%s n %lld%s: pair %d of %d gives %.9g, vec_dot %.9g", simd(t)->name,
                                     (long long)n, same ? " (one row)" : "", r, count, got[r], want);
                    }
                }
            for (int r = 0; r < 8; r++) {
                free(w[r].base);
                free(x[r]);
            }
            free(ws);
        }
    }
}

/* vec_dot_keys == vec_dot, bit for bit: keys at an odd row stride, every
 * query count 1..8, each query on its own slice of the key rows, all on one,
 * and two by two (GQA heads, a KV head changing inside a call); lanes past
 * the query count are written and nothing beyond the 8 lanes of a key. */
static void test_dot_keys_match_dot(void **state)
{
    (void)state;
    static const int64_t n_list[] = { 8, 40, 64, 100, 128 };
    enum { KEYS = 5, SLICES = 8 };
    for (size_t k = 0; k < NTYPES; k++) {
        const enum ggml_type t = kTypes[k];
        if (!simd(t)->vec_dot_keys) continue;
        assert_true(is_float_type(t));
        for (size_t c = 0; c < sizeof n_list / sizeof n_list[0]; c++) {
            const int64_t n = n_list[c];
            const size_t rb = type_row_size(t, n), krow = SLICES * rb + 6; /* 6: an odd stride in elements */
            uint8_t *keys = calloc(KEYS * krow + 64, 1);
            float *ws = malloc(n * sizeof(float)), *q = malloc(8 * n * sizeof(float));
            assert_non_null(keys);
            for (int j = 0; j < KEYS; j++)
                for (int sl = 0; sl < SLICES; sl++) {
                    struct obuf w = make_weights(t, n, (j + sl) & 1, ws);
                    memcpy(keys + j * krow + sl * rb, w.p, rb);
                    free(w.base);
                }
            for (int h = 0; h < 8; h++) fill_gauss(q + h * n, n, h == 5 ? 100.0f : 1.0f);
            for (int shape = 0; shape < 3; shape++)
                for (int nq = 1; nq <= 8; nq++) {
                    size_t koff[8];
                    for (int h = 0; h < 8; h++) koff[h] = (shape == 0 ? h : shape == 1 ? 0 : h / 2) * rb;
                    float got[8 * KEYS + 1];
                    const uint32_t sentinel = 0x7fc0beefu;
                    memcpy(&got[8 * KEYS], &sentinel, 4);
                    simd(t)->vec_dot_keys(n, keys, krow, KEYS, koff, q, nq, got);
                    for (int j = 0; j < KEYS; j++)
                        for (int h = 0; h < nq; h++) {
                            const float want = simd(t)->vec_dot(n, keys + j * krow + koff[h], q + h * n);
                            if (memcmp(&got[8 * j + h], &want, sizeof want))
                                fail_msg("%s n %lld shape %d: key %d query %d of %d gives %.9g, vec_dot %.9g",
                                         simd(t)->name, (long long)n, shape, j, h, nq, got[8 * j + h], want);
                        }
                    if (memcmp(&got[8 * KEYS], &sentinel, 4)) fail_msg("%s n %lld: wrote past the keys", simd(t)->name, (long long)n);
                }
            free(keys);
            free(ws);
            free(q);
        }
    }
}

/* (e) quantize -> dequantize error bounds. */
static void test_roundtrip(void **state)
{
    (void)state;
    enum { N = 4096 };
    float *x = malloc(N * sizeof(float)), *y = malloc(N * sizeof(float));
    struct obuf q = oalloc(type_row_size(TYPE_F32, N));
    /* the per-element bound of the block-32 types, from each scale rule */
    for (int kind = 0; kind < 5; kind++) {
        static const enum ggml_type ts[] = { TYPE_Q8_0, TYPE_Q4_0, TYPE_Q4_1, TYPE_Q5_0, TYPE_Q5_1 };
        const enum ggml_type t = ts[kind];
        fill_gauss(x, N, 3.0f);
        ref(t)->from_float(x, q.p, N);
        ref(t)->to_float(q.p, y, N);
        for (int b = 0; b < N / 32; b++) {
            float amax = 0, mn = FLT_MAX, mx = -FLT_MAX;
            for (int j = 0; j < 32; j++) {
                amax = fmaxf(amax, fabsf(x[32 * b + j]));
                mn = fminf(mn, x[32 * b + j]);
                mx = fmaxf(mx, x[32 * b + j]);
            }
            /* step of the grid and the fp16 rounding of d (and m) */
            float bound;
            switch (t) {
            case TYPE_Q8_0: bound = 0.5f * amax / 127 + amax * 0x1p-11f; break;
            case TYPE_Q4_0: bound = 1.0f * amax / 8 + amax * 0x1p-10f; break; /* +8 clamps to 7 */
            case TYPE_Q5_0: bound = 1.0f * amax / 16 + amax * 0x1p-10f; break;
            case TYPE_Q4_1: bound = 0.5f * (mx - mn) / 15 + (mx - mn) * 0x1p-11f + fabsf(mn) * 0x1p-11f; break;
            default:        bound = 0.5f * (mx - mn) / 31 + (mx - mn) * 0x1p-11f + fabsf(mn) * 0x1p-11f; break;
            }
            bound = bound * 1.0001f + 1e-7f;
            for (int j = 0; j < 32; j++) {
                const float e = fabsf(x[32 * b + j] - y[32 * b + j]);
                if (e > bound)
                    fail_msg("%s block %d elt %d: |%g - %g| = %g > %g", ref(t)->name, b, j, x[32 * b + j],
                             y[32 * b + j], e, bound);
            }
        }
    }
    /* relative RMS error on Gaussian data (ggml's algorithms land well inside) */
    static const struct { enum ggml_type t; double max_rel_rmse; } rm[] = {
        { TYPE_Q8_0, 0.006 }, { TYPE_Q4_0, 0.12 }, { TYPE_Q4_1, 0.10 },  { TYPE_Q5_0, 0.06 },
        { TYPE_Q5_1, 0.05 },  { TYPE_Q2_K, 0.40 }, { TYPE_Q3_K, 0.20 },  { TYPE_Q4_K, 0.10 },
        { TYPE_Q5_K, 0.05 },  { TYPE_Q6_K, 0.025 }, { TYPE_IQ4_NL, 0.10 }, { TYPE_F16, 0.0005 },
        { TYPE_BF16, 0.004 },
    };
    for (size_t k = 0; k < sizeof rm / sizeof rm[0]; k++) {
        const enum ggml_type t = rm[k].t;
        fill_gauss(x, N, 0.05f);
        ref(t)->from_float(x, q.p, N);
        simd(t)->to_float(q.p, y, N);
        double se = 0, sx = 0, maxe = 0;
        for (int i = 0; i < N; i++) {
            se += (double)(x[i] - y[i]) * (x[i] - y[i]);
            sx += (double)x[i] * x[i];
            maxe = fmax(maxe, fabs((double)x[i] - y[i]));
        }
        const double rel = sqrt(se / sx);
        if (rel > rm[k].max_rel_rmse) fail_msg("%s: relative rmse %.4f > %.4f", ref(t)->name, rel, rm[k].max_rel_rmse);
        assert_true(rel > 0 || t == TYPE_F32);
        assert_true(maxe < 0.05 * 4.5); /* no element worse than ~1 sigma */
    }
    free(x); free(y); free(q.base);
}

/* Activation quantizers: Q8_K's conventions, and the one place where
 * llama.cpp's run-time Q8_0 rounding differs from quantize_row_q8_0_ref. */
static void test_activation_quantizers(void **state)
{
    (void)state;
    float x[256];
    /* Q8_0: amax 127 -> d = 1; 2.5 is a tie: ref rounds away, run time to even */
    memset(x, 0, sizeof x);
    x[0] = 127.0f; x[1] = 2.5f; x[2] = -2.5f; x[3] = 3.5f; x[4] = -126.6f;
    block_q8_0 r, a;
    ref(TYPE_Q8_0)->from_float(x, &r, 32);
    quantize_activations(TYPE_Q8_0, x, &a, 32);
    assert_int_equal(r.d, 0x3C00);
    assert_int_equal(a.d, 0x3C00);
    assert_int_equal(r.qs[0], 127); assert_int_equal(a.qs[0], 127);
    assert_int_equal(r.qs[1], 3);   assert_int_equal(a.qs[1], 2);
    assert_int_equal(r.qs[2], -3);  assert_int_equal(a.qs[2], -2);
    assert_int_equal(r.qs[3], 4);   assert_int_equal(a.qs[3], 4);
    assert_int_equal(r.qs[4], -127); assert_int_equal(a.qs[4], -127);
    /* Q8_1: s = d * sum(q) */
    block_q8_1 r1, a1;
    ref(TYPE_Q8_1)->from_float(x, &r1, 32);
    quantize_activations(TYPE_Q8_1, x, &a1, 32);
    assert_int_equal(r1.s, fp32_to_fp16(1.0f * (127 + 3 - 3 + 4 - 127)));
    assert_int_equal(a1.s, fp32_to_fp16(1.0f * (127 + 2 - 2 + 4 - 127)));

    /* on Gaussian data the two Q8_0 roundings agree almost everywhere */
    enum { N = 8192 };
    float *g = malloc(N * sizeof(float));
    block_q8_0 *qa = malloc(N / 32 * sizeof *qa), *qr = malloc(N / 32 * sizeof *qr);
    fill_gauss(g, N, 1.0f);
    ref(TYPE_Q8_0)->from_float(g, qr, N);
    quantize_activations(TYPE_Q8_0, g, qa, N);
    int ndiff = 0;
    for (int b = 0; b < N / 32; b++) {
        assert_int_equal(qa[b].d, qr[b].d);
        for (int j = 0; j < 32; j++) {
            assert_true(abs(qa[b].qs[j] - qr[b].qs[j]) <= 1);
            ndiff += qa[b].qs[j] != qr[b].qs[j];
        }
    }
    assert_true(ndiff < N / 100);
    free(g); free(qa); free(qr);

    /* Q8_K: scale from the signed max, which maps to -127; bsums; d = 1/iscale */
    fill_gauss(x, 256, 1.0f);
    x[77] = -9.0f; /* the absmax, negative */
    block_q8_K k;
    quantize_activations(TYPE_Q8_K, x, &k, 256);
    const float iscale = -127.f / -9.0f;
    assert_true(k.d == 1 / iscale);
    assert_int_equal(k.qs[77], -127);
    for (int gi = 0; gi < 16; gi++) {
        int s = 0;
        for (int l = 0; l < 16; l++) s += k.qs[16 * gi + l];
        assert_int_equal(k.bsums[gi], s);
    }
    for (int j = 0; j < 256; j++) {
        assert_true(k.qs[j] >= -127 && k.qs[j] <= 127);
        assert_true(fabsf(k.d * k.qs[j] - x[j]) <= fabsf(k.d) * 0.5f * 1.0001f + 1e-6f);
    }
    /* from_float and quantize_activations are the same for Q8_K */
    block_q8_K k2;
    ref(TYPE_Q8_K)->from_float(x, &k2, 256);
    assert_memory_equal(&k, &k2, sizeof k);
}

/* ------------------------------------------------------------------------ */
/* Byte-identity with ggml's quantizers. The hashes below were produced by
 * ggml's own quantize_row_*_ref / quantize_iq4_nl (and, for the activation
 * row, ggml-cpu's AVX2 quantize_row_q8_0), built without FMA as ggml-base is,
 * on this input. The input uses exact IEEE single ops only (no libm), so it
 * is the same on every machine. A mismatch means our from_float no longer
 * writes what llama-quantize writes. */

static void golden_input(float *x, int n)
{
    uint64_t st = 12345;
    for (int i = 0; i < n; i++) {
        st = st * 6364136223846793005ULL + 1442695040888963407ULL;
        const float u0 = (float)((st >> 16) & 0xFFFF) * 0x1p-16f, u1 = (float)((st >> 32) & 0xFFFF) * 0x1p-16f;
        const float u2 = (float)((st >> 48) & 0xFFFF) * 0x1p-16f, u3 = (float)((st >> 4) & 0xFFF) * 0x1p-12f;
        const float g = u0 + u1 + u2 + u3 - 2.0f;
        const int blk = i / 256;
        float v = g * ((float)(1 << (blk % 5)) * 0.125f * (1.0f + 0.25f * (float)(blk % 3)));
        if ((st >> 60) == 0) v = 0.0f;
        if (i % 997 == 0) v *= 16.0f;
        if (blk == 3) v = 0.0f;               /* one all-zero super-block */
        if (blk == 5 && i % 2) v = 1e-6f * g; /* tiny values */
        x[i] = v;
    }
}
static uint64_t fnv1a(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) { h ^= b[i]; h *= 0x100000001b3ULL; }
    return h;
}

static void test_golden_ggml(void **state)
{
    (void)state;
    enum { N = 4096 };
    static const struct { enum ggml_type t; uint64_t h; } golden[] = {
        { TYPE_Q4_0, 0x2abf4407b5e3f973ULL },
        { TYPE_Q4_1, 0x3029e6f2803fd995ULL },
        { TYPE_Q5_0, 0x2cca629cb710d1dbULL },
        { TYPE_Q5_1, 0xb9e6dbc2a0e41e7cULL },
        { TYPE_Q8_0, 0xb737394ec08dcba2ULL },
        { TYPE_Q8_1, 0x343828c45765376dULL },
        { TYPE_Q2_K, 0x9b2adb07eb254f12ULL },
        { TYPE_Q3_K, 0x6bb742f008e56585ULL },
        { TYPE_Q4_K, 0x46280c74cb9a8a08ULL },
        { TYPE_Q5_K, 0xb9c93289ce668669ULL },
        { TYPE_Q6_K, 0xb9f047c62ac3f074ULL },
        { TYPE_Q8_K, 0x078c0dd0db13d544ULL },
        { TYPE_IQ4_NL, 0x66eaab6986a4370cULL },
    };
    float *x = malloc(N * sizeof(float));
    struct obuf y = oalloc(type_row_size(TYPE_Q8_K, N));
    golden_input(x, N);
    for (size_t k = 0; k < sizeof golden / sizeof golden[0]; k++) {
        const enum ggml_type t = golden[k].t;
        const size_t sz = type_row_size(t, N);
        memset(y.p, 0, sz);
        type_traits(t)->from_float(x, y.p, N);
        const uint64_t h = fnv1a(y.p, sz);
        if (h != golden[k].h)
            fail_msg("%s from_float: hash %016llx, ggml %016llx", ref(t)->name, (unsigned long long)h,
                     (unsigned long long)golden[k].h);
    }
    memset(y.p, 0, type_row_size(TYPE_Q8_0, N));
    quantize_activations(TYPE_Q8_0, x, y.p, N);
    assert_true(fnv1a(y.p, type_row_size(TYPE_Q8_0, N)) == 0xb737394ec08dcba2ULL);
    free(x);
    free(y.base);
}

/* ------------------------------------------------------------------------ */
/* (f) half precision                                                        */

#if HAVE_X86
#include <cpuid.h>
__attribute__((target("f16c"))) static float hw_h2f(uint16_t h) { return _cvtsh_ss(h); }
__attribute__((target("f16c"))) static uint16_t hw_f2h(float f) { return _cvtss_sh(f, 0); }
static bool have_f16c(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return false;
    const unsigned osxsave = 1u << 27, avx = 1u << 28, f16c = 1u << 29;
    if ((c & (osxsave | avx | f16c)) != (osxsave | avx | f16c)) return false;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    (void)hi;
    return (lo & 6) == 6; /* the OS saves the YMM state */
}
#else
static float hw_h2f(uint16_t h) { return fp16_to_fp32_soft(h); }
static uint16_t hw_f2h(float f) { return fp32_to_fp16_soft(f); }
static bool have_f16c(void) { return false; }
#endif

static uint32_t fbits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static float bitsf(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

static void test_fp16_known(void **state)
{
    (void)state;
    static const struct { uint32_t f; uint16_t h; } k[] = {
        { 0x3F800000, 0x3C00 }, /* 1 */
        { 0xBF800000, 0xBC00 }, /* -1 */
        { 0x00000000, 0x0000 }, { 0x80000000, 0x8000 },
        { 0x477FE000, 0x7BFF }, /* 65504 */
        { 0x477FEFFF, 0x7BFF }, /* just below the tie */
        { 0x477FF000, 0x7C00 }, /* 65520: tie, rounds to even = inf */
        { 0x7F800000, 0x7C00 }, { 0xFF800000, 0xFC00 },
        { 0x7F7FFFFF, 0x7C00 }, /* FLT_MAX overflows */
        { 0x38800000, 0x0400 }, /* 2^-14, smallest normal */
        { 0x33800000, 0x0001 }, /* 2^-24 */
        { 0x33000000, 0x0000 }, /* 2^-25: tie between 0 and 2^-24 -> even 0 */
        { 0x33000001, 0x0001 }, /* just above the tie */
        { 0x33C00000, 0x0002 }, /* 1.5 * 2^-24: tie -> even 2 */
        { 0x34200000, 0x0002 }, /* 2.5 * 2^-24: tie -> even 2 */
        { 0x34600000, 0x0004 }, /* 3.5 * 2^-24: tie -> even 4 */
        { 0x34A00000, 0x0005 }, /* 5 * 2^-24, exact */
        { 0x387FC000, 0x03FF }, /* largest subnormal */
        { 0x387FE000, 0x0400 }, /* halfway between it and 2^-14 -> even */
        { 0x3F801000, 0x3C00 }, /* 1 + 2^-11: tie -> even */
        { 0x3F803000, 0x3C02 }, /* 1 + 3*2^-11: tie -> even (up) */
        { 0x7FC00000, 0x7E00 }, /* quiet NaN */
        { 0x7F800001, 0x7E00 }, /* signalling NaN, quieted */
        { 0xFFA00000, 0xFF00 }, /* payload kept */
    };
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
        const uint16_t h = fp32_to_fp16_soft(bitsf(k[i].f));
        if (h != k[i].h) fail_msg("fp32_to_fp16_soft(%08x) = %04x, want %04x", k[i].f, h, k[i].h);
        assert_int_equal(fp32_to_fp16(bitsf(k[i].f)), k[i].h);
    }
    /* half -> float, known values */
    assert_int_equal(fbits(fp16_to_fp32_soft(0x3C00)), 0x3F800000);
    assert_int_equal(fbits(fp16_to_fp32_soft(0x0001)), 0x33800000);
    assert_int_equal(fbits(fp16_to_fp32_soft(0x8001)), 0xB3800000);
    assert_int_equal(fbits(fp16_to_fp32_soft(0x7BFF)), 0x477FE000);
    assert_int_equal(fbits(fp16_to_fp32_soft(0x7C00)), 0x7F800000);
    assert_int_equal(fbits(fp16_to_fp32_soft(0x7C01)), 0x7FC02000);
    assert_int_equal(fbits(fp16_to_fp32_soft(0xFE00)), 0xFFC00000);
    /* every half survives a round trip (NaNs come back quiet) */
    for (uint32_t h = 0; h < 65536; h++) {
        const uint16_t back = fp32_to_fp16_soft(fp16_to_fp32_soft((uint16_t)h));
        const bool nan = (h & 0x7C00) == 0x7C00 && (h & 0x3FF);
        assert_int_equal(back, nan ? (h | 0x200) : h);
        assert_int_equal(fbits(fp16_to_fp32((uint16_t)h)), fbits(fp16_to_fp32_soft((uint16_t)h)));
    }
}

static void test_fp16_vs_f16c(void **state)
{
    (void)state;
    if (!have_f16c()) {
        print_message("no F16C on this CPU: software fp16 checked against known values only\n");
        return;
    }
    for (uint32_t h = 0; h < 65536; h++) {
        const uint32_t s = fbits(fp16_to_fp32_soft((uint16_t)h)), hw = fbits(hw_h2f((uint16_t)h));
        if (s != hw) fail_msg("fp16_to_fp32_soft(%04x) = %08x, F16C %08x", h, s, hw);
    }
    /* random floats: any bit pattern, and dense around the half range and the
     * rounding boundaries (low 13 bits near 0x1000) */
    for (int i = 0; i < 3000000; i++) {
        uint32_t u = (uint32_t)rnd64();
        switch (i & 3) {
        case 0: break;
        case 1: u = (u & 0x807FFFFF) | ((uint32_t)(96 + (rnd64() % 48)) << 23); break;
        case 2: u = (u & 0x807FE000) | (0x1000 + (uint32_t)(rnd64() % 3) - 1) | ((uint32_t)(100 + rnd64() % 44) << 23); break;
        default: u = (u & 0x80000000) | (u & 0x007FFFFF) | ((uint32_t)(rnd64() % 256) << 23); break;
        }
        const float f = bitsf(u);
        const uint16_t s = fp32_to_fp16_soft(f), hw = hw_f2h(f);
        if (s != hw) fail_msg("fp32_to_fp16_soft(%08x) = %04x, F16C %04x", u, s, hw);
    }
}

static void test_bf16(void **state)
{
    (void)state;
    static const struct { uint32_t f; uint16_t h; } k[] = {
        { 0x3F800000, 0x3F80 }, { 0x3F808000, 0x3F80 }, /* tie -> even */
        { 0x3F818000, 0x3F82 },                         /* tie -> even (up) */
        { 0x3F808001, 0x3F81 }, { 0x3F807FFF, 0x3F80 },
        { 0x7F7FFFFF, 0x7F80 }, /* FLT_MAX rounds to inf */
        { 0x7F800000, 0x7F80 }, { 0xFF800000, 0xFF80 },
        { 0x7FC00000, 0x7FC0 }, { 0x7F800001, 0x7FC0 }, /* NaN forced quiet */
        { 0xFF812345, 0xFFC1 },
        { 0x00000001, 0x0000 }, { 0x00008000, 0x0000 }, { 0x00018000, 0x0002 }, /* subnormals kept */
        { 0x80000000, 0x8000 },
    };
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++) {
        const uint16_t h = fp32_to_bf16(bitsf(k[i].f));
        if (h != k[i].h) fail_msg("fp32_to_bf16(%08x) = %04x, want %04x", k[i].f, h, k[i].h);
    }
    for (uint32_t h = 0; h < 65536; h++) {
        const float f = bf16_to_fp32((uint16_t)h);
        assert_int_equal(fbits(f), h << 16);
        if (!isnan(f)) assert_int_equal(fp32_to_bf16(f), h);
    }
}

/* ------------------------------------------------------------------------ */
/* (g) hand-built blocks                                                     */

static void expect_deq(enum ggml_type t, const void *blk, const float *want, int n)
{
    float got[256];
    for (int pass = 0; pass < 2; pass++) {
        (pass ? simd(t) : ref(t))->to_float(blk, got, n);
        for (int i = 0; i < n; i++)
            if (got[i] != want[i])
                fail_msg("%s %s: element %d = %g, want %g", ref(t)->name, pass ? "simd" : "ref", i, got[i], want[i]);
    }
}

/* Dot against an activation row that holds the value 1 in element e only
 * picks out the dequantized weight e (times the activation scale). */
static void test_known_q4_0_q8_0(void **state)
{
    (void)state;
    block_q4_0 b;
    b.d = 0x3800; /* 0.5 */
    for (int j = 0; j < 16; j++) b.qs[j] = (uint8_t)(j | ((15 - j) << 4));
    float want[32];
    for (int j = 0; j < 16; j++) {
        want[j] = (j - 8) * 0.5f;       /* low nibbles: elements 0..15 */
        want[16 + j] = (7 - j) * 0.5f;  /* high nibbles: elements 16..31 */
    }
    expect_deq(TYPE_Q4_0, &b, want, 32);

    block_q8_0 a;
    a.d = 0x3C00;
    for (int j = 0; j < 32; j++) a.qs[j] = (int8_t)(j - 16);
    float dot = 0;
    for (int j = 0; j < 32; j++) dot += want[j] * (j - 16);
    assert_true(ref(TYPE_Q4_0)->vec_dot(32, &b, &a) == dot);
    assert_true(simd(TYPE_Q4_0)->vec_dot(32, &b, &a) == dot);

    /* Q4_0 quantizer: the signed absmax sets d = max / -8 */
    float x[32] = { 0 };
    x[3] = -4.0f; x[4] = 3.0f; x[20] = 1.0f; x[21] = 4.0f; x[22] = 3.99f;
    block_q4_0 q;
    ref(TYPE_Q4_0)->from_float(x, &q, 32);
    assert_int_equal(q.d, 0x3800); /* -4 / -8 = 0.5 */
    assert_int_equal(q.qs[3] & 0xF, 0);        /* -4 / 0.5 + 8 = 0 */
    assert_int_equal(q.qs[4] & 0xF, 14);       /* 3 / 0.5 + 8 = 14 */
    assert_int_equal(q.qs[0] & 0xF, 8);        /* 0 -> 8 */
    assert_int_equal(q.qs[4] >> 4, 10);        /* x[20] = 1 -> 10 */
    assert_int_equal(q.qs[5] >> 4, 15);        /* x[21] = 4 -> 16, clamped to 15 */
    assert_int_equal(q.qs[6] >> 4, 15);        /* 3.99 -> 15.98 -> 15 */

    /* Q8_0 */
    block_q8_0 c;
    c.d = 0x3400; /* 0.25 */
    for (int j = 0; j < 32; j++) c.qs[j] = (int8_t)(j * 8 - 128);
    for (int j = 0; j < 32; j++) want[j] = (j * 8 - 128) * 0.25f;
    expect_deq(TYPE_Q8_0, &c, want, 32);
    float xv[32];
    for (int j = 0; j < 32; j++) xv[j] = (float)(j - 16);
    ref(TYPE_Q8_0)->from_float(xv, &c, 32);
    assert_int_equal(c.d, fp32_to_fp16(16.0f / 127));
    assert_int_equal(c.qs[0], -127);
    assert_int_equal(c.qs[16], 0);
    assert_int_equal(c.qs[31], (int)roundf(15 * (1.0f / (16.0f / 127))));
}

static void test_known_q4_K(void **state)
{
    (void)state;
    static const uint8_t sc[8] = { 1, 2, 17, 63, 5, 40, 33, 16 };
    static const uint8_t mn[8] = { 0, 3, 63, 20, 7, 31, 32, 1 };
    block_q4_K b;
    memset(&b, 0, sizeof b);
    b.d = 0x3C00;    /* 1 */
    b.dmin = 0x3800; /* 0.5 */
    /* the 12-byte packing, written out independently of the library */
    for (int j = 0; j < 4; j++) {
        b.scales[j] = (uint8_t)(sc[j] | ((sc[j + 4] >> 4) << 6));
        b.scales[j + 4] = (uint8_t)(mn[j] | ((mn[j + 4] >> 4) << 6));
        b.scales[j + 8] = (uint8_t)((sc[j + 4] & 0xF) | ((mn[j + 4] & 0xF) << 4));
    }
    float want[256];
    for (int e = 0; e < 256; e++) {
        const int q = (e * 5 + 3) % 16;
        const int c = e / 64, p = e % 32;
        if (e % 64 < 32) b.qs[32 * c + p] = (uint8_t)((b.qs[32 * c + p] & 0xF0) | q);
        else b.qs[32 * c + p] = (uint8_t)((b.qs[32 * c + p] & 0x0F) | (q << 4));
        want[e] = 1.0f * sc[e / 32] * q - 0.5f * mn[e / 32];
    }
    expect_deq(TYPE_Q4_K, &b, want, 256);

    /* dot with a Q8_K row of ones: sum of all weights (times d) */
    block_q8_K a;
    a.d = 0.5f;
    memset(a.qs, 1, 256);
    for (int g = 0; g < 16; g++) a.bsums[g] = 16;
    double sum = 0;
    for (int e = 0; e < 256; e++) sum += want[e];
    assert_true(ref(TYPE_Q4_K)->vec_dot(256, &b, &a) == (float)(0.5 * sum));
    assert_true(simd(TYPE_Q4_K)->vec_dot(256, &b, &a) == (float)(0.5 * sum));
}

static void test_known_q6_K(void **state)
{
    (void)state;
    block_q6_K b;
    memset(&b, 0, sizeof b);
    b.d = 0x3000; /* 0.125 */
    for (int g = 0; g < 16; g++) b.scales[g] = (int8_t)(g * 9 - 70);
    float want[256];
    for (int e = 0; e < 256; e++) {
        const int q = (e * 7 + 5) % 64; /* stored 0..63, value q - 32 */
        const int c = e / 128, k = (e % 128) / 32, p = e % 32;
        uint8_t *ql = &b.ql[64 * c + p + 32 * (k & 1)];
        if (k < 2) *ql = (uint8_t)((*ql & 0xF0) | (q & 0xF));
        else *ql = (uint8_t)((*ql & 0x0F) | ((q & 0xF) << 4));
        b.qh[32 * c + p] |= (uint8_t)((q >> 4) << (2 * k));
        want[e] = 0.125f * b.scales[e / 16] * (q - 32);
    }
    expect_deq(TYPE_Q6_K, &b, want, 256);

    block_q8_K a;
    a.d = 1.0f;
    for (int e = 0; e < 256; e++) a.qs[e] = (int8_t)((e % 3) - 1);
    for (int g = 0; g < 16; g++) {
        int s = 0;
        for (int l = 0; l < 16; l++) s += a.qs[16 * g + l];
        a.bsums[g] = (int16_t)s;
    }
    double dot = 0;
    for (int e = 0; e < 256; e++) dot += (double)want[e] * a.qs[e];
    assert_true(ref(TYPE_Q6_K)->vec_dot(256, &b, &a) == (float)dot);
    assert_true(simd(TYPE_Q6_K)->vec_dot(256, &b, &a) == (float)dot);
}

static void test_known_small_types(void **state)
{
    (void)state;
    float want[256];
    /* Q5_0: bit j of qh is element j's 5th bit */
    block_q5_0 b5;
    b5.d = 0x3C00;
    const uint32_t qh = 0x80000001u | (1u << 17);
    memcpy(b5.qh, &qh, 4);
    for (int j = 0; j < 16; j++) b5.qs[j] = (uint8_t)(j | (j << 4));
    for (int j = 0; j < 32; j++) want[j] = (float)((int)((j % 16) | (((qh >> j) & 1) << 4)) - 16);
    expect_deq(TYPE_Q5_0, &b5, want, 32);
    /* Q5_1: q * d + m */
    block_q5_1 b51;
    b51.d = 0x3800; b51.m = 0xC000; /* 0.5, -2 */
    memcpy(b51.qh, &qh, 4);
    memcpy(b51.qs, b5.qs, 16);
    for (int j = 0; j < 32; j++) want[j] = (float)(int)((j % 16) | (((qh >> j) & 1) << 4)) * 0.5f - 2.0f;
    expect_deq(TYPE_Q5_1, &b51, want, 32);
    /* Q4_1 */
    block_q4_1 b41;
    b41.d = 0x4000; b41.m = 0x3C00; /* 2, 1 */
    for (int j = 0; j < 16; j++) b41.qs[j] = (uint8_t)(15 - j);
    for (int j = 0; j < 16; j++) { want[j] = (15 - j) * 2.0f + 1; want[16 + j] = 1; }
    expect_deq(TYPE_Q4_1, &b41, want, 32);
    /* IQ4_NL: nibbles index the table */
    block_iq4_nl bn;
    bn.d = 0x3C00;
    for (int j = 0; j < 16; j++) bn.qs[j] = (uint8_t)(j | ((15 - j) << 4));
    for (int j = 0; j < 16; j++) { want[j] = kvalues_iq4nl[j]; want[16 + j] = kvalues_iq4nl[15 - j]; }
    expect_deq(TYPE_IQ4_NL, &bn, want, 32);
    /* Q3_K: scale 6 bits (minus 32), 2 low bits + hmask (clear = -4) */
    block_q3_K b3;
    memset(&b3, 0, sizeof b3);
    b3.d = 0x3C00;
    int s3[16];
    for (int g = 0; g < 16; g++) {
        s3[g] = (g * 5) % 64; /* stored */
        if (g < 8) b3.scales[g] |= (uint8_t)(s3[g] & 0xF);
        else b3.scales[g - 8] |= (uint8_t)((s3[g] & 0xF) << 4);
        b3.scales[8 + g % 4] |= (uint8_t)((s3[g] >> 4) << (2 * (g / 4)));
    }
    for (int e = 0; e < 256; e++) {
        const int c = e / 128, k = (e % 128) / 32, p = e % 32, q = e % 4, hb = (e / 5) & 1;
        b3.qs[32 * c + p] |= (uint8_t)(q << (2 * k));
        if (hb) b3.hmask[p] |= (uint8_t)(1 << (4 * c + k));
        want[e] = (float)(s3[e / 16] - 32) * (q - (hb ? 0 : 4));
    }
    expect_deq(TYPE_Q3_K, &b3, want, 256);
    /* Q2_K: scale low nibble, min high nibble */
    block_q2_K b2;
    memset(&b2, 0, sizeof b2);
    b2.d = 0x3800; b2.dmin = 0x3C00; /* 0.5, 1 */
    for (int g = 0; g < 16; g++) b2.scales[g] = (uint8_t)((g % 16) | (((15 - g) % 16) << 4));
    for (int e = 0; e < 256; e++) {
        const int c = e / 128, k = (e % 128) / 32, p = e % 32, q = (e / 3) % 4;
        b2.qs[32 * c + p] |= (uint8_t)(q << (2 * k));
        want[e] = 0.5f * (b2.scales[e / 16] & 0xF) * q - 1.0f * (b2.scales[e / 16] >> 4);
    }
    expect_deq(TYPE_Q2_K, &b2, want, 256);
    /* Q5_K: low nibbles + qh bit 2c (low half) / 2c+1 (high half) */
    block_q5_K b5k;
    memset(&b5k, 0, sizeof b5k);
    b5k.d = 0x3C00; b5k.dmin = 0x3C00;
    for (int j = 0; j < 4; j++) { b5k.scales[j] = (uint8_t)(j + 1); b5k.scales[j + 4] = (uint8_t)j; }
    for (int j = 0; j < 4; j++) b5k.scales[j + 8] = (uint8_t)((j + 5) | ((j + 4) << 4));
    for (int e = 0; e < 256; e++) {
        const int q = (e * 11) % 32, c = e / 64, hi = (e % 64) >= 32, p = e % 32;
        b5k.qs[32 * c + p] |= (uint8_t)((q & 0xF) << (hi ? 4 : 0));
        b5k.qh[p] |= (uint8_t)((q >> 4) << (2 * c + hi));
        const int g = e / 32; /* scale g + 1, min g */
        want[e] = (float)(g + 1) * q - (float)g;
    }
    expect_deq(TYPE_Q5_K, &b5k, want, 256);
}

/* Non-finite activations (a broken model) quantize as if they were 0, with
 * no undefined float-to-int conversion (UBSan would abort under SAN=1). */
static void test_activations_non_finite(void **state)
{
    (void)state;
    const enum ggml_type types[] = {TYPE_Q8_0, TYPE_Q8_1, TYPE_Q8_K};
    const int n = 512;
    float x[512], zeroed[512];
    for (int i = 0; i < n; i++) x[i] = zeroed[i] = sinf((float)i) * 3.0f;
    x[5] = NAN, x[40] = INFINITY, x[300] = -INFINITY;
    zeroed[5] = zeroed[40] = zeroed[300] = 0.0f;
    for (size_t t = 0; t < sizeof types / sizeof types[0]; t++) {
        const size_t bytes = type_row_size(types[t], n);
        unsigned char *a = malloc(bytes), *b = malloc(bytes);
        quantize_activations(types[t], x, a, n);
        quantize_activations(types[t], zeroed, b, n);
        assert_memory_equal(a, b, bytes);
        free(a);
        free(b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_traits_table),
        cmocka_unit_test(test_random_quantized),
        cmocka_unit_test(test_random_bytes),
        cmocka_unit_test(test_zero_blocks),
        cmocka_unit_test(test_extreme_scales),
        cmocka_unit_test(test_extreme_quants),
        cmocka_unit_test(test_rows_match_dot),
        cmocka_unit_test(test_repacked),
        cmocka_unit_test(test_dot_many_match_dot),
        cmocka_unit_test(test_dot_keys_match_dot),
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_activation_quantizers),
        cmocka_unit_test(test_golden_ggml),
        cmocka_unit_test(test_fp16_known),
        cmocka_unit_test(test_fp16_vs_f16c),
        cmocka_unit_test(test_bf16),
        cmocka_unit_test(test_known_q4_0_q8_0),
        cmocka_unit_test(test_known_q4_K),
        cmocka_unit_test(test_known_q6_K),
        cmocka_unit_test(test_known_small_types),
        cmocka_unit_test(test_activations_non_finite),
    };
    return cmocka_run_group_tests_name("quant", tests, NULL, NULL);
}
