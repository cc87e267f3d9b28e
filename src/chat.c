/*
 * chat.c — chat mode (-cnv / --chat, -sys, --chat-template): a conversation
 * with the model in its chat format. On a terminal it is interactive (a "> "
 * prompt on stderr, a line in, the reply streamed to stdout, until Ctrl-D or
 * Ctrl-C); with stdin piped, each line is one user message. -p gives the
 * first message.
 *
 * The KV cache keeps the whole conversation, so each turn evaluates only its
 * new tokens (chat_conv_user gives their text) after the previous ones. A
 * reply ends at an end-of-generation token, which is evaluated like llama.cpp
 * does so the next turn follows it; a reply cut short by -n or Ctrl-C gets
 * the format's end-of-turn marker at the start of the next turn instead.
 * When the context is full the chat ends with a message, or with
 * --context-shift old tokens are dropped as in the generate mode. One
 * statistics line (or JSON object with --json) per turn goes to stderr.
 */
#include <cJSON.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "chat_template.h"
#include "cli.h"

/* The chat format: --chat-template, else the model's tokenizer.chat_template,
 * else ChatML when the vocabulary has its tokens. Returns false (reported)
 * when there is none to use. */
static bool pick_template(const struct options *o, const struct session *s, enum chat_tmpl *out)
{
    if (o->chat_template) {
        enum chat_tmpl t = chat_tmpl_detect(o->chat_template, strlen(o->chat_template));
        if (!chat_tmpl_supported(t)) {
            if (t == CHAT_TMPL_UNKNOWN)
                fprintf(stderr, "infer: --chat-template: unknown template '%s' (supported: %s)\n", o->chat_template,
                        chat_tmpl_supported_list());
            else
                fprintf(stderr, "infer: --chat-template: the '%s' format is not supported (supported: %s)\n",
                        chat_tmpl_name(t), chat_tmpl_supported_list());
            return false;
        }
        *out = t;
        fprintf(stderr, "infer: chat template: %s (--chat-template)\n", chat_tmpl_name(t));
        return true;
    }
    struct gguf_str src = {0};
    const struct gguf_file *f = s->model ? s->model->gguf : s->gguf;
    const bool have = f && gguf_get_str(f, "tokenizer.chat_template", &src) == GGUF_OK;
    const enum chat_tmpl t = have ? chat_tmpl_detect(src.ptr, (size_t)src.len) : CHAT_TMPL_UNKNOWN;
    if (chat_tmpl_supported(t)) {
        *out = t;
        fprintf(stderr, "infer: chat template: %s (detected from the model)\n", chat_tmpl_name(t));
        return true;
    }
    char why[160];
    if (!have) snprintf(why, sizeof why, "the model has no chat template");
    else if (t == CHAT_TMPL_UNKNOWN) snprintf(why, sizeof why, "the model's chat template is not one infer recognizes");
    else snprintf(why, sizeof why, "the model's chat template is the '%s' format, which infer does not support",
                  chat_tmpl_name(t));
    if (tokenizer_find(s->tok, "<|im_start|>") >= 0) {
        fprintf(stderr, "infer: %s; using ChatML (choose another with --chat-template NAME)\n", why);
        *out = CHAT_TMPL_CHATML;
        return true;
    }
    fprintf(stderr,
            "infer: %s, and its vocabulary has no <|im_start|> token for ChatML; "
            "choose the format with --chat-template NAME (%s)\n",
            why, chat_tmpl_supported_list());
    return false;
}

struct chat {
    const struct options *o;
    struct session *s;
    struct context *ctx;
    struct sampler smp;
    float *logits;
    char *buf;          /* detokenizer output */
    size_t buf_cap;
    FILE *json;         /* per-turn JSON lines (--json: stderr, --json-out: the file) */
    int n_ctx, pos;
    int n_keep;         /* kept by a context shift; set by the first turn */
    int n_shifts;
    bool stdout_ok;
};

/* Room for `need` more tokens: with --context-shift, drop old ones (keeping
 * the first n_keep) as the generate mode does. False when there is none. */
static bool make_room(struct chat *c, int need)
{
    while (c->n_ctx - c->pos < need) {
        const int discard = (c->pos - c->n_keep) / 2;
        if (!c->o->context_shift || discard <= 0 || context_shift(c->ctx, 0, c->n_keep, discard)) return false;
        c->pos -= discard;
        c->n_shifts++;
    }
    return true;
}

