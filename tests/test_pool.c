/*
 * test_pool.c — the fork-join thread pool: every part of every job runs
 * exactly once and its writes are seen by the caller when pool_run returns,
 * with workers spinning (back-to-back jobs) and asleep (after an idle spell),
 * for any part count; without a pool OpenMP runs the parts, and no pool is
 * made when OpenMP's threads are told to spin for good.
 */
#include "testutil.h"

#include <stdatomic.h>
#include <time.h>

#include "pool.h"

enum { MAX_PARTS = 8 };

struct job {
    _Atomic int runs[MAX_PARTS]; /* times part i ran */
    int seen_n[MAX_PARTS];       /* the n each part was given */
    uint64_t value[MAX_PARTS];   /* a plain write per part, read by the caller */
    uint64_t stamp;
};

static void part(void *arg, int i, int n)
{
    struct job *j = arg;
    atomic_fetch_add(&j->runs[i], 1);
    j->seen_n[i] = n;
    j->value[i] = j->stamp * 31 + (uint64_t)i;
}

/* Runs one job of n parts on p; n_want is how many parts must run. */
static void run_and_check(struct pool *p, int n, int n_want, uint64_t stamp)
{
    struct job j = {.stamp = stamp};
    for (int i = 0; i < MAX_PARTS; i++) atomic_init(&j.runs[i], 0);
    pool_run(p, n, part, &j);
    for (int i = 0; i < MAX_PARTS; i++) {
        const int want = i < n_want ? 1 : 0;
        if (atomic_load(&j.runs[i]) != want)
            fail_msg("job %llu, %d parts asked: part %d ran %d times, want %d", (unsigned long long)stamp, n, i,
                     atomic_load(&j.runs[i]), want);
        if (want && (j.seen_n[i] != n_want || j.value[i] != stamp * 31 + (uint64_t)i))
            fail_msg("job %llu: part %d saw n = %d and wrote %llu", (unsigned long long)stamp, i, j.seen_n[i],
                     (unsigned long long)j.value[i]);
    }
}

static void test_back_to_back(void **state)
{
    (void)state;
    uint64_t stamp = 1;
    for (int size = 1; size <= 4; size++) {
        struct pool *p = pool_new(size);
        assert_non_null(p);
        assert_int_equal(pool_threads(p), size);
        for (int rep = 0; rep < 2000; rep++) {
            const int n = rep % (size + 3); /* 0 .. size + 2: more than the pool is capped */
            const int n_want = n < 1 ? 1 : n > size ? size : n;
            run_and_check(p, n, n_want, stamp++);
        }
        pool_free(p);
    }
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = 0, .tv_nsec = ms * 1000000};
    nanosleep(&ts, NULL);
}

/* Workers fall asleep after an idle spell; the next job must wake them. */
static void test_after_idle(void **state)
{
    (void)state;
    struct pool *p = pool_new(3);
    assert_non_null(p);
    for (int rep = 0; rep < 20; rep++) {
        sleep_ms(rep % 2 ? 5 : 1);
        run_and_check(p, 3, 3, (uint64_t)rep);
        run_and_check(p, 2, 2, (uint64_t)rep + 100);
    }
    sleep_ms(5);
    pool_free(p); /* with every worker asleep: must not hang */
    pool_free(pool_new(2)); /* right after start */
    pool_free(NULL);
}

/* No pool: OpenMP's team runs the parts, each index once, at most n. */
static void test_openmp(void **state)
{
    (void)state;
    for (int n = 1; n <= 4; n++) {
        struct job j = {.stamp = 7};
        for (int i = 0; i < MAX_PARTS; i++) atomic_init(&j.runs[i], 0);
        pool_run(NULL, n, part, &j);
        int ran = 0;
        for (int i = 0; i < MAX_PARTS; i++) {
            assert_true(atomic_load(&j.runs[i]) <= 1);
            ran += atomic_load(&j.runs[i]);
        }
        assert_true(ran >= 1 && ran <= n);
        for (int i = 0; i < ran; i++) assert_int_equal(atomic_load(&j.runs[i]), 1);
    }
}

/* OpenMP's threads set to spin for good: no second spinning team. */
static void test_openmp_active(void **state)
{
    (void)state;
    setenv("OMP_WAIT_POLICY", "ACTIVE", 1);
    struct pool *p = pool_new(2);
    unsetenv("OMP_WAIT_POLICY");
    assert_null(p);
    p = pool_new(2);
    assert_non_null(p);
    pool_free(p);
}

int main(void)
{
    unsetenv("OMP_WAIT_POLICY"); /* the tests want a pool */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_back_to_back),
        cmocka_unit_test(test_after_idle),
        cmocka_unit_test(test_openmp),
        cmocka_unit_test(test_openmp_active),
    };
    return cmocka_run_group_tests_name("pool", tests, NULL, NULL);
}
