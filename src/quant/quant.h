/*
 * quant.h — tensor element types (ggml's numbering, as stored in GGUF) and the
 * kernel table that the matmul layer dispatches through.
 *
 * Every type exposes the same three kernels:
 *   to_float   dequantize n elements (n a multiple of block_size)
 *   from_float quantize n floats with the reference (ggml-compatible) rounding
 *   vec_dot    dot product of one weight row with an activation row that was
 *              quantized to `vec_dot_type` (F32 for float weights)
 * plus vec_dot_rows, the same dot for up to 8 activation rows at once (what
 * the matmul layer calls; see vec_dot_rows_fn).
 * Each has a portable scalar reference; the table returned by type_traits()
 * holds the fastest version the CPU was built for (AVX2/FMA, with AVX-VNNI
 * instructions when the build has them), unless
 * quant_force_reference(true) was called (tests hold SIMD to the reference).
 */
#ifndef INFER_QUANT_H
#define INFER_QUANT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ggml_type {
    TYPE_F32 = 0,
    TYPE_F16 = 1,
    TYPE_Q4_0 = 2,
    TYPE_Q4_1 = 3,
    TYPE_Q5_0 = 6,
    TYPE_Q5_1 = 7,
    TYPE_Q8_0 = 8,
    TYPE_Q8_1 = 9,
    TYPE_Q2_K = 10,
    TYPE_Q3_K = 11,
    TYPE_Q4_K = 12,
    TYPE_Q5_K = 13,
    TYPE_Q6_K = 14,
    TYPE_Q8_K = 15,
    TYPE_IQ4_NL = 20,
    TYPE_BF16 = 30,
    TYPE_COUNT = 40, /* ids at or above this are rejected by the loader */
    /* Internal layouts, never in a file: weights rearranged at load (quant_repack). */
    TYPE_Q4_0_OCT = TYPE_COUNT, /* Q4_0 and Q8_0 in octs for the AVX-512 kernels (octpack.c) */
    TYPE_Q8_0_OCT,
    TYPE_ALL,
};

typedef void (*to_float_fn)(const void *src, float *dst, int64_t n);
typedef void (*from_float_fn)(const float *src, void *dst, int64_t n);
typedef float (*vec_dot_fn)(int64_t n, const void *w, const void *x);
/* out[r] = vec_dot(n, w[r], x[r]) for r < count (at most VEC_DOT_ROWS_MAX),
 * bit for bit: independent dots (query heads against their keys) sharing
 * their reductions. */
typedef void (*vec_dot_many_fn)(int64_t n, const void *const *w, const void *const *x, int count, float *out);
/* Attention's scores: for keys j < n_keys (rows krow bytes apart from k) and
 * queries h < nq <= 8 (n floats each, one after another from q), out[8 j + h]
 * = vec_dot(n, k + j * krow + koff[h], q + h * n), bit for bit; lanes nq..7
 * of each key are written too (values of no use). */
typedef void (*vec_dot_keys_fn)(int64_t n, const void *k, size_t krow, int n_keys, const size_t *koff,
                                const float *q, int nq, float *out);
/* out[b * out_stride] = the dot of weight row w with activation row b, for
 * b < nrows (1 <= nrows <= VEC_DOT_ROWS_MAX), the rows at x + b * x_row_bytes
 * in the type's row layout (see rows_prepare). Every result is bit-identical
 * to vec_dot(n, w, row b as quantize_activations wrote it), whatever nrows
 * is and wherever the row sits in the batch: each weight block is unpacked
 * once and reused for all rows, but every row is accumulated in the same
 * order as vec_dot accumulates it. */
typedef void (*vec_dot_rows_fn)(int64_t n, const void *w, const void *x, size_t x_row_bytes, int nrows,
                                float *out, size_t out_stride);
/* vec_dot_rows for w_rows weight rows (an even count) at w + r *
 * w_row_bytes, taken two at a time: row r's dot with activation row b goes
 * to out[b * out_stride + r], each bit for bit vec_dot_rows' result. Each
 * activation vector is loaded once for both rows of a pair, and one call
 * covers all the pairs of a tile (a call per pair cost ~10 % of the
 * kernel's time at 8 activation rows). */
typedef void (*vec_dot_rows2_fn)(int64_t n, const void *w, size_t w_row_bytes, int w_rows, const void *x,
                                 size_t x_row_bytes, int nrows, float *out, size_t out_stride);
/* Turn one activation row that quantize_activations(vec_dot_type) wrote (n
 * elements) into the layout vec_dot_rows reads; rows_size(n) is its size. */
