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
 * loads, summed so nothing is optimized away): r gets the best of a few
 * short runs. Takes about a second, most of it faulting the buffer's pages
 * in once (much longer in some VMs). Returns the probe, kept open so that it
 * can measure again beside each timed run, or NULL when the buffer cannot
 * be allocated.
 *
 * bandwidth_probe_run streams it again for at least min_seconds, in passes
 * that take turns: plain loads, loads with T0 and with non-temporal software
 * prefetch (at least one of each), and returns the best kind's mean GB/s: on a shared
 * or virtual machine the bandwidth drifts by tens of percent within seconds,
 * and single passes (~20 ms) range wider still. */
struct bandwidth_probe;
struct bandwidth_probe *bandwidth_measure(int n_threads, struct bandwidth_result *r);
double bandwidth_probe_run(struct bandwidth_probe *p, double min_seconds);
void bandwidth_probe_free(struct bandwidth_probe *p);

#endif
