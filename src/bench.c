/*
 * bench.c — `infer --bench`: llama-bench style throughput numbers.
 *
 *   ppN  process an N-token prompt (valid random ids, one sequence, batches
 *        of -b) and time it: prompt processing speed;
 *   tgN  after a 1-token prompt, decode N tokens one at a time: generation
 *        speed.
 *
 * With -d, each test also runs after D tokens already in the context (as
 * llama-bench's "pp512 @ d2048"): the D-token prompt is processed first, not
 * timed, so what is timed pays for attention over a long context.
 *
 * Each test runs once to warm up (page faults, caches, thread start-up),
 * then -r times, each time on a fresh sequence (its blocks go back to the
 * pool and are reused), so no run depends on an earlier one. Results are
 * mean ± sample standard deviation of tokens/s, as a markdown table or as
 * JSON / JSON lines with llama-bench's field names.
 *
 * For generation it also reports the effective memory bandwidth: the bytes
 * one decoded token must read (every layer matrix, the output matrix, and
 * the K/V of the context so far) × tokens/s. Decode is bound by memory, so
 * with --roofline the machine's measured read bandwidth (bandwidth.c) is
 * shown next to it, with the fraction reached.
 */
#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bandwidth.h"
#include "cli.h"

#define MAX_TOKENS (1 << 20)   /* per test; far past any sensible benchmark */

enum out_fmt { OUT_MD, OUT_JSON, OUT_JSONL };

struct bench_test {
    int n_prompt, n_gen;
    int n_depth;          /* tokens in the context before the timed part */
    double *ns;           /* -r samples */
    double *probe;        /* --roofline, tg tests: read GB/s just before each sample */
    char time[32];        /* when the test started, ISO 8601 UTC */
};

/* What every row shares. */
struct bench_env {
    const struct options *o;
    const struct model *m;
    enum out_fmt fmt;
    char model_type[160], cpu[128];
    uint64_t decode_weight_bytes;   /* weights read per decoded token */
    size_t kv_per_token;            /* K+V bytes one cached token holds */
    double machine_gbs;             /* --roofline, else 0 */
    size_t machine_buf;             /* the probe's buffer size */
    int test_width;                 /* markdown: the test column ("pp512 @ d2048") */
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* "128,512" → ints ≥ 0. Returns the count, or -1 (reported) on a bad list. */
static int parse_list(const char *flag, const char *s, int *out, int cap)
{
    int n = 0;
    const char *p = s;
    for (;;) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < 0 || v > MAX_TOKENS || (*end && *end != ',') || n == cap) {
            fprintf(stderr, "infer: invalid value for %s: '%s' (expected a comma-separated list of token counts, e.g. 128,512)\n",
                    flag, s);
            return -1;
        }
        out[n++] = (int)v;
        if (!*end) return n;
        p = end + 1;
    }
}

/* "llama 260K F32": architecture, size class, most common weight type. */
static void describe_model(const struct model *m, char *buf, size_t cap)
{
    const double p = (double)m->n_params;
    char size[32];
    if (p < 1e6) snprintf(size, sizeof size, "%.0fK", p / 1e3);
    else if (p < 1e9) snprintf(size, sizeof size, "%.0fM", p / 1e6);
    else snprintf(size, sizeof size, "%.1fB", p / 1e9);
    const struct type_traits *tt = type_traits(m->main_type);
    snprintf(buf, cap, "%s %s %s", m->arch->name, size, tt ? tt->name : "?");
}

static void cpu_name(char *buf, size_t cap)
{
    snprintf(buf, cap, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10)) continue;
        const char *v = strchr(line, ':');
        if (!v) break;
        v++;
        while (*v == ' ' || *v == '\t') v++;
        snprintf(buf, cap, "%.*s", (int)strcspn(v, "\n"), v);
        break;
    }
    fclose(f);
}