typedef void (*rows_prepare_fn)(const void *qx, void *dst, int64_t n);
typedef size_t (*rows_size_fn)(int64_t n);
#define VEC_DOT_ROWS_MAX 8

struct type_traits {
    const char *name;        /* "Q4_K", as ggml spells it */
    int block_size;          /* elements per block */
    size_t type_size;        /* bytes per block */
    to_float_fn to_float;    /* NULL when the type is not supported */
    from_float_fn from_float;
    vec_dot_fn vec_dot;
    vec_dot_many_fn vec_dot_many; /* NULL: call vec_dot per pair */
    vec_dot_keys_fn vec_dot_keys; /* NULL: vec_dot_many per key */
    enum ggml_type vec_dot_type;
    /* Multi-row kernel (NULL when vec_dot is). When rows_prepare is NULL it
     * reads quantize_activations' rows as they are; otherwise rows_prepare
     * rearranges them first (types with the same rows_prepare share the
     * prepared rows). See vec_dot_rows_fn and act_rows_size below. */
    vec_dot_rows_fn vec_dot_rows;
    vec_dot_rows2_fn vec_dot_rows2; /* NULL: vec_dot_rows once per row */
    rows_prepare_fn rows_prepare;
    rows_size_fn rows_size;
};

/* Name and block geometry are known for every ggml id, so the loader can size
 * tensors of types it cannot compute; to_float is NULL for those. Our own
 * layouts (TYPE_COUNT and up) have kernels too. Returns NULL for ids ggml
 * never assigned. */
const struct type_traits *type_traits(enum ggml_type type);
const struct type_traits *type_traits_reference(enum ggml_type type);
void quant_force_reference(bool on);

/* The layout that weight rows of `type` are rearranged into at load on this
 * build, for faster kernels (Q4_0 -> Q4_0_OCT and Q8_0 -> Q8_0_OCT where the
 * AVX-512 kernels run), or `type` itself. Same row size; to_float and the dots give
 * what they gave on the original rows. quant_repack rearranges `rows` rows
 * of n elements at data in place. */
enum ggml_type quant_repack_type(enum ggml_type type);
void quant_repack(enum ggml_type type, void *data, int64_t rows, int64_t n);

/* Bytes of a row of n elements; 0 when n is not a multiple of the block size. */
size_t type_row_size(enum ggml_type type, int64_t n);

/* Half-precision conversions. */
#if defined(__F16C__)
#include <immintrin.h>
static inline float fp16_to_fp32(uint16_t h) { return _cvtsh_ss(h); }
static inline uint16_t fp32_to_fp16(float f) { return _cvtss_sh(f, 0); }
#else
float fp16_to_fp32(uint16_t h);
uint16_t fp32_to_fp16(float f);
#endif
static inline float bf16_to_fp32(uint16_t h)
{
    union { uint32_t u; float f; } v = { .u = (uint32_t)h << 16 };
    return v.f;
}
uint16_t fp32_to_bf16(float f);

/* Software half conversions, always compiled (the fp16_* above use them when
 * the build has no F16C). Bit-exact with VCVTPH2PS / VCVTPS2PH with round to
 * nearest even: subnormals, overflow to inf, inf, NaN (payload kept, quieted). */
float fp16_to_fp32_soft(uint16_t h);
uint16_t fp32_to_fp16_soft(float f);

/* Quantize one row of n activations to `type` (a vec_dot_type: F32, Q8_0,
 * Q8_1 or Q8_K) the way llama.cpp's CPU backend does at run time, which is
 * what its logits carry. For Q8_0 / Q8_1 that is NOT from_float: ggml's x86
 * (and ARM) kernels use id = 127/amax and round half to even, while
 * quantize_row_q8_0_ref (= our from_float, what llama-quantize writes into
 * model files) uses id = 1/(amax/127) and roundf. They differ in a rare
 * element by one step. For Q8_K and F32 this is exactly from_float.
 * dst must hold type_row_size(type, n) bytes. Deterministic: the same bytes
 * whether or not SIMD is compiled in or forced off. */
void quantize_activations(enum ggml_type type, const float *src, void *dst, int64_t n);

/* Bytes of one activation row of n elements in the layout t->vec_dot_rows
 * reads (after t->rows_prepare, if any); for F32 activations n floats. Rows
 * may sit at any address; 32-byte aligned ones are faster (the prepared
 * layouts keep a multiple of 64 bytes per row). */
size_t act_rows_size(const struct type_traits *t, int64_t n);

/* "AVX2" or "scalar": which kernels type_traits() hands out right now. */
const char *quant_simd_name(void);

#endif
