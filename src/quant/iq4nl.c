/*
 * iq4nl.c — IQ4_NL: 32-element blocks, fp16 d + 16 bytes of nibbles that
 * index the fixed non-linear table kvalues_iq4nl (nibble order as Q4_0).
 * Dots with Q8_0 (the SIMD dot kernels are in oct.c). from_float is ggml's quantize_iq4_nl without an imatrix
 * (what llama-quantize runs: quantize_row_iq4_nl_impl with ntry = 7).
 */
#include "quant_impl.h"

const int8_t kvalues_iq4nl[16] = { -127, -104, -83, -65, -49, -35, -22, -10,
                                   1, 13, 25, 38, 53, 69, 89, 113 };

void iq4_nl_to_float_ref(const void *src, float *dst, int64_t n)
{
    const block_iq4_nl *x = src;
    for (int64_t i = 0; i < n / QK4_NL; i++) {
        const float d = fp16(x[i].d);
        for (int j = 0; j < 16; j++) {
            dst[i * 32 + j] = d * kvalues_iq4nl[x[i].qs[j] & 0xF];
            dst[i * 32 + j + 16] = d * kvalues_iq4nl[x[i].qs[j] >> 4];
        }
    }
}

float iq4_nl_dot_ref(int64_t n, const void *w, const void *a)
{
    const block_iq4_nl *x = w;
    const block_q8_0 *y = a;
    float s = 0;
    for (int64_t i = 0; i < n / QK4_NL; i++) {
        int sumi = 0;
        for (int j = 0; j < 16; j++) {
            sumi += y[i].qs[j] * kvalues_iq4nl[x[i].qs[j] & 0xF];
            sumi += y[i].qs[j + 16] * kvalues_iq4nl[x[i].qs[j] >> 4];
        }
        s += (fp16(x[i].d) * fp16(y[i].d)) * sumi;
    }
    return s;
}

/* Index of the table value nearest to x (ties to the upper one). */
static inline int best_index_int8(int n, const int8_t *val, float x)
{
    if (x <= val[0]) return 0;
    if (x >= val[n - 1]) return n - 1;
    int ml = 0, mu = n - 1;
    while (mu - ml > 1) {
        int mav = (ml + mu) / 2;
        if (x < val[mav]) mu = mav;
        else ml = mav;
    }
    return x - val[mu - 1] < val[mu] - x ? mu - 1 : mu;
}

void iq4_nl_from_float(const float *src, void *dst, int64_t n)
{
    block_iq4_nl *y = dst;
    const int8_t *values = kvalues_iq4nl;
    const int ntry = 7;
    for (int64_t i = 0; i < n / QK4_NL; i++) {
        const float *x = src + i * QK4_NL;
        uint8_t L[QK4_NL];
        float weight[QK4_NL];
        for (int j = 0; j < QK4_NL; ++j) weight[j] = x[j] * x[j];
        float amax = 0, max = 0;
        for (int j = 0; j < QK4_NL; ++j) {
            float ax = fabsf(x[j]);
            if (ax > amax) { amax = ax; max = x[j]; }
        }
        float scale = 0;
        if (amax >= 1e-15f) { /* GROUP_MAX_EPS */
            float d = -max / values[0];
            float id = 1 / d;
            float sumqx = 0, sumq2 = 0;
            for (int j = 0; j < QK4_NL; ++j) {
                int l = best_index_int8(16, values, id * x[j]);
                L[j] = (uint8_t)l;
                float q = values[l], w = weight[j];
                sumqx += w * q * x[j];
                sumq2 += w * q * q;
            }
            d = sumqx / sumq2;
            float best = d * sumqx;
            for (int itry = -ntry; itry <= ntry; ++itry) {
                id = (itry + values[0]) / max;
                sumqx = sumq2 = 0;
                for (int j = 0; j < QK4_NL; ++j) {
                    int l = best_index_int8(16, values, id * x[j]);
                    float q = values[l], w = weight[j];
                    sumqx += w * q * x[j];
                    sumq2 += w * q * q;
                }
                if (sumq2 > 0 && sumqx * sumqx > best * sumq2) {
                    d = sumqx / sumq2;
                    best = d * sumqx;
                }
            }
            scale = d;
        }
        y[i].d = fp32_to_fp16(scale);
        const float id = scale ? 1 / scale : 0;
        for (int j = 0; j < QK4_NL; ++j) L[j] = (uint8_t)best_index_int8(16, values, id * x[j]);
        for (int j = 0; j < 16; ++j) y[i].qs[j] = (uint8_t)(L[j] | (L[j + 16] << 4));
    }
}

#if QUANT_AVX2

void iq4_nl_to_float_avx2(const void *src, float *dst, int64_t n)
{
    const block_iq4_nl *x = src;
    for (int64_t i = 0; i < n / QK4_NL; i++)
        store_i8x32_scaled(dst + i * 32, iq4nl_values_32(x[i].qs), fp16(x[i].d));
}

#endif
