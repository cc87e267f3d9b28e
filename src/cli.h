/*
 * cli.h — the command line: options parsed by main.c, and the modes it
 * dispatches to (each in its own file). Only this layer prints to stdout.
 */
#ifndef INFER_CLI_H
#define INFER_CLI_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "forward.h"
#include "model.h"
#include "sampler.h"
#include "tokenizer.h"

struct options {
    const char *model_path, *tokenizer_path;
    const char *prompt, *prompt_file, *prompt_ids;
    const char *dump_logits;
    const char *json_out;
    int n_predict, n_ctx, n_batch, n_threads, kv_block;
    bool no_bos, ignore_eos, echo, special, json, no_simd;
    bool mode_info, mode_tokenize;
    struct sampler_params sp;
    bool seed_given;
};

/* A loaded model with its tokenizer (model is NULL for vocab-only files). */
struct session {
    struct gguf_file *gguf;   /* only while no model owns it */
    struct model *model;
    struct tokenizer *tok;
};

extern volatile sig_atomic_t g_interrupted; /* set by SIGINT: stop generating */

int load_session(const struct options *o, bool need_model, struct session *s);
void free_session(struct session *s);
/* Prompt tokens per the options (text, file, stdin or --prompt-ids); NULL on error (reported). */
int32_t *prompt_tokens(const struct options *o, const struct session *s, size_t *n);

/* Context size when -c is not given: the model's, capped at 4096. */
int default_ctx(const struct model *m);

int run_generate(const struct options *o, struct session *s);
int run_info(const struct options *o, const char *path);
int run_tokenize(const struct options *o, struct session *s);

/* Write all of buf to stdout; false when stdout is gone (EPIPE etc.). */
bool out_write(const char *buf, size_t n);

#endif
