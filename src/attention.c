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

/* The softmax bookkeeping of up to 8 heads as one vector per key (the same
 * operations, lane by lane, as the scalar loops). */
#if defined(__AVX2__) && defined(__FMA__) && defined(__F16C__) && ATT_HEADS_MAX == 8
#define ATT_VEC 1
#include <immintrin.h>
#endif

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
/* Most head elements (query + accumulator) one call keeps for several heads. */
#define ATT_STACK_FLOATS 16384

/* For keys j < n: acc = acc·ms[j·ks] + v_j·vs[j·ks] (v_j at v + j·vrow), with acc
 * rounded to half precision after each step (see attention()). Each key's
 * step is a dependent chain fma -> round -> widen of ~15 cycles, so columns
 * go outermost, in vectors held in registers across all n keys: enough of
 * them in flight at once hide that latency. A small head (64 columns are 4
 * AVX-512 vectors) has too few, so several heads share a pass. Every
 * element sees the same operations in the same order as one key at a time
 * would give it. */
#if defined(__AVX512F__)
#define ACC_LANES 16
#define ACC_VECS 16 /* accumulator vectors per pass, of 32 registers */
typedef __m512 acc_vec;
#define acc_load(p) _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(const void *)(p)))
#define acc_round(x) _mm512_cvtph_ps(_mm512_cvtps_ph((x), 0))
#define acc_store(p, x) _mm256_storeu_si256((__m256i *)(void *)(p), _mm512_cvtps_ph((x), 0))
#define acc_set1 _mm512_set1_ps
#define acc_mul _mm512_mul_ps
#define acc_fmadd _mm512_fmadd_ps
#elif defined(__F16C__) && defined(__AVX2__) && defined(__FMA__)
#define ACC_LANES 8
#define ACC_VECS 8 /* of 16 registers */
typedef __m256 acc_vec;
#define acc_load(p) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(p)))
#define acc_round(x) _mm256_cvtph_ps(_mm256_cvtps_ph((x), 0))
#define acc_store(p, x) _mm_storeu_si128((__m128i *)(void *)(p), _mm256_cvtps_ph((x), 0))
#define acc_set1 _mm256_set1_ps
#define acc_mul _mm256_mul_ps
#define acc_fmadd _mm256_fmadd_ps
#endif

#ifdef ACC_LANES
/* NH heads of HV vectors each (both constants at each call): head h's
 * accumulator at acc + h·stride, its values at v[h], its factors for key j
 * at ms/vs[h + j·ks]. With `shared` (a constant too) all v[h] are v[0]: the
 * query heads of one KV head (GQA) widen each value row once, not once a
 * head. Conversions set the pace here: a widening is one of the two that
 * each rounding step takes. */
static inline __attribute__((always_inline)) void f16_acc_pass(uint16_t *acc, size_t stride, const uint8_t *const *v,
                                                               size_t vrow, int n, const float *ms, const float *vs,
                                                               int ks, int HV, int NH, bool shared)
{
    acc_vec a[ACC_VECS];
    for (int h = 0; h < NH; h++)
        for (int c = 0; c < HV; c++) a[h * HV + c] = acc_load(acc + h * stride + ACC_LANES * c);
    for (int j = 0; j < n; j++) {
        acc_vec vw[ACC_VECS]; /* key j's values, widened once (shared) */
        if (shared)
            for (int c = 0; c < HV; c++)
                vw[c] = acc_load((const uint16_t *)(const void *)(v[0] + (size_t)j * vrow) + ACC_LANES * c);
        for (int h = 0; h < NH; h++) {
            const uint16_t *vj = (const uint16_t *)(const void *)(v[h] + (size_t)j * vrow);
            const float mhj = ms[h + j * ks];
            const acc_vec vvs = acc_set1(vs[h + j * ks]);
            if (mhj != 1.0f) {
                const acc_vec vms = acc_set1(mhj);
                for (int c = 0; c < HV; c++) a[h * HV + c] = acc_round(acc_mul(a[h * HV + c], vms));
            }
            for (int c = 0; c < HV; c++)
                a[h * HV + c] = acc_round(acc_fmadd(shared ? vw[c] : acc_load(vj + ACC_LANES * c), vvs, a[h * HV + c]));
        }
    }
    for (int h = 0; h < NH; h++)
        for (int c = 0; c < HV; c++) acc_store(acc + h * stride + ACC_LANES * c, a[h * HV + c]);
}
#endif

