/*
 * quant.c — the type_traits tables (reference and SIMD), dispatch, the
 * force-reference switch, row sizes, and the software fp16 / bf16 conversions.
 */
#include "quant_impl.h"

#include <stdlib.h>

/* Geometry-only entries: known to ggml, no kernels here. */
#define GEOM(nm, bs, ts) { .name = nm, .block_size = bs, .type_size = ts }

/* Fields common to both tables. */
#define F32_ROW   .name = "F32", .block_size = 1, .type_size = 4, \
                  .from_float = f32_from_float, .vec_dot_type = TYPE_F32
#define F16_ROW   .name = "F16", .block_size = 1, .type_size = 2, \
                  .from_float = f16_from_float, .vec_dot_type = TYPE_F32
#define BF16_ROW  .name = "BF16", .block_size = 1, .type_size = 2, \
                  .from_float = bf16_from_float, .vec_dot_type = TYPE_F32
#define Q4_0_ROW  .name = "Q4_0", .block_size = QK4_0, .type_size = sizeof(block_q4_0), \
                  .from_float = q4_0_from_float, .vec_dot_type = TYPE_Q8_0
/* no from_float: rows take these layouts only by quant_repack */
#define Q4_0_OCT_ROW .name = "Q4_0_OCT", .block_size = QK4_0, .type_size = sizeof(block_q4_0), \
                  .vec_dot_type = TYPE_Q8_0
#define Q8_0_OCT_ROW .name = "Q8_0_OCT", .block_size = QK8_0, .type_size = sizeof(block_q8_0), \
                  .vec_dot_type = TYPE_Q8_0
#define Q4_1_ROW  .name = "Q4_1", .block_size = QK4_1, .type_size = sizeof(block_q4_1), \
                  .from_float = q4_1_from_float, .vec_dot_type = TYPE_Q8_1
#define Q5_0_ROW  .name = "Q5_0", .block_size = QK5_0, .type_size = sizeof(block_q5_0), \
                  .from_float = q5_0_from_float, .vec_dot_type = TYPE_Q8_0
#define Q5_1_ROW  .name = "Q5_1", .block_size = QK5_1, .type_size = sizeof(block_q5_1), \
                  .from_float = q5_1_from_float, .vec_dot_type = TYPE_Q8_1
#define Q8_0_ROW  .name = "Q8_0", .block_size = QK8_0, .type_size = sizeof(block_q8_0), \
                  .from_float = q8_0_from_float, .vec_dot_type = TYPE_Q8_0
#define Q8_1_ROW  .name = "Q8_1", .block_size = QK8_1, .type_size = sizeof(block_q8_1), \
                  .from_float = q8_1_from_float, .vec_dot_type = TYPE_Q8_1, \
                  .to_float = q8_1_to_float_ref
#define Q2_K_ROW  .name = "Q2_K", .block_size = QK_K, .type_size = sizeof(block_q2_K), \
                  .from_float = q2_K_from_float, .vec_dot_type = TYPE_Q8_K
#define Q3_K_ROW  .name = "Q3_K", .block_size = QK_K, .type_size = sizeof(block_q3_K), \
                  .from_float = q3_K_from_float, .vec_dot_type = TYPE_Q8_K
#define Q4_K_ROW  .name = "Q4_K", .block_size = QK_K, .type_size = sizeof(block_q4_K), \
                  .from_float = q4_K_from_float, .vec_dot_type = TYPE_Q8_K
#define Q5_K_ROW  .name = "Q5_K", .block_size = QK_K, .type_size = sizeof(block_q5_K), \
                  .from_float = q5_K_from_float, .vec_dot_type = TYPE_Q8_K
#define Q6_K_ROW  .name = "Q6_K", .block_size = QK_K, .type_size = sizeof(block_q6_K), \
                  .from_float = q6_K_from_float, .vec_dot_type = TYPE_Q8_K
#define Q8_K_ROW  .name = "Q8_K", .block_size = QK_K, .type_size = sizeof(block_q8_K), \
                  .from_float = q8_K_from_float, .vec_dot_type = TYPE_Q8_K, \
                  .to_float = q8_K_to_float_ref
#define IQ4_NL_ROW .name = "IQ4_NL", .block_size = QK4_NL, .type_size = sizeof(block_iq4_nl), \
                  .from_float = iq4_nl_from_float, .vec_dot_type = TYPE_Q8_0

/* ggml ids with no kernels here (sizes from ggml-common.h). 4, 5 (removed
 * Q4_2/Q4_3), 31..33 and 36..38 (removed repacked types) stay NULL. */
