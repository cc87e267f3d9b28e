/*
 * cli.h — the command line: options parsed by main.c, and the modes it
 * dispatches to (each in its own file). Only this layer prints to stdout.
 */
#ifndef INFER_CLI_H
#define INFER_CLI_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "forward.h"
#include "model.h"
#include "sampler.h"
#include "tokenizer.h"

enum mode {
    MODE_GENERATE,    /* default */
    MODE_INFO,        /* --info */
    MODE_TOKENIZE,    /* --tokenize */
    MODE_BENCH,       /* --bench */
    MODE_PERPLEXITY,  /* --perplexity */
    MODE_KV_INFO,     /* --kv-info */
    MODE_CHAT,        /* -cnv / --chat */
};

struct options {
    enum mode mode;
    const char *model_path, *tokenizer_path;
    const char *prompt, *prompt_file, *prompt_ids;
    const char *n_predict_arg;     /* -n as given: an int, or a list in --bench */
    const char *dump_logits, *json_out;
    int n_predict, n_ctx, n_batch, n_threads, kv_block;
    bool no_bos, ignore_eos, echo, special, json, no_simd, kv_f32;
    bool force_mmap, no_mmap;      /* --mmap / --no-mmap (neither: LOAD_AUTO) */
    struct sampler_params sp;
    bool seed_given;
    /* --bench */
    int repetitions;               /* -r */
    const char *n_depth_arg;       /* -d: context depths, a list */
    const char *output_format;     /* -o md|json|jsonl */
    bool roofline;
    /* --parallel / --prompts */
    int n_parallel;                /* -np; 1 = a single sequence */
    const char *prompts_file;      /* --prompts FILE or - */
    bool no_share_prefix;
    /* chat */
    const char *system_prompt, *chat_template;
    /* long runs */
    bool context_shift;
    int n_keep;
};

/* A loaded model with its tokenizer (model is NULL for vocab-only files). */
struct session {
    struct gguf_file *gguf;   /* only while no model owns it */
    struct model *model;
    struct tokenizer *tok;
};

extern volatile sig_atomic_t g_interrupted; /* set by SIGINT: stop generating */
/* SIGINT sets g_interrupted (modes stop at the next token); SIGPIPE is ignored
 * so a closed stdout shows up as a failed out_write(). */
void catch_signals(void);
/* Monotonic wall-clock seconds, for the statistics lines. */
double now_seconds(void);

int load_session(const struct options *o, bool need_model, struct session *s);
/* The stderr line that opens a run: the model's shape, the context, the
 * threads, how the weights were loaded, then `extra`. */
void print_model_line(const struct options *o, const struct model *m, int n_ctx, const char *extra);
void free_session(struct session *s);
/* Prompt tokens per the options (text, file, stdin or --prompt-ids); NULL on error (reported). */
int32_t *prompt_tokens(const struct options *o, const struct session *s, size_t *n);

/* Context size when -c is not given: the model's, capped at 4096. */
int default_ctx(const struct model *m);

/* The modes; each returns the process exit code. */
int run_generate(const struct options *o, struct session *s);   /* generate.c */
int run_info(const struct options *o, const char *path);        /* info.c */
int run_tokenize(const struct options *o, struct session *s);   /* session.c */
int run_bench(const struct options *o, struct session *s);      /* bench.c */
int run_perplexity(const struct options *o, struct session *s); /* perplexity.c */
int run_kv_info(const struct options *o, struct session *s);    /* kvinfo.c */
int run_chat(const struct options *o, struct session *s);       /* chat.c */
int run_parallel(const struct options *o, struct session *s);   /* parallel.c: -np > 1 or --prompts */

/* The numbers of one generation (a run, or a chat turn), and their two
 * forms: the stderr line's core ("prompt N tokens in ... | stop: R") and
 * the same fields added to a JSON object the caller has begun. */
struct cJSON;
struct run_stats {
    size_t n_prompt;
    int n_gen;
    double t_prompt, t_gen;
    const char *stop;
    int n_shifts, n_ctx;
};
void run_stats_line(char *buf, size_t cap, const struct run_stats *st);
void run_stats_add_json(struct cJSON *j, const struct run_stats *st);

/* Prompts larger than this are refused (a prompt is at most 2^24 tokens of
 * context anyway); it also bounds what `-f /dev/zero` can make us allocate. */
#define MAX_PROMPT_BYTES ((size_t)256 << 20)
/* The whole stream, NUL-terminated; NULL with errno set on a read error, or
 * errno = EFBIG past MAX_PROMPT_BYTES. */
char *read_input(FILE *f, size_t *len);
/* One line without its end of line into *line (grown as needed, *cap bytes):
 * 1, 0 at end of input, -1 with errno (EFBIG past MAX_PROMPT_BYTES). */
int read_input_line(FILE *f, char **line, size_t *cap);

/* Write all of buf to stdout; false when stdout is gone (EPIPE etc.). */
bool out_write(const char *buf, size_t n);

#endif
