/*
 * bandwidth.h — how fast this machine can read memory: the roof that decode
 * speed runs into (every weight is read once per generated token), measured
 * for `infer --bench --roofline`.
 */
#ifndef INFER_BANDWIDTH_H
#define INFER_BANDWIDTH_H

#include <stddef.h>

struct bandwidth_result {
    double gbs;          /* best read bandwidth over the runs, in GB/s (1e9 bytes/s) */
    size_t bytes;        /* size of the buffer streamed */
    size_t llc_bytes;    /* last-level cache size as the system reports it (0: unknown) */
    int threads, runs;
};

/* Stream a buffer far larger than the last-level cache with n_threads
 * threads (wide loads, summed so nothing is optimized away), best of a few
 * runs. Returns 0, or -1 when the buffer cannot be allocated. Takes about a
 * second (most of it touching the buffer's pages once). */
int bandwidth_measure(int n_threads, struct bandwidth_result *r);

#endif
