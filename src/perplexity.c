/*
 * perplexity.c — `infer --perplexity -f FILE`: llama-perplexity's method, so
 * the numbers can be compared with llama.cpp's.
 *
 * The whole text is tokenized once (with BOS when the model wants it) and cut
 * into chunks of n_ctx tokens (a tail shorter than a chunk is dropped). Each
 * chunk is evaluated from an empty KV cache with its first token replaced by
 * BOS, and only the second half is scored: positions n_ctx/2 .. n_ctx-2 each
 * predict the next token, so every scored token has at least n_ctx/2 tokens
 * of context. NLL = -log softmax(logits)[next] in double. Per chunk the
 * running perplexity is printed as llama.cpp does ("[1]12.3456,[2]..."), then
 *
 *   Final estimate: PPL = exp(mean NLL) +/- PPL × sqrt((E[NLL²] - E[NLL]²) / (N - 1))
 *
 * (the standard error of the mean NLL, carried through exp). Results go to
 * stdout; a progress bar goes to stderr only when it is a terminal.
 */
#include <cJSON.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

#define DEFAULT_CTX 512   /* llama-perplexity's default */

/* -log softmax(logits)[tok], in double: the max is subtracted first so exp
 * cannot overflow, and the sum over a large vocabulary keeps its precision. */
static double nll_of(const float *logits, int n_vocab, int32_t tok)
{
    float mx = logits[0];
    for (int i = 1; i < n_vocab; i++)
        if (logits[i] > mx) mx = logits[i];
    double sum = 0.0;
    for (int i = 0; i < n_vocab; i++) sum += exp((double)logits[i] - mx);
    return -((double)logits[tok] - mx - log(sum));
}

static void progress(int done, int total, double elapsed)
{
    const int width = 30, fill = total ? done * width / total : width;
    char bar[64];
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : ' ';
    bar[width] = 0;
    const double eta = done ? elapsed / done * (total - done) : 0.0;
    fprintf(stderr, "\r[%s] %d/%d chunks, %.1f s, ETA %.1f s ", bar, done, total, elapsed, eta);
    fflush(stderr);
}

struct chunk_result {
    double nll_sum;   /* over this chunk's scored tokens */
    double ppl_run;   /* running perplexity after this chunk */
};

