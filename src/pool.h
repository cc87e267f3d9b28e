/*
 * pool.h — a fork-join team of threads for the row kernels and attention.
 *
 * Decode forks ~130 short parallel steps per token (5 matmuls and attention
 * per layer, 50-100 us each). An OpenMP region costs a futex_wake system
 * call at its start and at its end whatever the wait policy (libgomp wakes
 * sleepers unconditionally), and on this kind of VM one such call costs
 * 1.1 us: 3-4 % of decode went to forking and joining. The pool's threads
 * spin on a shared word between steps and only go to sleep (and need a
 * system call to wake) after a long idle spell, such as between prompts.
 *
 * OpenMP keeps what it did: OpenBLAS's sgemm and the loops around it.
 */
#ifndef INFER_POOL_H
#define INFER_POOL_H

struct pool;

/* fn(arg, i, n) runs once for each i in 0 ..< n, each on its own thread. */
typedef void (*pool_fn)(void *arg, int i, int n);

/* A team of n_threads (the caller counts as one: n_threads - 1 are started).
 * NULL when threads cannot be started. */
struct pool *pool_new(int n_threads);
void pool_free(struct pool *p);
int pool_threads(const struct pool *p);

/* Runs fn on n threads, the caller as i = 0, and returns when all n are done.
 * n is capped at the team's size; with n <= 1 (or no pool) the caller runs
 * fn(arg, 0, 1) alone. Not reentrant: fn must not use the same pool. */
void pool_run(struct pool *p, int n, pool_fn fn, void *arg);

#endif
