/*
 * kquants.c — Q2_K, Q3_K, Q4_K, Q5_K, Q6_K: 256-element super-blocks in
 * ggml's layouts, dotted with Q8_K activations.
 *
 * from_float follows ggml's quantize_row_*_ref (make_qkx2_quants for
 * Q2_K/Q4_K/Q5_K, make_q3_quants for Q3_K, make_qx_quants for Q6_K), the
 * path llama-quantize takes without an imatrix.
 *
 * Element order inside a super-block:
 *   Q2_K/Q3_K: 2 chunks of 128; in chunk c, bit-pair k (shift 2k) of byte p of
 *              qs[32c..32c+31] is element 128c + 32k + p; 16 groups of 16,
 *              group g = element / 16. Q3_K's high bit of that element is bit
 *              (4c + k) of hmask[p] (set = +0, clear = -4).
 *   Q4_K/Q5_K: 4 chunks of 64; low nibbles of qs[32c..] are elements
 *              64c + 0..31, high nibbles 64c + 32..63; 8 groups of 32.
 *              Q5_K's 5th bit: bit 2c (low) / 2c+1 (high) of qh[p].
 *   Q6_K:      2 chunks of 128; element 128c + 32k + p has its low 4 bits in
 *              ql[64c + p + 32(k&1)] (low nibble for k<2, high for k>=2) and
 *              its high 2 bits at bits 2k of qh[32c + p]; 16 groups of 16.
 */
#include "quant_impl.h"

#define GROUP_MAX_EPS 1e-15f

/* ------------------------------------------------------------------------ */
/* quantization helpers, transcribed from ggml's algorithms                  */
/* ------------------------------------------------------------------------ */

static float make_qx_quants(int n, int nmax, const float *x, int8_t *L, int rmse_type)
{
    float max = 0, amax = 0;
    for (int i = 0; i < n; ++i) {
        float ax = fabsf(x[i]);
        if (ax > amax) { amax = ax; max = x[i]; }
    }
    if (amax < GROUP_MAX_EPS) {
        for (int i = 0; i < n; ++i) L[i] = 0;
        return 0.f;
    }
    float iscale = -nmax / max;
    if (rmse_type == 0) {
        for (int i = 0; i < n; ++i) {
            int l = nearest_int(iscale * x[i]);
            L[i] = (int8_t)(nmax + QMAX(-nmax, QMIN(nmax - 1, l)));
        }
        return 1 / iscale;
    }
    bool return_early = false;
    if (rmse_type < 0) {
        rmse_type = -rmse_type;
        return_early = true;
    }
#define QX_WEIGHT(v) (rmse_type == 1 ? (v) * (v) : rmse_type == 2 ? 1 : rmse_type == 3 ? fabsf(v) : sqrtf(fabsf(v)))
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; ++i) {
        int l = nearest_int(iscale * x[i]);
        l = QMAX(-nmax, QMIN(nmax - 1, l));
        L[i] = (int8_t)(l + nmax);
        float w = QX_WEIGHT(x[i]);
        sumlx += w * x[i] * l;
        suml2 += w * l * l;
    }
    float scale = suml2 ? sumlx / suml2 : 0.0f;
    if (return_early) return suml2 > 0 ? 0.5f * (scale + 1 / iscale) : 1 / iscale;
    float best = scale * sumlx;
    for (int is = -9; is <= 9; ++is) {
        if (is == 0) continue;
        iscale = -(nmax + 0.1f * is) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; ++i) {
            int l = nearest_int(iscale * x[i]);
            l = QMAX(-nmax, QMIN(nmax - 1, l));
            float w = QX_WEIGHT(x[i]);
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; ++i) {
                int l = nearest_int(iscale * x[i]);
                L[i] = (int8_t)(nmax + QMAX(-nmax, QMIN(nmax - 1, l)));
            }
            scale = sumlx / suml2;
            best = scale * sumlx;
        }
    }
#undef QX_WEIGHT
    return scale;
}

static float make_q3_quants(int n, int nmax, const float *x, int8_t *L, bool do_rmse)
{
    float max = 0, amax = 0;
    for (int i = 0; i < n; ++i) {
        float ax = fabsf(x[i]);
        if (ax > amax) { amax = ax; max = x[i]; }
    }
    if (amax < GROUP_MAX_EPS) {
        for (int i = 0; i < n; ++i) L[i] = 0;
        return 0.f;
    }
    float iscale = -nmax / max;
    if (do_rmse) {
        float sumlx = 0, suml2 = 0;
        for (int i = 0; i < n; ++i) {
            int l = nearest_int(iscale * x[i]);
            l = QMAX(-nmax, QMIN(nmax - 1, l));
            L[i] = (int8_t)l;
            float w = x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        for (int itry = 0; itry < 5; ++itry) {
            int n_changed = 0;
            for (int i = 0; i < n; ++i) {
                float w = x[i] * x[i];
                float slx = sumlx - w * x[i] * L[i];
                if (slx > 0) {
                    float sl2 = suml2 - w * L[i] * L[i];
                    int new_l = nearest_int(x[i] * sl2 / slx);
                    new_l = QMAX(-nmax, QMIN(nmax - 1, new_l));
                    if (new_l != L[i]) {
                        slx += w * x[i] * new_l;
                        sl2 += w * new_l * new_l;
                        if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                            L[i] = (int8_t)new_l;
                            sumlx = slx;
                            suml2 = sl2;
                            ++n_changed;
                        }
                    }
                }
            }
            if (!n_changed) break;
        }
        for (int i = 0; i < n; ++i) L[i] = (int8_t)(L[i] + nmax);
        return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
    }
    for (int i = 0; i < n; ++i) {
        int l = nearest_int(iscale * x[i]);
        l = QMAX(-nmax, QMIN(nmax - 1, l));
        L[i] = (int8_t)(l + nmax);
    }
    return 1 / iscale;
}

