/*
 * main.c — infer's command line: parse flags, load the model, dispatch to a
 * mode (generate, --info, --tokenize). Errors are reported here, at the edge:
 * one line on stderr and a non-zero exit.
 */
#include <errno.h>
#include <stddef.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "matmul.h"

static void usage(FILE *f)
{
    fputs(
        "usage: infer -m MODEL [options]\n"
        "\n"
        "Generate text with a GGUF (or llama2.c .bin) model. Only generated text goes to\n"
        "stdout; load information and statistics go to stderr.\n"
        "\n"
        "input:\n"
        "  -m, --model FILE        model file (.gguf, or llama2.c .bin with -z)\n"
        "  -z, --tokenizer FILE    llama2.c tokenizer.bin (for .bin models)\n"
        "  -p, --prompt TEXT       prompt text\n"
        "  -f, --file FILE         read the prompt from FILE\n"
        "                          (neither: read stdin when it is not a terminal)\n"
        "      --prompt-ids LIST   feed token ids (e.g. 1,403,407); no BOS is added\n"
        "      --no-bos            do not add the BOS token\n"
        "      --special           parse special tokens (<|im_start|>, ...) in the prompt\n"
        "      --no-mmap           read the model into memory with huge pages: ~15 % faster\n"
        "                          decode (default for files of 64 MiB or more when they take\n"
        "                          at most half the available memory)\n"
        "      --mmap              map the model file instead (shares the page cache)\n"
        "generation:\n"
        "  -n, --n-predict N       tokens to generate (default -1: until EOS or context full)\n"
        "  -c, --ctx-size N        context size (default: the model's, at most 4096)\n"
        "  -b, --batch-size N      prompt tokens per forward batch (default 512)\n"
        "  -t, --threads N         threads (default: number of cores)\n"
        "      --kv-block N        tokens per KV cache block (default 16)\n"
        "      --kv-f32            keep K/V in F32 (default F16, as llama.cpp)\n"
        "      --ignore-eos        keep generating past end-of-sequence\n"
        "      --echo              print the prompt before the generated text\n"
        "      --context-shift     past the context, drop old tokens and go on\n"
        "      --keep N            tokens kept at the start on a context shift (default 0:\n"
        "                          BOS only; -1 = the whole prompt)\n"
        "sampling (llama.cpp's defaults and order):\n"
        "      --temp T            temperature (default 0.8; 0 = greedy)\n"
        "      --top-k N           (default 40; 0 = off)\n"
        "      --top-p P           (default 0.95; 1 = off)\n"
        "      --min-p P           (default 0.05; 0 = off)\n"
        "      --repeat-penalty F  (default 1.0 = off)\n"
        "      --repeat-last-n N   tokens the penalty looks back (default 64, -1 = all)\n"
        "      --presence-penalty F, --frequency-penalty F   (default 0)\n"
        "  -s, --seed N            random seed (default: random)\n"
        "many sequences:\n"
        "  -np, --parallel N       N samples of the prompt at once, sharing its KV cache\n"
        "      --prompts FILE      one prompt per line (or JSONL; - = stdin), batched\n"
        "      --no-share-prefix   do not share common prompt prefixes between sequences\n"
        "chat:\n"
        "  -cnv, --chat            interactive chat (one turn per stdin line when piped);\n"
        "                          -p TEXT is then the first message\n"
        "  -sys, --system-prompt T system prompt for chat\n"
        "      --chat-template NAME chatml, llama2[-sys], llama3, mistral-v1/v3/v7, gemma,\n"
        "                          phi3, phi4, zephyr, command-r (default: from the model)\n"
        "modes and output:\n"
        "      --info              print the model's metadata and tensors, then exit\n"
        "      --tokenize          print the prompt's token ids, then exit\n"
        "      --bench             llama-bench style benchmark (-p 128,512 -n 128 -r 5 -o md|json|jsonl);\n"
        "                          the context is sized from -p/-n, -c is ignored\n"
        "  -d, --n-depth LIST      with --bench: run each test after LIST tokens already in\n"
        "                          the context (e.g. -d 0,2048; filling it is not timed)\n"
        "      --roofline          with --bench: measure memory bandwidth, show the % reached\n"
        "                          (INFER_BANDWIDTH_MIB sets the probe's buffer size)\n"
        "      --perplexity        perplexity of the text in -f over chunks of -c tokens\n"
        "      --kv-info           KV cache size per token and for the context\n"
        "      --json              JSON output (for --info, --tokenize, --kv-info, generation stats)\n"
        "      --json-out FILE     write the generation stats JSON to FILE\n"
        "      --dump-logits FILE  write the logits of every prompt position as JSON\n"
        "      --no-simd           use the portable reference kernels\n"
        "  -h, --help              this help\n",
        f);
}