#define GEOMETRY_ONLY                                   \
    [16] = GEOM("IQ2_XXS", QK_K, 66),                   \
    [17] = GEOM("IQ2_XS", QK_K, 74),                    \
    [18] = GEOM("IQ3_XXS", QK_K, 98),                   \
    [19] = GEOM("IQ1_S", QK_K, 50),                     \
    [21] = GEOM("IQ3_S", QK_K, 110),                    \
    [22] = GEOM("IQ2_S", QK_K, 82),                     \
    [23] = GEOM("IQ4_XS", QK_K, 136),                   \
    [24] = GEOM("I8", 1, 1),                            \
    [25] = GEOM("I16", 1, 2),                           \
    [26] = GEOM("I32", 1, 4),                           \
    [27] = GEOM("I64", 1, 8),                           \
    [28] = GEOM("F64", 1, 8),                           \
    [29] = GEOM("IQ1_M", QK_K, 56),                     \
    [34] = GEOM("TQ1_0", QK_K, 54),                     \
    [35] = GEOM("TQ2_0", QK_K, 66),                     \
    [39] = GEOM("MXFP4", 32, 17)

static const struct type_traits ref_table[TYPE_ALL] = {
    [TYPE_F32] = { F32_ROW, .to_float = f32_to_float_ref, .vec_dot = f32_dot_ref,
                   .vec_dot_rows = f32_dot_rows_ref },
    [TYPE_F16] = { F16_ROW, .to_float = f16_to_float_ref, .vec_dot = f16_dot_ref,
                   .vec_dot_rows = f16_dot_rows_ref },
    [TYPE_BF16] = { BF16_ROW, .to_float = bf16_to_float_ref, .vec_dot = bf16_dot_ref,
                   .vec_dot_rows = bf16_dot_rows_ref },
    [TYPE_Q4_0] = { Q4_0_ROW, .to_float = q4_0_to_float_ref, .vec_dot = q4_0_dot_ref,
                   .vec_dot_rows = q4_0_dot_rows_ref },
    [TYPE_Q4_1] = { Q4_1_ROW, .to_float = q4_1_to_float_ref, .vec_dot = q4_1_dot_ref,
                   .vec_dot_rows = q4_1_dot_rows_ref },
    [TYPE_Q5_0] = { Q5_0_ROW, .to_float = q5_0_to_float_ref, .vec_dot = q5_0_dot_ref,
                   .vec_dot_rows = q5_0_dot_rows_ref },
    [TYPE_Q5_1] = { Q5_1_ROW, .to_float = q5_1_to_float_ref, .vec_dot = q5_1_dot_ref,
                   .vec_dot_rows = q5_1_dot_rows_ref },
    [TYPE_Q8_0] = { Q8_0_ROW, .to_float = q8_0_to_float_ref, .vec_dot = q8_0_dot_ref,
                   .vec_dot_rows = q8_0_dot_rows_ref },
    [TYPE_Q8_1] = { Q8_1_ROW },
    [TYPE_Q2_K] = { Q2_K_ROW, .to_float = q2_K_to_float_ref, .vec_dot = q2_K_dot_ref,
                   .vec_dot_rows = q2_K_dot_rows_ref },
    [TYPE_Q3_K] = { Q3_K_ROW, .to_float = q3_K_to_float_ref, .vec_dot = q3_K_dot_ref,
                   .vec_dot_rows = q3_K_dot_rows_ref },
    [TYPE_Q4_K] = { Q4_K_ROW, .to_float = q4_K_to_float_ref, .vec_dot = q4_K_dot_ref,
                   .vec_dot_rows = q4_K_dot_rows_ref },
    [TYPE_Q5_K] = { Q5_K_ROW, .to_float = q5_K_to_float_ref, .vec_dot = q5_K_dot_ref,
                   .vec_dot_rows = q5_K_dot_rows_ref },
    [TYPE_Q6_K] = { Q6_K_ROW, .to_float = q6_K_to_float_ref, .vec_dot = q6_K_dot_ref,
                   .vec_dot_rows = q6_K_dot_rows_ref },
    [TYPE_Q8_K] = { Q8_K_ROW },
    [TYPE_IQ4_NL] = { IQ4_NL_ROW, .to_float = iq4_nl_to_float_ref, .vec_dot = iq4_nl_dot_ref,
                   .vec_dot_rows = iq4_nl_dot_rows_ref },
    [TYPE_Q4_0_OCT] = { Q4_0_OCT_ROW, .to_float = q4_0_oct_to_float_ref, .vec_dot = q4_0_oct_dot_ref,
                   .vec_dot_rows = q4_0_oct_dot_rows_ref },
    [TYPE_Q8_0_OCT] = { Q8_0_OCT_ROW, .to_float = q8_0_oct_to_float_ref, .vec_dot = q8_0_oct_dot_ref,
                   .vec_dot_rows = q8_0_oct_dot_rows_ref },
    GEOMETRY_ONLY,
};