static float make_qkx2_quants(int n, int nmax, const float *x, const float *weights, uint8_t *L,
                              float *the_min, uint8_t *Laux, float rmin, float rdelta, int nstep,
                              bool use_mad)
{
    float min = x[0], max = x[0];
    float sum_w = weights[0];
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; ++i) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        float w = weights[i];
        sum_w += w;
        sum_x += w * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        for (int i = 0; i < n; ++i) L[i] = 0;
        *the_min = -min;
        return 0.f;
    }
    float iscale = nmax / (max - min);
    float scale = 1 / iscale;
    float best_error = 0;
    for (int i = 0; i < n; ++i) {
        int l = nearest_int(iscale * (x[i] - min));
        L[i] = (uint8_t)QMAX(0, QMIN(nmax, l));
        float diff = scale * L[i] + min - x[i];
        diff = use_mad ? fabsf(diff) : diff * diff;
        float w = weights[i];
        best_error += w * diff;
    }
    if (nstep < 1) {
        *the_min = -min;
        return scale;
    }
    for (int is = 0; is <= nstep; ++is) {
        iscale = (rmin + rdelta * is + nmax) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; ++i) {
            int l = nearest_int(iscale * (x[i] - min));
            l = QMAX(0, QMIN(nmax, l));
            Laux[i] = (uint8_t)l;
            float w = weights[i];
            sum_l += w * l;
            sum_l2 += w * l * l;
            sum_xl += w * l * x[i];
        }
        float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0) {
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            float cur_error = 0;
            for (int i = 0; i < n; ++i) {
                float diff = this_scale * Laux[i] + this_min - x[i];
                diff = use_mad ? fabsf(diff) : diff * diff;
                float w = weights[i];
                cur_error += w * diff;
            }
            if (cur_error < best_error) {
                for (int i = 0; i < n; ++i) L[i] = Laux[i];
                best_error = cur_error;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *the_min = -min;
    return scale;
}

/* Pack 2-bit values L[0..255] into Q2_K/Q3_K's qs order. */
static void pack_2bit(const uint8_t *L, uint8_t *qs)
{
    for (int j = 0; j < QK_K; j += 128)
        for (int l = 0; l < 32; ++l)
            qs[j / 4 + l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
}

/* Q4_K/Q5_K: pack 6-bit scales ls[8] and mins lm[8] into 12 bytes. */
static void k4_pack_scales(const uint8_t ls[8], const uint8_t lm[8], uint8_t *s)
{
    for (int j = 0; j < 8; ++j) {
        if (j < 4) {
            s[j] = ls[j];
            s[j + 4] = lm[j];
        } else {
            s[j + 4] = (uint8_t)((ls[j] & 0xF) | ((lm[j] & 0xF) << 4));
            s[j - 4] |= (uint8_t)((ls[j] >> 4) << 6);
            s[j - 0] |= (uint8_t)((lm[j] >> 4) << 6);
        }
    }
}

/* Shared by Q4_K (nmax 15) and Q5_K (nmax 31): scales/mins by make_qkx2_quants,
 * then the final quants L[256] against the rounded fp16 super-scales. */
static void k4_quantize_block(const float *x, int nmax, float rmin, int nstep, uint16_t *dh,
                              uint16_t *dminh, uint8_t *scales, uint8_t *L)
{
    uint8_t Laux[32];
    float weights[32], mins[QK_K / 32], sc[QK_K / 32];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < QK_K / 32; ++j) {
        float sum_x2 = 0;
        for (int l = 0; l < 32; ++l) sum_x2 += x[32 * j + l] * x[32 * j + l];
        float av_x = sqrtf(sum_x2 / 32);
        for (int l = 0; l < 32; ++l) weights[l] = av_x + fabsf(x[32 * j + l]);
        sc[j] = make_qkx2_quants(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, rmin, 0.1f,
                                 nstep, false);
        if (sc[j] > max_scale) max_scale = sc[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    uint8_t ls[8], lm[8];
    for (int j = 0; j < QK_K / 32; ++j) {
        ls[j] = (uint8_t)QMIN(63, (uint8_t)nearest_int(inv_scale * sc[j]));
        lm[j] = (uint8_t)QMIN(63, (uint8_t)nearest_int(inv_min * mins[j]));
    }
    k4_pack_scales(ls, lm, scales);
    *dh = fp32_to_fp16(max_scale / 63.f);
    *dminh = fp32_to_fp16(max_min / 63.f);
    for (int j = 0; j < QK_K / 32; ++j) {
        uint8_t s, m;
        k4_scale_min(j, scales, &s, &m);
        const float d = fp16(*dh) * s;
        if (!d) continue;
        const float dm = fp16(*dminh) * m;
        for (int ii = 0; ii < 32; ++ii) {
            int l = nearest_int((x[32 * j + ii] + dm) / d);
            L[32 * j + ii] = (uint8_t)QMAX(0, QMIN(nmax, l));
        }
    }
}

/* ------------------------------------------------------------------------ */
/* Q2_K                                                                      */
/* ------------------------------------------------------------------------ */

void q2_K_to_float_ref(const void *src, float *dst, int64_t n)
{
    const block_q2_K *x = src;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = fp16(x[i].d), min = fp16(x[i].dmin);
        const uint8_t *q = x[i].qs;
        float *y = dst + i * QK_K;
        int is = 0;
        for (int c = 0; c < QK_K; c += 128) {
            for (int shift = 0; shift < 8; shift += 2) {
                for (int half = 0; half < 2; half++) {
                    const uint8_t sc = x[i].scales[is++];
                    const float dl = d * (sc & 0xF), ml = min * (sc >> 4);
                    for (int l = 0; l < 16; ++l) *y++ = dl * ((q[l + 16 * half] >> shift) & 3) - ml;
                }
            }
            q += 32;
        }
    }
}

void q2_K_from_float(const float *src, void *dst, int64_t n)
{
    block_q2_K *y = dst;
    uint8_t L[QK_K], Laux[16];
    float weights[16], mins[QK_K / 16], scales[QK_K / 16];
    const float q4scale = 15.f;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float *x = src + i * QK_K;
        float max_scale = 0, max_min = 0;
        for (int j = 0; j < QK_K / 16; ++j) {
            for (int l = 0; l < 16; ++l) weights[l] = fabsf(x[16 * j + l]);
            scales[j] = make_qkx2_quants(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], Laux, -0.5f,
                                         0.1f, 15, true);
            if (scales[j] > max_scale) max_scale = scales[j];
            if (mins[j] > max_min) max_min = mins[j];
        }
        if (max_scale > 0) {
            float iscale = q4scale / max_scale;
            for (int j = 0; j < QK_K / 16; ++j) y[i].scales[j] = (uint8_t)nearest_int(iscale * scales[j]);
            y[i].d = fp32_to_fp16(max_scale / q4scale);
        } else {
            for (int j = 0; j < QK_K / 16; ++j) y[i].scales[j] = 0;
            y[i].d = fp32_to_fp16(0.f);
        }
        if (max_min > 0) {
            float iscale = q4scale / max_min;
            for (int j = 0; j < QK_K / 16; ++j) {
                int l = nearest_int(iscale * mins[j]);
                y[i].scales[j] |= (uint8_t)(l << 4);
            }
            y[i].dmin = fp32_to_fp16(max_min / q4scale);
        } else {
            y[i].dmin = fp32_to_fp16(0.f);
        }
        for (int j = 0; j < QK_K / 16; ++j) {
            const float d = fp16(y[i].d) * (y[i].scales[j] & 0xF);
            if (!d) continue;
            const float dm = fp16(y[i].dmin) * (y[i].scales[j] >> 4);
            for (int ii = 0; ii < 16; ++ii) {
                int l = nearest_int((x[16 * j + ii] + dm) / d);
                L[16 * j + ii] = (uint8_t)QMAX(0, QMIN(3, l));
            }
        }
        pack_2bit(L, y[i].qs);
    }
}

/* Unpack the 2-bit field of every element (Q2_K / Q3_K order). */
static inline void unpack_2bit(const uint8_t *qs, int8_t out[QK_K])
{
    for (int c = 0; c < 2; c++)
        for (int k = 0; k < 4; k++)
            for (int p = 0; p < 32; p++) out[128 * c + 32 * k + p] = (int8_t)((qs[32 * c + p] >> (2 * k)) & 3);
}

float q2_K_dot_ref(int64_t n, const void *w, const void *a)
{
    const block_q2_K *x = w;
    const block_q8_K *y = a;
    float s = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        int8_t q[QK_K];
        unpack_2bit(x[i].qs, q);
        int sumi = 0, summ = 0;
        for (int g = 0; g < 16; g++) {
            int sg = 0;
            for (int l = 0; l < 16; l++) sg += q[16 * g + l] * y[i].qs[16 * g + l];
            sumi += (x[i].scales[g] & 0xF) * sg;
            summ += (x[i].scales[g] >> 4) * y[i].bsums[g];
        }
        s += y[i].d * fp16(x[i].d) * sumi - y[i].d * fp16(x[i].dmin) * summ;
    }
    return s;
}

/* ------------------------------------------------------------------------ */
/* Q3_K                                                                      */
/* ------------------------------------------------------------------------ */

/* Signed 3-bit quants (-4..3) of a super-block in element order. */
static inline void q3k_unpack(const block_q3_K *b, int8_t out[QK_K])
{
    unpack_2bit(b->qs, out);
    for (int c = 0; c < 2; c++)
        for (int k = 0; k < 4; k++)
            for (int p = 0; p < 32; p++)
                out[128 * c + 32 * k + p] -= (b->hmask[p] >> (4 * c + k)) & 1 ? 0 : 4;
}

void q3_K_to_float_ref(const void *src, float *dst, int64_t n)
{
    const block_q3_K *x = src;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d_all = fp16(x[i].d);
        int8_t sc[16], q[QK_K];
        q3k_unpack_scales(x[i].scales, sc);
        q3k_unpack(&x[i], q);
        for (int g = 0; g < 16; g++) {
            const float dl = d_all * sc[g];
            for (int l = 0; l < 16; l++) dst[i * QK_K + 16 * g + l] = dl * q[16 * g + l];
        }
    }
}

void q3_K_from_float(const float *src, void *dst, int64_t n)
{
    block_q3_K *y = dst;
    int8_t L[QK_K];
    float scales[QK_K / 16];
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float *x = src + i * QK_K;
        float max_scale = 0, amax = 0;
        for (int j = 0; j < QK_K / 16; ++j) {
            scales[j] = make_q3_quants(16, 4, x + 16 * j, L + 16 * j, true);
            float scale = fabsf(scales[j]);
            if (scale > amax) { amax = scale; max_scale = scales[j]; }
        }
        memset(y[i].scales, 0, 12);
        if (max_scale) {
            float iscale = -32.f / max_scale;
            for (int j = 0; j < QK_K / 16; ++j) {
                int8_t l = (int8_t)nearest_int(iscale * scales[j]);
                l = (int8_t)(QMAX(-32, QMIN(31, l)) + 32);
                if (j < 8) y[i].scales[j] = l & 0xF;
                else y[i].scales[j - 8] |= (uint8_t)((l & 0xF) << 4);
                l >>= 4;
                y[i].scales[j % 4 + 8] |= (uint8_t)(l << (2 * (j / 4)));
            }
            y[i].d = fp32_to_fp16(1 / iscale);
        } else {
            y[i].d = fp32_to_fp16(0.f);
        }
        int8_t sc[16];
        q3k_unpack_scales(y[i].scales, sc);
        for (int j = 0; j < QK_K / 16; ++j) {
            float d = fp16(y[i].d) * sc[j];
            if (!d) continue;
            for (int ii = 0; ii < 16; ++ii) {
                int l = nearest_int(x[16 * j + ii] / d);
                L[16 * j + ii] = (int8_t)(QMAX(-4, QMIN(3, l)) + 4);
            }
        }
        memset(y[i].hmask, 0, QK_K / 8);
        int m = 0;
        uint8_t hm = 1;
        for (int j = 0; j < QK_K; ++j) {
            if (L[j] > 3) {
                y[i].hmask[m] |= hm;
                L[j] -= 4;
            }
            if (++m == QK_K / 8) { m = 0; hm <<= 1; }
        }
        pack_2bit((const uint8_t *)L, y[i].qs);
    }
}

float q3_K_dot_ref(int64_t n, const void *w, const void *a)
{
    const block_q3_K *x = w;
    const block_q8_K *y = a;
    float s = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        int8_t sc[16], q[QK_K];
        q3k_unpack_scales(x[i].scales, sc);
        q3k_unpack(&x[i], q);
        int sumi = 0;
        for (int g = 0; g < 16; g++) {
            int sg = 0;
            for (int l = 0; l < 16; l++) sg += q[16 * g + l] * y[i].qs[16 * g + l];
            sumi += sc[g] * sg;
        }
        s += fp16(x[i].d) * y[i].d * sumi;
    }
    return s;
}

