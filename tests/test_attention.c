/*
 * test_attention.c — attention over the paged KV cache against two
 * references written here: the per-key running softmax of llama.cpp's CPU
 * flash-attention kernel (the same bits are expected: attention() computes
 * it in another order of loops; a*b+c is rounded once with FMA, as the
 * vector code does), and a plain softmax in double (to within
 * the rounding of an F16 cache). Block sizes below, at and above the
 * kernel's 64-key passes, head sizes with and without a scalar tail, GQA,
 * heads one at a time and several to a call.
 */
#include "testutil.h"

#include <math.h>

#include "attention.h"
#include "kvcache.h"

static uint32_t rng = 12345;
static float frand(void) /* uniform in [-1, 1) */
{
    rng = rng * 1664525u + 1013904223u;
    return (float)(rng >> 8) / (float)(1 << 23) - 1.0f;
}

static float mul_add(float x, float y, float a)
{
#if defined(__FMA__)
    return fmaf(x, y, a);
#else
    return x * y + a;
#endif
}

/* One key at a time, the accumulator rounded to F16 after every step (F16
 * cache) or kept in F32. */
static void per_key_reference(const struct kv_cache *kv, int seq, int pos, const float *q, float *out,
                              const struct hparams *hp, int head)
{
    const int hd = hp->head_dim, hdv = hp->head_dim_v, kvh = head / (hp->n_head / hp->n_kv_head);
    const bool half = kv->type == TYPE_F16;
    const vec_dot_fn dot = type_traits(kv->type)->vec_dot;
    const float scale = 1.0f / sqrtf((float)hd);
    float qh[hd], acc[hdv];
    for (int i = 0; i < hd; i++) {
        const float x = q[(size_t)head * hd + i];
        qh[i] = half ? fp16_to_fp32(fp32_to_fp16(x)) : x;
    }
    for (int i = 0; i < hdv; i++) acc[i] = 0.0f;
    float m = -INFINITY, sum = 0.0f;
    for (int t = 0; t <= pos; t++) {
        const uint8_t *k = (const uint8_t *)kv_k(kv, seq, 0, t) + (size_t)kvh * hd * kv->elem;
        const uint8_t *v = (const uint8_t *)kv_v(kv, seq, 0, t) + (size_t)kvh * hdv * kv->elem;
        const float s = dot(hd, k, qh) * scale;
        float ms = 1.0f, vs = 1.0f;
        if (s > m) {
            ms = expf(m - s);
            m = s;
        } else {
            vs = expf(s - m);
        }
        for (int i = 0; i < hdv; i++) {
            if (half) {
                float a = acc[i];
                if (ms != 1.0f) a = fp16_to_fp32(fp32_to_fp16(a * ms));
                acc[i] = fp16_to_fp32(fp32_to_fp16(mul_add(fp16_to_fp32(((const uint16_t *)(const void *)v)[i]), vs, a)));
            } else {
                acc[i] = mul_add(((const float *)(const void *)v)[i], vs, acc[i] * ms);
            }
        }
        sum = mul_add(sum, ms, vs);
    }
    for (int i = 0; i < hdv; i++) out[(size_t)head * hdv + i] = acc[i] * (1.0f / sum);
}

/* softmax(q·K / sqrt(hd)) · V in double, from the cached (rounded) values. */
static double softmax_reference(const struct kv_cache *kv, int seq, int pos, const float *q, const struct hparams *hp,
                                int head, int i)
{
    const int hd = hp->head_dim, hdv = hp->head_dim_v, kvh = head / (hp->n_head / hp->n_kv_head);
    const bool half = kv->type == TYPE_F16;
    double m = -INFINITY, num = 0, den = 0;
    double *s = malloc((size_t)(pos + 1) * sizeof *s);
    for (int t = 0; t <= pos; t++) {
        const uint8_t *k = (const uint8_t *)kv_k(kv, seq, 0, t) + (size_t)kvh * hd * kv->elem;
        double d = 0;
        for (int e = 0; e < hd; e++) {
            const double kx = half ? fp16_to_fp32(((const uint16_t *)(const void *)k)[e])
                                   : ((const float *)(const void *)k)[e];
            d += kx * q[(size_t)head * hd + e];
        }
        s[t] = d / sqrt((double)hd);
        if (s[t] > m) m = s[t];
    }
    for (int t = 0; t <= pos; t++) {
        const uint8_t *v = (const uint8_t *)kv_v(kv, seq, 0, t) + (size_t)kvh * hdv * kv->elem;
        const double vx = half ? fp16_to_fp32(((const uint16_t *)(const void *)v)[i])
                               : ((const float *)(const void *)v)[i];
        num += exp(s[t] - m) * vx;
        den += exp(s[t] - m);
    }
    free(s);
    return num / den;
}