/* Sample, stream and evaluate a reply; returns the stop reason. *eot: the
 * reply ended with an end-of-generation token, now in the KV cache. */
static const char *reply(struct chat *c, int *n_gen, bool *eot)
{
    const struct options *o = c->o;
    const struct tokenizer *tok = c->s->tok;
    struct detokenizer dt;
    detok_init(&dt, tok, false);
    const char *stop = "limit";
    *n_gen = 0;
    *eot = false;
    while (*n_gen != o->n_predict) {
        if (g_interrupted) { stop = "interrupted"; break; }
        int32_t id = sampler_sample(&c->smp, c->logits);
        sampler_accept(&c->smp, id);
        ++*n_gen;
        const bool eog = !o->ignore_eos && tokenizer_is_eog(tok, id);
        if (!eog) {
            size_t k = detok_push(&dt, id, c->buf, c->buf_cap);
            if (!(c->stdout_ok = out_write(c->buf, k))) { stop = "stdout closed"; break; }
        }
        /* Every token goes into the KV cache, the end-of-generation one too:
         * the next turn continues after it. */
        if (!make_room(c, 1)) { stop = "context full"; break; }
        if (forward_seq(c->ctx, 0, &id, 1, c->pos, false, c->logits)) { stop = "out of KV memory"; break; }
        c->pos++;
        if (eog) {
            *eot = true;
            stop = "eos";
            break;
        }
    }
    if (c->stdout_ok) {
        size_t k = detok_flush(&dt, c->buf, c->buf_cap - 1);
        /* Each reply ends its line, so replies are one after another on stdout. */
        c->buf[k++] = '\n';
        c->stdout_ok = out_write(c->buf, k);
    }
    return stop;
}

struct turn_stats {
    int turn;
    struct run_stats run;
};

static void print_stats(struct chat *c, struct turn_stats *t)
{
    t->run.n_ctx = c->n_ctx;
    t->run.n_shifts = c->n_shifts;
    if (!c->o->json || c->o->json_out) {
        char line[512];
        run_stats_line(line, sizeof line, &t->run);
        fprintf(stderr, "infer: turn %d: %s | context %d/%d\n", t->turn, line, c->pos, c->n_ctx);
    }
    if (!c->json) return;
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "turn", t->turn);
    run_stats_add_json(j, &t->run);
    cJSON_AddNumberToObject(j, "n_past", c->pos);
    char *text = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    if (text) fprintf(c->json, "%s\n", text), fflush(c->json);
    free(text);
}