/* ------------------------------------------------------------------------ */
/* Q4_K                                                                      */
/* ------------------------------------------------------------------------ */

void q4_K_to_float_ref(const void *src, float *dst, int64_t n)
{
    const block_q4_K *x = src;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = fp16(x[i].d), min = fp16(x[i].dmin);
        const uint8_t *q = x[i].qs;
        float *y = dst + i * QK_K;
        for (int c = 0; c < 4; c++) {
            uint8_t sc, m;
            k4_scale_min(2 * c, x[i].scales, &sc, &m);
            const float d1 = d * sc, m1 = min * m;
            k4_scale_min(2 * c + 1, x[i].scales, &sc, &m);
            const float d2 = d * sc, m2 = min * m;
            for (int l = 0; l < 32; ++l) *y++ = d1 * (q[l] & 0xF) - m1;
            for (int l = 0; l < 32; ++l) *y++ = d2 * (q[l] >> 4) - m2;
            q += 32;
        }
    }
}

void q4_K_from_float(const float *src, void *dst, int64_t n)
{
    block_q4_K *y = dst;
    uint8_t L[QK_K];
    for (int64_t i = 0; i < n / QK_K; i++) {
        uint16_t dh, dmh;
        k4_quantize_block(src + i * QK_K, 15, -1.f, 20, &dh, &dmh, y[i].scales, L);
        y[i].d = dh;
        y[i].dmin = dmh;
        uint8_t *q = y[i].qs;
        for (int j = 0; j < QK_K; j += 64) {
            for (int l = 0; l < 32; ++l) q[l] = (uint8_t)(L[j + l] | (L[j + l + 32] << 4));
            q += 32;
        }
    }
}

/* Q4_K / Q5_K dot given the unsigned quants q[256] of the super-block. */
static inline float k4_dot_block(const uint8_t *scales, uint16_t dh, uint16_t dminh, const uint8_t *q,
                                 const block_q8_K *y)
{
    uint8_t sm[16];
    k4_unpack_scales(scales, sm);
    int sumi = 0, summ = 0;
    for (int j = 0; j < 8; j++) {
        int sj = 0;
        for (int l = 0; l < 32; l++) sj += q[32 * j + l] * y->qs[32 * j + l];
        sumi += sm[j] * sj;
        summ += sm[8 + j] * (y->bsums[2 * j] + y->bsums[2 * j + 1]);
    }
    return y->d * fp16(dh) * sumi - y->d * fp16(dminh) * summ;
}

float q4_K_dot_ref(int64_t n, const void *w, const void *a)
{
    const block_q4_K *x = w;
    const block_q8_K *y = a;
    float s = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        uint8_t q[QK_K];
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++) {
                q[64 * c + l] = x[i].qs[32 * c + l] & 0xF;
                q[64 * c + 32 + l] = x[i].qs[32 * c + l] >> 4;
            }
        s += k4_dot_block(x[i].scales, x[i].d, x[i].dmin, q, &y[i]);
    }
    return s;
}

/* ------------------------------------------------------------------------ */
/* Q5_K                                                                      */
/* ------------------------------------------------------------------------ */

static inline void q5k_unpack(const block_q5_K *b, uint8_t q[QK_K])
{
    for (int c = 0; c < 4; c++)
        for (int l = 0; l < 32; l++) {
            q[64 * c + l] = (uint8_t)((b->qs[32 * c + l] & 0xF) | (((b->qh[l] >> (2 * c)) & 1) << 4));
            q[64 * c + 32 + l] = (uint8_t)((b->qs[32 * c + l] >> 4) | (((b->qh[l] >> (2 * c + 1)) & 1) << 4));
        }
}

void q5_K_to_float_ref(const void *src, float *dst, int64_t n)
{
    const block_q5_K *x = src;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = fp16(x[i].d), min = fp16(x[i].dmin);
        uint8_t q[QK_K];
        q5k_unpack(&x[i], q);
        for (int j = 0; j < 8; j++) {
            uint8_t sc, m;
            k4_scale_min(j, x[i].scales, &sc, &m);
            const float dl = d * sc, ml = min * m;
            for (int l = 0; l < 32; ++l) dst[i * QK_K + 32 * j + l] = dl * q[32 * j + l] - ml;
        }
    }
}

void q5_K_from_float(const float *src, void *dst, int64_t n)
{
    block_q5_K *y = dst;
    uint8_t L[QK_K];
    for (int64_t i = 0; i < n / QK_K; i++) {
        uint16_t dh, dmh;
        k4_quantize_block(src + i * QK_K, 31, -0.5f, 15, &dh, &dmh, y[i].scales, L);
        y[i].d = dh;
        y[i].dmin = dmh;
        uint8_t *qh = y[i].qh, *ql = y[i].qs;
        memset(qh, 0, QK_K / 8);
        uint8_t m1 = 1, m2 = 2;
        for (int c = 0; c < QK_K; c += 64) {
            for (int j = 0; j < 32; ++j) {
                int l1 = L[c + j], l2 = L[c + j + 32];
                if (l1 > 15) { l1 -= 16; qh[j] |= m1; }
                if (l2 > 15) { l2 -= 16; qh[j] |= m2; }
                ql[j] = (uint8_t)(l1 | (l2 << 4));
            }
            m1 <<= 2;
            m2 <<= 2;
            ql += 32;
        }
    }
}

float q5_K_dot_ref(int64_t n, const void *w, const void *a)
{
    const block_q5_K *x = w;
    const block_q8_K *y = a;
    float s = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        uint8_t q[QK_K];
        q5k_unpack(&x[i], q);
        s += k4_dot_block(x[i].scales, x[i].d, x[i].dmin, q, &y[i]);
    }
    return s;
}

/* ------------------------------------------------------------------------ */
/* Q6_K                                                                      */
/* ------------------------------------------------------------------------ */

