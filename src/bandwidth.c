/*
 * bandwidth.c — a memory read-bandwidth probe (see bandwidth.h).
 *
 * Decode reads every weight once per token, so tokens/s × bytes/token can
 * never beat the rate at which the cores can pull bytes from DRAM. This
 * measures that rate the way decode uses memory: all threads, each streaming
 * its own contiguous slice with wide loads. The buffer is several times the
 * last-level cache so nothing is served from cache, and its pages are
 * written first (an untouched anonymous page reads as the shared zero page,
 * which would measure the cache, not DRAM).
 */
#include "bandwidth.h"

#include "hugemem.h"

#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#if defined(__AVX2__)
#include <immintrin.h>
#endif

#define MIN_BYTES ((size_t)64 << 20)
#define RUNS 5

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* How far ahead the prefetching pass asks for lines: the decode kernels'
 * distance (quant_impl.h, rows_prefetch). */
#define PREFETCH_AHEAD 8192

/* How a pass reads: plain loads, or loads with software prefetch as the
 * decode kernels issue it, T0 or non-temporal (quant_impl.h, rows_prefetch). */
enum read_kind { READ_PLAIN, READ_PREFETCH, READ_PREFETCH_NTA, READ_KINDS };

/* Sum of n bytes as 64-bit words (n a multiple of 256, p 32-byte aligned):
 * the sum is only there so the loads cannot be optimized away. With
 * prefetch, each 256 bytes also ask for the lines PREFETCH_AHEAD further on
 * (a prefetch past the end of the buffer is harmless). */
static inline __attribute__((always_inline)) uint64_t sum_slice(const uint8_t *p, size_t n, enum read_kind kind)
{
#if defined(__AVX2__)
    /* Four independent accumulators keep several loads in flight. */
    __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i < n; i += 256) {
        if (kind == READ_PREFETCH)
            for (size_t l = 0; l < 256; l += 64) __builtin_prefetch(p + i + PREFETCH_AHEAD + l, 0, 3);
        if (kind == READ_PREFETCH_NTA)
            for (size_t l = 0; l < 256; l += 64) __builtin_prefetch(p + i + PREFETCH_AHEAD + l, 0, 0);
        const __m256i *v = (const __m256i *)(p + i);
        a0 = _mm256_add_epi64(a0, _mm256_load_si256(v + 0));
        a1 = _mm256_add_epi64(a1, _mm256_load_si256(v + 1));
        a2 = _mm256_add_epi64(a2, _mm256_load_si256(v + 2));
        a3 = _mm256_add_epi64(a3, _mm256_load_si256(v + 3));
        a0 = _mm256_add_epi64(a0, _mm256_load_si256(v + 4));
        a1 = _mm256_add_epi64(a1, _mm256_load_si256(v + 5));
        a2 = _mm256_add_epi64(a2, _mm256_load_si256(v + 6));
        a3 = _mm256_add_epi64(a3, _mm256_load_si256(v + 7));
    }
    __m256i a = _mm256_add_epi64(_mm256_add_epi64(a0, a1), _mm256_add_epi64(a2, a3));
    uint64_t lanes[4];
    _mm256_storeu_si256((__m256i *)lanes, a);
    return lanes[0] + lanes[1] + lanes[2] + lanes[3];
#else
    const uint64_t *w = (const uint64_t *)p;
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (size_t i = 0; i < n / 8; i += 4) {
        if (kind == READ_PREFETCH && i % 32 == 0) __builtin_prefetch(p + 8 * i + PREFETCH_AHEAD, 0, 3);
        if (kind == READ_PREFETCH_NTA && i % 32 == 0) __builtin_prefetch(p + 8 * i + PREFETCH_AHEAD, 0, 0);
        s0 += w[i];
        s1 += w[i + 1];
        s2 += w[i + 2];
        s3 += w[i + 3];
    }
    return s0 + s1 + s2 + s3;
#endif
}

/* Buffer size: at least 1 GiB and twice the LLC (a cyclic stream through
 * twice the cache finds nothing of itself left there), at most a quarter of
 * RAM. INFER_BANDWIDTH_MIB overrides it: touching a large buffer for the
 * first time is slow on some VMs, and a quick run can trade accuracy for it. */
static size_t probe_bytes(size_t llc)
{
    const char *env = getenv("INFER_BANDWIDTH_MIB");
    if (env && atol(env) > 0) return (size_t)atol(env) << 20;
    size_t want = (size_t)1 << 30;
    if (llc && llc > want / 2) want = 2 * llc;
    long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    if (pages > 0 && psz > 0) {
        size_t cap = (size_t)pages * (size_t)psz / 4;
        if (want > cap) want = cap > MIN_BYTES ? cap : MIN_BYTES;
    }
    return want;
}

