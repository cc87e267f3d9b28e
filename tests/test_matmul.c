/*
 * test_matmul.c — the matmul layer over whole weight matrices: every output
 * row equals the dot of its dequantized weights with the input (within the
 * rounding of quantized activations), and the row route gives the same bits
 * for a row whatever the batch size, the thread count (OpenMP's or the
 * pool's) and the way the columns are split into spans (FFN-down shapes take
 * several). A row prologue gives the bits of its rows made beforehand.
 */
#include "testutil.h"

#include <math.h>
#include <omp.h>
#include <stdatomic.h>

#include "matmul.h"
#include "pool.h"

static uint64_t rng = 0x2545F4914F6CDD1Dull;
static float frand(void)
{
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((rng >> 40) & 0xffffff) / (float)(1 << 23) - 1.0f;
}

struct mat {
    struct tensor t;
    float *deq; /* rows × cols dequantized */
};

static struct mat make_mat(enum ggml_type type, int64_t rows, int64_t cols)
{
    const struct type_traits *tt = type_traits(type);
    struct mat m = {.t = {.type = type, .ne = {cols, rows, 1, 1}}};
    const size_t rb = type_row_size(type, cols);
    char *data = malloc(rb * rows);
    float *src = malloc(cols * sizeof *src);
    m.deq = malloc((size_t)rows * cols * sizeof *m.deq);
    for (int64_t r = 0; r < rows; r++) {
        for (int64_t c = 0; c < cols; c++) src[c] = frand();
        tt->from_float(src, data + r * rb, cols);
        tt->to_float(data + r * rb, m.deq + r * cols, cols);
    }
    free(src);
    m.t.data = data;
    m.t.nbytes = rb * rows;
    return m;
}

static void check_type(enum ggml_type type, int64_t cols)
{
    enum { ROWS = 37, BMAX = 20 };
    struct mat m = make_mat(type, ROWS, cols);
    float *x = malloc((size_t)BMAX * cols * sizeof *x);
    for (int64_t i = 0; i < BMAX * cols; i++) x[i] = frand();
    struct matmul_scratch s = {0};
    float *one = malloc((size_t)BMAX * ROWS * sizeof *one), *y = malloc((size_t)BMAX * ROWS * sizeof *y);
    /* each input row alone, one thread */
    omp_set_num_threads(1);
    for (int b = 0; b < BMAX; b++) matmul(&s, one + (size_t)b * ROWS, x + (size_t)b * cols, &m.t, 1, MATMUL_ROWS);
    for (int b = 0; b < BMAX; b++)
        for (int r = 0; r < ROWS; r++) {
            double ref = 0, mag = 0;
            for (int64_t c = 0; c < cols; c++) {
                ref += (double)m.deq[r * cols + c] * x[(size_t)b * cols + c];
                mag += fabs((double)m.deq[r * cols + c] * x[(size_t)b * cols + c]);
            }
            /* 8-bit activations: each product off by <= 1/254 of its size */
            if (!(fabs(one[(size_t)b * ROWS + r] - ref) <= mag / 200 + 1e-5))
                fail_msg("%s cols %lld row %d input %d: %g, expected %g (sum |w x| %g)", type_traits(type)->name,
                         (long long)cols, r, b, one[(size_t)b * ROWS + r], ref, mag);
        }
    /* the same bits in batches of every size, on 1 to 3 threads */
    const int sizes[] = {2, 3, 8, 9, 13, 20};
    for (int th = 1; th <= 3; th++) {
        omp_set_num_threads(th);
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
            const int B = sizes[k];
            const enum matmul_route route = B >= 8 ? MATMUL_PROMPT : MATMUL_ROWS;
            if (matmul_uses_gemm(&m.t, route)) continue; /* float weights: sgemm rounds its own way */
            matmul(&s, y, x, &m.t, B, route);
            if (memcmp(y, one, (size_t)B * ROWS * sizeof *y))
                fail_msg("%s cols %lld: batch of %d on %d threads differs from one row at a time",
                         type_traits(type)->name, (long long)cols, B, th);
        }
    }
    /* the same on the thread pool that decode uses, of 1 to 3 threads */
    for (int th = 1; th <= 3; th++) {
        struct matmul_scratch ps = {.pool = pool_new(th)};
        assert_non_null(ps.pool);
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
            const int B = sizes[k];
            const enum matmul_route route = B >= 8 ? MATMUL_PROMPT : MATMUL_ROWS;
            if (matmul_uses_gemm(&m.t, route)) continue;
            matmul(&ps, y, x, &m.t, B, route);
            if (memcmp(y, one, (size_t)B * ROWS * sizeof *y))
                fail_msg("%s cols %lld: batch of %d on a pool of %d threads differs from one row at a time",
                         type_traits(type)->name, (long long)cols, B, th);
        }
        pool_free(ps.pool);
        matmul_scratch_free(&ps);
    }
    /* Rows are split into one range per thread; a thread that is done takes
     * from the others' ranges. A matmul inside a parallel region gets a team
     * of one thread however many ranges there are: it must take them all. */
    omp_set_num_threads(5);
    omp_set_max_active_levels(1);
    memset(y, 0, (size_t)2 * ROWS * sizeof *y);