/* Signed 6-bit quants (-32..31) in element order. */
static inline void q6k_unpack(const block_q6_K *b, int8_t q[QK_K])
{
    for (int c = 0; c < 2; c++) {
        const uint8_t *ql = b->ql + 64 * c, *qh = b->qh + 32 * c;
        for (int l = 0; l < 32; l++) {
            q[128 * c + l + 0] = (int8_t)(((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32);
            q[128 * c + l + 32] = (int8_t)(((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32);
            q[128 * c + l + 64] = (int8_t)(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
            q[128 * c + l + 96] = (int8_t)(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
        }
    }
}

void q6_K_to_float_ref(const void *src, float *dst, int64_t n)
{
    const block_q6_K *x = src;
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = fp16(x[i].d);
        int8_t q[QK_K];
        q6k_unpack(&x[i], q);
        for (int j = 0; j < QK_K; j++) dst[i * QK_K + j] = d * x[i].scales[j / 16] * q[j];
    }
}

void q6_K_from_float(const float *src, void *dst, int64_t n)
{
    block_q6_K *y = dst;
    int8_t L[QK_K];
    float scales[QK_K / 16];
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float *x = src + i * QK_K;
        float max_scale = 0, max_abs_scale = 0;
        for (int ib = 0; ib < QK_K / 16; ++ib) {
            const float scale = make_qx_quants(16, 32, x + 16 * ib, L + 16 * ib, 1);
            scales[ib] = scale;
            const float abs_scale = fabsf(scale);
            if (abs_scale > max_abs_scale) { max_abs_scale = abs_scale; max_scale = scale; }
        }
        if (max_abs_scale < GROUP_MAX_EPS) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        float iscale = -128.f / max_scale;
        y[i].d = fp32_to_fp16(1 / iscale);
        for (int ib = 0; ib < QK_K / 16; ++ib) y[i].scales[ib] = (int8_t)QMIN(127, nearest_int(iscale * scales[ib]));
        for (int j = 0; j < QK_K / 16; ++j) {
            float d = fp16(y[i].d) * y[i].scales[j];
            if (!d) continue;
            for (int ii = 0; ii < 16; ++ii) {
                int l = nearest_int(x[16 * j + ii] / d);
                L[16 * j + ii] = (int8_t)(QMAX(-32, QMIN(31, l)) + 32);
            }
        }
        uint8_t *ql = y[i].ql, *qh = y[i].qh;
        for (int j = 0; j < QK_K; j += 128) {
            for (int l = 0; l < 32; ++l) {
                const uint8_t q1 = L[j + l + 0] & 0xF, q2 = L[j + l + 32] & 0xF;
                const uint8_t q3 = L[j + l + 64] & 0xF, q4 = L[j + l + 96] & 0xF;
                ql[l + 0] = (uint8_t)(q1 | (q3 << 4));
                ql[l + 32] = (uint8_t)(q2 | (q4 << 4));
                qh[l] = (uint8_t)((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) | ((L[j + l + 64] >> 4) << 4) |
                                  ((L[j + l + 96] >> 4) << 6));
            }
            ql += 64;
            qh += 32;
        }
    }
}

float q6_K_dot_ref(int64_t n, const void *w, const void *a)
{
    const block_q6_K *x = w;
    const block_q8_K *y = a;
    float s = 0;
    for (int64_t i = 0; i < n / QK_K; i++) {
        int8_t q[QK_K];
        q6k_unpack(&x[i], q);
        int sumi = 0;
        for (int g = 0; g < 16; g++) {
            int sg = 0;
            for (int l = 0; l < 16; l++) sg += q[16 * g + l] * y[i].qs[16 * g + l];
            sumi += x[i].scales[g] * sg;
        }
        s += fp16(x[i].d) * y[i].d * sumi;
    }
    return s;
}

/* ------------------------------------------------------------------------ */
/* AVX2                                                                      */
/* ------------------------------------------------------------------------ */
#if QUANT_AVX2

/* Q3_K: the 16 signed scales (minus 32) as bytes, without a loop: byte j of
 * word w is the low nibble (bytes 0..7 of the 12) or high nibble (8..15)
 * plus two high bits from bytes 8..11. */
static inline __m128i q3k_scales_i8(const uint8_t *scales)
{
    uint32_t a[3];
    memcpy(a, scales, 12);
    const uint32_t m2 = 0x03030303, m4 = 0x0f0f0f0f;
    const __m128i s = _mm_set_epi32((int)(((a[1] >> 4) & m4) | (((a[2] >> 6) & m2) << 4)),
                                    (int)(((a[0] >> 4) & m4) | (((a[2] >> 4) & m2) << 4)),
                                    (int)((a[1] & m4) | (((a[2] >> 2) & m2) << 4)),
                                    (int)((a[0] & m4) | ((a[2] & m2) << 4)));
    return _mm_sub_epi8(s, _mm_set1_epi8(32));
}

/* Bytes 0xFF where bit `bit` of the byte in h is set. */
static inline __m256i bit_set_mask(__m256i h, int bit)
{
    const __m256i m = _mm256_set1_epi8((char)(1 << bit));
    return _mm256_cmpeq_epi8(_mm256_and_si256(h, m), m);
}

/* 32 x (unsigned quant * q8) of a 16+16 element pair of groups, scaled by the
 * two int16 group scales a (first 16) and b (last 16): 8 int32 sums. */
static inline __m256i scaled_dot_32(__m256i q, __m256i q8, __m128i scales16, int a, int b)
{
    return _mm256_madd_epi16(scale_pair_i16(scales16, a, b), _mm256_maddubs_epi16(q, q8));
}

float q2_K_dot_avx2(int64_t n, const void *w, const void *a)
{
    const block_q2_K *x = w;
    const block_q8_K *y = a;
    const __m256i m3 = _mm256_set1_epi8(3);
    const __m128i m4 = _mm_set1_epi8(0xF);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = y[i].d * fp16(x[i].d);
        const float dmin = -y[i].d * fp16(x[i].dmin);
        const __m128i sm = loadu128(x[i].scales);
        const __m256i sc16 = _mm256_cvtepu8_epi16(_mm_and_si128(sm, m4));
        const __m256i mn16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(sm, 4), m4));
        const __m256i prod = _mm256_madd_epi16(mn16, loadu256((const void *)y[i].bsums));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(dmin), _mm256_cvtepi32_ps(prod), acc);

        __m256i sumi = _mm256_setzero_si256();
        for (int c = 0; c < 2; c++) {
            const __m128i s = c ? _mm256_extracti128_si256(sc16, 1) : _mm256_castsi256_si128(sc16);
            const __m256i bits = loadu256(x[i].qs + 32 * c);
            for (int k = 0; k < 4; k++) {
                const __m256i q = _mm256_and_si256(_mm256_srli_epi16(bits, 2 * k), m3);
                const __m256i q8 = loadu256((const void *)(y[i].qs + 128 * c + 32 * k));
                sumi = _mm256_add_epi32(sumi, scaled_dot_32(q, q8, s, 2 * k, 2 * k + 1));
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum_f32_8(acc);
}

float q3_K_dot_avx2(int64_t n, const void *w, const void *a)
{
    const block_q3_K *x = w;
    const block_q8_K *y = a;
    const __m256i m3 = _mm256_set1_epi8(3), four = _mm256_set1_epi8(4);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = y[i].d * fp16(x[i].d);
        const __m256i sc16 = _mm256_cvtepi8_epi16(q3k_scales_i8(x[i].scales));
        const __m256i hbits = loadu256(x[i].hmask);
        __m256i sumi = _mm256_setzero_si256();
        for (int c = 0; c < 2; c++) {
            const __m128i s = c ? _mm256_extracti128_si256(sc16, 1) : _mm256_castsi256_si128(sc16);
            const __m256i bits = loadu256(x[i].qs + 32 * c);
            for (int k = 0; k < 4; k++) {
                const __m256i ql = _mm256_and_si256(_mm256_srli_epi16(bits, 2 * k), m3);
                /* 4 where the high bit is clear: q = ql - qh */
                const __m256i qh = _mm256_andnot_si256(bit_set_mask(hbits, 4 * c + k), four);
                const __m256i q8 = loadu256((const void *)(y[i].qs + 128 * c + 32 * k));
                const __m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(ql, q8), _mm256_maddubs_epi16(qh, q8));
                sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(scale_pair_i16(s, 2 * k, 2 * k + 1), p));
            }
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum_f32_8(acc);
}

/* AVX-512 kernels for Q4_K, Q5_K and Q6_K (512-bit registers with VNNI,
 * VBMI and GFNI); the AVX2 ones in the #else branches. They take 64
 * weights per instruction where the AVX2 ones take 32: batch-1 decode of
 * these types is bound by the dot kernel, not by memory, without them. */
#define KQ_AVX512 QUANT_AVX512

#if KQ_AVX512
/* The shape they share, per super-block and activation row: the unsigned
 * quants of 64 elements in one zmm, in the order of the activations'
 * 64-byte vector (vec_dot_rows reads rows that rows_prepare laid out for
 * the kernel, vec_dot plain Q8_K rows), so one vpdpbusd gives 16 int32 sums
 * of 4 products. Those fit int16 (|sum| <= 4 * 63 * 128), so two of them pack
 * into one vector of int16 (exact) and a single vpmaddwd / vpdpwssd with
 * the group scales lined up to match applies the scales to both: half the
 * multiplies of scaling each sum on its own. The float steps then run on 16
 * lanes,
 *   acc = fma(y.d * D, cvt(S), acc)      (S int32, exact; D per kernel)
 * and a 16-lane hsum at the end: the same steps whatever the number of rows.
 * Weight quants and scales are unpacked once for all rows. */

/* 32 bytes at p in both 256-bit halves of a zmm. Not free on this CPU (Zen
 * 5): 4 of them beside 8 dpbusd took 10 % longer than the dpbusd alone. */
static inline __m512i bcast256(const void *p) { return _mm512_broadcast_i64x4(loadu256(p)); }

static inline float hsum_f32_16(__m512 x)
{
    return hsum_f32_8(_mm256_add_ps(_mm512_castps512_ps256(x), _mm512_extractf32x8_ps(x, 1)));
}

/* vpermb indices lining int16 group scales up with packs_epi32(a, b): in
 * 128-bit lane i, int16 0..3 hold a's int32 lanes 4i..4i+3 and int16 4..7
 * b's, of groups ga(i) and gb(i); the macros give the index word. */
#define K_PACK_IDX(ga, gb)                                                                         \
    _mm512_set_epi16(gb(3), gb(3), gb(3), gb(3), ga(3), ga(3), ga(3), ga(3), gb(2), gb(2), gb(2), \
                     gb(2), ga(2), ga(2), ga(2), ga(2), gb(1), gb(1), gb(1), gb(1), ga(1), ga(1), \
                     ga(1), ga(1), gb(0), gb(0), gb(0), gb(0), ga(0), ga(0), ga(0), ga(0))

/* sum of the dpbusd results s0..s3 times their int16 scales: sc01 lines up
 * with packs(s0, s1), sc23 with packs(s2, s3). 16 int32 lanes. */
static inline __m512i k_scale4(__m512i s0, __m512i s1, __m512i s2, __m512i s3, __m512i sc01, __m512i sc23)
{
    return _mm512_dpwssd_epi32(_mm512_madd_epi16(sc01, _mm512_packs_epi32(s0, s1)), sc23, _mm512_packs_epi32(s2, s3));
}

/* Q4_K / Q5_K: scales 0..3, mins 0..3, scales 4..7, mins 4..7 in bytes
 * 0..15, unpacked in general registers (off the busy vector ports). */
static inline __m128i k4_scales_mins_u8(const uint8_t *scales)
{
    uint64_t lo;
    uint32_t u2;
    memcpy(&lo, scales, 8);
    memcpy(&u2, scales + 8, 4);
    const uint64_t nib = (uint64_t)u2 | (uint64_t)u2 << 28; /* low nibbles in bytes 0..3, high ones in 4..7 */
    const uint64_t hi = (nib & 0x0f0f0f0f0f0f0f0fULL) | ((lo >> 2) & 0x3030303030303030ULL);
    return _mm_set_epi64x((long long)hi, (long long)(lo & 0x3f3f3f3f3f3f3f3fULL));
}

/* Q4_K / Q5_K activations, prepared (rows_prepare) for k4_rows: per
 * super-block of q8_K, KQ_PREP_BYTES:
 *   4 x 64 bytes of quants, part p = 2h + u (h = 0, 1; u = 0: low nibbles,
 *       1: high nibbles) holding elements 128h + 32u + (0..31) in its low
 *       32 bytes and 128h + 64 + 32u + (0..31) in its high 32 bytes: the
 *       order that one 64-byte load of two nibble chunks unpacks to;
 *   64 bytes: d (float) in bytes 0..3, bsums[0..15] as int16 16..31 (where
 *       the mins meet them in vpmaddwd; int16 2..15 are zero).
 * One 64-byte load per part, on one cache line, and no broadcasts: with
 * its rows in cache the kernel is bound by vector instructions (about two a
 * cycle), and the broadcasts of the nibble chunks were 4 of ~32. */
#define KQ_PREP_BYTES 320
#define KQ_PREP_TAIL QK_K /* the 64 bytes after the quants */

void q8_K_k4_prepare(const void *qx, void *dst, int64_t n)
{
    const block_q8_K *y = qx;
    uint8_t *o = dst;
    for (int64_t i = 0; i < n / QK_K; i++, o += KQ_PREP_BYTES) {
        for (int p = 0; p < 4; p++) {
            const int base = 128 * (p >> 1) + 32 * (p & 1);
            memcpy(o + 64 * p, y[i].qs + base, 32);
            memcpy(o + 64 * p + 32, y[i].qs + base + 64, 32);
        }
        memset(o + KQ_PREP_TAIL, 0, 64);
        memcpy(o + KQ_PREP_TAIL, &y[i].d, sizeof(float));
        memcpy(o + KQ_PREP_TAIL + 32, y[i].bsums, sizeof y[i].bsums);
    }
}

size_t q8_K_prep_size(int64_t n) { return (size_t)(n / QK_K) * KQ_PREP_BYTES; }

/* Q6_K activations, prepared for q6k_rows / q6k_rows2: per super-block the
 * 256 quants as they are, then bsums[0..15] as int16 0..15 (the offset
 * term's lanes), d (float) at byte 288, zeros to 320. The same point as
 * Q4_K's: 64-byte loads that do not cross a line (block_q8_K is 292 bytes)
 * and no broadcast of the sums. */
void q8_K_q6k_prepare(const void *qx, void *dst, int64_t n)
{
    const block_q8_K *y = qx;
    uint8_t *o = dst;
    for (int64_t i = 0; i < n / QK_K; i++, o += KQ_PREP_BYTES) {
        memcpy(o, y[i].qs, QK_K);
        memset(o + KQ_PREP_TAIL, 0, 64);
        memcpy(o + KQ_PREP_TAIL, y[i].bsums, sizeof y[i].bsums);
        memcpy(o + KQ_PREP_TAIL + 32, &y[i].d, sizeof(float));
    }
}

/* Q4_K and Q5_K, one kernel for vec_dot (prep false: plain q8_K rows) and
 * vec_dot_rows (prep true: q8_K_k4_prepare's rows), the same integers and
 * float steps either way:
 *   S lanes 0..7:  sum_j sc_j * (q_j . y_j) (the two halves of the scaled
 *                  sums added; which lane holds what does not matter)
 *   S lane 8 + j:  m_j * (bsums[2j] + bsums[2j+1])
 *   D = (d x 8, -dmin x 8).
 * Nibble chunks 2h and 2h + 1 (64 bytes) are one load: the low nibbles are
 * groups 4h and 4h + 2 (dpbusd lanes 0..7 and 8..15), gf2p8affineqb moves
 * the high ones down, groups 4h + 1 and 4h + 3. Q5_K's qh is broadcast to
 * both halves and gf2p8affineqb turns bit g of each byte into bit 4 of
 * group g's quant. */
static ALWAYS_INLINE void k4_rows(bool q5, bool prep, int64_t n, const void *w, const void *x, size_t xrb, int NR,
                                  float *out, size_t os)
{
    const size_t bs = q5 ? sizeof(block_q5_K) : sizeof(block_q4_K);
    const size_t qs_off = q5 ? offsetof(block_q5_K, qs) : offsetof(block_q4_K, qs);
    const size_t ys = prep ? KQ_PREP_BYTES : sizeof(block_q8_K);
    /* vpermb indices into k4_scales_mins_u8: low byte of each int16 (the
     * high byte is zeroed by the mask lo8). packs(s0, s1): s0's lanes 0..7
     * are group 0, 8..15 group 2; s1's groups 1 and 3; s2, s3 the same
     * four groups on. */
#define K4_SC(j) ((j) < 4 ? (j) : (j) + 4)
#define K4_MN(j) ((j) < 4 ? (j) + 4 : (j) + 8)
#define K4_GA(i) K4_SC(2 * ((i) >> 1))
#define K4_GB(i) K4_SC(1 + 2 * ((i) >> 1))
#define K4_GC(i) K4_SC(4 + 2 * ((i) >> 1))
#define K4_GD(i) K4_SC(5 + 2 * ((i) >> 1))
    const __m512i idx01 = K_PACK_IDX(K4_GA, K4_GB), idx23 = K_PACK_IDX(K4_GC, K4_GD);
    /* min j in int16 16 + 2j and 17 + 2j (int16 0..15 are zeroed) */
    const __m512i idxm = _mm512_set_epi16(K4_MN(7), K4_MN(7), K4_MN(6), K4_MN(6), K4_MN(5), K4_MN(5), K4_MN(4),
                                          K4_MN(4), K4_MN(3), K4_MN(3), K4_MN(2), K4_MN(2), K4_MN(1), K4_MN(1),
                                          K4_MN(0), K4_MN(0), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
#undef K4_GA
#undef K4_GB
#undef K4_GC
#undef K4_GD
#undef K4_SC
#undef K4_MN
    const __mmask64 lo8 = 0x5555555555555555ULL;
    const __m512i idxd = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
    const __m512i m4 = _mm512_set1_epi8(0xF);
    __m512 acc[VEC_DOT_ROWS_MAX];
    for (int b = 0; b < NR; b++) acc[b] = _mm512_setzero_ps();
    for (int64_t i = 0; i < n / QK_K; i++) {
        /* d, dmin and scales sit at the same offsets in both blocks */
        const block_q4_K *xb = (const block_q4_K *)(const void *)((const uint8_t *)w + i * bs);
        rows_prefetch(NR, xb, bs);
        const uint8_t *qs = (const uint8_t *)xb + qs_off;
        const __m512i sm = _mm512_castsi128_si512(k4_scales_mins_u8(xb->scales));
        const __m512i sc01 = _mm512_maskz_permutexvar_epi8(lo8, idx01, sm);
        const __m512i sc23 = _mm512_maskz_permutexvar_epi8(lo8, idx23, sm);
        const __m512i mins = _mm512_maskz_permutexvar_epi8(lo8 & ~0xFFFFFFFFULL, idxm, sm);
        uint32_t dd; /* fp16 d and -dmin (sign flipped: exact) */
        memcpy(&dd, &xb->d, 4);
        const __m128 d2 = _mm_cvtph_ps(_mm_cvtsi32_si128((int)(dd ^ 0x80000000u)));
        const __m512 dw = _mm512_permutexvar_ps(idxd, _mm512_castps128_ps512(d2));
        __m512i q[4]; /* q[2h + u]: the parts of q8_K_k4_prepare's order */
        for (int h = 0; h < 2; h++) {
            __m512i bits = _mm512_loadu_si512(qs + 64 * h);
            __asm__("" : "+v"(bits)); /* one load for both uses: most of these cross a cache line */
            q[2 * h] = _mm512_and_si512(bits, m4);
            q[2 * h + 1] = hi_nibbles(bits);
        }
        if (q5) {
            const __m512i hb = bcast256(((const block_q5_K *)(const void *)xb)->qh);
            for (int p = 0; p < 4; p++) { /* part p: groups g and g + 2 */
                const int g = 4 * (p >> 1) + (p & 1);
                q[p] = _mm512_or_si512(q[p], gf_bits(hb, GF_BIT(4, g), GF_BIT(4, g + 2)));
            }
        }
        for (int b = 0; b < NR; b++) {
            const uint8_t *yb = (const uint8_t *)x + b * xrb + i * ys;
            __m512i s[4], bsums;
            float yd;
            if (prep) {
                for (int p = 0; p < 4; p++)
                    s[p] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q[p], _mm512_loadu_si512(yb + 64 * p));
                bsums = _mm512_loadu_si512(yb + KQ_PREP_TAIL);
                memcpy(&yd, yb + KQ_PREP_TAIL, sizeof yd);
            } else {
                const block_q8_K *y = (const block_q8_K *)(const void *)yb;
                for (int p = 0; p < 4; p++) {
                    const int base = 128 * (p >> 1) + 32 * (p & 1);
                    const __m256i lo = loadu256(y->qs + base), hi = loadu256(y->qs + base + 64);
                    const __m512i v = _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
                    s[p] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), q[p], v);
                }
                bsums = bcast256(y->bsums);
                yd = y->d;
            }
            const __m512i t = k_scale4(s[0], s[1], s[2], s[3], sc01, sc23);
            const __m512i pm = _mm512_madd_epi16(mins, bsums);
            const __m512i S = _mm512_mask_add_epi32(pm, 0x00FF, t, _mm512_shuffle_i64x2(t, t, _MM_SHUFFLE(1, 0, 3, 2)));
            acc[b] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_set1_ps(yd), dw), _mm512_cvtepi32_ps(S), acc[b]);
        }
    }
    for (int b = 0; b < NR; b++) out[(size_t)b * os] = hsum_f32_16(acc[b]);
}
#define KQ_PREPARED true

