/*
 * generate.c — the default mode: evaluate the prompt, then sample and stream
 * tokens to stdout as they come, until EOS, -n, the context end, Ctrl-C or a
 * closed stdout. Statistics go to stderr.
 */
#include <cJSON.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

/* --dump-logits: one JSON array per prompt position. */
static bool dump_logits(const char *path, const float *logits, size_t n_pos, int n_vocab)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "infer: %s: %s\n", path, strerror(errno));
        return false;
    }
    fputc('[', f);
    for (size_t p = 0; p < n_pos; p++) {
        fputs(p ? ",\n[" : "[", f);
        for (int i = 0; i < n_vocab; i++) {
            const float v = logits[p * n_vocab + i];
            /* JSON has no inf/nan; they would mean a broken model anyway. */
            if (isfinite(v)) fprintf(f, i ? ",%.9g" : "%.9g", v);
            else fputs(i ? ",null" : "null", f);
        }
        fputc(']', f);
    }
    fputs("]\n", f);
    bool ok = !ferror(f);
    ok &= fclose(f) == 0;
    if (!ok) fprintf(stderr, "infer: %s: write failed\n", path);
    return ok;
}

/* --json / --json-out: the run's numbers as one JSON object. */
static bool write_stats_json(const struct options *o, const struct context *ctx, const struct run_stats *st)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "model", o->model_path);
    run_stats_add_json(j, st);
    cJSON_AddNumberToObject(j, "threads", o->n_threads);
    cJSON_AddNumberToObject(j, "kv_block_size", ctx->kv.block_size);
    cJSON_AddNumberToObject(j, "kv_blocks_used", kv_blocks_used(&ctx->kv));
    cJSON_AddNumberToObject(j, "kv_blocks_allocated", ctx->kv.n_allocated);
    cJSON_AddNumberToObject(j, "kv_bytes_allocated", (double)ctx->kv.n_allocated * (double)kv_block_bytes(&ctx->kv));
    char *text = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (!text) return false;
    bool ok = true;
    if (o->json_out) {
        FILE *f = fopen(o->json_out, "w");
        ok = f && fprintf(f, "%s\n", text) > 0;
        if (f) ok &= fclose(f) == 0;
        if (!ok) fprintf(stderr, "infer: %s: %s\n", o->json_out, strerror(errno));
    } else {
        fprintf(stderr, "%s\n", text);
    }
    free(text);
    return ok;
}

int default_ctx(const struct model *m)
{
    return m->hp.ctx_train < 4096 ? m->hp.ctx_train : 4096;
}