/* Heads of hdv columns that fill one multi-head pass, or 0: heads of a
 * whole number of vectors, at most half the pass (else one head is a pass). */
static int heads_per_pass(int hdv)
{
#ifdef ACC_LANES
    const int hv = hdv / ACC_LANES;
    if (hdv % ACC_LANES == 0 && hv >= 1 && hv <= ACC_VECS / 2 && ACC_VECS % hv == 0) return ACC_VECS / hv;
#else
    (void)hdv;
#endif
    return 0;
}

/* The F16 accumulators of nh heads (hdv columns each, one after another);
 * the factors of head h for key j at ms/vs[h + j·nh]. */
static void f16_accumulate(uint16_t *acc, const uint8_t *const *v, size_t vrow, int n, const float *ms,
                           const float *vs, int hdv, int nh)
{
    int h = 0;
#ifdef ACC_LANES
    /* Whole passes of several heads (AVX-512 with 16-64 columns a head,
     * AVX2 with 8-32). */
    const int hv = hdv / ACC_LANES, per = heads_per_pass(hdv);
    if (per) {
        for (; nh - h >= per; h += per) {
            uint16_t *ah = acc + (size_t)h * hdv;
            const float *mh = ms + h, *vh = vs + h;
            bool shared = true;
            for (int k = 1; k < per; k++) shared &= v[h + k] == v[h];
#define PASS(HV, SHARED) f16_acc_pass(ah, (size_t)hdv, v + h, vrow, n, mh, vh, nh, HV, ACC_VECS / (HV), SHARED)
            switch (hv) {
            case 1: shared ? PASS(1, true) : PASS(1, false); break;
            case 2: shared ? PASS(2, true) : PASS(2, false); break;
            case 4: shared ? PASS(4, true) : PASS(4, false); break;
#if ACC_VECS >= 16
            case 8: shared ? PASS(8, true) : PASS(8, false); break;
#endif
            default: break;
            }
#undef PASS
        }
    }
#endif
    /* The rest one head at a time, in column groups of up to 8 vectors. */
    for (; h < nh; h++) {
        uint16_t *ah = acc + (size_t)h * hdv;
        const float *mh = ms + h, *vh = vs + h;
        int i = 0;
#ifdef ACC_LANES
        while (hdv - i >= ACC_LANES) {
            const int left = (hdv - i) / ACC_LANES, chains = left < 8 ? left : 8;
            const uint8_t *vi = v[h] + (size_t)i * sizeof(uint16_t);
            switch (chains) {
            case 8: f16_acc_pass(ah + i, 0, &vi, vrow, n, mh, vh, nh, 8, 1, false); break;
            case 7: f16_acc_pass(ah + i, 0, &vi, vrow, n, mh, vh, nh, 7, 1, false); break;
            case 6: f16_acc_pass(ah + i, 0, &vi, vrow, n, mh, vh, nh, 6, 1, false); break;
            case 5: f16_acc_pass(ah + i, 0, &vi, vrow, n, mh, vh, nh, 5, 1, false); break;
            case 4: f16_acc_pass(ah + i, 0, &vi, vrow, n, mh, vh, nh, 4, 1, false); break;
            case 3: f16_acc_pass(ah + i, 0, &vi, vrow, n, mh, vh, nh, 3, 1, false); break;
            case 2: f16_acc_pass(ah + i, 0, &vi, vrow, n, mh, vh, nh, 2, 1, false); break;
            default: f16_acc_pass(ah + i, 0, &vi, vrow, n, mh, vh, nh, 1, 1, false); break;
            }
            i += chains * ACC_LANES;
        }
#endif
        for (; i < hdv; i++) {
            float a = fp16_to_fp32(ah[i]);
            for (int j = 0; j < n; j++) {
                const float mhj = mh[(size_t)j * nh], vhj = vh[(size_t)j * nh];
                if (mhj != 1.0f) a = fp16_to_fp32(fp32_to_fp16(a * mhj));
                const uint16_t x = ((const uint16_t *)(const void *)(v[h] + (size_t)j * vrow))[i];
                a = fp16_to_fp32(fp32_to_fp16(mul_add(fp16_to_fp32(x), vhj, a)));
            }
            ah[i] = fp32_to_fp16(a);
        }
    }
}

