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

/* acc = acc·ms + v·vs, with acc kept in half precision (see attention()). */
static void f16_update(uint16_t *acc, const uint16_t *v, int n, float ms, float vs)
{
    int i = 0;
#if defined(__F16C__) && defined(__AVX2__) && defined(__FMA__)
    const __m256 vms = _mm256_set1_ps(ms), vvs = _mm256_set1_ps(vs);
    for (; i + 8 <= n; i += 8) {
        __m256 a = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(acc + i)));
        if (ms != 1.0f) a = _mm256_cvtph_ps(_mm256_cvtps_ph(_mm256_mul_ps(a, vms), 0));
        __m256 x = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(v + i)));
        _mm_storeu_si128((__m128i *)(acc + i), _mm256_cvtps_ph(_mm256_fmadd_ps(x, vvs, a), 0));
    }
#endif
    for (; i < n; i++) {
        float a = fp16_to_fp32(acc[i]);
        if (ms != 1.0f) a = fp16_to_fp32(fp32_to_fp16(a * ms));
        acc[i] = fp32_to_fp16(a + fp16_to_fp32(v[i]) * vs);
    }
}

static void f32_update(float *acc, const float *v, int n, float ms, float vs)
{
    for (int i = 0; i < n; i++) acc[i] = acc[i] * ms + v[i] * vs;
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
    for (int t0 = 0; t0 <= pos; t0 += bs) {
        /* Rows of one layer are contiguous inside a block. */
        const uint8_t *kb = (const uint8_t *)kv_k(kv, seq, layer, t0) + (size_t)kvh * hd * kv->elem;
        const uint8_t *vb = (const uint8_t *)kv_v(kv, seq, layer, t0) + (size_t)kvh * hdv * kv->elem;
        const int n = pos + 1 - t0 < bs ? pos + 1 - t0 : bs;
        for (int j = 0; j < n; j++) {
            const float s = dot(hd, kb + j * krow, qh) * scale;
            float ms = 1.0f, vs = 1.0f;
            if (s > m) {
                ms = expf(m - s); /* 0 for the first token */
                m = s;
            } else {
                vs = expf(s - m);
            }
            if (half) f16_update(acc16, (const uint16_t *)(vb + j * vrow), hdv, ms, vs);
            else f32_update(acc, (const float *)(vb + j * vrow), hdv, ms, vs);
            sum = sum * ms + vs;
        }
    }
    const float inv = 1.0f / sum;
    for (int i = 0; i < hdv; i++) acc[i] = (half ? fp16_to_fp32(acc16[i]) : acc[i]) * inv;
}
