/*
 * sgemm_probe.c — the OpenBLAS sgemm rate on this machine, for `make bench`:
 * prompt processing can at best run at the rate sgemm reaches on F32, so the
 * benchmark reports the pp throughput next to this number.
 *
 *   sgemm_probe [M N K [THREADS]]   (default 512 5632 2048: a TinyLlama FFN batch)
 * Prints GFLOP/s (best of 5) on stdout.
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "matmul.h"

int main(int argc, char **argv)
{
    int m = 512, n = 5632, k = 2048, threads = 2;
    if (argc >= 4) { m = atoi(argv[1]); n = atoi(argv[2]); k = atoi(argv[3]); }
    if (argc >= 5) threads = atoi(argv[4]);
    if (m <= 0 || n <= 0 || k <= 0 || threads <= 0) {
        fprintf(stderr, "usage: sgemm_probe [M N K [THREADS]]\n");
        return 2;
    }
    matmul_set_threads(threads);
    float *a = malloc(sizeof(float) * m * k), *b = malloc(sizeof(float) * n * k), *c = malloc(sizeof(float) * m * n);
    if (!a || !b || !c) return 1;
    for (long i = 0; i < (long)m * k; i++) a[i] = (float)(i % 7) * 0.1f;
    for (long i = 0; i < (long)n * k; i++) b[i] = (float)(i % 5) * 0.1f;
    double best = 0;
    for (int r = 0; r < 6; r++) {
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        /* The engine's layout: activations row-major, weights as rows (transposed). */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1.0f, a, k, b, k, 0.0f, c, n);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double s = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9;
        double gflops = 2.0 * m * n * k / s / 1e9;
        if (r > 0 && gflops > best) best = gflops; /* the first run warms up */
    }
    printf("%.1f\n", best);
    free(a);
    free(b);
    free(c);
    return 0;
}