#else /* AVX2 */

/* Integer sums of one row in K_CHAINS dependency chains at most: with one or
 * two rows, their few chains would wait on the fused multiply-add latency. */
#define K_CHAINS 2
static ALWAYS_INLINE int k_chains(int NR) { return NR <= 2 ? 2 : 1; }

/* Q4_K and Q5_K, one kernel for vec_dot and vec_dot_rows. Per super-block
 * and activation row:
 *   sumi = sum_j sc_j * (q_j . y_j)               8 int32 lanes, exact
 *   pm   = m_j * (bsums[2j] + bsums[2j+1]) in lane j, exact
 *   acc  = fma(y.d * d, sumi, acc), then acc = acc - (y.d * dmin) * pm (fused)
 * and hsum_f32_8(acc) at the end: the same float steps whatever the number
 * of rows. The weight quants and scales of a chunk are unpacked once for all
 * rows (chunk-outer, row-inner loops). */
static ALWAYS_INLINE void k4_rows(bool q5, bool prep, int64_t n, const void *w, const void *x, size_t xrb, int NR,
                                  float *out, size_t os)
{
    (void)prep; /* plain q8_K rows only */
    const int chains = k_chains(NR);
    const size_t bs = q5 ? sizeof(block_q5_K) : sizeof(block_q4_K);
    const size_t qs_off = q5 ? offsetof(block_q5_K, qs) : offsetof(block_q4_K, qs);
    const __m256i m4 = _mm256_set1_epi8(0xF), b16 = _mm256_set1_epi8(16);
    __m256 acc[VEC_DOT_ROWS_MAX];
    for (int b = 0; b < NR; b++) acc[b] = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK_K; i++) {
        /* d, dmin and scales sit at the same offsets in both blocks */
        const block_q4_K *xb = (const block_q4_K *)(const void *)((const uint8_t *)w + i * bs);
        rows_prefetch(NR, xb, bs);
        const uint8_t *qs = (const uint8_t *)xb + qs_off;
        const __m256i sm = k4_scales_mins_i16(xb->scales);
        const __m256i scales = _mm256_permute2x128_si256(sm, sm, 0x00);
        const __m128i mins = _mm256_extracti128_si256(sm, 1);
        const __m256i mins2 = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_unpacklo_epi16(mins, mins)),
                                                      _mm_unpackhi_epi16(mins, mins), 1); /* m0 m0 m1 m1 ... */
        const __m256 dw = _mm256_set1_ps(fp16(xb->d)), dmw = _mm256_set1_ps(fp16(xb->dmin));
        __m256i hbits = _mm256_setzero_si256();
        if (q5) hbits = loadu256(((const block_q5_K *)(const void *)xb)->qh);
        const block_q8_K *y[VEC_DOT_ROWS_MAX];
        __m256i sumi[VEC_DOT_ROWS_MAX][K_CHAINS];
        for (int b = 0; b < NR; b++) {
            y[b] = (const block_q8_K *)(const void *)((const uint8_t *)x + b * xrb) + i;
            for (int k = 0; k < K_CHAINS; k++) sumi[b][k] = _mm256_setzero_si256();
        }
        for (int c = 0; c < 4; c++) {
            const __m256i bits = loadu256(qs + 32 * c);
            __m256i lo = _mm256_and_si256(bits, m4);
            __m256i hi = _mm256_and_si256(_mm256_srli_epi16(bits, 4), m4);
            if (q5) {
                lo = _mm256_or_si256(lo, _mm256_and_si256(bit_set_mask(hbits, 2 * c), b16));
                hi = _mm256_or_si256(hi, _mm256_and_si256(bit_set_mask(hbits, 2 * c + 1), b16));
            }
            const __m256i sl = bcast_i16(scales, 2 * c), sh = bcast_i16(scales, 2 * c + 1);
            for (int b = 0; b < NR; b++) {
                const __m256i q8l = loadu256((const void *)(y[b]->qs + 64 * c));
                const __m256i q8h = loadu256((const void *)(y[b]->qs + 64 * c + 32));
                __m256i *sc = sumi[b];
                sc[(2 * c) % chains] = madd16_add(sc[(2 * c) % chains], sl, _mm256_maddubs_epi16(lo, q8l));
                sc[(2 * c + 1) % chains] = madd16_add(sc[(2 * c + 1) % chains], sh, _mm256_maddubs_epi16(hi, q8h));
            }
        }
        for (int b = 0; b < NR; b++) {
            for (int k = 1; k < chains; k++) sumi[b][0] = _mm256_add_epi32(sumi[b][0], sumi[b][k]);
            const __m256 yd = _mm256_set1_ps(y[b]->d);
            const __m256i pm = _mm256_madd_epi16(mins2, loadu256((const void *)y[b]->bsums));
            acc[b] = _mm256_fmadd_ps(_mm256_mul_ps(yd, dw), _mm256_cvtepi32_ps(sumi[b][0]), acc[b]);
            acc[b] = _mm256_fnmadd_ps(_mm256_mul_ps(yd, dmw), _mm256_cvtepi32_ps(pm), acc[b]);
        }
    }
    for (int b = 0; b < NR; b++) out[(size_t)b * os] = hsum_f32_8(acc[b]);
}

