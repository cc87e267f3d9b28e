/*
 * core_probe.c — how much arithmetic each thread gets, for `make bench`.
 *
 * On a shared or virtual machine, two "CPUs" may be hyperthreads of one core,
 * or share their cores with a neighbour's threads, and that can change from
 * minute to minute. Compute-bound numbers (prompt processing, many sequences
 * at once) then drop by up to half while memory-bound decode barely moves,
 * and ratios between the two (-np 8 against one sequence) move with them.
 * The benchmark prints this probe's line at its start and its end, so that a
 * run can be read against the state the machine was in.
 *
 *   core_probe [THREADS]   (default 2)
 * Prints on stdout: FMA GFLOP/s of one thread alone, of each of THREADS
 * threads running at the same time, and the second as a % of the first
 * (medians of 5 rounds).
 */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define CHAINS 8        /* independent accumulators: enough to hide FMA latency */
#define ITERS 2000000L  /* ~20-40 ms a measurement */
#define ROUNDS 5

typedef float vec8 __attribute__((vector_size(32)));

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* GFLOP/s of one thread running CHAINS multiply-add chains (a*b+c is
 * contracted to an FMA where the target has one). */
static double fma_rate(float seed)
{
    vec8 acc[CHAINS], m = {0}, a = {0};
    for (int k = 0; k < 8; k++) m[k] = 0.999999f, a[k] = seed * 1e-7f;
    for (int c = 0; c < CHAINS; c++) acc[c] = m * (float)c;
    const double t0 = now_s();
    for (long i = 0; i < ITERS; i++)
        for (int c = 0; c < CHAINS; c++) acc[c] = acc[c] * m + a;
    const double dt = now_s() - t0;
    float sum = 0;
    for (int c = 0; c < CHAINS; c++) sum += acc[c][0];
    volatile float sink = sum; /* keeps the loop */
    (void)sink;
    return 2.0 * 8 * CHAINS * ITERS / dt / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    const int threads = argc > 1 ? atoi(argv[1]) : 2;
    if (threads < 1 || threads > 1024) {
        fprintf(stderr, "usage: core_probe [THREADS]\n");
        return 2;
    }
    double alone[ROUNDS], together[ROUNDS];
    fma_rate(1.0f); /* warm-up: clocks up, pages in */
    for (int r = 0; r < ROUNDS; r++) {
        alone[r] = fma_rate((float)r);
        double sum = 0;
#pragma omp parallel num_threads(threads) reduction(+ : sum)
        {
#pragma omp barrier
            sum += fma_rate((float)omp_get_thread_num());
        }
        together[r] = sum / threads;
    }
    qsort(alone, ROUNDS, sizeof *alone, cmp_double);
    qsort(together, ROUNDS, sizeof *together, cmp_double);
    const double a = alone[ROUNDS / 2], t = together[ROUNDS / 2];
    printf("FMA GFLOP/s per thread: %.1f alone, %.1f each with %d running (%.0f %%)\n", a, t, threads, 100 * t / a);
    return 0;
}
