/*
 * attention.c — RoPE and causal attention over the paged KV cache.
 *
 * Attention walks the sequence's block table one block at a time with a
 * running (online) softmax, FlashAttention style: no score matrix, so memory
 * does not grow with the context.
 */
#include "attention.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "quant/quant.h"
#include "vecmath.h"

void rope_table(float *cs, int pos, const struct hparams *hp)
{
    /* ggml's recurrence: theta_i = pos · base^(-2i/n_rot), in float, divided
     * by the frequency factor when the model has one (Llama 3 scaling) and
     * multiplied by the linear scale. */
    const float theta_scale = powf(hp->rope_base, -2.0f / (float)hp->n_rot);
    float theta = (float)pos;
    for (int i = 0; i < hp->n_rot / 2; i++) {
        float t = hp->rope_freq_scale * (hp->rope_freq_factors ? theta / hp->rope_freq_factors[i] : theta);
        cs[2 * i] = cosf(t);
        cs[2 * i + 1] = sinf(t);
        theta *= theta_scale;
    }
}

void rope_apply(float *x, int n_heads, const float *cs, const struct hparams *hp, enum rope_style style)
{
    const int half = hp->n_rot / 2;
    for (int h = 0; h < n_heads; h++) {
        float *v = x + (size_t)h * hp->head_dim;
        for (int i = 0; i < half; i++) {
            /* NORM pairs neighbours, NEOX pairs the two halves of the rotated dims. */
            const int a = style == ROPE_NORM ? 2 * i : i;
            const int b = style == ROPE_NORM ? 2 * i + 1 : i + half;
            const float c = cs[2 * i], s = cs[2 * i + 1], x0 = v[a], x1 = v[b];
            v[a] = x0 * c - x1 * s;
            v[b] = x0 * s + x1 * c;
        }
    }
}

/* x·y + a, rounded once where the machine has FMA (as the vector code
 * does), else twice. Written out so that it does not depend on how the
 * compiler contracts a*b+c. */
static inline float mul_add(float x, float y, float a)
{
#if defined(__FMA__)
    return fmaf(x, y, a);
#else
    return x * y + a;
#endif
}

/* Keys whose scores and softmax factors are computed before their values
 * are accumulated. */
#define ATT_KEYS 64

/* For keys j < n: acc = acc·ms[j] + v_j·vs[j] (v_j at v + j·vrow), with acc
 * rounded to half precision after each step (see attention()). Columns go
 * outermost, in groups held in registers across all n keys: each key's
 * step is a chain fma -> round -> widen, and a whole head's columns in
 * flight at once hide its latency. Every element sees the same operations
 * in the same order as one key at a time would give it. */
#if defined(__AVX512F__)
#define ACC_LANES 16
typedef __m512 acc_vec;
#define acc_load(p) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)(p)))
#define acc_round(x) _mm512_cvtph_ps(_mm512_cvtps_ph((x), 0))
#define acc_store(p, x) _mm256_storeu_si256((__m256i *)(void *)(p), _mm512_cvtps_ph((x), 0))
#define acc_set1 _mm512_set1_ps
#define acc_mul _mm512_mul_ps
#define acc_fmadd _mm512_fmadd_ps
#elif defined(__F16C__) && defined(__AVX2__) && defined(__FMA__)
#define ACC_LANES 8
typedef __m256 acc_vec;
#define acc_load(p) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(p)))
#define acc_round(x) _mm256_cvtph_ps(_mm256_cvtps_ph((x), 0))
#define acc_store(p, x) _mm_storeu_si128((__m128i *)(void *)(p), _mm256_cvtps_ph((x), 0))
#define acc_set1 _mm256_set1_ps
#define acc_mul _mm256_mul_ps
#define acc_fmadd _mm256_fmadd_ps
#endif

#ifdef ACC_LANES
#define ACC_CHAINS 8 /* vectors per group: 128 columns with AVX-512 */
/* chains * ACC_LANES columns at acc (chains a constant at each call). */
static inline __attribute__((always_inline)) void f16_acc_group(uint16_t *acc, const uint8_t *v, size_t vrow, int n,
                                                                const float *ms, const float *vs, int chains)
{
    acc_vec a[ACC_CHAINS];
    for (int c = 0; c < chains; c++) a[c] = acc_load(acc + ACC_LANES * c);
    for (int j = 0; j < n; j++) {
        const uint16_t *vj = (const uint16_t *)(const void *)(v + (size_t)j * vrow);
        const acc_vec vms = acc_set1(ms[j]), vvs = acc_set1(vs[j]);
        if (ms[j] != 1.0f)
            for (int c = 0; c < chains; c++) a[c] = acc_round(acc_mul(a[c], vms));
        for (int c = 0; c < chains; c++) a[c] = acc_round(acc_fmadd(acc_load(vj + ACC_LANES * c), vvs, a[c]));
    }
    for (int c = 0; c < chains; c++) acc_store(acc + ACC_LANES * c, a[c]);
}
#endif

