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
 * OpenMP keeps the passes that call OpenBLAS's sgemm (this OpenBLAS runs on
 * OpenMP's threads) and the loops around them.
 */
#ifndef INFER_POOL_H
#define INFER_POOL_H

struct pool;

/* fn(arg, i, n) runs once for each i in 0 ..< n, each on its own thread. */
typedef void (*pool_fn)(void *arg, int i, int n);

/* A team of n_threads (the caller counts as one: n_threads - 1 are started;
 * bound to OpenMP's places when OpenMP binds its threads). NULL when threads
 * cannot be started, or when OpenMP's threads are told to spin without end
 * (OMP_WAIT_POLICY=active): two spinning teams would share the cores. */
struct pool *pool_new(int n_threads);
void pool_free(struct pool *p);
/* The team's size; with no pool, OpenMP's thread count. */
int pool_threads(const struct pool *p);

/* Runs fn(arg, i, n') for i in 0 ..< n' and returns when all are done; n'
 * is n capped at pool_threads(p), and 1 when n <= 1 (the caller alone).
 * With a pool, n' is that number and the caller runs i = 0. With no pool,
 * an OpenMP region runs them, and its team may be smaller than asked: fn
 * must split its work by the i and n' it is given. One caller at a time
 * per pool, and fn must not call pool_run on the same pool. */
void pool_run(struct pool *p, int n, pool_fn fn, void *arg);

#endif