int run_chat(const struct options *o, struct session *s)
{
    const struct model *m = s->model;
    const int n_vocab = m->hp.n_vocab;
    enum chat_tmpl tmpl;
    if (!pick_template(o, s, &tmpl)) return 1;
    const char *marker = chat_tmpl_marker(tmpl);
    if (marker && tokenizer_find(s->tok, marker) < 0)
        fprintf(stderr, "infer: note: the vocabulary has no %s token: the %s markers will be plain text\n", marker,
                chat_tmpl_name(tmpl));

    int rc = 1;
    struct chat c = {.o = o, .s = s, .stdout_ok = true};
    struct chat_conv conv;
    char *line = NULL;
    size_t line_cap = 0;
    if (chat_conv_init(&conv, tmpl, o->system_prompt)) {
        fprintf(stderr, "infer: out of memory\n");
        return 1;
    }
    if (o->json_out) {
        if (!(c.json = fopen(o->json_out, "w"))) {
            fprintf(stderr, "infer: %s: %s\n", o->json_out, strerror(errno));
            goto done;
        }
    } else if (o->json) {
        c.json = stderr;
    }
    c.n_ctx = o->n_ctx > 0 ? o->n_ctx : default_ctx(m);
    char err[512];
    struct context_params cp = {.n_ctx = c.n_ctx, .n_batch = o->n_batch, .kv_block = o->kv_block,
                                .n_seq_max = 1, .gemm_min_batch = 8, .kv_f32 = o->kv_f32};
    c.ctx = context_new(m, &cp, err, sizeof err);
    if (!c.ctx) {
        fprintf(stderr, "infer: %s\n", err);
        goto done;
    }
    c.buf_cap = 64 + tokenizer_max_token_bytes(s->tok) + 1;
    c.buf = malloc(c.buf_cap);
    c.logits = malloc((size_t)n_vocab * sizeof *c.logits);
    if (!c.buf || !c.logits || sampler_init(&c.smp, &o->sp, n_vocab)) {
        fprintf(stderr, "infer: out of memory\n");
        goto done;
    }
    print_model_line(o, m, c.n_ctx, "");

    const bool tty = isatty(STDIN_FILENO);
    if (tty)
        fputs("infer: chat: type a message and press Enter; Ctrl-C stops a reply, Ctrl-D or Ctrl-C at the prompt "
              "quits\n",
              stderr);
    /* No SA_RESTART: Ctrl-C at the prompt interrupts the read. */
    catch_signals();

    bool eot_in_cache = false;
    const bool bos = tokenizer_add_bos(s->tok) && !o->no_bos;
    rc = 0;
    /* -p: the first user message, as in llama.cpp */
    const char *first = o->prompt && o->prompt[0] ? o->prompt : NULL;
    for (int turn = 1; c.stdout_ok;) {
        const char *msg = first;
        if (first) {
            first = NULL;
            if (tty) fprintf(stderr, "> %s\n", msg);
        } else {
            if (tty) fputs("> ", stderr);
            errno = 0;
            const int got = read_input_line(stdin, &line, &line_cap);
            if (got <= 0) {
                if (g_interrupted) rc = 130;
                else if (got < 0 || ferror(stdin)) {
                    fprintf(stderr, "infer: reading stdin: %s\n", strerror(errno));
                    rc = 1;
                }
                if (tty) fputc('\n', stderr);
                break;
            }
            msg = line;
        }
        if (!msg[0]) continue; /* an empty line is no message */

        size_t len, n;
        char *text = chat_conv_user(&conv, msg, eot_in_cache, &len);
        int32_t *ids = text ? tokenizer_encode(s->tok, text, len, bos && turn == 1, true, &n) : NULL;
        free(text);
        if (!ids) {
            fprintf(stderr, "infer: out of memory\n");
            rc = 1;
            break;
        }
        if (turn == 1) {
            /* --keep: tokens a context shift keeps (-1: this first prompt; BOS at least) */
            c.n_keep = o->n_keep < 0 || o->n_keep > (int)n ? (int)n : o->n_keep;
            if (bos && c.n_keep < 1) c.n_keep = 1;
        }
        if (n > (size_t)c.n_ctx || !make_room(&c, (int)n)) {
            fprintf(stderr,
                    "infer: context full: the conversation holds %d tokens, the message needs %zu more, the context "
                    "has %d; ending the chat (use -c for a larger context%s)\n",
                    c.pos, n, c.n_ctx, o->context_shift ? "" : " or --context-shift");
            free(ids);
            rc = 1;
            break;
        }
        struct turn_stats st = {.turn = turn++, .run.n_prompt = n};
        double t0 = now_seconds();
        int frc = n ? forward_seq(c.ctx, 0, ids, (int)n, c.pos, false, c.logits) : 0;
        st.run.t_prompt = now_seconds() - t0;
        for (size_t i = 0; i < n; i++) sampler_accept(&c.smp, ids[i]);
        free(ids);
        if (frc) {
            fprintf(stderr, "infer: %s\n", frc == -1 ? "out of KV cache memory" : "invalid token in the message");
            rc = 1;
            break;
        }
        c.pos += (int)n;

        double t1 = now_seconds();
        st.run.stop = reply(&c, &st.run.n_gen, &eot_in_cache);
        st.run.t_gen = now_seconds() - t1;
        if (chat_conv_reply(&conv)) {
            fprintf(stderr, "infer: out of memory\n");
            rc = 1;
            break;
        }
        print_stats(&c, &st);
        if (g_interrupted) {
            /* On a terminal Ctrl-C stops the reply only; otherwise the chat. */
            if (!tty) {
                rc = 130;
                break;
            }
            g_interrupted = 0;
        }
    }
done:
    if (c.json && c.json != stderr && fclose(c.json)) {
        fprintf(stderr, "infer: %s: %s\n", o->json_out, strerror(errno));
        if (!rc) rc = 1;
    }
    free(line);
    chat_conv_free(&conv);
    sampler_free(&c.smp);
    free(c.buf);
    free(c.logits);
    context_free(c.ctx);
    return rc;
}