static void f32_accumulate(float *acc, const uint8_t *v, size_t vrow, int n, const float *ms, const float *vs,
                           int ks, int dim)
{
    for (int j = 0; j < n; j++) {
        const float *vj = (const float *)(const void *)(v + (size_t)j * vrow);
        const float msj = ms[(size_t)j * ks], vsj = vs[(size_t)j * ks];
        for (int i = 0; i < dim; i++) acc[i] = mul_add(vj[i], vsj, acc[i] * msj);
    }
}

int attention_heads_per_call(const struct hparams *hp, const struct kv_cache *kv, int min_calls)
{
    int pass = kv->type == TYPE_F16 ? heads_per_pass(hp->head_dim_v) : 0; /* heads that fill one pass */
    if (pass < 1) pass = 1;
    if (pass > ATT_HEADS_MAX) pass = ATT_HEADS_MAX;
    /* whole passes, as many as fit (and fit the stack), while there are
     * min_calls calls */
    int per = ATT_HEADS_MAX / pass * pass;
    const int fit = ATT_STACK_FLOATS / (hp->head_dim + hp->head_dim_v);
    if (per > fit) per = fit > pass ? fit / pass * pass : 1;
    while (per > pass && (hp->n_head + per - 1) / per < min_calls) per -= pass;
    return per < hp->n_head ? per : hp->n_head;
}

/* The scores q_h·k_j (no scale yet) of keys j < n, rows krow bytes apart from
 * kb, for heads h < nh (K row of head h at koff[h] in a row, its query at
 * qp[h], hd floats apart from q): to dots[8 j + h], lanes nh..7 of each key
 * defined but of no use. Each is the cache type's vec_dot, bit for bit. */
static void block_scores(const struct type_traits *tt, const uint8_t *kb, size_t krow, int n, const size_t *koff,
                         const float *q, const void *const *qp, int nh, int hd, float *dots)
{
    if (tt->vec_dot_keys) {
        tt->vec_dot_keys(hd, kb, krow, n, koff, q, nh, dots);
        return;
    }
    for (int j = 0; j < n; j++) {
        const uint8_t *kj = kb + (size_t)j * krow;
        const void *kr[ATT_HEADS_MAX];
        float *d = dots + 8 * j;
        for (int h = 0; h < nh; h++) kr[h] = kj + koff[h];
        if (tt->vec_dot_many) tt->vec_dot_many(hd, kr, qp, nh, d);
        else for (int h = 0; h < nh; h++) d[h] = tt->vec_dot(hd, kr[h], qp[h]);
        for (int h = nh; h < 8; h++) d[h] = 0.0f;
    }
}

/* Prefetch len bytes at off[h] (h < nh; heads sharing a KV head have equal
 * offsets, one after another) of n rows, row bytes apart. The K/V of one
 * layer come from DRAM (the weights in between evict them), and a call over
 * several heads has too many instructions per key for the out-of-order core
 * to reach the next keys' loads early. */
static void prefetch_slices(const uint8_t *base, size_t row, int n, const size_t *off, size_t len, int nh)
{
    for (int h = 0; h < nh; h++) {
        if (h && off[h] == off[h - 1]) continue;
        for (int j = 0; j < n; j++)
            for (size_t b = 0; b < len; b += 64) __builtin_prefetch(base + (size_t)j * row + off[h] + b);
    }
}

/*
 * Causal attention of query heads head0 ..< head0 + nh over the sequence's
 * blocks, each with the per-token running softmax of llama.cpp's CPU
 * flash-attention kernel: with an F16 cache the query is rounded to F16 for
 * the K dot products and the V accumulator is kept in F16, exactly as there,
 * so logits agree with llama.cpp to ~1e-4 instead of ~1e-2. The heads are
 * independent; they go together only so that their accumulator chains
 * overlap.
 */