#define KQ_PREPARED false
#endif /* KQ_AVX512 */

/* vec_dot_rows reads prepared rows where the table gives Q4_K / Q5_K a rows_prepare (AVX-512) */
#define Q4K_ROWS(n, w, x, xrb, NR, out, os) k4_rows(false, KQ_PREPARED, n, w, x, xrb, NR, out, os)
#define Q5K_ROWS(n, w, x, xrb, NR, out, os) k4_rows(true, KQ_PREPARED, n, w, x, xrb, NR, out, os)

void q4_K_dot_rows_avx2(int64_t n, const void *w, const void *x, size_t xrb, int nrows, float *out, size_t os)
{
    ROWS_DISPATCH(Q4K_ROWS, n, w, x, xrb, nrows, out, os)
}

void q5_K_dot_rows_avx2(int64_t n, const void *w, const void *x, size_t xrb, int nrows, float *out, size_t os)
{
    ROWS_DISPATCH(Q5K_ROWS, n, w, x, xrb, nrows, out, os)
}

float q4_K_dot_avx2(int64_t n, const void *w, const void *a)
{
    float r;
    k4_rows(false, false, n, w, a, 0, 1, &r, 0);
    return r;
}

float q5_K_dot_avx2(int64_t n, const void *w, const void *a)
{
    float r;
    k4_rows(true, false, n, w, a, 0, 1, &r, 0);
    return r;
}

#define Q4K_LO _mm256_and_si256(bits, m4)
#define Q4K_HI _mm256_and_si256(_mm256_srli_epi16(bits, 4), m4)
#define Q5K_SETUP const __m256i hbits = loadu256(x[i].qh); const __m256i b16 = _mm256_set1_epi8(16);
#define Q5K_LO _mm256_or_si256(Q4K_LO, _mm256_and_si256(bit_set_mask(hbits, 2 * c), b16))
#define Q5K_HI _mm256_or_si256(Q4K_HI, _mm256_and_si256(bit_set_mask(hbits, 2 * c + 1), b16))

/* Q4_K / Q5_K to_float: QLO(c)/QHI(c) as in the dot. */
#define K4_TO_FLOAT_BODY(BLOCK, SETUP, QLO, QHI)                                                \
    const BLOCK *x = src;                                                                       \
    const __m256i m4 = _mm256_set1_epi8(0xF);                                                   \
    for (int64_t i = 0; i < n / QK_K; i++) {                                                    \
        const float d = fp16(x[i].d), min = fp16(x[i].dmin);                                    \
        uint8_t sm[16];                                                                         \
        k4_unpack_scales(x[i].scales, sm);                                                      \
        SETUP                                                                                   \
        float *yb = dst + i * QK_K;                                                             \
        for (int c = 0; c < 4; c++) {                                                           \
            const __m256i bits = loadu256(x[i].qs + 32 * c);                                    \
            const float d1 = d * sm[2 * c], m1 = min * sm[8 + 2 * c];                           \
            const float d2 = d * sm[2 * c + 1], m2 = min * sm[8 + 2 * c + 1];                   \
            store_i8x32_affine2(yb + 64 * c, QLO, d1, m1, d1, m1);                              \
            store_i8x32_affine2(yb + 64 * c + 32, QHI, d2, m2, d2, m2);                         \
        }                                                                                       \
    }

void q4_K_to_float_avx2(const void *src, float *dst, int64_t n)
{
    K4_TO_FLOAT_BODY(block_q4_K, , Q4K_LO, Q4K_HI)
}

void q5_K_to_float_avx2(const void *src, float *dst, int64_t n)
{
    K4_TO_FLOAT_BODY(block_q5_K, Q5K_SETUP, Q5K_LO, Q5K_HI)
}