struct bandwidth_probe {
    struct huge_region region;
    uint8_t *buf;
    size_t slice;
    int n_threads;
};

static struct bandwidth_probe *probe_new(int n_threads, struct bandwidth_result *r)
{
    memset(r, 0, sizeof *r);
    if (n_threads < 1) n_threads = 1;
    long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE), l2 = sysconf(_SC_LEVEL2_CACHE_SIZE);
    r->llc_bytes = l3 > 0 ? (size_t)l3 : l2 > 0 ? (size_t)l2 : 0;
    struct bandwidth_probe *p = calloc(1, sizeof *p);
    if (!p) return NULL;
    p->n_threads = n_threads;

    /* Each thread gets an equal slice, a multiple of the 256-byte loop step. */
    size_t bytes = probe_bytes(r->llc_bytes);
    for (;; bytes /= 2) { /* out of address space or memory: try half */
        p->slice = bytes / (size_t)n_threads / 256 * 256;
        /* in huge pages: far fewer faults to fill it, TLB misses to read it */
        if (p->slice) p->buf = huge_alloc(&p->region, p->slice * (size_t)n_threads);
        if (p->buf || bytes < 2 * MIN_BYTES) break;
    }
    if (!p->buf) {
        free(p);
        return NULL;
    }
    const size_t total = p->slice * (size_t)n_threads;

    /* First touch by the thread that will read the slice (NUMA-local pages). */
#pragma omp parallel num_threads(n_threads)
    {
        /* The team may be smaller than asked for: slices are dealt round-robin. */
        for (int t = omp_get_thread_num(); t < n_threads; t += omp_get_num_threads())
            memset(p->buf + (size_t)t * p->slice, 0x5a, p->slice);
    }
    r->bytes = total;
    r->threads = n_threads;
    return p;
}

/* One pass over the buffer by all threads; returns its seconds. */
static double probe_pass(struct bandwidth_probe *p, enum read_kind kind, uint64_t *sums)
{
    const int n_threads = p->n_threads;
    const double t0 = now_s();
#pragma omp parallel num_threads(n_threads)
    {
        for (int t = omp_get_thread_num(); t < n_threads; t += omp_get_num_threads()) {
            const uint8_t *slice = p->buf + (size_t)t * p->slice;
            /* an inlined copy for each kind: the plain one tests nothing per step */
            switch (kind) {
            case READ_PLAIN: sums[t] += sum_slice(slice, p->slice, READ_PLAIN); break;
            case READ_PREFETCH: sums[t] += sum_slice(slice, p->slice, READ_PREFETCH); break;
            default: sums[t] += sum_slice(slice, p->slice, READ_PREFETCH_NTA); break;
            }
        }
    }
    return now_s() - t0;
}

double bandwidth_probe_run(struct bandwidth_probe *p, double min_seconds)
{
    /* Passes take the read kinds in turn, and the best kind's mean counts:
     * on this kind of VM the plain stream was faster when the host was quiet
     * (56-60 vs 47-50 GB/s) and slower under load from neighbours (34 vs 49
     * GB/s), where the decode kernels, which prefetch, read more than the
     * plain probe; since decode prefetches non-temporally it read up to 5 %
     * more than both, so the probe reads that way too. */
    uint64_t sums[p->n_threads];
    memset(sums, 0, sizeof sums);
    double secs[READ_KINDS] = {0}, total = 0.0;
    int passes[READ_KINDS] = {0}, n = 0;
    do {
        const enum read_kind v = (enum read_kind)(n++ % READ_KINDS);
        const double dt = probe_pass(p, v, sums);
        secs[v] += dt;
        total += dt;
        passes[v]++;
    } while (n < READ_KINDS || total < min_seconds);
    /* Keep the sums observable so the loads stay in the program. */
    volatile uint64_t sink = 0;
    for (int t = 0; t < p->n_threads; t++) sink += sums[t];
    (void)sink;
    const double bytes = (double)(p->slice * (size_t)p->n_threads);
    double best = 0.0;
    for (int v = 0; v < READ_KINDS; v++)
        if (secs[v] > 0 && bytes * passes[v] / secs[v] / 1e9 > best) best = bytes * passes[v] / secs[v] / 1e9;
    return best;
}

void bandwidth_probe_free(struct bandwidth_probe *p)
{
    if (!p) return;
    huge_free(&p->region);
    free(p);
}

struct bandwidth_probe *bandwidth_measure(int n_threads, struct bandwidth_result *r)
{
    struct bandwidth_probe *p = probe_new(n_threads, r);
    if (!p) return NULL;
    for (r->runs = 0; r->runs < RUNS; r->runs++) {
        const double gbs = bandwidth_probe_run(p, 0.0);
        if (gbs > r->gbs) r->gbs = gbs;
    }
    return p;
}