static void f16_accumulate(uint16_t *acc, const uint8_t *v, size_t vrow, int n, const float *ms, const float *vs,
                           int dim)
{
    int i = 0;
#ifdef ACC_LANES
    while (dim - i >= ACC_LANES) {
        const int left = (dim - i) / ACC_LANES, chains = left < ACC_CHAINS ? left : ACC_CHAINS;
        const uint8_t *vi = v + (size_t)i * sizeof(uint16_t);
        switch (chains) {
        case 8: f16_acc_group(acc + i, vi, vrow, n, ms, vs, 8); break;
        case 7: f16_acc_group(acc + i, vi, vrow, n, ms, vs, 7); break;
        case 6: f16_acc_group(acc + i, vi, vrow, n, ms, vs, 6); break;
        case 5: f16_acc_group(acc + i, vi, vrow, n, ms, vs, 5); break;
        case 4: f16_acc_group(acc + i, vi, vrow, n, ms, vs, 4); break;
        case 3: f16_acc_group(acc + i, vi, vrow, n, ms, vs, 3); break;
        case 2: f16_acc_group(acc + i, vi, vrow, n, ms, vs, 2); break;
        default: f16_acc_group(acc + i, vi, vrow, n, ms, vs, 1); break;
        }
        i += chains * ACC_LANES;
    }
#endif
    for (; i < dim; i++) {
        float a = fp16_to_fp32(acc[i]);
        for (int j = 0; j < n; j++) {
            if (ms[j] != 1.0f) a = fp16_to_fp32(fp32_to_fp16(a * ms[j]));
            const uint16_t x = ((const uint16_t *)(const void *)(v + (size_t)j * vrow))[i];
            a = fp16_to_fp32(fp32_to_fp16(mul_add(fp16_to_fp32(x), vs[j], a)));
        }
        acc[i] = fp32_to_fp16(a);
    }
}

static void f32_accumulate(float *acc, const uint8_t *v, size_t vrow, int n, const float *ms, const float *vs,
                           int dim)
{
    for (int j = 0; j < n; j++) {
        const float *vj = (const float *)(const void *)(v + (size_t)j * vrow);
        for (int i = 0; i < dim; i++) acc[i] = mul_add(vj[i], vs[j], acc[i] * ms[j]);
    }
}

/*
 * Causal attention of one query head over the sequence's blocks, with the
 * per-token running softmax of llama.cpp's CPU flash-attention kernel: with
 * an F16 cache the query is rounded to F16 for the K dot products and the
 * V accumulator is kept in F16, exactly as there, so logits agree with
 * llama.cpp to ~1e-4 instead of ~1e-2.
 */
void attention(const struct kv_cache *kv, int seq, int layer, int pos, const float *q, float *out,
               const struct hparams *hp, int head)
{
    const int hd = hp->head_dim, hdv = hp->head_dim_v;
    const int kvh = head / (hp->n_head / hp->n_kv_head);
    const float scale = 1.0f / sqrtf((float)hd);
    const bool half = kv->type == TYPE_F16;
    const vec_dot_fn dot = type_traits(kv->type)->vec_dot; /* cache row · float query */
    const size_t krow = (size_t)kv->k_dim * kv->elem, vrow = (size_t)kv->v_dim * kv->elem;
    float qh[hd];
    uint16_t acc16[half ? hdv : 1];
    float *acc = out + (size_t)head * hdv;
    for (int i = 0; i < hd; i++) {
        const float x = q[(size_t)head * hd + i];
        qh[i] = half ? fp16_to_fp32(fp32_to_fp16(x)) : x;
    }
    memset(acc, 0, (size_t)hdv * sizeof *acc);
    memset(acc16, 0, sizeof acc16);
    float m = -INFINITY, sum = 0.0f;
    const int bs = kv->block_size;
    float ms[ATT_KEYS], vs[ATT_KEYS], arg[ATT_KEYS], e[ATT_KEYS];
    bool rises[ATT_KEYS];
    for (int t0 = 0; t0 <= pos; t0 += bs) {
        /* Rows of one layer are contiguous inside a block. */
        const uint8_t *kb = (const uint8_t *)kv_k(kv, seq, layer, t0) + (size_t)kvh * hd * kv->elem;
        const uint8_t *vb = (const uint8_t *)kv_v(kv, seq, layer, t0) + (size_t)kvh * hdv * kv->elem;
        const int n_block = pos + 1 - t0 < bs ? pos + 1 - t0 : bs;
        for (int j0 = 0; j0 < n_block; j0 += ATT_KEYS) {
            const int n = n_block - j0 < ATT_KEYS ? n_block - j0 : ATT_KEYS;
            /* running max: a new maximum rescales what came before (ms), any
             * other key enters with weight exp(s - m) (vs) */
            for (int j = 0; j < n; j++) {
                const float s = dot(hd, kb + (size_t)(j0 + j) * krow, qh) * scale;
                rises[j] = s > m;
                arg[j] = rises[j] ? m - s : s - m; /* -inf for the first token: factor 0 */
                if (rises[j]) m = s;
            }
            expf_many(e, arg, (size_t)n); /* libm's expf bits, 8 at a time */
            for (int j = 0; j < n; j++) {
                ms[j] = rises[j] ? e[j] : 1.0f;
                vs[j] = rises[j] ? 1.0f : e[j];
                sum = mul_add(sum, ms[j], vs[j]);
            }
            if (half) f16_accumulate(acc16, vb + (size_t)j0 * vrow, vrow, n, ms, vs, hdv);
            else f32_accumulate(acc, vb + (size_t)j0 * vrow, vrow, n, ms, vs, hdv);
        }
    }
    const float inv = 1.0f / sum;
    for (int i = 0; i < hdv; i++) acc[i] = (half ? fp16_to_fp32(acc16[i]) : acc[i]) * inv;
}