/* Bytes of weights one decode step reads: every layer matrix and the whole
 * output matrix. The embedding contributes one row (and the norm vectors a
 * few floats), which is noise next to these. */
static uint64_t decode_weight_bytes(const struct model *m)
{
    uint64_t b = m->output.nbytes;
    for (int l = 0; l < m->hp.n_layer; l++) {
        const struct tensor *ws[LAYER_MATRICES];
        layer_matrices(&m->layers[l], ws);
        for (int i = 0; i < LAYER_MATRICES; i++) b += ws[i]->nbytes;
    }
    return b;
}

/* Mean and sample (n-1) standard deviation, like llama-bench. */
static void mean_sd(const double *x, int n, double *mean, double *sd)
{
    double s = 0.0;
    for (int i = 0; i < n; i++) s += x[i];
    *mean = s / n;
    double v = 0.0;
    for (int i = 0; i < n; i++) v += (x[i] - *mean) * (x[i] - *mean);
    *sd = n > 1 ? sqrt(v / (n - 1)) : 0.0;
}

/* The test's ns samples as tokens/s. */
static int test_tokens(const struct bench_test *t) { return t->n_prompt ? t->n_prompt : t->n_gen; }

/* Where tgN's decoding starts: after the 1-token prompt, or after the depth. */
static int tg_start(const struct bench_test *t) { return t->n_depth > 0 ? t->n_depth : 1; }

/* Average number of cached tokens attention reads per decoded token in tgN:
 * positions s..s+N-1 each read pos+1 tokens, so s + (N+1)/2. */
static double tg_avg_ctx(const struct bench_test *t) { return tg_start(t) + (t->n_gen + 1) / 2.0; }

static double tg_bytes_per_token(const struct bench_env *e, const struct bench_test *t)
{
    return (double)e->decode_weight_bytes + (double)e->kv_per_token * tg_avg_ctx(t);
}

/* Decode's share of the machine's read bandwidth, in %, and the bandwidth
 * it is compared with (*peak). Each repetition is held to the mean bandwidth
 * the probe read for as long, just before it, and the ratios averaged: on a
 * shared or virtual machine the bandwidth drifts by tens of percent within
 * seconds, and the best of a few short passes before all tests (used for
 * prompt tests and without repetitions' probes) is a roof decode never
 * had for a whole run. */
static double roof_pct(const struct bench_env *e, const struct bench_test *t, double *peak)
{
    const int r = e->o->repetitions;
    const double bpt = tg_bytes_per_token(e, t);
    double pct = 0.0, pk = 0.0;
    for (int i = 0; i < r; i++) {
        const double gbs = bpt * (1e9 * t->n_gen / t->ns[i]) / 1e9, roof = t->probe ? t->probe[i] : e->machine_gbs;
        pct += 100.0 * gbs / roof;
        pk += roof;
    }
    *peak = pk / r;
    return pct / r;
}

/* --- running the tests ---------------------------------------------------- */

static uint64_t rng_next(uint64_t *s)
{
    /* xorshift64*: enough to pick token ids. */
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1Dull;
}

/* One timed run of the test on a fresh sequence 0; ns, or 0 on error
 * (reported). prompt holds at least depth + n_prompt tokens. */