void q2_K_to_float_avx2(const void *src, float *dst, int64_t n)
{
    const block_q2_K *x = src;
    const __m256i m3 = _mm256_set1_epi8(3);
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = fp16(x[i].d), min = fp16(x[i].dmin);
        float *yb = dst + i * QK_K;
        for (int c = 0; c < 2; c++) {
            const __m256i bits = loadu256(x[i].qs + 32 * c);
            for (int k = 0; k < 4; k++) {
                const int g = 8 * c + 2 * k; /* groups g (first 16) and g + 1 */
                const uint8_t s0 = x[i].scales[g], s1 = x[i].scales[g + 1];
                store_i8x32_affine2(yb + 128 * c + 32 * k, _mm256_and_si256(_mm256_srli_epi16(bits, 2 * k), m3),
                                    d * (s0 & 0xF), min * (s0 >> 4), d * (s1 & 0xF), min * (s1 >> 4));
            }
        }
    }
}

void q3_K_to_float_avx2(const void *src, float *dst, int64_t n)
{
    const block_q3_K *x = src;
    const __m256i m3 = _mm256_set1_epi8(3), four = _mm256_set1_epi8(4);
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = fp16(x[i].d);
        int8_t sc[16];
        q3k_unpack_scales(x[i].scales, sc);
        const __m256i hbits = loadu256(x[i].hmask);
        float *yb = dst + i * QK_K;
        for (int c = 0; c < 2; c++) {
            const __m256i bits = loadu256(x[i].qs + 32 * c);
            for (int k = 0; k < 4; k++) {
                const int g = 8 * c + 2 * k;
                const __m256i ql = _mm256_and_si256(_mm256_srli_epi16(bits, 2 * k), m3);
                const __m256i qh = _mm256_andnot_si256(bit_set_mask(hbits, 4 * c + k), four);
                store_i8x32_scaled2(yb + 128 * c + 32 * k, _mm256_sub_epi8(ql, qh), d * sc[g], d * sc[g + 1]);
            }
        }
    }
}

/* Chunk c's four vectors of 32 unsigned 6-bit quants (0..63). */
static inline void q6k_chunk(const block_q6_K *b, int c, __m256i q[4])
{
    const __m256i m4 = _mm256_set1_epi8(0xF), m2 = _mm256_set1_epi8(3);
    const __m256i l1 = loadu256(b->ql + 64 * c), l2 = loadu256(b->ql + 64 * c + 32);
    const __m256i h = loadu256(b->qh + 32 * c);
    /* bits 2k..2k+1 of h moved to bits 4..5 (16-bit shifts: what crosses a
     * byte boundary is masked off) */
    const __m256i m30 = _mm256_set1_epi8(0x30);
    (void)m2;
    q[0] = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_and_si256(_mm256_slli_epi16(h, 4), m30));
    q[1] = _mm256_or_si256(_mm256_and_si256(l2, m4), _mm256_and_si256(_mm256_slli_epi16(h, 2), m30));
    q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4), _mm256_and_si256(h, m30));
    q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l2, 4), m4), _mm256_and_si256(_mm256_srli_epi16(h, 2), m30));
}

#if KQ_AVX512
/* Q6_K, one kernel for vec_dot and vec_dot_rows (see the AVX-512 notes
 * above): S = sum_g sc_g * (q_g . y_g) - 32 * sum_g sc_g * bsum_g (the
 * offset of the unsigned 6-bit quants comes in through the activation block
 * sums), D = d. D is the same in all lanes, so the two halves of S are added
 * (exact) before the float steps, which run on 8 lanes: two weight rows then
 * share one vector (q6k_rows2).
 * The 64 bytes ql[64c..64c+63] hold elements 128c + 0..63 in their low
 * nibbles and 128c + 64..127 in their high nibbles, in activation order;
 * qh[32c..32c+31], broadcast to both halves of a zmm, has their 2 high bits
 * (bits 0-1 / 2-3 for the low nibbles of the two halves, 4-5 / 6-7 for the
 * high ones), which gf2p8affineqb moves to bits 4-5. dpbusd result h of
 * chunk c has group 8c + 4h + l / 4 in int32 lane l. */
struct q6k_w {
    __m512i q[2][2];    /* chunk c, low / high nibbles: unsigned quants */
    __m512i sc0, sc1;   /* int16 group scales lined up with k_scale4's packs */
    __m512i offs;       /* -32 * sc_g in int16 0..15 */
    float d;
};

static ALWAYS_INLINE void q6k_weights(const block_q6_K *xb, struct q6k_w *o)
{
    const __m512i m4 = _mm512_set1_epi8(0xF);
    /* vpermb indices of the int16 scales (bytes 2g, 2g + 1 of sc16).
     * packs(result 0, result 1) of chunk c: lane i has groups 8c + i, 8c + 4 + i */
#define Q6_W(g) ((2 * (g)) | (2 * (g) + 1) << 8)
#define Q6_GA(i) Q6_W(i)
#define Q6_GB(i) Q6_W(4 + (i))
#define Q6_GC(i) Q6_W(8 + (i))
#define Q6_GD(i) Q6_W(12 + (i))
    const __m512i idx0 = K_PACK_IDX(Q6_GA, Q6_GB), idx1 = K_PACK_IDX(Q6_GC, Q6_GD);
#undef Q6_W
#undef Q6_GA
#undef Q6_GB
#undef Q6_GC
#undef Q6_GD
    const __m256i sc16 = _mm256_cvtepi8_epi16(loadu128((const void *)xb->scales)); /* groups 0..15 */
    o->offs = _mm512_zextsi256_si512(_mm256_sub_epi16(_mm256_setzero_si256(), _mm256_slli_epi16(sc16, 5)));
    o->sc0 = _mm512_permutexvar_epi8(idx0, _mm512_castsi256_si512(sc16));
    o->sc1 = _mm512_permutexvar_epi8(idx1, _mm512_castsi256_si512(sc16));
    o->d = fp16(xb->d);
    for (int c = 0; c < 2; c++) {
        /* each loaded once for its two uses (gcc would fold the loads into
         * both): blocks of 210 bytes, so most loads cross a cache line */
        __m512i l = _mm512_loadu_si512(xb->ql + 64 * c);
        __m512i h = bcast256(xb->qh + 32 * c);
        __asm__("" : "+v"(l), "+v"(h));
        /* (l & 0xF) | high bits; (l >> 4) | high bits */
        o->q[c][0] = _mm512_ternarylogic_epi32(l, gf_bits(h, GF_BIT(4, 0) | GF_BIT(5, 1), GF_BIT(4, 2) | GF_BIT(5, 3)),
                                               m4, 0xEC);
        o->q[c][1] = _mm512_or_si512(hi_nibbles(l),
                                     gf_bits(h, GF_BIT(4, 4) | GF_BIT(5, 5), GF_BIT(4, 6) | GF_BIT(5, 7)));
    }
}

/* S of one row against the activation vectors v (y.qs in 64-byte parts) and
 * the activation block sums bs (bsums in int16 0..15, where offs is not
 * zero): 16 int32 lanes. */
static ALWAYS_INLINE __m512i q6k_isum(const struct q6k_w *o, const __m512i v[4], __m512i bs)
{
    __m512i s[2][2];
    for (int c = 0; c < 2; c++)
        for (int h = 0; h < 2; h++) s[c][h] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), o->q[c][h], v[2 * c + h]);
    return _mm512_dpwssd_epi32(k_scale4(s[0][0], s[0][1], s[1][0], s[1][1], o->sc0, o->sc1), o->offs, bs);
}

/* Super-block i of activation row b: q8_K_q6k_prepare's (prep) or a plain
 * block_q8_K. Its quants, its bsums in int16 0..15, its d. */
static ALWAYS_INLINE const uint8_t *q6k_act(bool prep, const void *x, size_t xrb, int b, int64_t i)
{
    return (const uint8_t *)x + b * xrb + i * (prep ? KQ_PREP_BYTES : sizeof(block_q8_K));
}

static ALWAYS_INLINE float q6k_act_d(bool prep, const uint8_t *y)
{
    float d;
    memcpy(&d, y + (prep ? KQ_PREP_TAIL + 32 : offsetof(block_q8_K, d)), sizeof d);
    return d;
}

/* The activation vectors of prepared super-block y in registers, for both
 * rows of q6k_rows2 (see oct_rows2 in oct.c: gcc would otherwise load each
 * again for every use). */
static ALWAYS_INLINE void q8k_vectors(const uint8_t *y, __m512i v[4], __m512i *bs)
{
    for (int k = 0; k < 4; k++) v[k] = _mm512_loadu_si512(y + 64 * k);
    *bs = _mm512_loadu_si512(y + KQ_PREP_TAIL);
    __asm__("" : "+v"(v[0]), "+v"(v[1]), "+v"(v[2]), "+v"(v[3]), "+v"(*bs));
}