#pragma omp parallel num_threads(2)
    {
        struct matmul_scratch own = {0};
        matmul(&own, y + (size_t)omp_get_thread_num() * ROWS, x, &m.t, 1, MATMUL_ROWS);
        matmul_scratch_free(&own);
    }
    if (memcmp(y, one, (size_t)ROWS * sizeof *y) || memcmp(y + ROWS, one, (size_t)ROWS * sizeof *y))
        fail_msg("%s cols %lld: a team of one thread over 5 ranges differs", type_traits(type)->name,
                 (long long)cols);
    matmul_scratch_free(&s);
    free(one); free(y); free(x); free(m.deq); free((void *)m.t.data);
}

static void test_rows_and_batches(void **state)
{
    (void)state;
    const enum ggml_type types[] = {TYPE_Q8_0, TYPE_Q4_0, TYPE_Q4_1, TYPE_Q5_0, TYPE_IQ4_NL, TYPE_Q2_K,
                                    TYPE_Q3_K, TYPE_Q4_K, TYPE_Q5_K, TYPE_Q6_K, TYPE_F16};
    const int64_t cols[] = {256, 2048, 5632, 5632 + 32};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        for (size_t j = 0; j < sizeof cols / sizeof cols[0]; j++) {
            if (cols[j] % type_traits(types[i])->block_size) continue;
            check_type(types[i], cols[j]);
        }
}

/* matmul_many over weights whose kernels read different activation layouts
 * (Q4_K_M mixes Q4_K and Q6_K in one Q/K/V or gate/up group; Q3_K_M adds
 * Q3_K's plain Q8_K rows): each weight's rows get the bits of matmul alone. */
static void test_many_mixed_layouts(void **state)
{
    (void)state;
    const enum ggml_type types[] = {TYPE_Q4_K, TYPE_Q6_K, TYPE_Q3_K, TYPE_Q5_K};
    const int64_t rows[] = {37, 20, 11, 5};
    enum { N = 4, BMAX = 9 };
    const int64_t cols_list[] = {256, 2048, 5632};
    for (size_t c = 0; c < sizeof cols_list / sizeof cols_list[0]; c++) {
        const int64_t cols = cols_list[c];
        struct mat m[N];
        const struct tensor *ws[N];
        float *ys[N], *one[N];
        for (int i = 0; i < N; i++) {
            m[i] = make_mat(types[i], rows[i], cols);
            ws[i] = &m[i].t;
            ys[i] = malloc((size_t)BMAX * rows[i] * sizeof(float));
            one[i] = malloc((size_t)BMAX * rows[i] * sizeof(float));
        }
        float *x = malloc((size_t)BMAX * cols * sizeof *x);
        for (int64_t k = 0; k < BMAX * cols; k++) x[k] = frand();
        struct matmul_scratch s = {0};
        omp_set_num_threads(2);
        const int sizes[] = {1, 3, 8, 9};
        for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
            const int B = sizes[k];
            for (int i = 0; i < N; i++) matmul(&s, one[i], x, ws[i], B, MATMUL_ROWS);
            /* each rotation: the first weight of a layout prepares it for the others */
            for (int rot = 0; rot < N; rot++) {
                const struct tensor *rw[N];
                float *ry[N];
                for (int i = 0; i < N; i++) rw[i] = ws[(i + rot) % N], ry[i] = ys[(i + rot) % N];
                matmul_many(&s, N, ry, x, rw, B, MATMUL_ROWS, NULL);
                for (int i = 0; i < N; i++)
                    if (memcmp(ys[i], one[i], (size_t)B * rows[i] * sizeof(float)))
                        fail_msg("%s cols %lld B %d (rotation %d): matmul_many differs from matmul",
                                 type_traits(types[i])->name, (long long)cols, B, rot);
            }
        }
        matmul_scratch_free(&s);
        free(x);
        for (int i = 0; i < N; i++) free(ys[i]), free(one[i]), free(m[i].deq), free((void *)m[i].t.data);
    }
}