/* One command-line option: its spellings, what it sets, and the allowed range. */
enum opt_kind { OPT_FLAG, OPT_INT, OPT_FLOAT, OPT_STR, OPT_MODE, OPT_SEED };
struct opt {
    const char *name, *alias;
    enum opt_kind kind;
    size_t offset;          /* into struct options */
    double lo, hi;          /* OPT_INT / OPT_FLOAT range */
    int mode;               /* OPT_MODE: the mode it selects */
};

#define OFF(field) offsetof(struct options, field)
static const struct opt opts[] = {
    {"-m", "--model", OPT_STR, OFF(model_path), 0, 0, 0},
    {"-z", "--tokenizer", OPT_STR, OFF(tokenizer_path), 0, 0, 0},
    {"-p", "--prompt", OPT_STR, OFF(prompt), 0, 0, 0},
    {"-f", "--file", OPT_STR, OFF(prompt_file), 0, 0, 0},
    {"--prompt-ids", "", OPT_STR, OFF(prompt_ids), 0, 0, 0},
    {"-n", "--n-predict", OPT_STR, OFF(n_predict_arg), 0, 0, 0},
    {"-c", "--ctx-size", OPT_INT, OFF(n_ctx), 0, 1 << 24, 0},
    {"-b", "--batch-size", OPT_INT, OFF(n_batch), 1, 1 << 16, 0},
    {"-t", "--threads", OPT_INT, OFF(n_threads), 1, 1024, 0},
    {"--kv-block", "", OPT_INT, OFF(kv_block), 1, 4096, 0},
    {"--kv-f32", "", OPT_FLAG, OFF(kv_f32), 0, 0, 0},
    {"--no-bos", "", OPT_FLAG, OFF(no_bos), 0, 0, 0},
    {"--ignore-eos", "", OPT_FLAG, OFF(ignore_eos), 0, 0, 0},
    {"--echo", "", OPT_FLAG, OFF(echo), 0, 0, 0},
    {"--special", "", OPT_FLAG, OFF(special), 0, 0, 0},
    {"--json", "", OPT_FLAG, OFF(json), 0, 0, 0},
    {"--json-out", "", OPT_STR, OFF(json_out), 0, 0, 0},
    {"--no-simd", "", OPT_FLAG, OFF(no_simd), 0, 0, 0},
    {"--mmap", "", OPT_FLAG, OFF(force_mmap), 0, 0, 0},
    {"--no-mmap", "", OPT_FLAG, OFF(no_mmap), 0, 0, 0},
    {"--dump-logits", "", OPT_STR, OFF(dump_logits), 0, 0, 0},
    {"--temp", "", OPT_FLOAT, OFF(sp.temp), 0, 1e6, 0},
    {"--top-k", "", OPT_INT, OFF(sp.top_k), 0, 1 << 30, 0},
    {"--top-p", "", OPT_FLOAT, OFF(sp.top_p), 0, 1, 0},
    {"--min-p", "", OPT_FLOAT, OFF(sp.min_p), 0, 1, 0},
    {"--repeat-penalty", "", OPT_FLOAT, OFF(sp.repeat_penalty), 1e-6, 1e6, 0},
    {"--repeat-last-n", "", OPT_INT, OFF(sp.repeat_last_n), -1, 1 << 20, 0},
    {"--presence-penalty", "", OPT_FLOAT, OFF(sp.presence_penalty), -1e6, 1e6, 0},
    {"--frequency-penalty", "", OPT_FLOAT, OFF(sp.frequency_penalty), -1e6, 1e6, 0},
    {"-s", "--seed", OPT_SEED, OFF(sp.seed), 0, 0, 0},
    {"--info", "", OPT_MODE, 0, 0, 0, MODE_INFO},
    {"--tokenize", "", OPT_MODE, 0, 0, 0, MODE_TOKENIZE},
    {"--bench", "", OPT_MODE, 0, 0, 0, MODE_BENCH},
    {"--perplexity", "", OPT_MODE, 0, 0, 0, MODE_PERPLEXITY},
    {"--kv-info", "", OPT_MODE, 0, 0, 0, MODE_KV_INFO},
    {"-cnv", "--chat", OPT_MODE, 0, 0, 0, MODE_CHAT},
    {"-r", "--repetitions", OPT_INT, OFF(repetitions), 1, 1000, 0},
    {"-o", "--output", OPT_STR, OFF(output_format), 0, 0, 0},
    {"-d", "--n-depth", OPT_STR, OFF(n_depth_arg), 0, 0, 0},
    {"--roofline", "", OPT_FLAG, OFF(roofline), 0, 0, 0},
    {"-np", "--parallel", OPT_INT, OFF(n_parallel), 1, 256, 0},
    {"--prompts", "", OPT_STR, OFF(prompts_file), 0, 0, 0},
    {"--no-share-prefix", "", OPT_FLAG, OFF(no_share_prefix), 0, 0, 0},
    {"-sys", "--system-prompt", OPT_STR, OFF(system_prompt), 0, 0, 0},
    {"--chat-template", "", OPT_STR, OFF(chat_template), 0, 0, 0},
    {"--context-shift", "", OPT_FLAG, OFF(context_shift), 0, 0, 0},
    {"--keep", "", OPT_INT, OFF(n_keep), -1, 1 << 24, 0},
};
#undef OFF

