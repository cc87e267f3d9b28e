/*
 * main.c — infer's command line: parse flags, load the model, dispatch to a
 * mode (generate, --info, --tokenize). Errors are reported here, at the edge:
 * one line on stderr and a non-zero exit.
 */
#include <errno.h>
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
        "generation:\n"
        "  -n, --n-predict N       tokens to generate (default -1: until EOS or context full)\n"
        "  -c, --ctx-size N        context size (default: the model's, at most 4096)\n"
        "  -b, --batch-size N      prompt tokens per forward batch (default 512)\n"
        "  -t, --threads N         threads (default: number of cores)\n"
        "      --kv-block N        tokens per KV cache block (default 16)\n"
        "      --ignore-eos        keep generating past end-of-sequence\n"
        "      --echo              print the prompt before the generated text\n"
        "sampling (llama.cpp's defaults and order):\n"
        "      --temp T            temperature (default 0.8; 0 = greedy)\n"
        "      --top-k N           (default 40; 0 = off)\n"
        "      --top-p P           (default 0.95; 1 = off)\n"
        "      --min-p P           (default 0.05; 0 = off)\n"
        "      --repeat-penalty F  (default 1.0 = off)\n"
        "      --repeat-last-n N   tokens the penalty looks back (default 64, -1 = all)\n"
        "      --presence-penalty F, --frequency-penalty F   (default 0)\n"
        "  -s, --seed N            random seed (default: random)\n"
        "modes and output:\n"
        "      --info              print the model's metadata and tensors, then exit\n"
        "      --tokenize          print the prompt's token ids, then exit\n"
        "      --json              JSON output for --info / --tokenize\n"
        "      --dump-logits FILE  write the logits of every prompt position as JSON\n"
        "      --no-simd           use the portable reference kernels\n"
        "  -h, --help              this help\n",
        f);
}

static int bad_value(const char *flag, const char *v, const char *want)
{
    fprintf(stderr, "infer: invalid value for %s: '%s' (expected %s)\n", flag, v, want);
    return 1;
}

static bool parse_int(const char *s, long lo, long hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) return false;
    *out = (int)v;
    return true;
}

static bool parse_float(const char *s, float lo, float hi, float *out)
{
    char *end;
    errno = 0;
    float v = strtof(s, &end);
    if (errno || end == s || *end || !(v >= lo && v <= hi)) return false;
    *out = v;
    return true;
}

