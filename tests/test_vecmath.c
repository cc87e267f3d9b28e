/*
 * test_vecmath.c — the vectorized SwiGLU against a double-precision
 * reference: over the whole range where e^-g is a normal float, at the
 * clamped ends, on NaN, and at every length (SIMD body and scalar tail);
 * expf_many against libm's bits; argmax_f32 against a plain scan.
 */
#include "testutil.h"

#include <math.h>

#include "vecmath.h"

static double ref_swiglu(double g, double u) { return g / (1.0 + exp(-g)) * u; }

static void test_range(void **state)
{
    (void)state;
    enum { N = 1 << 16 };
    static float h[N], u[N], g[N];
    uint64_t seed = 12345;
    double worst = 0;
    for (int rep = 0; rep < 16; rep++) {
        for (int i = 0; i < N; i++) {
            seed = seed * 6364136223846793005ull + 1442695040888963407ull;
            g[i] = h[i] = -87.0f + 174.0f * (float)((seed >> 40) & 0xffffff) / (float)(1 << 24);
            u[i] = (float)((seed >> 20) & 0xfff) / 2048.0f - 1.0f;
        }
        swiglu(h, u, N);
        for (int i = 0; i < N; i++) {
            const double want = ref_swiglu(g[i], u[i]);
            /* 4 ulp of the exp, then one rounding each for +, / and *: 1e-6 relative */
            const double err = fabs(h[i] - want) / (fabs(want) + 1e-30);
            if (fabs(want) > 1e-30 && err > worst) worst = err;
        }
    }
    print_message("swiglu: worst relative error %.2e\n", worst);
    assert_true(worst < 1e-6);
}

static void test_ends_and_nan(void **state)
{
    (void)state;
    float h[11] = {-100, 100, -1e30f, 1e30f, NAN, 0, -0.0f, 1, -1, 88.5f, -88.5f};
    const float g[11] = {-100, 100, -1e30f, 1e30f, NAN, 0, -0.0f, 1, -1, 88.5f, -88.5f};
    float u[11];
    for (int i = 0; i < 11; i++) u[i] = 2.0f;
    swiglu(h, u, 11);
    assert_true(fabsf(h[0]) < 1e-30f);
    assert_true(h[1] == 200.0f);
    assert_true(fabsf(h[2]) < 1e-30f);
    assert_true(h[3] == 2e30f);
    assert_true(isnan(h[4]));
    assert_true(h[5] == 0.0f && h[6] == 0.0f);
    for (int i = 7; i < 11; i++) assert_true(fabs(h[i] - ref_swiglu(g[i], 2.0)) <= 1e-6 * fabs(ref_swiglu(g[i], 2.0)));
}

/* Every length from 0 to 40 gives what the elements give one by one. */
static void test_lengths(void **state)
{
    (void)state;
    float h[40], u[40];
    for (int n = 0; n <= 40; n++) {
        for (int i = 0; i < n; i++) h[i] = (float)(i - 20) * 0.37f, u[i] = 1.5f;
        swiglu(h, u, (size_t)n);
        for (int i = 0; i < n; i++) {
            const double want = ref_swiglu((float)(i - 20) * 0.37f, 1.5);
            assert_true(fabs(h[i] - want) <= 1e-6 * fabs(want) + 1e-30);
        }
    }
}

/* expf_many gives libm's expf bits: a sweep through every 61st float (all
 * exponents, signs, NaN and inf patterns; it matched all 2^32 when checked
 * once), and every length for the scalar tail. */
static void test_expf_bits(void **state)
{
    (void)state;
    enum { N = 4096 };
    static float x[N], y[N];
    long checked = 0;
    for (uint64_t u = 0; u <= 0xffffffffull;) {
        int n = 0;
        for (; n < N && u <= 0xffffffffull; n++, u += 61) {
            const uint32_t w = (uint32_t)u;
            memcpy(&x[n], &w, sizeof w);
        }
        expf_many(y, x, (size_t)n);
        for (int i = 0; i < n; i++) {
            const float want = expf(x[i]);
            if (memcmp(&want, &y[i], sizeof want) && !(isnan(want) && isnan(y[i])))
                fail_msg("expf_many(%a) = %a, expf gives %a", (double)x[i], (double)y[i], (double)want);
        }
        checked += n;
    }
    assert_true(checked > 70000000);
    for (int n = 0; n <= 17; n++) {
        float in[17], out[18];
        for (int i = 0; i < n; i++) in[i] = -0.37f * (float)i;
        out[n] = 42.0f;
        expf_many(out, in, (size_t)n);
        for (int i = 0; i < n; i++) assert_true(out[i] == expf(in[i]));
        assert_true(out[n] == 42.0f); /* nothing past the end */
    }
}

/* The reference: a scan that keeps the first of the largest, NaN below all. */
static size_t ref_argmax(const float *x, size_t n)
{
    size_t best = 0;
    for (size_t i = 1; i < n; i++)
        if (!isnan(x[i]) && (isnan(x[best]) || x[i] > x[best])) best = i;
    return best;
}

/* argmax_f32 against the scan: every length around the 32-wide body and the
 * 8-wide search, with the largest value anywhere, repeated (ties), among
 * NaN and -inf, at +-0, and all NaN. */
static void test_argmax(void **state)
{
    (void)state;
    enum { N = 32000 };
    static float x[N];
    uint64_t seed = 99;
    static const size_t lens[] = { 1, 2, 7, 8, 9, 31, 32, 33, 40, 63, 64, 65, 100, N };
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
        const size_t n = lens[li];
        for (int trial = 0; trial < 200; trial++) {
            for (size_t i = 0; i < n; i++) {
                const uint64_t r = (seed = seed * 6364136223846793005ull + 1442695040888963407ull) >> 33;
                switch (trial % 5) {
                case 0: x[i] = (float)(r % 1000) - 500.0f; break;       /* plain, with ties */
                case 1: x[i] = (float)(r % 4); break;                   /* many ties */
                case 2: x[i] = r % 3 ? NAN : (float)(r % 7); break;     /* NaN among values */
                case 3: x[i] = r % 2 ? -INFINITY : NAN; break;          /* nothing finite */
                default: x[i] = r % 2 ? 0.0f : -0.0f; break;            /* signed zeros */
                }
            }
            if (trial % 7 == 6) x[trial % n] = 1e30f;                   /* one clear winner */
            if (trial == 199) for (size_t i = 0; i < n; i++) x[i] = NAN;
            const size_t want = ref_argmax(x, n), got = argmax_f32(x, n);
            if (got != want) fail_msg("n=%zu trial %d: argmax_f32 %zu, scan %zu", n, trial, got, want);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expf_bits),
        cmocka_unit_test(test_range),
        cmocka_unit_test(test_ends_and_nan),
        cmocka_unit_test(test_lengths),
        cmocka_unit_test(test_argmax),
    };
    return cmocka_run_group_tests_name("vecmath", tests, NULL, NULL);
}
