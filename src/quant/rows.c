/*
 * rows.c — vec_dot_rows for the types whose multi-row kernel is simply their
 * vec_dot once per activation row: every reference kernel, and the SIMD ones
 * that have no multi-row kernel of their own (float rows: the weight
 * conversion is one instruction per 8 elements; Q2_K, Q3_K).
 */
#include "quant_impl.h"

ROWS_BY_DOT(f32_dot_rows_ref, f32_dot_ref)
ROWS_BY_DOT(f16_dot_rows_ref, f16_dot_ref)
ROWS_BY_DOT(bf16_dot_rows_ref, bf16_dot_ref)
ROWS_BY_DOT(q4_0_dot_rows_ref, q4_0_dot_ref)
ROWS_BY_DOT(q4_0_oct_dot_rows_ref, q4_0_oct_dot_ref)
ROWS_BY_DOT(q8_0_oct_dot_rows_ref, q8_0_oct_dot_ref)
ROWS_BY_DOT(q4_1_dot_rows_ref, q4_1_dot_ref)
ROWS_BY_DOT(q5_0_dot_rows_ref, q5_0_dot_ref)
ROWS_BY_DOT(q5_1_dot_rows_ref, q5_1_dot_ref)
ROWS_BY_DOT(q8_0_dot_rows_ref, q8_0_dot_ref)
ROWS_BY_DOT(q2_K_dot_rows_ref, q2_K_dot_ref)
ROWS_BY_DOT(q3_K_dot_rows_ref, q3_K_dot_ref)
ROWS_BY_DOT(q4_K_dot_rows_ref, q4_K_dot_ref)
ROWS_BY_DOT(q5_K_dot_rows_ref, q5_K_dot_ref)
ROWS_BY_DOT(q6_K_dot_rows_ref, q6_K_dot_ref)
ROWS_BY_DOT(iq4_nl_dot_rows_ref, iq4_nl_dot_ref)

#if QUANT_AVX2
ROWS_BY_DOT(f32_dot_rows_avx2, f32_dot_avx2)
ROWS_BY_DOT(bf16_dot_rows_avx2, bf16_dot_avx2)
#if defined(__F16C__)
ROWS_BY_DOT(f16_dot_rows_avx2, f16_dot_avx2)
#else
ROWS_BY_DOT(f16_dot_rows_avx2, f16_dot_ref)
#endif
ROWS_BY_DOT(q2_K_dot_rows_avx2, q2_K_dot_avx2)
ROWS_BY_DOT(q3_K_dot_rows_avx2, q3_K_dot_avx2)
#endif