static uint64_t run_once(struct context *ctx, const struct bench_test *t, const int32_t *prompt, int32_t first,
                         float *logits, uint64_t *rng)
{
    const int n_vocab = ctx->m->hp.n_vocab, d = t->n_depth;
    kv_seq_truncate(&ctx->kv, 0, 0);
    /* The context before the test is not part of the measurement. */
    int rc = d > 0 ? forward_seq(ctx, 0, prompt, d, 0, false, logits) : 0;
    uint64_t t0, dt = 0;
    if (!rc && t->n_prompt) {
        t0 = now_ns();
        rc = forward_seq(ctx, 0, prompt + d, t->n_prompt, d, false, logits);
        dt = now_ns() - t0;
    } else if (!rc) {
        /* Without a depth, a 1-token prompt (not measured either). */
        if (d == 0) rc = forward_seq(ctx, 0, &first, 1, 0, false, logits);
        t0 = now_ns();
        int32_t tok = d == 0 ? first : (int32_t)(rng_next(rng) % (uint64_t)n_vocab);
        const int seq = 0;
        for (int i = 0; i < t->n_gen && !rc; i++) {
            const int pos = tg_start(t) + i;
            rc = forward(ctx, 1, &tok, &pos, &seq, NULL, logits);
            tok = (int32_t)(rng_next(rng) % (uint64_t)n_vocab);
        }
        dt = now_ns() - t0;
    }
    if (rc) {
        fprintf(stderr, "infer: --bench: %s\n", rc == -1 ? "out of KV cache memory" : "forward pass failed");
        return 0;
    }
    return dt > 0 ? dt : 1;
}

/* --- output --------------------------------------------------------------- */

static void human_bytes(double b, char *buf, size_t cap)
{
    if (b >= (double)(1u << 30)) snprintf(buf, cap, "%.2f GiB", b / (1u << 30));
    else snprintf(buf, cap, "%.2f MiB", b / (1u << 20));
}

static void human_count(double n, char *buf, size_t cap)
{
    if (n >= 1e9) snprintf(buf, cap, "%.2f B", n / 1e9);
    else if (n >= 1e6) snprintf(buf, cap, "%.2f M", n / 1e6);
    else snprintf(buf, cap, "%.2f K", n / 1e3);
}

static bool emit(const char *s) { return out_write(s, strlen(s)); }

static bool md_header(const struct bench_env *e)
{
    char buf[1024];
    static const char dashes[] = "-------------------:";
    const int tw = e->test_width;
    int n = snprintf(buf, sizeof buf, "| %-30s | %10s | %10s | %-7s | %7s | %*s | %20s | %11s |", "model", "size",
                     "params", "backend", "threads", tw, "test", "t/s", "decode GB/s");
    if (e->machine_gbs > 0) n += snprintf(buf + n, sizeof buf - n, " %9s | %6s |", "peak GB/s", "% peak");
    n += snprintf(buf + n, sizeof buf - n, "\n| %.30s | %.10s | %.10s | %.7s | %.7s | %s | %.20s | %.11s |",
                  "------------------------------", "---------:", "---------:", "-------", "------:",
                  dashes + (sizeof dashes - 1 - tw), "-------------------:", "----------:");
    if (e->machine_gbs > 0) n += snprintf(buf + n, sizeof buf - n, " %.9s | %.6s |", "--------:", "-----:");
    snprintf(buf + n, sizeof buf - n, "\n");
    return emit(buf);
}

static bool md_row(const struct bench_env *e, const struct bench_test *t, double ts, double ts_sd)
{
    char size[32], params[32], test[48], tps[48], bw[32] = "-", buf[1024];
    human_bytes((double)e->m->weight_bytes, size, sizeof size);
    human_count((double)e->m->n_params, params, sizeof params);
    int tn = snprintf(test, sizeof test, t->n_prompt ? "pp%d" : "tg%d", test_tokens(t));
    if (t->n_depth) snprintf(test + tn, sizeof test - tn, " @ d%d", t->n_depth);
    snprintf(tps, sizeof tps, "%.2f ± %.2f", ts, ts_sd);
    const double gbs = t->n_gen ? tg_bytes_per_token(e, t) * ts / 1e9 : 0.0;
    if (t->n_gen) snprintf(bw, sizeof bw, "%.2f", gbs);
    /* "±" is two bytes but one column: pad by hand so the table lines up. */
    int n = snprintf(buf, sizeof buf, "| %-30s | %10s | %10s | %-7s | %7d | %*s | %*s | %11s |", e->model_type, size,
                     params, "CPU", e->o->n_threads, e->test_width, test, 21, tps, bw);
    if (e->machine_gbs > 0) {
        char pct[32] = "-";
        double peak = e->machine_gbs;
        if (t->n_gen) snprintf(pct, sizeof pct, "%.1f", roof_pct(e, t, &peak));
        n += snprintf(buf + n, sizeof buf - n, " %9.2f | %6s |", peak, pct);
    }
    snprintf(buf + n, sizeof buf - n, "\n");
    return emit(buf);
}