static void check(enum ggml_type type, int n_head, int n_kv_head, int hd, int block_size, int n_pos)
{
    const struct hparams hp = {.n_head = n_head, .n_kv_head = n_kv_head, .head_dim = hd, .head_dim_v = hd};
    struct kv_cache kv;
    const int kd = n_kv_head * hd, max_blocks = (n_pos + block_size - 1) / block_size;
    assert_int_equal(kv_init(&kv, type, 1, kd, kd, block_size, max_blocks, 1), 0);
    const int seq = kv_seq_new(&kv);
    assert_true(seq >= 0);
    float *row = malloc((size_t)kd * sizeof *row), *q = malloc((size_t)n_head * hd * sizeof *q);
    float *got = malloc((size_t)n_head * hd * sizeof *got), *want = malloc((size_t)n_head * hd * sizeof *want);
    for (int pos = 0; pos < n_pos; pos++) {
        assert_true(kv_prepare_write(&kv, seq, pos));
        /* scores of a few units: the running maximum changes now and then */
        for (int i = 0; i < kd; i++) row[i] = 3.0f * frand();
        kv_store(&kv, kv_k(&kv, seq, 0, pos), row, kd);
        for (int i = 0; i < kd; i++) row[i] = frand();
        kv_store(&kv, kv_v(&kv, seq, 0, pos), row, kd);
    }
    for (int i = 0; i < n_head * hd; i++) q[i] = frand();
    const int checks[] = {0, 1, block_size - 1, block_size, 63, 64, 65, n_pos - 1};
    for (size_t c = 0; c < sizeof checks / sizeof checks[0]; c++) {
        const int pos = checks[c];
        if (pos < 0 || pos >= n_pos) continue;
        for (int h = 0; h < n_head; h++) per_key_reference(&kv, seq, pos, q, want, &hp, h);
        /* heads alone, 2 to 8 a call (a KV head changing inside some), in the
         * build's own groups, all at once */
        const int sizes[] = {1, 2, 3, 4, 5, 6, 7, 8, attention_heads_per_call(&hp, &kv, 1),
                             attention_heads_per_call(&hp, &kv, 4), n_head};
        for (size_t g = 0; g < sizeof sizes / sizeof sizes[0]; g++) {
            const int per = sizes[g]; /* above ATT_HEADS_MAX, attention() splits the call */
            for (int i = 0; i < n_head * hd; i++) got[i] = NAN;
            for (int h0 = 0; h0 < n_head; h0 += per)
                attention(&kv, seq, 0, pos, q, got, &hp, h0, n_head - h0 < per ? n_head - h0 : per);
            for (int h = 0; h < n_head; h++)
                if (memcmp(got + (size_t)h * hd, want + (size_t)h * hd, (size_t)hd * sizeof *got))
                    fail_msg("%s hd %d block %d pos %d head %d (%d a call): not the bits of the per-key softmax",
                             type_traits(type)->name, hd, block_size, pos, h, per);
        }
        for (int h = 0; h < n_head; h++) {
            for (int i = 0; i < hd; i++) {
                const double ref = softmax_reference(&kv, seq, pos, q, &hp, h, i);
                /* F16 accumulator: ~2^-11 relative per step, values below 1 */
                const double tol = type == TYPE_F16 ? 2e-2 : 1e-5;
                if (!(fabs(got[(size_t)h * hd + i] - ref) <= tol))
                    fail_msg("%s hd %d block %d pos %d head %d [%d]: %g, softmax gives %g", type_traits(type)->name,
                             hd, block_size, pos, h, i, got[(size_t)h * hd + i], ref);
            }
        }
    }
    free(row); free(q); free(got); free(want);
    kv_free(&kv);
}

static void test_f16_cache(void **state)
{
    (void)state;
    check(TYPE_F16, 4, 2, 64, 16, 150);
    check(TYPE_F16, 32, 4, 64, 16, 140);  /* TinyLlama's heads */
    check(TYPE_F16, 11, 11, 32, 16, 70);  /* passes of 8 or 4 heads and a rest */
    check(TYPE_F16, 5, 5, 16, 32, 70);
    check(TYPE_F16, 6, 3, 8, 16, 40);
    check(TYPE_F16, 2, 1, 128, 100, 230); /* blocks longer than one 64-key pass */
    check(TYPE_F16, 3, 3, 40, 7, 90);     /* 8 columns past the last 32 */
    check(TYPE_F16, 2, 2, 4, 1, 20);      /* all scalar, one key per block */
    check(TYPE_F16, 9, 3, 2048, 16, 3);   /* heads past the stack budget of a call */
    check(TYPE_F16, 8, 4, 128, 16, 70);   /* 128-column heads, several KV heads a call */
    check(TYPE_F16, 14, 7, 64, 5, 70);
    /* whole passes on one KV head (values widened once for the pass) with
     * small heads: AVX-512 passes of 32 columns, AVX2 ones of 8-32 */
    check(TYPE_F16, 16, 2, 32, 16, 70);
    check(TYPE_F16, 8, 1, 16, 16, 70);
    check(TYPE_F16, 8, 1, 8, 16, 40);
}

/* The reference kernels (--no-simd): attention's scores are the reference
 * vec_dot's, not the SIMD route's. */
static void test_f16_cache_reference(void **state)
{
    (void)state;
    quant_force_reference(true);
    check(TYPE_F16, 4, 2, 64, 16, 70);
    check(TYPE_F16, 8, 4, 128, 16, 40);
    quant_force_reference(false);
}

static void test_f32_cache(void **state)
{
    (void)state;
    check(TYPE_F32, 4, 2, 64, 16, 150);
    check(TYPE_F32, 2, 1, 40, 100, 230);
    check(TYPE_F32, 8, 4, 64, 16, 70);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_f16_cache),
        cmocka_unit_test(test_f16_cache_reference),
        cmocka_unit_test(test_f32_cache),
    };
    return cmocka_run_group_tests_name("attention", tests, NULL, NULL);
}
