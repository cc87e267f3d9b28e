/*
 * test_rope.c — RoPE: the cos/sin table against an independent double
 * computation, Llama 3 frequency scaling (rope_freqs.weight, with factors
 * computed here from Meta's formula), linear scaling, and the NORM vs NEOX
 * pairing of the architecture table.
 */
#include "testutil.h"

#include <math.h>

#include "attention.h"
#include "forward.h"
#include "gguf_write.h"
#include "model.h"

/* Llama 3.1's rope scaling (factor 8, low 1, high 4, original context 8192),
 * as its reference code computes it, for head size d and base b. */
static void llama3_factors(float *out, int d, double base)
{
    const double factor = 8, low = 1, high = 4, orig = 8192;
    const double low_wavelen = orig / low, high_wavelen = orig / high;
    for (int i = 0; i < d / 2; i++) {
        const double freq = pow(base, -2.0 * i / d), wavelen = 2 * M_PI / freq;
        double f;
        if (wavelen < high_wavelen) f = 1;
        else if (wavelen > low_wavelen) f = factor;
        else {
            const double smooth = (orig / wavelen - low) / (high - low);
            f = 1 / ((1 - smooth) / factor + smooth);
        }
        out[i] = (float)f;
    }
}

/* stories260K.gguf rewritten with extra metadata / tensors. */
static char *variant(const char *extra_key, const char *extra_str, float scale_factor, const float *freqs, int n_freqs)
{
    char err[256];
    struct gguf_file *f = gguf_open(test_data("models/stories260K.gguf"), err, sizeof err);
    assert_non_null(f);
    struct gguf_writer *w = gguf_writer_new();
    for (uint64_t i = 0; i < f->n_kv; i++) gw_copy_kv(w, &f->kv[i]);
    if (extra_key) gw_str(w, extra_key, extra_str);
    if (scale_factor) gw_f32(w, "llama.rope.scaling.factor", scale_factor);
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const struct gguf_tensor *t = &f->tensors[i];
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.ptr);
        gw_tensor(w, name, (int)t->n_dims, t->ne, t->type, t->data, t->nbytes);
    }
    int64_t ne[1] = {n_freqs};
    if (freqs) gw_tensor(w, "rope_freqs.weight", 1, ne, TYPE_F32, freqs, (size_t)n_freqs * 4);
    static int k;
    char *path = malloc(64);
    snprintf(path, 64, "/tmp/infer-rope-%d-%d.gguf", (int)getpid(), k++);
    assert_int_equal(gw_write(w, path, err, sizeof err), 0);
    gguf_writer_free(w);
    gguf_close(f);
    return path;
}

static struct model *load(const char *path)
{
    char err[256];
    struct gguf_file *f = gguf_open(path, err, sizeof err);
    assert_non_null(f);
    struct model *m = model_from_gguf(f, err, sizeof err);
    if (!m) fail_msg("%s", err);
    return m;
}

static void test_table_matches_double(void **state)
{
    (void)state;
    struct hparams hp = {.head_dim = 64, .n_rot = 64, .rope_base = 10000.0f, .rope_freq_scale = 1.0f};
    float cs[64];
    const int positions[] = {0, 1, 7, 100, 1000};
    for (size_t p = 0; p < sizeof positions / sizeof positions[0]; p++) {
        rope_table(cs, positions[p], &hp);
        for (int i = 0; i < 32; i++) {
            const double th = positions[p] * pow(10000.0, -2.0 * i / 64);
            /* float recurrence: relative error of theta grows slowly with i */
            const double tol = 1e-6 + th * 2e-6;
            assert_true(fabs(cs[2 * i] - cos(th)) <= tol);
            assert_true(fabs(cs[2 * i + 1] - sin(th)) <= tol);
        }
    }
}

static void test_llama3_scaling(void **state)
{
    (void)state;
    float factors[4];
    llama3_factors(factors, 8, 10000.0); /* stories260K: head size 8 */
    char *path = variant(NULL, NULL, 0, factors, 4);
    struct model *m = load(path);
    assert_non_null(m->hp.rope_freq_factors);
    for (int i = 0; i < 4; i++) assert_float_equal(m->hp.rope_freq_factors[i], factors[i], 0);
    /* High frequencies are left alone, the lowest is scaled (here in the smooth band). */
    assert_float_equal(factors[0], 1.0f, 0);
    assert_true(factors[3] > 1.5f && factors[3] < 8.0f);
    float cs[8];
    for (int pos = 1; pos < 5000; pos += 777) {
        rope_table(cs, pos, &m->hp);
        for (int i = 0; i < 4; i++) {
            const double th = pos * pow(10000.0, -2.0 * i / 8) / factors[i];
            assert_true(fabs(cs[2 * i] - cos(th)) <= 1e-6 + th * 2e-6);
            assert_true(fabs(cs[2 * i + 1] - sin(th)) <= 1e-6 + th * 2e-6);
        }
    }
    /* The forward pass uses them: position 0 is unchanged (no rotation), later ones move. */
    struct model *plain = load(test_data("models/stories260K.gguf"));
    char err[128];
    struct context_params cp = {.n_ctx = 64, .n_batch = 64, .kv_block = 16, .n_seq_max = 1, .gemm_min_batch = 8};
    const int32_t toks[] = {1, 403, 407, 261, 378, 432, 383, 286};
    float a[8 * 512], b[8 * 512];
    struct context *ca = context_new(m, &cp, err, sizeof err), *cb = context_new(plain, &cp, err, sizeof err);
    assert_int_equal(forward_seq(ca, 0, toks, 8, 0, true, a), 0);
    assert_int_equal(forward_seq(cb, 0, toks, 8, 0, true, b), 0);
    for (int i = 0; i < 512; i++) assert_float_equal(a[i], b[i], 0);
    double diff = 0;
    for (int i = 7 * 512; i < 8 * 512; i++) diff = fmax(diff, fabs(a[i] - b[i]));
    assert_true(diff > 1e-3);
    context_free(ca);
    context_free(cb);
    model_free(m);
    model_free(plain);
    unlink(path);
    free(path);
}

