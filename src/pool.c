/*
 * pool.c — a fork-join team of spinning threads (see pool.h).
 *
 * One job at a time. The caller writes the job (fn, arg, n), zeroes the done
 * count and bumps the generation word; each worker sees the bump, runs its
 * part (nothing if its index is n or more), and counts itself done; the
 * caller runs part 0 and then waits for the count. Every worker answers
 * every job, so no worker can still be reading one job when the next is
 * written.
 *
 * A worker with nothing to do spins on the generation for IDLE_SPIN_NS, then
 * sleeps on it (futex). It says so first in `sleepers`, and the caller makes
 * the wake-up call only when that is non-zero. Both sides use sequentially
 * consistent operations (worker: sleepers++ then read gen; caller: gen++
 * then read sleepers), so either the caller sees the sleeper or the worker
 * sees the new generation, and FUTEX_WAIT itself refuses to sleep once the
 * word has moved.
 */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include "pool.h"

#include <limits.h>
#include <linux/futex.h>
#include <omp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Idle spin before sleeping: longer than the gaps inside a token (serial
 * steps, sampling), short enough not to hold a core that OpenMP's threads
 * (sgemm) want for long. */
#define IDLE_SPIN_NS 1000000
/* Spin iterations between clock reads. */
#define SPIN_CHECK 256

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

struct worker {
    struct pool *pool;
    int id;
    pthread_t thread;
};

struct pool {
    int n_threads;
    bool crowded;            /* more threads than CPUs: sleep at once, yield while waiting */
    int n_started;           /* workers running (n_threads - 1 once set up) */
    struct worker *workers;
    /* the job, written by the caller before gen moves */
    pool_fn fn;
    void *arg;
    int n;
    bool quit;
    /* the words the two sides spin on, on lines of their own */
    _Alignas(64) _Atomic uint32_t gen;
    _Atomic int sleepers;
    _Alignas(64) _Atomic int done;
};

static void futex_wait(_Atomic uint32_t *word, uint32_t expected)
{
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}