static const struct opt *find_opt(const char *a)
{
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++)
        if (!strcmp(a, opts[i].name) || (opts[i].alias[0] && !strcmp(a, opts[i].alias))) return &opts[i];
    return NULL;
}

static int bad_value(const char *flag, const char *v, const struct opt *op)
{
    if (op->kind == OPT_SEED)
        fprintf(stderr, "infer: invalid value for %s: '%s' (expected a non-negative integer)\n", flag, v);
    else
        fprintf(stderr, "infer: invalid value for %s: '%s' (expected %s from %.12g to %.12g)\n", flag, v,
                op->kind == OPT_INT ? "an integer" : "a number", op->lo, op->hi);
    return 1;
}

/* Returns 0 on success, 1 on a bad command line, -1 for --help. */
static int parse_args(int argc, char **argv, struct options *o)
{
    memset(o, 0, sizeof *o);
    o->n_predict = -1;
    o->n_batch = 512;
    o->kv_block = 16;
    o->repetitions = 5;
    o->n_parallel = 0; /* not given: 1, or 4 with --prompts */
    o->n_threads = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (o->n_threads < 1) o->n_threads = 1;
    sampler_defaults(&o->sp);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) return -1;
        const struct opt *op = find_opt(a);
        if (!op) {
            fprintf(stderr, a[0] == '-' ? "infer: unknown option '%s' (see infer --help)\n"
                                        : "infer: unexpected argument '%s' (see infer --help)\n", a);
            return 1;
        }
        char *field = (char *)o + op->offset;
        if (op->kind == OPT_FLAG) { *(bool *)field = true; continue; }
        if (op->kind == OPT_MODE) {
            if (o->mode != MODE_GENERATE && o->mode != (enum mode)op->mode) {
                fprintf(stderr, "infer: %s cannot be combined with another mode\n", a);
                return 1;
            }
            o->mode = (enum mode)op->mode;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "infer: %s needs a value\n", a);
            return 1;
        }
        const char *v = argv[++i];
        char *end;
        errno = 0;
        if (op->kind == OPT_STR) {
            *(const char **)field = v;
        } else if (op->kind == OPT_INT) {
            long x = strtol(v, &end, 10);
            if (errno || end == v || *end || x < op->lo || x > op->hi) return bad_value(a, v, op);
            *(int *)field = (int)x;
        } else if (op->kind == OPT_FLOAT) {
            float x = strtof(v, &end);
            if (errno || end == v || *end || !(x >= op->lo && x <= op->hi)) return bad_value(a, v, op);
            *(float *)field = x;
        } else { /* OPT_SEED */
            unsigned long long x = strtoull(v, &end, 10);
            if (errno || end == v || *end || strchr(v, '-')) return bad_value(a, v, op); /* strtoull takes " -1" */
            *(uint64_t *)field = x;
            o->seed_given = true;
        }
    }
    if (!o->model_path) {
        fprintf(stderr, "infer: no model given (use -m MODEL; see infer --help)\n");
        return 1;
    }
    if (o->force_mmap && o->no_mmap) {
        fprintf(stderr, "infer: --mmap and --no-mmap contradict each other\n");
        return 1;
    }
    /* -n is a list of generation lengths in --bench, a count everywhere else. */
    if (o->n_predict_arg && o->mode != MODE_BENCH) {
        char *end;
        errno = 0;
        long x = strtol(o->n_predict_arg, &end, 10);
        if (errno || end == o->n_predict_arg || *end || x < -1 || x > INT_MAX) {
            fprintf(stderr, "infer: invalid value for -n: '%s' (expected an integer ≥ -1)\n", o->n_predict_arg);
            return 1;
        }
        o->n_predict = (int)x;
    }
    /* Sequences × blocks per sequence must stay a sane int (the pool's size);
     * -c 0 means the model's context, at most 2^20 for any format infer reads. */
    const long long ctx = o->n_ctx > 0 ? o->n_ctx : 1 << 20;
    if ((long long)(o->n_parallel > 1 ? o->n_parallel : 1) * ((ctx + o->kv_block - 1) / o->kv_block) > INT_MAX / 4) {
        fprintf(stderr, "infer: -c %d with --kv-block %d and -np %d makes a KV pool too large to address\n",
                o->n_ctx, o->kv_block, o->n_parallel);
        return 1;
    }
    if (!o->seed_given) {
        /* Random, like llama.cpp's default seed. */
        FILE *r = fopen("/dev/urandom", "rb");
        if (!r || fread(&o->sp.seed, sizeof o->sp.seed, 1, r) != 1) o->sp.seed = (uint64_t)getpid();
        if (r) fclose(r);
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct options o;
    int rc = parse_args(argc, argv, &o);
    if (rc < 0) {
        usage(stdout);
        return 0;
    }
    if (rc) return rc;
    matmul_set_threads(o.n_threads);
    if (o.no_simd) quant_force_reference(true);
    if (o.mode == MODE_INFO) return run_info(&o, o.model_path);

    struct session s;
    if (load_session(&o, o.mode != MODE_TOKENIZE, &s)) return 1;
    switch (o.mode) {
    case MODE_TOKENIZE: rc = run_tokenize(&o, &s); break;
    case MODE_BENCH: rc = run_bench(&o, &s); break;
    case MODE_PERPLEXITY: rc = run_perplexity(&o, &s); break;
    case MODE_KV_INFO: rc = run_kv_info(&o, &s); break;
    case MODE_CHAT: rc = run_chat(&o, &s); break;
    default: rc = o.n_parallel > 1 || o.prompts_file ? run_parallel(&o, &s) : run_generate(&o, &s); break;
    }
    free_session(&s);
    return rc;
}