void attention(const struct kv_cache *kv, int seq, int layer, int pos, const float *q, float *out,
               const struct hparams *hp, int head0, int nh)
{
    const int hd = hp->head_dim, hdv = hp->head_dim_v, group = hp->n_head / hp->n_kv_head;
    /* The query and accumulator copies below live on the stack (of an
     * OpenMP worker, too): heads of a size no real model has (up to 65536
     * is accepted) go one at a time, as before heads were grouped. */
    if (nh > 1 && (size_t)nh * (hd + hdv) > ATT_STACK_FLOATS) {
        for (int h = 0; h < nh; h++) attention(kv, seq, layer, pos, q, out, hp, head0 + h, 1);
        return;
    }
    if (nh > ATT_HEADS_MAX) {
        attention(kv, seq, layer, pos, q, out, hp, head0, ATT_HEADS_MAX);
        attention(kv, seq, layer, pos, q, out, hp, head0 + ATT_HEADS_MAX, nh - ATT_HEADS_MAX);
        return;
    }
    const float scale = 1.0f / sqrtf((float)hd);
    const bool half = kv->type == TYPE_F16;
    const struct type_traits *tt = type_traits(kv->type); /* dots of cache rows with float queries */
    const size_t krow = (size_t)kv->k_dim * kv->elem, vrow = (size_t)kv->v_dim * kv->elem;
    float qh[nh][hd];
    const void *qp[ATT_HEADS_MAX];
    uint16_t acc16[half ? nh * hdv : 1];
    float sum[ATT_HEADS_MAX];
#ifndef ATT_VEC
    float m[ATT_HEADS_MAX];
#endif
    size_t koff[ATT_HEADS_MAX], voff[ATT_HEADS_MAX]; /* each head's K/V within a cached row */
    for (int h = 0; h < nh; h++) {
        const int head = head0 + h, kvh = head / group;
        int i = 0;
#ifdef ATT_VEC
        if (half)
            for (; i + 8 <= hd; i += 8)
                _mm256_storeu_ps(qh[h] + i, _mm256_cvtph_ps(_mm256_cvtps_ph(_mm256_loadu_ps(q + (size_t)head * hd + i), 0)));
#endif
        for (; i < hd; i++) {
            const float x = q[(size_t)head * hd + i];
            qh[h][i] = half ? fp16_to_fp32(fp32_to_fp16(x)) : x;
        }
        qp[h] = qh[h];
        koff[h] = (size_t)kvh * hd * kv->elem;
        voff[h] = (size_t)kvh * hdv * kv->elem;
#ifndef ATT_VEC
        m[h] = -INFINITY;
        sum[h] = 0.0f;
#endif
    }
    float *acc = out + (size_t)head0 * hdv;
    memset(acc, 0, (size_t)nh * hdv * sizeof *acc);
    memset(acc16, 0, sizeof acc16);
    const int bs = kv->block_size;
    /* per key j and head h, at [j * nh + h] */
#ifdef ATT_VEC
    /* Whole 8-lane vectors are stored per key: lanes past nh land in the next
     * key's slots (which it then writes), the last key's within the arrays. */
    float ms[ATT_HEADS_MAX * ATT_KEYS], vs[ATT_HEADS_MAX * ATT_KEYS], arg[ATT_HEADS_MAX * ATT_KEYS];
    float rises[ATT_HEADS_MAX * ATT_KEYS]; /* masks: all ones where the key raised the maximum */
    float e[ATT_HEADS_MAX * (ATT_KEYS + 1)]; /* and a spare vector: see below */
    __m256 mv = _mm256_set1_ps(-INFINITY), sv = _mm256_setzero_ps(); /* m, sum */
#else
    float ms[ATT_HEADS_MAX * ATT_KEYS], vs[ATT_HEADS_MAX * ATT_KEYS];
    float arg[ATT_HEADS_MAX * ATT_KEYS], e[ATT_HEADS_MAX * ATT_KEYS];
    bool rises[ATT_HEADS_MAX * ATT_KEYS];
#endif
    float dots[8 * ATT_KEYS]; /* key j's scores at [8 j + h] */
    for (int t0 = 0; t0 <= pos; t0 += bs) {
        /* Rows of one layer are contiguous inside a block. */
        const uint8_t *kb = kv_k(kv, seq, layer, t0), *vb = kv_v(kv, seq, layer, t0);
        const int n_block = pos + 1 - t0 < bs ? pos + 1 - t0 : bs;
        if (t0 + bs <= pos) { /* the next block's rows of these heads, while this one is worked on */
            const int n_next = pos + 1 - (t0 + bs) < bs ? pos + 1 - (t0 + bs) : bs;
            prefetch_slices(kv_k(kv, seq, layer, t0 + bs), krow, n_next, koff, (size_t)hd * kv->elem, nh);
            prefetch_slices(kv_v(kv, seq, layer, t0 + bs), vrow, n_next, voff, (size_t)hdv * kv->elem, nh);
        }
        for (int j0 = 0; j0 < n_block; j0 += ATT_KEYS) {
            const int n = n_block - j0 < ATT_KEYS ? n_block - j0 : ATT_KEYS;
            /* running max: a new maximum rescales what came before (ms), any
             * other key enters with weight exp(s - m) (vs) */
            block_scores(tt, kb + (size_t)j0 * krow, krow, n, koff, qh[0], qp, nh, hd, dots);
            for (int j = 0; j < n; j++) {
#ifdef ATT_VEC
                /* all heads at once; lanes past nh spill into the next key's
                 * slots, which it then writes */
                const __m256 s = _mm256_mul_ps(_mm256_loadu_ps(dots + 8 * j), _mm256_set1_ps(scale));
                const __m256 r = _mm256_cmp_ps(s, mv, _CMP_GT_OQ);
                _mm256_storeu_ps(arg + j * nh, _mm256_blendv_ps(_mm256_sub_ps(s, mv), _mm256_sub_ps(mv, s), r));
                _mm256_storeu_ps(rises + j * nh, r);
                mv = _mm256_blendv_ps(mv, s, r);
#else
                for (int h = 0; h < nh; h++) {
                    const float s = dots[8 * j + h] * scale;
                    const int x = j * nh + h;
                    rises[x] = s > m[h];
                    arg[x] = rises[x] ? m[h] - s : s - m[h]; /* -inf for the first token: factor 0 */
                    if (rises[x]) m[h] = s;
                }
#endif
            }
            expf_many(e, arg, (size_t)nh * n); /* libm's expf bits, 8 at a time */
#ifdef ATT_VEC
            memset(e + nh * n, 0, ATT_HEADS_MAX * sizeof *e); /* the last key's lanes past nh: past what expf_many wrote */
            for (int j = 0; j < n; j++) {
                const __m256 ej = _mm256_loadu_ps(e + j * nh), r = _mm256_loadu_ps(rises + j * nh);
                const __m256 one = _mm256_set1_ps(1.0f), msj = _mm256_blendv_ps(one, ej, r);
                const __m256 vsj = _mm256_blendv_ps(ej, one, r);
                _mm256_storeu_ps(ms + j * nh, msj);
                _mm256_storeu_ps(vs + j * nh, vsj);
                sv = _mm256_fmadd_ps(sv, msj, vsj);
            }
#else
            for (int j = 0; j < n; j++) /* heads inner: their sums are independent chains */
                for (int h = 0; h < nh; h++) {
                    const int x = j * nh + h;
                    ms[x] = rises[x] ? e[x] : 1.0f;
                    vs[x] = rises[x] ? 1.0f : e[x];
                    sum[h] = mul_add(sum[h], ms[x], vs[x]);
                }
#endif
            const uint8_t *vj0[ATT_HEADS_MAX];
            for (int h = 0; h < nh; h++) vj0[h] = vb + (size_t)j0 * vrow + voff[h];
            if (half) {
                f16_accumulate(acc16, vj0, vrow, n, ms, vs, hdv, nh);
            } else {
                for (int h = 0; h < nh; h++)
                    f32_accumulate(acc + (size_t)h * hdv, vj0[h], vrow, n, ms + h, vs + h, nh, hdv);
            }
        }
    }
#ifdef ATT_VEC
    _mm256_storeu_ps(sum, sv);
#endif
    for (int h = 0; h < nh; h++) {
        const float inv = 1.0f / sum[h];
        float *o = acc + (size_t)h * hdv;
        int i = 0;
#ifdef ATT_VEC
        if (half)
            for (; i + 8 <= hdv; i += 8)
                _mm256_storeu_ps(o + i, _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(const void *)(acc16 + h * hdv + i))),
                                                      _mm256_set1_ps(inv)));
#endif
        for (; i < hdv; i++) o[i] = (half ? fp16_to_fp32(acc16[h * hdv + i]) : o[i]) * inv;
    }
}
