/*
 * test_sampler.c — the sampling chain on hand-made logits: greedy, top-k,
 * top-p, min-p, temperature, penalties, and seeded reproducibility.
 */
#include "testutil.h"

#include <math.h>

#include "sampler.h"

enum { V = 1000 };

/* Logits with a known order: token i has logit -i/100 (token 0 best). */
static void ramp(float *l)
{
    for (int i = 0; i < V; i++) l[i] = -(float)i / 100.0f;
}

static struct sampler make(struct sampler_params p)
{
    struct sampler s;
    assert_int_equal(sampler_init(&s, &p, V), 0);
    return s;
}

static void test_greedy(void **state)
{
    (void)state;
    struct sampler_params p;
    sampler_defaults(&p);
    p.temp = 0;
    struct sampler s = make(p);
    float l[V];
    ramp(l);
    l[537] = 5.0f;
    assert_int_equal(sampler_sample(&s, l), 537);
    assert_int_equal(argmax(l, V), 537);
    sampler_free(&s);
}

/* Draws from the chain; returns the largest token id seen and counts of token 0 and 1. */
static int draw(struct sampler_params p, int n, int *count0, int *count1)
{
    struct sampler s = make(p);
    int worst = 0;
    *count0 = *count1 = 0;
    for (int i = 0; i < n; i++) {
        float l[V];
        ramp(l);
        int t = sampler_sample(&s, l);
        if (t > worst) worst = t;
        *count0 += t == 0;
        *count1 += t == 1;
    }
    sampler_free(&s);
    return worst;
}

static void test_top_k_top_p_min_p(void **state)
{
    (void)state;
    struct sampler_params p = {.temp = 1.0f, .top_k = 5, .top_p = 1.0f, .min_p = 0.0f, .repeat_penalty = 1.0f, .seed = 3};
    int c0, c1;
    assert_true(draw(p, 2000, &c0, &c1) <= 4);            /* only the 5 best */
    p.top_k = 0;
    /* top-p 0.5: p_i ∝ e^(-i/100), so the first k tokens hold 1 - e^(-k/100) of
     * the mass: half at k = 100 ln 2 ≈ 69. */
    p.top_p = 0.5f;
    int worst = draw(p, 4000, &c0, &c1);
    assert_true(worst <= 70 && worst > 55);
    /* min-p 0.9: only tokens with p ≥ 0.9 p_max, i.e. logit ≥ -ln(1/0.9) = -0.105: ids 0..10 */
    p.top_p = 1.0f;
    p.min_p = 0.9f;
    assert_true(draw(p, 2000, &c0, &c1) <= 10);
}

static void test_temperature(void **state)
{
    (void)state;
    /* Two tokens 1 apart: at temperature 1 the odds are e:1, at 0.5 e^2:1. */
    struct sampler_params p = {.temp = 1.0f, .top_k = 2, .top_p = 1.0f, .min_p = 0.0f, .repeat_penalty = 1.0f, .seed = 11};
    struct sampler s = make(p);
    int hits = 0;
    const int n = 20000;
    for (int i = 0; i < n; i++) {
        float l[V];
        ramp(l);
        for (int k = 2; k < V; k++) l[k] -= 10.0f;
        l[1] = -1.0f;
        hits += sampler_sample(&s, l) == 0;
    }
    sampler_free(&s);
    const double want = exp(1) / (1 + exp(1));
    assert_true(fabs((double)hits / n - want) < 0.02);
    p.temp = 0.5f;
    s = make(p);
    hits = 0;
    for (int i = 0; i < n; i++) {
        float l[V];
        ramp(l);
        for (int k = 2; k < V; k++) l[k] -= 10.0f;
        l[1] = -1.0f;
        hits += sampler_sample(&s, l) == 0;
    }
    sampler_free(&s);
    assert_true(fabs((double)hits / n - exp(2) / (1 + exp(2))) < 0.02);
}

static void test_penalties(void **state)
{
    (void)state;
    struct sampler_params p;
    sampler_defaults(&p);
    p.temp = 0;
    p.repeat_penalty = 2.0f;
    struct sampler s = make(p);
    float l[V];
    ramp(l);
    l[0] = 1.0f;
    l[1] = 0.9f;
    sampler_accept(&s, 0);
    /* 1.0 / 2 = 0.5 < 0.9: the repeated token loses. */
    assert_int_equal(sampler_sample(&s, l), 1);
    sampler_free(&s);
    /* Outside the window it is not penalized. */
    p.repeat_last_n = 2;
    s = make(p);
    sampler_accept(&s, 0);
    sampler_accept(&s, 5);
    sampler_accept(&s, 6);
    ramp(l);
    l[0] = 1.0f;
    l[1] = 0.9f;
    assert_int_equal(sampler_sample(&s, l), 0);
    sampler_free(&s);
    /* Frequency penalty counts occurrences; presence penalty once. */
    p.repeat_penalty = 1.0f;
    p.repeat_last_n = 64;
    p.frequency_penalty = 0.2f;
    s = make(p);
    sampler_accept(&s, 0);
    sampler_accept(&s, 0);
    ramp(l);
    l[0] = 1.0f;
    l[1] = 0.7f;
    assert_int_equal(sampler_sample(&s, l), 1); /* 1.0 - 2 × 0.2 = 0.6 < 0.7 */
    assert_float_equal(l[0], 0.6f, 1e-6);
    sampler_free(&s);
}

static void test_seeded(void **state)
{
    (void)state;
    struct sampler_params p;
    sampler_defaults(&p);
    p.top_k = 0;
    p.min_p = 0;
    p.seed = 1234;
    int a[64], b[64], c[64];
    for (int run = 0; run < 3; run++) {
        if (run == 2) p.seed = 1235;
        struct sampler s = make(p);
        for (int i = 0; i < 64; i++) {
            float l[V];
            ramp(l);
            (run == 0 ? a : run == 1 ? b : c)[i] = sampler_sample(&s, l);
        }
        sampler_free(&s);
    }
    assert_memory_equal(a, b, sizeof a);
    assert_memory_not_equal(a, c, sizeof a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greedy),
        cmocka_unit_test(test_top_k_top_p_min_p),
        cmocka_unit_test(test_temperature),
        cmocka_unit_test(test_penalties),
        cmocka_unit_test(test_seeded),
    };
    return cmocka_run_group_tests_name("sampler", tests, NULL, NULL);
}
