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

/* Stream a buffer far larger than the last-level cache (≥ 1 GiB and 2× the
 * LLC; $INFER_BANDWIDTH_MIB sets another size) with n_threads threads (wide
 * loads, summed so nothing is optimized away), best of a few runs. Returns
 * 0, or -1 when the buffer cannot be allocated. Takes about a second, most of
 * it faulting the buffer's pages in once (much longer in some VMs). */
int bandwidth_measure(int n_threads, struct bandwidth_result *r);

#endif