static void test_linear_scaling_and_refusals(void **state)
{
    (void)state;
    char *path = variant("llama.rope.scaling.type", "linear", 4.0f, NULL, 0);
    struct model *m = load(path);
    assert_float_equal(m->hp.rope_freq_scale, 0.25f, 0);
    float scaled[8], plain[8];
    rope_table(scaled, 8, &m->hp);
    struct hparams hp = m->hp;
    hp.rope_freq_scale = 1.0f;
    rope_table(plain, 2, &hp); /* position 8 at scale 1/4 is position 2 */
    for (int i = 0; i < 8; i++) assert_float_equal(scaled[i], plain[i], 1e-6);
    model_free(m);
    unlink(path);
    free(path);
    path = variant("llama.rope.scaling.type", "yarn", 4.0f, NULL, 0);
    char err[256];
    struct gguf_file *f = gguf_open(path, err, sizeof err);
    assert_null(model_from_gguf(f, err, sizeof err));
    assert_non_null(strstr(err, "RoPE scaling 'yarn' is not supported"));
    gguf_close(f);
    unlink(path);
    free(path);
}

/* After a context shift, the layer-0 keys (which depend on the token alone)
 * equal those computed fresh at the new positions: the re-rotation is right. */
static void test_context_shift_rerotates_keys(void **state)
{
    (void)state;
    struct model *m = load(test_data("models/stories260K.gguf"));
    char err[128];
    struct context_params cp = {.n_ctx = 64, .n_batch = 64, .kv_block = 4, .n_seq_max = 2, .gemm_min_batch = 8,
                                .kv_f32 = true};
    struct context *c = context_new(m, &cp, err, sizeof err);
    int32_t toks[20];
    for (int i = 0; i < 20; i++) toks[i] = 1 + (i * 37) % 500;
    float logits[512];
    assert_int_equal(forward_seq(c, 0, toks, 20, 0, false, logits), 0);
    assert_int_equal(context_shift(c, 0, 3, 7), 0); /* drop positions 3..9 */
    assert_int_equal(c->kv.seqs[0].n_tokens, 13);
    /* Fresh: the surviving tokens at their new positions, in sequence 1. */
    int32_t kept[13];
    for (int i = 0; i < 13; i++) kept[i] = i < 3 ? toks[i] : toks[i + 7];
    assert_int_equal(forward_seq(c, 1, kept, 13, 0, false, logits), 0);
    const int kd = c->kv.k_dim;
    for (int p = 0; p < 13; p++) {
        const float *a = kv_k(&c->kv, 0, 0, p), *b = kv_k(&c->kv, 1, 0, p);
        for (int i = 0; i < kd; i++) assert_float_equal(a[i], b[i], 1e-4);
        const float *va = kv_v(&c->kv, 0, 0, p), *vb = kv_v(&c->kv, 1, 0, p);
        for (int i = 0; i < kd; i++) assert_float_equal(va[i], vb[i], 1e-6);
    }
    /* Blocks past the new end went back to the pool: 13 tokens in blocks of 4. */
    assert_int_equal(c->kv.seqs[0].n_blocks, 4);
    context_free(c);
    model_free(m);
}

/* NORM rotates neighbours, NEOX the two halves: check on a unit vector. */
static void test_pairing(void **state)
{
    (void)state;
    struct hparams hp = {.head_dim = 8, .n_rot = 8, .rope_base = 10000.0f, .rope_freq_scale = 1.0f};
    float cs[8];
    rope_table(cs, 3, &hp);
    float x[8] = {1, 0, 0, 0, 0, 0, 0, 0}, y[8] = {1, 0, 0, 0, 0, 0, 0, 0};
    rope_apply(x, 1, cs, &hp, ROPE_NORM);
    rope_apply(y, 1, cs, &hp, ROPE_NEOX);
    assert_float_equal(x[0], cosf(3), 1e-6);
    assert_float_equal(x[1], sinf(3), 1e-6); /* partner: the neighbour */
    assert_float_equal(y[0], cosf(3), 1e-6);
    assert_float_equal(y[4], sinf(3), 1e-6); /* partner: half a head away */
    assert_float_equal(y[1], 0, 0);
    assert_int_equal(arch_lookup("llama", 5)->rope, ROPE_NORM);
    assert_int_equal(arch_lookup("qwen2", 5)->rope, ROPE_NEOX);
    assert_int_equal(arch_lookup("qwen3", 5)->rope, ROPE_NEOX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_matches_double),
        cmocka_unit_test(test_llama3_scaling),
        cmocka_unit_test(test_linear_scaling_and_refusals),
        cmocka_unit_test(test_pairing),
        cmocka_unit_test(test_context_shift_rerotates_keys),
    };
    return cmocka_run_group_tests_name("rope", tests, NULL, NULL);
}