static cJSON *json_row(const struct bench_env *e, const struct bench_test *t)
{
    const struct options *o = e->o;
    const int r = o->repetitions, n_tok = test_tokens(t);
    double ts[r], avg_ns, sd_ns, avg_ts, sd_ts;
    for (int i = 0; i < r; i++) ts[i] = 1e9 * n_tok / t->ns[i];
    mean_sd(t->ns, r, &avg_ns, &sd_ns);
    mean_sd(ts, r, &avg_ts, &sd_ts);
    const char *kv_type = o->kv_f32 ? "f32" : "f16";

    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "cpu_info", e->cpu);
    cJSON_AddStringToObject(j, "backends", "CPU");
    cJSON_AddStringToObject(j, "model_filename", o->model_path);
    cJSON_AddStringToObject(j, "model_type", e->model_type);
    cJSON_AddNumberToObject(j, "model_size", (double)e->m->weight_bytes);
    cJSON_AddNumberToObject(j, "model_n_params", (double)e->m->n_params);
    cJSON_AddNumberToObject(j, "n_batch", o->n_batch);
    cJSON_AddNumberToObject(j, "n_ubatch", o->n_batch);
    cJSON_AddNumberToObject(j, "n_threads", o->n_threads);
    cJSON_AddStringToObject(j, "type_k", kv_type);
    cJSON_AddStringToObject(j, "type_v", kv_type);
    cJSON_AddNumberToObject(j, "kv_block", o->kv_block);
    cJSON_AddBoolToObject(j, "use_mmap", !model_file(e->m)->copied);
    cJSON_AddNumberToObject(j, "n_prompt", t->n_prompt);
    cJSON_AddNumberToObject(j, "n_gen", t->n_gen);
    cJSON_AddNumberToObject(j, "n_depth", t->n_depth);
    cJSON_AddStringToObject(j, "test_time", t->time);
    cJSON_AddNumberToObject(j, "avg_ns", round(avg_ns));
    cJSON_AddNumberToObject(j, "stddev_ns", round(sd_ns));
    cJSON_AddNumberToObject(j, "avg_ts", avg_ts);
    cJSON_AddNumberToObject(j, "stddev_ts", sd_ts);
    cJSON *sn = cJSON_AddArrayToObject(j, "samples_ns"), *st = cJSON_AddArrayToObject(j, "samples_ts");
    for (int i = 0; i < r; i++) {
        cJSON_AddItemToArray(sn, cJSON_CreateNumber(round(t->ns[i])));
        cJSON_AddItemToArray(st, cJSON_CreateNumber(ts[i]));
    }
    if (t->n_gen) {
        const double bpt = tg_bytes_per_token(e, t), gbs = bpt * avg_ts / 1e9;
        cJSON_AddNumberToObject(j, "weight_bytes_per_token", (double)e->decode_weight_bytes);
        cJSON_AddNumberToObject(j, "kv_bytes_per_token", (double)e->kv_per_token * tg_avg_ctx(t));
        cJSON_AddNumberToObject(j, "bytes_per_token", bpt);
        cJSON_AddNumberToObject(j, "decode_bandwidth_gbs", gbs);
    }
    if (e->machine_gbs > 0) {
        double peak = e->machine_gbs;
        if (t->n_gen) cJSON_AddNumberToObject(j, "bandwidth_pct", roof_pct(e, t, &peak));
        cJSON_AddNumberToObject(j, "machine_bandwidth_gbs", peak);
        if (t->probe) {
            cJSON *sp = cJSON_AddArrayToObject(j, "samples_machine_bandwidth_gbs");
            for (int i = 0; i < r; i++) cJSON_AddItemToArray(sp, cJSON_CreateNumber(t->probe[i]));
        }
        cJSON_AddNumberToObject(j, "machine_bandwidth_buffer_bytes", (double)e->machine_buf);
    }
    return j;
}