#if QUANT_AVX2
#if defined(__F16C__) && QUANT_AVX512
#define F16_SIMD                                                                               \
    .to_float = f16_to_float_avx2, .vec_dot = f16_dot_avx2, .vec_dot_many = f16_dot_many_avx2, \
    .vec_dot_keys = f16_dot_keys_avx2
#elif defined(__F16C__)
#define F16_SIMD \
    .to_float = f16_to_float_avx2, .vec_dot = f16_dot_avx2, .vec_dot_many = f16_dot_many_avx2
#else
#define F16_SIMD .to_float = f16_to_float_ref, .vec_dot = f16_dot_ref
#endif
/* Two weight rows per call where the AVX-512 kernels run (oct.c, and Q6_K in kquants.c). */
#if QUANT_AVX512
#define ROWS2(name) .vec_dot_rows2 = name##_dot_rows2_avx2
#else
#define ROWS2(name) .vec_dot_rows2 = NULL
#endif
/* The 32-element block types: activations rearranged into octs (oct.c). */
#define OCT_ROWS .rows_prepare = q8_0_oct_prepare, .rows_size = q8_0_oct_size
#define OCT1_ROWS .rows_prepare = q8_1_oct_prepare, .rows_size = q8_1_oct_size
/* Q4_K / Q5_K and Q6_K: Q8_K rows laid out for the AVX-512 kernels (kquants.c). */
#if QUANT_AVX512
#define K4_ROWS .rows_prepare = q8_K_k4_prepare, .rows_size = q8_K_prep_size
#define K6_ROWS .rows_prepare = q8_K_q6k_prepare, .rows_size = q8_K_prep_size
#else
#define K4_ROWS .rows_prepare = NULL
#define K6_ROWS .rows_prepare = NULL
#endif
static const struct type_traits simd_table[TYPE_ALL] = {
    [TYPE_F32] = { F32_ROW, .to_float = f32_to_float_ref, .vec_dot = f32_dot_avx2,
                   .vec_dot_many = f32_dot_many_avx2, .vec_dot_rows = f32_dot_rows_avx2 },
    [TYPE_F16] = { F16_ROW, F16_SIMD, .vec_dot_rows = f16_dot_rows_avx2 },
    [TYPE_BF16] = { BF16_ROW, .to_float = bf16_to_float_avx2, .vec_dot = bf16_dot_avx2,
                   .vec_dot_many = bf16_dot_many_avx2, .vec_dot_rows = bf16_dot_rows_avx2 },
    [TYPE_Q4_0] = { Q4_0_ROW, .to_float = q4_0_to_float_avx2, .vec_dot = q4_0_dot_avx2,
                   .vec_dot_rows = q4_0_dot_rows_avx2, ROWS2(q4_0), OCT_ROWS },
    [TYPE_Q4_1] = { Q4_1_ROW, .to_float = q4_1_to_float_avx2, .vec_dot = q4_1_dot_avx2,
                   .vec_dot_rows = q4_1_dot_rows_avx2, ROWS2(q4_1), OCT1_ROWS },
    [TYPE_Q5_0] = { Q5_0_ROW, .to_float = q5_0_to_float_avx2, .vec_dot = q5_0_dot_avx2,
                   .vec_dot_rows = q5_0_dot_rows_avx2, OCT_ROWS },
    [TYPE_Q5_1] = { Q5_1_ROW, .to_float = q5_1_to_float_avx2, .vec_dot = q5_1_dot_avx2,
                   .vec_dot_rows = q5_1_dot_rows_avx2, OCT1_ROWS },
    [TYPE_Q8_0] = { Q8_0_ROW, .to_float = q8_0_to_float_avx2, .vec_dot = q8_0_dot_avx2,
                   .vec_dot_rows = q8_0_dot_rows_avx2, ROWS2(q8_0), OCT_ROWS },
    [TYPE_Q8_1] = { Q8_1_ROW },
    [TYPE_Q2_K] = { Q2_K_ROW, .to_float = q2_K_to_float_avx2, .vec_dot = q2_K_dot_avx2,
                   .vec_dot_rows = q2_K_dot_rows_avx2 },
    [TYPE_Q3_K] = { Q3_K_ROW, .to_float = q3_K_to_float_avx2, .vec_dot = q3_K_dot_avx2,
                   .vec_dot_rows = q3_K_dot_rows_avx2 },
    [TYPE_Q4_K] = { Q4_K_ROW, .to_float = q4_K_to_float_avx2, .vec_dot = q4_K_dot_avx2,
                   .vec_dot_rows = q4_K_dot_rows_avx2, K4_ROWS },
    [TYPE_Q5_K] = { Q5_K_ROW, .to_float = q5_K_to_float_avx2, .vec_dot = q5_K_dot_avx2,
                   .vec_dot_rows = q5_K_dot_rows_avx2, K4_ROWS },
    [TYPE_Q6_K] = { Q6_K_ROW, .to_float = q6_K_to_float_avx2, .vec_dot = q6_K_dot_avx2,
                   .vec_dot_rows = q6_K_dot_rows_avx2, ROWS2(q6_K), K6_ROWS },
    [TYPE_Q8_K] = { Q8_K_ROW },
    [TYPE_IQ4_NL] = { IQ4_NL_ROW, .to_float = iq4_nl_to_float_avx2, .vec_dot = iq4_nl_dot_avx2,
                   .vec_dot_rows = iq4_nl_dot_rows_avx2, ROWS2(iq4_nl), OCT_ROWS },
#if QUANT_AVX512
    [TYPE_Q4_0_OCT] = { Q4_0_OCT_ROW, .to_float = q4_0_oct_to_float_ref, .vec_dot = q4_0_oct_dot_avx2,
                   .vec_dot_rows = q4_0_oct_dot_rows_avx2, ROWS2(q4_0_oct), OCT_ROWS },
    [TYPE_Q8_0_OCT] = { Q8_0_OCT_ROW, .to_float = q8_0_oct_to_float_ref, .vec_dot = q8_0_oct_dot_avx2,
                   .vec_dot_rows = q8_0_oct_dot_rows_avx2, ROWS2(q8_0_oct), OCT_ROWS },
#else /* never made on this build (quant_repack_type) */
    [TYPE_Q4_0_OCT] = { Q4_0_OCT_ROW, .to_float = q4_0_oct_to_float_ref, .vec_dot = q4_0_oct_dot_ref,
                   .vec_dot_rows = q4_0_oct_dot_rows_ref },
    [TYPE_Q8_0_OCT] = { Q8_0_OCT_ROW, .to_float = q8_0_oct_to_float_ref, .vec_dot = q8_0_oct_dot_ref,
                   .vec_dot_rows = q8_0_oct_dot_rows_ref },
#endif
    GEOMETRY_ONLY,
};
#else
#define simd_table ref_table
#endif

