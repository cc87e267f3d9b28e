/*
 * session.c — what every CLI mode needs first: the model and tokenizer
 * loaded from the path the user gave (GGUF, vocab-only GGUF, or llama2.c
 * checkpoint + tokenizer.bin), and the prompt as token ids. Also --tokenize.
 */
#include <cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

volatile sig_atomic_t g_interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    g_interrupted = 1;
}

void catch_signals(void)
{
    struct sigaction sa = {.sa_handler = on_sigint};
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

bool out_write(const char *buf, size_t n)
{
    while (n > 0) {
        ssize_t w = write(STDOUT_FILENO, buf, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        buf += w;
        n -= (size_t)w;
    }
    return true;
}

void run_stats_line(char *buf, size_t cap, const struct run_stats *st)
{
    snprintf(buf, cap, "prompt %zu tokens in %.3f s (%.2f tok/s) | generated %d tokens in %.3f s (%.2f tok/s) | stop: %s",
             st->n_prompt, st->t_prompt, st->t_prompt > 0 ? st->n_prompt / st->t_prompt : 0.0, st->n_gen, st->t_gen,
             st->t_gen > 0 ? st->n_gen / st->t_gen : 0.0, st->stop);
}

void run_stats_add_json(cJSON *j, const struct run_stats *st)
{
    cJSON_AddNumberToObject(j, "prompt_tokens", (double)st->n_prompt);
    cJSON_AddNumberToObject(j, "generated_tokens", st->n_gen);
    cJSON_AddNumberToObject(j, "prompt_seconds", st->t_prompt);
    cJSON_AddNumberToObject(j, "generation_seconds", st->t_gen);
    cJSON_AddNumberToObject(j, "prompt_tokens_per_second", st->t_prompt > 0 ? st->n_prompt / st->t_prompt : 0);
    cJSON_AddNumberToObject(j, "generation_tokens_per_second", st->t_gen > 0 ? st->n_gen / st->t_gen : 0);
    cJSON_AddStringToObject(j, "stop_reason", st->stop);
    cJSON_AddNumberToObject(j, "n_ctx", st->n_ctx);
    cJSON_AddNumberToObject(j, "context_shifts", st->n_shifts);
}

static bool is_gguf(const char *path)
{
    FILE *f = fopen(path, "rb");
    char magic[4] = {0};
    if (!f) return false;
    size_t n = fread(magic, 1, 4, f);
    fclose(f);
    return n == 4 && !memcmp(magic, "GGUF", 4);
}

/* llama2.c checkpoints come with a separate tokenizer: -z, else tokenizer.bin beside the model. */
static enum load_mode load_mode(const struct options *o)
{
    return o->force_mmap ? LOAD_MMAP : o->no_mmap ? LOAD_READ : LOAD_AUTO;
}

static int load_llama2c(const struct options *o, struct session *s, char *err, size_t errlen)
{
    s->model = model_from_llama2c(o->model_path, load_mode(o), err, errlen);
    if (!s->model) return -1;
    char guess[4096];
    const char *tp = o->tokenizer_path;
    if (!tp) {
        const char *slash = strrchr(o->model_path, '/');
        int dir = slash ? (int)(slash - o->model_path + 1) : 0;
        snprintf(guess, sizeof guess, "%.*stokenizer.bin", dir, o->model_path);
        if (access(guess, R_OK)) {
            snprintf(err, errlen, "%s: a llama2.c checkpoint needs its tokenizer: give it with -z FILE",
                     o->model_path);
            return -1;
        }
        tp = guess;
    }
    s->tok = tokenizer_load_llama2c(tp, s->model->hp.n_vocab, err, errlen);
    if (!s->tok && !o->tokenizer_path) {
        size_t n = strlen(err);
        snprintf(err + n, errlen - n, " (give the model's tokenizer with -z FILE)");
    }
    return s->tok ? 0 : -1;
}

int load_session(const struct options *o, bool need_model, struct session *s)
{
    char err[1024] = "";
    memset(s, 0, sizeof *s);
    struct stat st;
    if (stat(o->model_path, &st) == 0 && !S_ISREG(st.st_mode)) {
        fprintf(stderr, "infer: %s: %s\n", o->model_path,
                S_ISDIR(st.st_mode) ? "is a directory, not a model file" : "not a regular file");
        return 1;
    }
    /* Anything not named .gguf and without the GGUF magic is taken for a llama2.c checkpoint. */
    size_t plen = strlen(o->model_path);
    bool gguf_name = plen >= 5 && !strcmp(o->model_path + plen - 5, ".gguf");
    if (!gguf_name && !is_gguf(o->model_path) && access(o->model_path, R_OK) == 0) {
        if (load_llama2c(o, s, err, sizeof err)) goto fail;
        return 0;
    }
    s->gguf = gguf_open_as(o->model_path, load_mode(o), err, sizeof err);
    if (!s->gguf) goto fail;
    s->tok = tokenizer_load_gguf(s->gguf, err, sizeof err);
    if (!s->tok) goto fail;
    if (need_model || s->gguf->n_tensors > 0) {
        s->model = model_from_gguf(s->gguf, err, sizeof err);
        if (!s->model) goto fail;
        s->gguf = NULL; /* the model owns the file now */
        model_repack(s->model);
        if (s->model->hp.n_vocab != tokenizer_n_vocab(s->tok)) {
            snprintf(err, sizeof err, "%s: the model has %d token embeddings but the vocabulary %d tokens",
                     o->model_path, s->model->hp.n_vocab, tokenizer_n_vocab(s->tok));
            goto fail;
        }
    }
    return 0;
fail:
    /* One line, whatever bytes the file put into the message. */
    for (char *p = err; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = '?';
    fprintf(stderr, "infer: %s\n", err);
    free_session(s);
    return 1;
}

void print_model_line(const struct options *o, const struct model *m, int n_ctx, const char *extra)
{
    fprintf(stderr, "infer: %s: %s, %d layers, dim %d, %d heads (%d kv), vocab %d, ctx %d, %d threads, %s%s\n",
            o->model_path, m->arch->name, m->hp.n_layer, m->hp.dim, m->hp.n_head, m->hp.n_kv_head, m->hp.n_vocab,
            n_ctx, o->n_threads, model_file(m)->copied ? "weights read into memory" : "weights mapped", extra);
}

void free_session(struct session *s)
{
    model_free(s->model);
    gguf_close(s->gguf);
    tokenizer_free(s->tok);
    memset(s, 0, sizeof *s);
}

char *read_input(FILE *f, size_t *len)
{
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        if (n == cap) {
            if (cap >= MAX_PROMPT_BYTES) {
                if (fgetc(f) == EOF && !ferror(f)) break; /* exactly the limit */
                free(buf);
                errno = EFBIG;
                return NULL;
            }
            char *b = realloc(buf, (cap *= 2) + 1);
            if (!b) { free(buf); errno = ENOMEM; return NULL; }
            buf = b;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) break;
    }
    if (buf && ferror(f)) {
        int e = errno;
        free(buf);
        errno = e ? e : EIO;
        return NULL;
    }
    if (!buf) {
        errno = ENOMEM;
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

int read_input_line(FILE *f, char **line, size_t *cap)
{
    size_t n = 0;
    int c;
    while ((c = getc(f)) != EOF && c != '\n') {
        if (n + 2 > *cap) {
            if (*cap >= MAX_PROMPT_BYTES) {
                while ((c = getc(f)) != EOF && c != '\n') {} /* skip the rest of the line */
                errno = EFBIG;
                return -1;
            }
            size_t nc = *cap ? *cap * 2 : 256;
            char *b = realloc(*line, nc);
            if (!b) { errno = ENOMEM; return -1; }
            *line = b;
            *cap = nc;
        }
        (*line)[n++] = (char)c;
    }
    if (c == EOF && n == 0) return 0;
    if (!*line) {
        *line = malloc(1);
        *cap = 1;
        if (!*line) return -1;
    }
    if (n > 0 && (*line)[n - 1] == '\r') n--;
    (*line)[n] = 0;
    return 1;
}

static int32_t *parse_ids(const char *list, int n_vocab, size_t *n)
{
    size_t cap = 16;
    int32_t *ids = malloc(cap * sizeof *ids);
    *n = 0;
    const char *p = list;
    while (ids && *p) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < 0 || v >= n_vocab) {
            fprintf(stderr, "infer: --prompt-ids: '%s' is not a token id in 0..%d\n", p, n_vocab - 1);
            free(ids);
            return NULL;
        }
        if (*n == cap) {
            int32_t *b = realloc(ids, (cap *= 2) * sizeof *ids);
            if (!b) break;
            ids = b;
        }
        ids[(*n)++] = (int32_t)v;
        p = end;
        while (*p == ',' || *p == ' ') p++;
    }
    if (ids && *n == 0) {
        fprintf(stderr, "infer: --prompt-ids: no ids given\n");
        free(ids);
        return NULL;
    }
    return ids;
}

int32_t *prompt_tokens(const struct options *o, const struct session *s, size_t *n)
{
    if (o->prompt_ids) return parse_ids(o->prompt_ids, tokenizer_n_vocab(s->tok), n);
    char *text = NULL;
    size_t len = 0;
    const char *src = o->prompt_file ? o->prompt_file : "stdin";
    errno = 0;
    if (o->prompt) {
        len = strlen(o->prompt);
        text = malloc(len + 1);
        if (text) memcpy(text, o->prompt, len + 1);
    } else if (o->prompt_file) {
        FILE *f = fopen(o->prompt_file, "rb");
        if (!f) {
            fprintf(stderr, "infer: %s: %s\n", o->prompt_file, strerror(errno));
            return NULL;
        }
        text = read_input(f, &len);
        fclose(f);
    } else if (!isatty(STDIN_FILENO)) {
        text = read_input(stdin, &len);
    } else {
        text = calloc(1, 1);
    }
    if (!text) {
        if (errno == EFBIG)
            fprintf(stderr, "infer: %s: cannot read the prompt: larger than %zu MiB\n", src, MAX_PROMPT_BYTES >> 20);
        else
            fprintf(stderr, "infer: %s: cannot read the prompt: %s\n", src, strerror(errno ? errno : ENOMEM));
        return NULL;
    }
    bool bos = tokenizer_add_bos(s->tok) && !o->no_bos;
    int32_t *ids = tokenizer_encode(s->tok, text, len, bos, o->special, n);
    free(text);
    if (!ids) fprintf(stderr, "infer: out of memory tokenizing the prompt\n");
    return ids;
}

int run_tokenize(const struct options *o, struct session *s)
{
    size_t n;
    int32_t *ids = prompt_tokens(o, s, &n);
    if (!ids) return 1;
    size_t cap = 16 + n * 12, len = 0;
    char *buf = malloc(cap);
    if (!buf) { free(ids); return 1; }
    if (o->json) len += (size_t)snprintf(buf + len, cap - len, "[");
    for (size_t i = 0; i < n; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%d", i ? (o->json ? ", " : " ") : "", ids[i]);
    len += (size_t)snprintf(buf + len, cap - len, o->json ? "]\n" : "\n");
    bool ok = out_write(buf, len);
    free(buf);
    free(ids);
    return ok ? 0 : 1;
}