/* Print one finished test in the chosen format (JSON rows collect into arr). */
static bool report(const struct bench_env *e, const struct bench_test *t, cJSON *arr)
{
    if (e->fmt == OUT_JSON) {
        cJSON_AddItemToArray(arr, json_row(e, t));
        return true;
    }
    if (e->fmt == OUT_JSONL) {
        cJSON *j = json_row(e, t);
        char *s = cJSON_PrintUnformatted(j);
        cJSON_Delete(j);
        bool ok = s && emit(s) && emit("\n");
        free(s);
        return ok;
    }
    const int r = e->o->repetitions;
    double ts[r], mean, sd;
    for (int i = 0; i < r; i++) ts[i] = 1e9 * test_tokens(t) / t->ns[i];
    mean_sd(ts, r, &mean, &sd);
    return md_row(e, t, mean, sd);
}

int run_bench(const struct options *o, struct session *s)
{
    const struct model *m = s->model;
    int pp[256], tg[256];
    int n_pp = parse_list("-p", o->prompt ? o->prompt : "512", pp, 256);
    if (n_pp < 0) return 1;
    int n_tg = parse_list("-n", o->n_predict_arg ? o->n_predict_arg : "128", tg, 256);
    if (n_tg < 0) return 1;
    int depth[64];
    int n_depth = parse_list("-d", o->n_depth_arg ? o->n_depth_arg : "0", depth, 64);
    if (n_depth < 0) return 1;

    struct bench_env e = {.o = o, .m = m, .test_width = 8};
    const char *f = o->output_format ? o->output_format : "md";
    if (!strcmp(f, "md")) e.fmt = OUT_MD;
    else if (!strcmp(f, "json")) e.fmt = OUT_JSON;
    else if (!strcmp(f, "jsonl")) e.fmt = OUT_JSONL;
    else {
        fprintf(stderr, "infer: invalid value for -o: '%s' (expected md, json or jsonl)\n", f);
        return 1;
    }

    /* llama-bench's order: per depth, every prompt test, then every
     * generation test; 0 skips. */
    struct bench_test *tests = malloc((size_t)n_depth * (n_pp + n_tg) * sizeof *tests);
    if (!tests) {
        fprintf(stderr, "infer: out of memory\n");
        return 1;
    }
    int n_tests = 0, n_ctx = 1;
    for (int k = 0; k < n_depth; k++) {
        const int d = depth[k];
        for (int i = 0; i < n_pp; i++)
            if (pp[i]) {
                tests[n_tests++] = (struct bench_test){.n_prompt = pp[i], .n_depth = d};
                if (d + pp[i] > n_ctx) n_ctx = d + pp[i];
            }
        for (int i = 0; i < n_tg; i++)
            if (tg[i]) {
                struct bench_test *t = &tests[n_tests++];
                *t = (struct bench_test){.n_gen = tg[i], .n_depth = d};
                if (tg_start(t) + tg[i] > n_ctx) n_ctx = tg_start(t) + tg[i];
            }
        if (d > 0) e.test_width = 15; /* "pp512 @ d2048" */
    }
    if (n_tests == 0) {
        free(tests);
        fprintf(stderr, "infer: --bench: nothing to run (-p and -n are both 0)\n");
        return 1;
    }

    describe_model(m, e.model_type, sizeof e.model_type);
    cpu_name(e.cpu, sizeof e.cpu);
    e.decode_weight_bytes = decode_weight_bytes(m);
    e.kv_per_token = model_kv_bytes_per_token(m, o->kv_f32 ? 4 : 2);

    int rc = 1;
    char err[512];
    struct context_params cp = {.n_ctx = n_ctx, .n_batch = o->n_batch, .kv_block = o->kv_block,
                                .n_seq_max = 1, .gemm_min_batch = 8, .kv_f32 = o->kv_f32};
    struct context *ctx = context_new(m, &cp, err, sizeof err);
    float *logits = malloc((size_t)m->hp.n_vocab * sizeof *logits);
    int32_t *prompt = malloc((size_t)n_ctx * sizeof *prompt);
    double *samples = malloc((size_t)n_tests * o->repetitions * sizeof *samples);
    double *probes = malloc((size_t)n_tests * o->repetitions * sizeof *probes);
    struct bandwidth_probe *probe = NULL;
    cJSON *arr = e.fmt == OUT_JSON ? cJSON_CreateArray() : NULL;
    if (!ctx) {
        fprintf(stderr, "infer: %s\n", err);
        goto done;
    }
    if (!logits || !prompt || !samples || !probes || (e.fmt == OUT_JSON && !arr)) {
        fprintf(stderr, "infer: out of memory\n");
        goto done;
    }
    signal(SIGPIPE, SIG_IGN);

    /* Measured before the tests (best of a few runs, for the stderr line and
     * the prompt tests), then again before each timed decode run. */
    if (o->roofline) {
        struct bandwidth_result br;
        probe = bandwidth_measure(o->n_threads, &br);
        if (!probe) {
            fprintf(stderr, "infer: --roofline: cannot allocate the bandwidth probe's buffer\n");
            goto done;
        }
        e.machine_gbs = br.gbs;
        e.machine_buf = br.bytes;
        fprintf(stderr, "infer: memory read bandwidth %.2f GB/s (%d threads, %.0f MiB buffer, LLC %.0f MiB, best of %d)\n",
                br.gbs, br.threads, br.bytes / 1048576.0, br.llc_bytes / 1048576.0, br.runs);
    }

    /* Valid ids; a model that wants BOS gets it first, as a real prompt would. */
    uint64_t rng = 0x9E3779B97F4A7C15ull;
    const int32_t bos = tokenizer_bos(s->tok);
    const bool add_bos = tokenizer_add_bos(s->tok) && bos >= 0;
    for (int i = 0; i < n_ctx; i++) prompt[i] = (int32_t)(rng_next(&rng) % (uint64_t)m->hp.n_vocab);
    if (add_bos) prompt[0] = bos;
    const int32_t first = add_bos ? bos : prompt[0];

    if (e.fmt == OUT_MD && !md_header(&e)) goto done;
    for (int i = 0; i < n_tests; i++) {
        struct bench_test *t = &tests[i];
        t->ns = samples + (size_t)i * o->repetitions;
        time_t now = time(NULL);
        strftime(t->time, sizeof t->time, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
        if (!run_once(ctx, t, prompt, first, logits, &rng)) goto done; /* warm-up */
        t->probe = probe && t->n_gen ? probes + (size_t)i * o->repetitions : NULL;
        for (int r = 0; r < o->repetitions; r++) {
            /* the mean bandwidth over as long as one run takes (~1 s or more) */
            if (t->probe) t->probe[r] = bandwidth_probe_run(probe, r ? t->ns[r - 1] / 1e9 : 1.0);
            uint64_t ns = run_once(ctx, t, prompt, first, logits, &rng);
            if (!ns) goto done;
            t->ns[r] = (double)ns;
        }
        if (!report(&e, t, arr)) goto done;
    }
    if (arr) {
        char *str = cJSON_Print(arr);
        bool ok = str && emit(str) && emit("\n");
        free(str);
        if (!ok) goto done;
    }
    rc = 0;
done:
    free(tests);
    cJSON_Delete(arr);
    free(samples);
    free(probes);
    bandwidth_probe_free(probe);
    free(prompt);
    free(logits);
    context_free(ctx);
    return rc;
}