static bool force_ref;

void quant_force_reference(bool on) { force_ref = on; }

const char *quant_simd_name(void)
{
    if (force_ref || !QUANT_AVX2) return "scalar";
    return QUANT_AVX512 ? "AVX-512" : "AVX2";
}

static const struct type_traits *lookup(const struct type_traits *table, enum ggml_type type)
{
    if ((int)type < 0 || (int)type >= TYPE_ALL) return NULL;
    return table[type].name ? &table[type] : NULL;
}

const struct type_traits *type_traits(enum ggml_type type)
{
    return lookup(force_ref ? ref_table : simd_table, type);
}

const struct type_traits *type_traits_reference(enum ggml_type type)
{
    return lookup(ref_table, type);
}

enum ggml_type quant_repack_type(enum ggml_type type)
{
    if (!QUANT_AVX512 || force_ref) return type;
    return type == TYPE_Q4_0 ? TYPE_Q4_0_OCT : type == TYPE_Q8_0 ? TYPE_Q8_0_OCT : type;
}

void quant_repack(enum ggml_type type, void *data, int64_t rows, int64_t n)
{
#if QUANT_AVX512
    const enum ggml_type to = quant_repack_type(type);
    if (to == type) return;
    void (*repack_row)(void *, int64_t) = to == TYPE_Q4_0_OCT ? q4_0_oct_repack : q8_0_oct_repack;
    const size_t rb = type_row_size(type, n);
#pragma omp parallel for schedule(static) if (rows * n >= (1 << 20))
    for (int64_t r = 0; r < rows; r++) repack_row((char *)data + (size_t)r * rb, n);
#else /* no rearranged layouts on this build (quant_repack_type) */
    (void)type, (void)data, (void)rows, (void)n;
#endif
}