static void futex_wake_all(_Atomic uint32_t *word)
{
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

/* The next generation after `seen`. */
static uint32_t wait_for_job(struct pool *p, uint32_t seen)
{
    const int64_t t0 = now_ns();
    while (!p->crowded) {
        for (int i = 0; i < SPIN_CHECK; i++) {
            const uint32_t g = atomic_load_explicit(&p->gen, memory_order_acquire);
            if (g != seen) return g;
            cpu_relax();
        }
        if (now_ns() - t0 > IDLE_SPIN_NS) break;
    }
    atomic_fetch_add(&p->sleepers, 1);
    uint32_t g;
    while ((g = atomic_load(&p->gen)) == seen) futex_wait(&p->gen, seen);
    atomic_fetch_sub(&p->sleepers, 1);
    return g;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct pool *p = w->pool;
    uint32_t seen = 0;
    for (;;) {
        seen = wait_for_job(p, seen);
        if (p->quit) return NULL;
        if (w->id < p->n) p->fn(p->arg, w->id, p->n);
        atomic_fetch_add_explicit(&p->done, 1, memory_order_release);
    }
}

/* Publishes the job in p's fields to every started worker. */
static void publish(struct pool *p)
{
    atomic_store_explicit(&p->done, 0, memory_order_relaxed);
    atomic_fetch_add(&p->gen, 1); /* releases the job's fields */
    if (atomic_load(&p->sleepers)) futex_wake_all(&p->gen);
}

static void wait_done(struct pool *p)
{
    for (unsigned spins = 0; atomic_load_explicit(&p->done, memory_order_acquire) < p->n_started; spins++) {
        cpu_relax();
        /* a worker the OS has preempted may need this core */
        if (p->crowded || spins % 4096 == 4095) sched_yield();
    }
}

/* OpenMP's threads told to spin without end (they would share the cores
 * with the pool's for good). */
static bool openmp_spins_forever(void)
{
    const char *policy = getenv("OMP_WAIT_POLICY");
    return policy && strcasecmp(policy, "active") == 0;
}

/* The CPUs of OpenMP place `place` (places are set by OMP_PLACES or
 * OMP_PROC_BIND); false when it has none. */
static bool place_cpus(int place, cpu_set_t *set)
{
    const int n = omp_get_place_num_procs(place);
    if (n <= 0) return false;
    int ids[n];
    omp_get_place_proc_ids(place, ids);
    CPU_ZERO(set);
    for (int k = 0; k < n; k++)
        if (ids[k] >= 0 && ids[k] < CPU_SETSIZE) CPU_SET(ids[k], set);
    return true;
}

/* OpenMP's places when it binds its threads to them, else 0. Then the
 * caller is pinned to its place, and a thread it starts would inherit that
 * one place. */
static int bound_places(void)
{
    return omp_get_proc_bind() != omp_proc_bind_false ? omp_get_num_places() : 0;
}

/* CPUs the team can run on: the places' when OpenMP binds to them. */
static long team_cpus(void)
{
    const int places = bound_places();
    if (places > 0) {
        long cpus = 0;
        for (int q = 0; q < places; q++) cpus += omp_get_place_num_procs(q);
        return cpus;
    }
    cpu_set_t set;
    return sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : sysconf(_SC_NPROCESSORS_ONLN);
}

/* Starts worker i. Bound like OpenMP's thread i under "close" binding (the
 * i-th place after the caller's) when OpenMP binds its threads. */
static bool start_worker(struct pool *p, int i)
{
    struct worker *w = &p->workers[i];
    *w = (struct worker){.pool = p, .id = i};
    pthread_attr_t attr;
    if (pthread_attr_init(&attr)) return false;
    const int places = bound_places();
    cpu_set_t set;
    if (places > 0 && omp_get_place_num() >= 0 && place_cpus((omp_get_place_num() + i) % places, &set))
        pthread_attr_setaffinity_np(&attr, sizeof set, &set);
    const bool ok = pthread_create(&w->thread, &attr, worker_main, w) == 0;
    pthread_attr_destroy(&attr);
    if (ok) pthread_setname_np(w->thread, "infer-pool");
    return ok;
}

struct pool *pool_new(int n_threads)
{
    if (n_threads < 1) n_threads = 1;
    if (openmp_spins_forever()) return NULL;
    struct pool *p = aligned_alloc(64, sizeof *p);
    if (!p) return NULL;
    /* Spinning threads that outnumber the CPUs keep the working ones off
     * them (libgomp throttles its spinning then too). */
    const long cpus = team_cpus();
    *p = (struct pool){.n_threads = n_threads, .crowded = cpus > 0 && n_threads > cpus};
    atomic_init(&p->gen, 0);
    atomic_init(&p->sleepers, 0);
    atomic_init(&p->done, 0);
    p->workers = calloc((size_t)n_threads, sizeof *p->workers);
    if (!p->workers) {
        free(p);
        return NULL;
    }
    /* Workers take no asynchronous signals: Ctrl-C goes to the thread that
     * handles it. Faults stay deliverable, so that a crash in a worker is
     * reported (ASan's handler, a core dump) rather than killing silently. */
    sigset_t all, old;
    sigfillset(&all);
    const int faults[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS, SIGABRT};
    for (size_t k = 0; k < sizeof faults / sizeof faults[0]; k++) sigdelset(&all, faults[k]);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    for (int i = 1; i < n_threads && start_worker(p, i); i++) p->n_started++;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (p->n_started < n_threads - 1) {
        pool_free(p);
        return NULL;
    }
    return p;
}

void pool_free(struct pool *p)
{
    if (!p) return;
    p->quit = true;
    atomic_fetch_add(&p->gen, 1);
    futex_wake_all(&p->gen);
    for (int i = 1; i <= p->n_started; i++) pthread_join(p->workers[i].thread, NULL);
    free(p->workers);
    free(p);
}

int pool_threads(const struct pool *p)
{
    return p ? p->n_threads : omp_get_max_threads();
}

void pool_run(struct pool *p, int n, pool_fn fn, void *arg)
{
    if (n > pool_threads(p)) n = pool_threads(p);
    if (n <= 1) {
        fn(arg, 0, 1);
        return;
    }
    if (!p) {
#pragma omp parallel num_threads(n)
        fn(arg, omp_get_thread_num(), omp_get_num_threads());
        return;
    }
    p->fn = fn;
    p->arg = arg;
    p->n = n;
    publish(p);
    fn(arg, 0, n);
    wait_done(p);
}