/* A prologue that makes input row b from src (row b times 2, plus 1) and
 * counts its calls per row. */
struct make_rows {
    const float *src;
    float *x;
    int64_t cols;
    _Atomic int calls[16];
};

static void make_row(void *arg, int b)
{
    struct make_rows *mr = arg;
    for (int64_t c = 0; c < mr->cols; c++) mr->x[b * mr->cols + c] = 2.0f * mr->src[b * mr->cols + c] + 1.0f;
    atomic_fetch_add(&mr->calls[b], 1);
}

/* matmul_many with a prologue gives the bits of matmul_many on the input the
 * prologue makes, and runs the prologue once per row: on every route, for
 * quantized weights (made in the quantizing pass), float ones (which have
 * none, or take sgemm) and a group of both, on the pool's threads and on
 * OpenMP's. */
static void test_prologue(void **state)
{
    (void)state;
    enum { ROWS = 21, BMAX = 9, COLS = 512 };
    const enum ggml_type types[] = {TYPE_Q4_0, TYPE_F16, TYPE_F32, TYPE_Q4_K};
    struct mat m[4];
    const struct tensor *ws[4];
    for (int i = 0; i < 4; i++) m[i] = make_mat(types[i], ROWS, COLS), ws[i] = &m[i].t;
    float *src = malloc((size_t)BMAX * COLS * sizeof *src), *want_x = malloc((size_t)BMAX * COLS * sizeof *want_x);
    float *x = malloc((size_t)BMAX * COLS * sizeof *x);
    float *want[4], *got[4];
    for (int i = 0; i < 4; i++) {
        want[i] = malloc((size_t)BMAX * ROWS * sizeof(float));
        got[i] = malloc((size_t)BMAX * ROWS * sizeof(float));
    }
    for (int64_t k = 0; k < BMAX * COLS; k++) src[k] = frand(), want_x[k] = 2.0f * src[k] + 1.0f;
    omp_set_num_threads(2);
    struct pool *pool = pool_new(2);
    const enum matmul_route routes[] = {MATMUL_ROWS, MATMUL_PROMPT, MATMUL_PROMPT_FLOAT};
    /* (first weight, how many): Q4_0 alone, F16 alone, F32 alone, all four */
    const int groups[][2] = {{0, 1}, {1, 1}, {2, 1}, {0, 4}};
    for (int with_pool = 0; with_pool < 2; with_pool++)
        for (size_t r = 0; r < sizeof routes / sizeof routes[0]; r++)
            for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++)
                for (int B = 1; B <= BMAX; B += 4) {
                    struct matmul_scratch s = {.pool = with_pool ? pool : NULL};
                    const int first = groups[g][0], n = groups[g][1];
                    matmul_many(&s, n, want + first, want_x, ws + first, B, routes[r], NULL);
                    struct make_rows mr = {.src = src, .x = x, .cols = COLS};
                    for (int b = 0; b < 16; b++) atomic_init(&mr.calls[b], 0);
                    memset(x, 0, (size_t)BMAX * COLS * sizeof *x);
                    const struct row_prologue pre = {make_row, &mr};
                    matmul_many(&s, n, got + first, x, ws + first, B, routes[r], &pre);
                    for (int b = 0; b < 16; b++)
                        if (atomic_load(&mr.calls[b]) != (b < B))
                            fail_msg("route %zu group %zu B %d: prologue ran %d times on row %d", r, g, B,
                                     atomic_load(&mr.calls[b]), b);
                    for (int i = first; i < first + n; i++)
                        if (memcmp(got[i], want[i], (size_t)B * ROWS * sizeof(float)))
                            fail_msg("%s route %zu B %d pool %d: with the prologue the results differ",
                                     type_traits(types[i])->name, r, B, with_pool);
                    matmul_scratch_free(&s);
                }
    pool_free(pool);
    for (int i = 0; i < 4; i++) free(want[i]), free(got[i]), free(m[i].deq), free((void *)m[i].t.data);
    free(src), free(want_x), free(x);
}

int main(void)
{
    unsetenv("OMP_WAIT_POLICY"); /* pool_new refuses under the active policy */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rows_and_batches),
        cmocka_unit_test(test_many_mixed_layouts),
        cmocka_unit_test(test_prologue),
    };
    return cmocka_run_group_tests_name("matmul", tests, NULL, NULL);
}