size_t type_row_size(enum ggml_type type, int64_t n)
{
    const struct type_traits *t = lookup(ref_table, type);
    if (!t || n < 0 || n % t->block_size) return 0;
    return (size_t)(n / t->block_size) * t->type_size;
}

size_t act_rows_size(const struct type_traits *t, int64_t n)
{
    if (t->rows_prepare) return t->rows_size(n);
    if (t->vec_dot_type == TYPE_F32) return (size_t)n * sizeof(float);
    return type_row_size(t->vec_dot_type, n);
}

void quantize_activations(enum ggml_type type, const float *src, void *dst, int64_t n)
{
    /* A broken or hostile model can produce inf/NaN activations; converting
     * those to integers is undefined behaviour. Such a row is quantized with
     * the non-finite values as 0 (the logits are garbage either way, but the
     * run stays defined). The scan costs n compares against rows × n of dot work. */
    float *clean = NULL;
    if (type != TYPE_F32) {
        int64_t bad = 0;
        for (int64_t i = 0; i < n; i++) bad |= !isfinite(src[i]);
        if (bad && (clean = malloc((size_t)n * sizeof *clean))) {
            for (int64_t i = 0; i < n; i++) clean[i] = isfinite(src[i]) ? src[i] : 0.0f;
            src = clean;
        } else if (bad) {
            memset(dst, 0, type_row_size(type, n));
            return;
        }
    }
    switch (type) {
    case TYPE_Q8_0: q8_0_from_float_act(src, dst, n); break;
    case TYPE_Q8_1: q8_1_from_float_act(src, dst, n); break;
    case TYPE_Q8_K: q8_K_from_float(src, dst, n); break;
    case TYPE_F32: memcpy(dst, src, (size_t)n * sizeof(float)); break;
    default: {
        const struct type_traits *t = lookup(ref_table, type);
        if (t && t->from_float) t->from_float(src, dst, n);
        break;
    }
    }
    free(clean);
}

/* ---- half precision, in software ---- */

static inline uint32_t f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }
static inline float bits_f32(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }

float fp16_to_fp32_soft(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    if (exp == 0x1f) /* inf / NaN: payload kept, NaN quieted like VCVTPH2PS */
        return bits_f32(sign | 0x7f800000 | (mant << 13) | (mant ? 0x400000 : 0));
    if (exp == 0) { /* zero / subnormal: mant * 2^-24, exact */
        float v = (float)mant * 0x1p-24f;
        return bits_f32(sign | f32_bits(v));
    }
    return bits_f32(sign | ((exp + 112) << 23) | (mant << 13));
}

uint16_t fp32_to_fp16_soft(float f)
{
    uint32_t x = f32_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    uint32_t ax = x & 0x7fffffff;
    if (ax > 0x7f800000) /* NaN: quiet, top payload bits kept */
        return (uint16_t)(sign | 0x7e00 | ((ax >> 13) & 0x3ff));
    if (ax >= 0x477ff000) /* >= 65520 rounds to inf (ties go to even = inf) */
        return (uint16_t)(sign | 0x7c00);
    if (ax >= 0x38800000) { /* normal half */
        ax += 0xfff + ((ax >> 13) & 1);
        return (uint16_t)(sign | ((ax - (112u << 23)) >> 13));
    }
    /* subnormal half (or zero): round ax's value to a multiple of 2^-24 */
    uint32_t e = ax >> 23;
    if (e < 102) return sign; /* below 2^-25: rounds to zero */
    uint32_t m = (ax & 0x7fffff) | 0x800000;
    uint32_t shift = 126 - e; /* 14..24 */
    uint32_t q = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
    if (rem > half || (rem == half && (q & 1))) q++;
    return (uint16_t)(sign | q);
}

#if !defined(__F16C__)
float fp16_to_fp32(uint16_t h) { return fp16_to_fp32_soft(h); }
uint16_t fp32_to_fp16(float f) { return fp32_to_fp16_soft(f); }
#endif

/* ggml's GGML_FP32_TO_BF16: round to nearest even, NaN forced quiet. */
uint16_t fp32_to_bf16(float f)
{
    uint32_t u = f32_bits(f);
    if ((u & 0x7fffffff) > 0x7f800000) return (uint16_t)((u >> 16) | 64);
    return (uint16_t)((u + (0x7fff + ((u >> 16) & 1))) >> 16);
}