int run_generate(const struct options *o, struct session *s)
{
    const struct model *m = s->model;
    const int n_vocab = m->hp.n_vocab;
    size_t n_prompt;
    int32_t *prompt = prompt_tokens(o, s, &n_prompt);
    if (!prompt) return 1;
    int rc = 1;
    struct context *ctx = NULL;
    float *logits = NULL;
    struct sampler smp = {0};
    if (n_prompt == 0) {
        fprintf(stderr, "infer: empty prompt (and no BOS token to start from)\n");
        goto done;
    }
    const int n_ctx = o->n_ctx > 0 ? o->n_ctx : default_ctx(m);
    if (n_prompt > (size_t)n_ctx) {
        fprintf(stderr, "infer: the prompt has %zu tokens, more than the context size %d (use -c)\n",
                n_prompt, n_ctx);
        goto done;
    }
    char err[512];
    struct context_params cp = {.n_ctx = n_ctx, .n_batch = o->n_batch, .kv_block = o->kv_block,
                                .n_seq_max = 1, .gemm_min_batch = 8, .kv_f32 = o->kv_f32};
    ctx = context_new(m, &cp, err, sizeof err);
    if (!ctx) {
        fprintf(stderr, "infer: %s\n", err);
        goto done;
    }
    const size_t n_logit_rows = o->dump_logits ? n_prompt : 1;
    logits = malloc(n_logit_rows * (size_t)n_vocab * sizeof *logits);
    if (!logits || sampler_init(&smp, &o->sp, n_vocab)) {
        fprintf(stderr, "infer: out of memory\n");
        goto done;
    }
    print_model_line(o, m, n_ctx, "");

    catch_signals();

    char buf[4096];
    struct detokenizer dt;
    const bool starts_with_bos = prompt[0] == tokenizer_bos(s->tok);
    bool stdout_ok = true;
    if (o->echo) {
        detok_init(&dt, s->tok, starts_with_bos);
        for (size_t i = 0; i < n_prompt && stdout_ok; i++) {
            size_t k = detok_push(&dt, prompt[i], buf, sizeof buf);
            stdout_ok = out_write(buf, k);
        }
    }
    /* Generated text continues the prompt, so no leading space is stripped. */
    if (!o->echo) detok_init(&dt, s->tok, false);

    double t0 = now_seconds();
    int frc = forward_seq(ctx, 0, prompt, (int)n_prompt, 0, o->dump_logits != NULL, logits);
    double t_prompt = now_seconds() - t0;
    if (frc) {
        fprintf(stderr, "infer: %s\n", frc == -1 ? "out of KV cache memory during the prompt" : "invalid token in the prompt");
        goto done;
    }
    if (o->dump_logits && !dump_logits(o->dump_logits, logits, n_prompt, n_vocab)) goto done;
    const float *last = logits + (n_logit_rows - 1) * (size_t)n_vocab;
    if (last != logits) memmove(logits, last, (size_t)n_vocab * sizeof *logits);
    for (size_t i = 0; i < n_prompt; i++) sampler_accept(&smp, prompt[i]);

    int n_gen = 0, pos = (int)n_prompt, n_shifts = 0;
    const char *stop = "limit";
    double t1 = now_seconds();
    while (stdout_ok && n_gen != o->n_predict) {
        if (g_interrupted) { stop = "interrupted"; break; }
        int32_t tok = sampler_sample(&smp, logits);
        sampler_accept(&smp, tok);
        n_gen++;
        if (!o->ignore_eos && tokenizer_is_eog(s->tok, tok)) { stop = "eos"; break; }
        size_t k = detok_push(&dt, tok, buf, sizeof buf);
        if (!(stdout_ok = out_write(buf, k))) { stop = "stdout closed"; break; }
        if (n_gen == o->n_predict) break;
        if (pos >= n_ctx) {
            /* Context shift (llama.cpp's): keep the first n_keep tokens (BOS at
             * least), drop half of the rest, slide the remainder down. */
            if (!o->context_shift) { stop = "context full"; break; }
            int keep = o->n_keep < 0 || o->n_keep > (int)n_prompt ? (int)n_prompt : o->n_keep;
            if (starts_with_bos && keep < 1) keep = 1;
            const int discard = (pos - keep) / 2;
            if (discard <= 0 || context_shift(ctx, 0, keep, discard)) { stop = "context full"; break; }
            pos -= discard;
            n_shifts++;
        }
        if (forward_seq(ctx, 0, &tok, 1, pos++, false, logits)) { stop = "out of KV memory"; break; }
    }
    double t_gen = now_seconds() - t1;
    if (stdout_ok) {
        size_t k = detok_flush(&dt, buf, sizeof buf);
        if (k) out_write(buf, k);
        /* A terminal gets a final newline; a pipe gets exactly the text. */
        if (isatty(STDOUT_FILENO)) out_write("\n", 1);
    }
    const struct run_stats st = {n_prompt, n_gen, t_prompt, t_gen, stop, n_shifts, n_ctx};
    if (!o->json || o->json_out) {
        char line[512];
        run_stats_line(line, sizeof line, &st);
        fprintf(stderr, "infer: %s\n", line);
    }
    if ((o->json || o->json_out) && !write_stats_json(o, ctx, &st)) goto done;
    rc = g_interrupted ? 130 : 0;
done:
    sampler_free(&smp);
    free(logits);
    context_free(ctx);
    free(prompt);
    return rc;
}