/* Returns 0 on success, 1 on a bad command line, -1 for --help. */
static int parse_args(int argc, char **argv, struct options *o)
{
    memset(o, 0, sizeof *o);
    o->n_predict = -1;
    o->n_batch = 512;
    o->kv_block = 16;
    o->n_threads = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (o->n_threads < 1) o->n_threads = 1;
    sampler_defaults(&o->sp);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
#define IS(s1, s2) (!strcmp(a, s1) || ((s2)[0] && !strcmp(a, s2)))
        /* Flags without a value. */
        if (IS("-h", "--help")) return -1;
        if (IS("--no-bos", "")) { o->no_bos = true; continue; }
        if (IS("--ignore-eos", "")) { o->ignore_eos = true; continue; }
        if (IS("--echo", "")) { o->echo = true; continue; }
        if (IS("--special", "")) { o->special = true; continue; }
        if (IS("--json", "")) { o->json = true; continue; }
        if (IS("--info", "")) { o->mode_info = true; continue; }
        if (IS("--tokenize", "")) { o->mode_tokenize = true; continue; }
        if (IS("--no-simd", "")) { o->no_simd = true; continue; }
        /* Flags with a value. */
        if (a[0] != '-' || i + 1 >= argc) {
            if (a[0] == '-' && a[1]) {
                static const char *known[] = {"-m", "--model", "-z", "--tokenizer", "-p", "--prompt", "-f", "--file",
                    "--prompt-ids", "-n", "--n-predict", "-c", "--ctx-size", "-b", "--batch-size", "-t", "--threads",
                    "--kv-block", "--temp", "--top-k", "--top-p", "--min-p", "--repeat-penalty", "--repeat-last-n",
                    "--presence-penalty", "--frequency-penalty", "-s", "--seed", "--dump-logits", "--json-out", NULL};
                for (int k = 0; known[k]; k++)
                    if (!strcmp(a, known[k])) {
                        fprintf(stderr, "infer: %s needs a value\n", a);
                        return 1;
                    }
                fprintf(stderr, "infer: unknown option '%s' (see infer --help)\n", a);
            } else {
                fprintf(stderr, "infer: unexpected argument '%s' (see infer --help)\n", a);
            }
            return 1;
        }
        const char *v = argv[++i];
        if (IS("-m", "--model")) o->model_path = v;
        else if (IS("-z", "--tokenizer")) o->tokenizer_path = v;
        else if (IS("-p", "--prompt")) o->prompt = v;
        else if (IS("-f", "--file")) o->prompt_file = v;
        else if (IS("--prompt-ids", "")) o->prompt_ids = v;
        else if (IS("--dump-logits", "")) o->dump_logits = v;
        else if (IS("--json-out", "")) o->json_out = v;
        else if (IS("-n", "--n-predict")) { if (!parse_int(v, -1, INT_MAX, &o->n_predict)) return bad_value(a, v, "an integer ≥ -1"); }
        else if (IS("-c", "--ctx-size")) { if (!parse_int(v, 0, 1 << 24, &o->n_ctx)) return bad_value(a, v, "an integer from 0 to 16777216"); }
        else if (IS("-b", "--batch-size")) { if (!parse_int(v, 1, 1 << 16, &o->n_batch)) return bad_value(a, v, "an integer from 1 to 65536"); }
        else if (IS("-t", "--threads")) { if (!parse_int(v, 1, 1024, &o->n_threads)) return bad_value(a, v, "an integer from 1 to 1024"); }
        else if (IS("--kv-block", "")) { if (!parse_int(v, 1, 4096, &o->kv_block)) return bad_value(a, v, "an integer from 1 to 4096"); }
        else if (IS("--temp", "")) { if (!parse_float(v, 0, 1e6f, &o->sp.temp)) return bad_value(a, v, "a number ≥ 0"); }
        else if (IS("--top-k", "")) { if (!parse_int(v, 0, INT_MAX, &o->sp.top_k)) return bad_value(a, v, "an integer ≥ 0"); }
        else if (IS("--top-p", "")) { if (!parse_float(v, 0, 1, &o->sp.top_p)) return bad_value(a, v, "a number from 0 to 1"); }
        else if (IS("--min-p", "")) { if (!parse_float(v, 0, 1, &o->sp.min_p)) return bad_value(a, v, "a number from 0 to 1"); }
        else if (IS("--repeat-penalty", "")) { if (!parse_float(v, 0, 1e6f, &o->sp.repeat_penalty) || o->sp.repeat_penalty == 0) return bad_value(a, v, "a number > 0"); }
        else if (IS("--repeat-last-n", "")) { if (!parse_int(v, -1, 1 << 20, &o->sp.repeat_last_n)) return bad_value(a, v, "an integer ≥ -1"); }
        else if (IS("--presence-penalty", "")) { if (!parse_float(v, -1e6f, 1e6f, &o->sp.presence_penalty)) return bad_value(a, v, "a number"); }
        else if (IS("--frequency-penalty", "")) { if (!parse_float(v, -1e6f, 1e6f, &o->sp.frequency_penalty)) return bad_value(a, v, "a number"); }
        else if (IS("-s", "--seed")) {
            char *end;
            errno = 0;
            unsigned long long s = strtoull(v, &end, 10);
            if (errno || end == v || *end || v[0] == '-') return bad_value(a, v, "a non-negative integer");
            o->sp.seed = s;
            o->seed_given = true;
        } else {
            fprintf(stderr, "infer: unknown option '%s' (see infer --help)\n", a);
            return 1;
        }
#undef IS
    }
    if (!o->model_path) {
        fprintf(stderr, "infer: no model given (use -m MODEL; see infer --help)\n");
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
    if (o.mode_info) return run_info(&o, o.model_path);

    struct session s;
    if (load_session(&o, !o.mode_tokenize, &s)) return 1;
    rc = o.mode_tokenize ? run_tokenize(&o, &s) : run_generate(&o, &s);
    free_session(&s);
    return rc;
}