/* vec_dot (prep false: plain block_q8_K rows) and vec_dot_rows (prep true). */
static ALWAYS_INLINE void q6k_rows(bool prep, int64_t n, const void *w, const void *x, size_t xrb, int NR, float *out,
                                   size_t os)
{
    const block_q6_K *xw = w;
    __m256 acc[VEC_DOT_ROWS_MAX];
    for (int b = 0; b < NR; b++) acc[b] = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK_K; i++) {
        rows_prefetch(NR, &xw[i], sizeof *xw);
        struct q6k_w o;
        q6k_weights(&xw[i], &o);
        for (int b = 0; b < NR; b++) {
            /* loads left to gcc (each is used once here): held in registers
             * as q8k_vectors does, 8 rows ran 15 % slower */
            const uint8_t *y = q6k_act(prep, x, xrb, b, i);
            const uint8_t *qs = prep ? y : y + offsetof(block_q8_K, qs);
            __m512i v[4];
            for (int k = 0; k < 4; k++) v[k] = _mm512_loadu_si512(qs + 64 * k);
            const __m512i bs = prep ? _mm512_loadu_si512(y + KQ_PREP_TAIL) : bcast256(y + offsetof(block_q8_K, bsums));
            const __m512i S = q6k_isum(&o, v, bs);
            const __m256i s8 = _mm256_add_epi32(_mm512_castsi512_si256(S), _mm512_extracti64x4_epi64(S, 1));
            acc[b] = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_set1_ps(q6k_act_d(prep, y)), _mm256_set1_ps(o.d)),
                                     _mm256_cvtepi32_ps(s8), acc[b]);
        }
    }
    for (int b = 0; b < NR; b++) out[(size_t)b * os] = hsum_f32_8(acc[b]);
}

/* q6k_rows for two weight rows (w, w + wrb): the activation vectors are
 * loaded once for both, and both rows' float steps share one vector (row 0
 * in lanes 0-7, row 1 in 8-15), lane by lane q6k_rows' steps. */
static ALWAYS_INLINE void q6k_rows2(int64_t n, const void *w, size_t wrb, const void *x, size_t xrb, int NR,
                                    float *out, size_t os)
{
    const block_q6_K *x0 = w, *x1 = (const block_q6_K *)(const void *)((const uint8_t *)w + wrb);
    __m512 acc[VEC_DOT_ROWS_MAX];
    for (int b = 0; b < NR; b++) acc[b] = _mm512_setzero_ps();
    for (int64_t i = 0; i < n / QK_K; i++) {
        /* the next pair's rows (the next call's), as oct_rows2 does for 8-bit
         * weights: Q6_K two pairs ahead measured no faster */
        for (size_t c = 0; c < sizeof *x0; c += 64) {
            __builtin_prefetch((const uint8_t *)&x0[i] + 2 * wrb + c, 0, 3);
            __builtin_prefetch((const uint8_t *)&x1[i] + 2 * wrb + c, 0, 3);
        }
        struct q6k_w o0, o1;
        q6k_weights(&x0[i], &o0);
        q6k_weights(&x1[i], &o1);
        const __m512 dw = _mm512_insertf32x8(_mm512_set1_ps(o0.d), _mm256_set1_ps(o1.d), 1);
        for (int b = 0; b < NR; b++) {
            const uint8_t *y = q6k_act(true, x, xrb, b, i); /* rows2 exists on AVX-512 builds only */
            __m512i v[4], bs;
            q8k_vectors(y, v, &bs);
            const __m512i S0 = q6k_isum(&o0, v, bs), S1 = q6k_isum(&o1, v, bs);
            /* [S0 lanes 0-7 | S1 lanes 0-7] + [S0 lanes 8-15 | S1 lanes 8-15] */
            const __m512i s = _mm512_add_epi32(_mm512_shuffle_i64x2(S0, S1, _MM_SHUFFLE(1, 0, 1, 0)),
                                               _mm512_shuffle_i64x2(S0, S1, _MM_SHUFFLE(3, 2, 3, 2)));
            const __m512 yd = _mm512_set1_ps(q6k_act_d(true, y));
            acc[b] = _mm512_fmadd_ps(_mm512_mul_ps(yd, dw), _mm512_cvtepi32_ps(s), acc[b]);
        }
    }
    hsum_pairs(acc, NR, out, os);
}

void q6_K_dot_rows2_avx2(int64_t n, const void *w, size_t wrb, int w_rows, const void *x, size_t xrb, int nrows,
                         float *out, size_t os)
{
    ROWS2_DISPATCH(q6k_rows2, n, w, wrb, w_rows, x, xrb, nrows, out, os)
}

#else /* AVX2 */

/* Q6_K, one kernel for vec_dot and vec_dot_rows. Per super-block and row:
 * sumi = sum_g sc_g * (q_g . y_g) - 32 * sum_g sc_g * bsum_g (8 int32 lanes,
 * exact; the offset of the unsigned 6-bit quants comes in through the
 * activation block sums as the initial value), then
 * acc = fma(y.d * d, sumi, acc); hsum_f32_8(acc) at the end. */
static ALWAYS_INLINE void q6k_rows(bool prep, int64_t n, const void *w, const void *x, size_t xrb, int NR, float *out,
                                   size_t os)
{
    (void)prep; /* plain q8_K rows only */
    const int chains = k_chains(NR);
    const block_q6_K *xw = w;
    __m256 acc[VEC_DOT_ROWS_MAX];
    for (int b = 0; b < NR; b++) acc[b] = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / QK_K; i++) {
        rows_prefetch(NR, &xw[i], sizeof *xw);
        const __m256i sc16 = _mm256_cvtepi8_epi16(loadu128((const void *)xw[i].scales)); /* groups 0..15 */
        const __m256i offs = _mm256_sub_epi16(_mm256_setzero_si256(), _mm256_slli_epi16(sc16, 5));
        const __m256 dw = _mm256_set1_ps(fp16(xw[i].d));
        const block_q8_K *y[VEC_DOT_ROWS_MAX];
        __m256i sumi[VEC_DOT_ROWS_MAX][K_CHAINS];
        for (int b = 0; b < NR; b++) {
            y[b] = (const block_q8_K *)(const void *)((const uint8_t *)x + b * xrb) + i;
            sumi[b][0] = _mm256_madd_epi16(offs, loadu256((const void *)y[b]->bsums));
            for (int k = 1; k < K_CHAINS; k++) sumi[b][k] = _mm256_setzero_si256();
        }
        for (int c = 0; c < 2; c++) {
            /* groups 8c..8c+7 in both halves; vector k covers groups 8c+2k (low half), 8c+2k+1 (high half) */
            const __m256i s = c ? _mm256_permute2x128_si256(sc16, sc16, 0x11) : _mm256_permute2x128_si256(sc16, sc16, 0x00);
            __m256i q[4];
            q6k_chunk(&xw[i], c, q);
            for (int k = 0; k < 4; k++) {
                const __m256i sp = _mm256_shuffle_epi8(
                    s, _mm256_setr_epi8(4 * k, 4 * k + 1, 4 * k, 4 * k + 1, 4 * k, 4 * k + 1, 4 * k, 4 * k + 1,
                                        4 * k, 4 * k + 1, 4 * k, 4 * k + 1, 4 * k, 4 * k + 1, 4 * k, 4 * k + 1,
                                        4 * k + 2, 4 * k + 3, 4 * k + 2, 4 * k + 3, 4 * k + 2, 4 * k + 3, 4 * k + 2,
                                        4 * k + 3, 4 * k + 2, 4 * k + 3, 4 * k + 2, 4 * k + 3, 4 * k + 2, 4 * k + 3,
                                        4 * k + 2, 4 * k + 3));
                for (int b = 0; b < NR; b++) {
                    const __m256i q8 = loadu256((const void *)(y[b]->qs + 128 * c + 32 * k));
                    const int t = (4 * c + k) % chains;
                    sumi[b][t] = madd16_add(sumi[b][t], sp, _mm256_maddubs_epi16(q[k], q8));
                }
            }
        }
        for (int b = 0; b < NR; b++) {
            for (int k = 1; k < chains; k++) sumi[b][0] = _mm256_add_epi32(sumi[b][0], sumi[b][k]);
            acc[b] = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_set1_ps(y[b]->d), dw), _mm256_cvtepi32_ps(sumi[b][0]), acc[b]);
        }
    }
    for (int b = 0; b < NR; b++) out[(size_t)b * os] = hsum_f32_8(acc[b]);
}

#endif /* KQ_AVX512 */

#define Q6K_ROWS(n, w, x, xrb, NR, out, os) q6k_rows(KQ_PREPARED, n, w, x, xrb, NR, out, os)

void q6_K_dot_rows_avx2(int64_t n, const void *w, const void *x, size_t xrb, int nrows, float *out, size_t os)
{
    ROWS_DISPATCH(Q6K_ROWS, n, w, x, xrb, nrows, out, os)
}

float q6_K_dot_avx2(int64_t n, const void *w, const void *a)
{
    float r;
    q6k_rows(false, n, w, a, 0, 1, &r, 0);
    return r;
}

void q6_K_to_float_avx2(const void *src, float *dst, int64_t n)
{
    const block_q6_K *x = src;
    const __m256i m32 = _mm256_set1_epi8(32);
    for (int64_t i = 0; i < n / QK_K; i++) {
        const float d = fp16(x[i].d);
        float *yb = dst + i * QK_K;
        for (int c = 0; c < 2; c++) {
            __m256i q[4];
            q6k_chunk(&x[i], c, q);
            for (int k = 0; k < 4; k++) {
                const int g = 8 * c + 2 * k; /* (d * scale) * q, as the scalar code */
                store_i8x32_scaled2(yb + 128 * c + 32 * k, _mm256_sub_epi8(q[k], m32), d * x[i].scales[g],
                                    d * x[i].scales[g + 1]);
            }
        }
    }
}

#endif /* QUANT_AVX2 */