int run_perplexity(const struct options *o, struct session *s)
{
    const struct model *m = s->model;
    const int n_vocab = m->hp.n_vocab;
    const int n_ctx = o->n_ctx > 0 ? o->n_ctx : DEFAULT_CTX;
    if (n_ctx < 4) {
        fprintf(stderr, "infer: --perplexity needs a context of at least 4 tokens (-c %d)\n", n_ctx);
        return 1;
    }
    if (!o->prompt && !o->prompt_file && !o->prompt_ids && isatty(STDIN_FILENO)) {
        fprintf(stderr, "infer: --perplexity needs a text: -f FILE\n");
        return 1;
    }
    size_t n_tokens;
    int32_t *tokens = prompt_tokens(o, s, &n_tokens);
    if (!tokens) return 1;
    const char *src = o->prompt_file ? o->prompt_file : o->prompt_ids ? "--prompt-ids" : o->prompt ? "-p" : "stdin";
    if (n_tokens < 2 * (size_t)n_ctx) {
        fprintf(stderr, "infer: %s tokenizes to only %zu tokens; perplexity with a context of %d needs at least %d (use a longer text or a smaller -c)\n",
                src, n_tokens, n_ctx, 2 * n_ctx);
        free(tokens);
        return 1;
    }
    if (n_ctx > m->hp.ctx_train)
        fprintf(stderr, "infer: warning: -c %d is more than the model was trained on (%d)\n", n_ctx, m->hp.ctx_train);

    const int32_t bos = tokenizer_bos(s->tok);
    const bool add_bos = tokenizer_add_bos(s->tok) && !o->no_bos && bos >= 0;
    const int n_chunk = (int)(n_tokens / (size_t)n_ctx);
    const int n_batch = o->n_batch < n_ctx ? o->n_batch : n_ctx;
    const int first = n_ctx / 2, n_score = n_ctx - 1 - first;

    int rc = 1;
    char err[512];
    struct context_params cp = {.n_ctx = n_ctx, .n_batch = n_batch, .kv_block = o->kv_block,
                                .n_seq_max = 1, .gemm_min_batch = 8, .kv_f32 = o->kv_f32};
    struct context *ctx = context_new(m, &cp, err, sizeof err);
    float *logits = malloc((size_t)n_score * n_vocab * sizeof *logits);
    int32_t *chunk = malloc((size_t)n_ctx * sizeof *chunk);
    int *pos = malloc((size_t)n_ctx * sizeof *pos), *seq = calloc((size_t)n_ctx, sizeof *seq);
    bool *want = malloc((size_t)n_ctx * sizeof *want);
    struct chunk_result *res = calloc((size_t)n_chunk, sizeof *res);
    cJSON *root = NULL;
    if (!ctx) {
        fprintf(stderr, "infer: %s\n", err);
        goto done;
    }
    if (!logits || !chunk || !pos || !seq || !want || !res) {
        fprintf(stderr, "infer: out of memory\n");
        goto done;
    }
    for (int j = 0; j < n_ctx; j++) {
        pos[j] = j;
        want[j] = j >= first && j < n_ctx - 1; /* only the scored positions need logits */
    }

    catch_signals();
    const bool bar = isatty(STDERR_FILENO);
    fprintf(stderr, "infer: perplexity over %d chunks of %d tokens (%zu tokens in %s), batch %d, scoring %d tokens per chunk\n",
            n_chunk, n_ctx, n_tokens, src, n_batch, n_score);

    double nll = 0.0, nll2 = 0.0;
    long count = 0;
    int done_chunks = 0;
    bool stdout_ok = true;
    const double t0 = now_seconds();
    for (int i = 0; i < n_chunk && !g_interrupted; i++) {
        memcpy(chunk, tokens + (size_t)i * n_ctx, (size_t)n_ctx * sizeof *chunk);
        if (add_bos) chunk[0] = bos;
        kv_seq_truncate(&ctx->kv, 0, 0); /* a fresh sequence for every chunk */
        int frc = forward(ctx, n_ctx, chunk, pos, seq, want, logits);
        if (frc) {
            fprintf(stderr, "%sinfer: %s\n", bar ? "\n" : "", frc == -1 ? "out of KV cache memory" : "invalid token in the text");
            goto done;
        }
        double cs = 0.0;
        for (int j = 0; j < n_score; j++) {
            const double v = nll_of(logits + (size_t)j * n_vocab, n_vocab, chunk[first + j + 1]);
            cs += v;
            nll2 += v * v;
        }
        nll += cs;
        count += n_score;
        res[i].nll_sum = cs;
        res[i].ppl_run = exp(nll / count);
        done_chunks++;
        if (bar) progress(done_chunks, n_chunk, now_seconds() - t0);
        if (!o->json && stdout_ok) {
            char buf[64];
            int k = snprintf(buf, sizeof buf, "[%d]%.4f,", i + 1, res[i].ppl_run);
            stdout_ok = out_write(buf, (size_t)k);
        }
    }
    const double elapsed = now_seconds() - t0;
    if (bar) fputc('\n', stderr);
    if (!o->json && stdout_ok) stdout_ok = out_write("\n", 1); /* ends the progress line */
    if (done_chunks == 0) goto done; /* interrupted before any result */

    /* llama.cpp's estimate and its standard error. */
    const double mean = nll / count, mean2 = nll2 / count, var = mean2 - mean * mean;
    const double ppl = exp(mean);
    const bool have_err = var > 0 && count > 1;
    const double ppl_err = have_err ? sqrt(var / (count - 1)) * ppl : 0.0;
    fprintf(stderr, "infer: %d chunks in %.2f s (%.2f s per chunk, %.1f tokens/s)\n", done_chunks, elapsed,
            elapsed / done_chunks, (double)done_chunks * n_ctx / elapsed);

    if (o->json) {
        root = cJSON_CreateObject();
        cJSON_AddNumberToObject(root, "ppl", ppl);
        if (have_err) cJSON_AddNumberToObject(root, "ppl_stderr", ppl_err);
        else cJSON_AddNullToObject(root, "ppl_stderr");
        cJSON_AddNumberToObject(root, "nll_mean", mean);
        cJSON_AddNumberToObject(root, "n_chunks", done_chunks);
        cJSON_AddNumberToObject(root, "n_ctx", n_ctx);
        cJSON_AddNumberToObject(root, "n_batch", n_batch);
        cJSON_AddNumberToObject(root, "n_tokens", (double)n_tokens);
        cJSON_AddNumberToObject(root, "tokens_scored", (double)count);
        cJSON_AddStringToObject(root, "type_k", o->kv_f32 ? "f32" : "f16");
        cJSON_AddBoolToObject(root, "interrupted", g_interrupted != 0);
        cJSON *arr = cJSON_AddArrayToObject(root, "chunks");
        for (int i = 0; i < done_chunks; i++) {
            cJSON *c = cJSON_CreateObject();
            cJSON_AddNumberToObject(c, "chunk", i + 1);
            cJSON_AddNumberToObject(c, "nll", res[i].nll_sum / n_score);
            cJSON_AddNumberToObject(c, "ppl", exp(res[i].nll_sum / n_score));
            cJSON_AddNumberToObject(c, "ppl_running", res[i].ppl_run);
            cJSON_AddItemToArray(arr, c);
        }
        char *str = cJSON_Print(root);
        stdout_ok = str && out_write(str, strlen(str)) && out_write("\n", 1);
        free(str);
    } else if (stdout_ok) {
        char buf[160];
        int k = have_err ? snprintf(buf, sizeof buf, "Final estimate: PPL = %.4f +/- %.5f\n", ppl, ppl_err)
                         : snprintf(buf, sizeof buf, "Final estimate: PPL = %.4f (no error estimate: zero variance)\n", ppl);
        stdout_ok = out_write(buf, (size_t)k);
    }
    if (!stdout_ok) {
        fprintf(stderr, "infer: cannot write the results to stdout\n");
        goto done;
    }
    rc = g_interrupted ? 130 : 0;
done:
    cJSON_Delete(root);
    free(res);
    free(want);
    free(seq);
    free(pos);
    free(chunk);
    free(logits);
    free(tokens);
    context_free(ctx);
    return rc;
}
