/*
 * test_parallel.c — ./infer --parallel N and --prompts FILE end to end: with
 * --temp 0 every sequence gives exactly the text it gives when run alone (same
 * -b), in input order; seeds make samples reproducible; samples share the
 * prompt's KV blocks and prompts share common prefixes; a tiny KV pool forces
 * waiting and preemption without changing any output; Ctrl-C and a closed
 * stdout stop cleanly. Expects the binary at $INFER_BIN (default ./infer).
 * (Block-level copy-on-write is tested in test_kvcache.c.)
 */
#include "testutil.h"

#include <stdbool.h>

static const char *infer_bin(void)
{
    const char *b = getenv("INFER_BIN");
    return b && *b ? b : "./infer";
}

#define STORIES "models/stories260K.gguf"
#define SYNTH "models/synthetic/rand-llama-q8_0.gguf"

/* Shell-quote s (single quotes) into a rotating static buffer. */
static const char *sq(const char *s)
{
    static char buf[8][4096];
    static int slot;
    char *o = buf[slot++ % 8], *p = o;
    *p++ = '\'';
    for (; *s && p < o + 4000; s++) {
        if (*s == '\'') { memcpy(p, "'\\''", 4); p += 4; }
        else *p++ = *s;
    }
    *p++ = '\'';
    *p = 0;
    return o;
}

/* Story prompts; the first four share a long prefix. */
#define PREFIX "Once upon a time, there was a little girl named Lily. She loved to play outside in the park"
static const char *const story_prompts[] = {
    PREFIX " with her friends.",
    PREFIX ". One day, she saw a big red ball.",
    PREFIX " with her dog Max. Max liked to run and jump.",
    PREFIX,
    "Tom and Sue went to the beach.",
};
#define N_STORY 5

/* Synthetic-model prompts as id lists (vocab 512); the first three share 40 ids. */
static const char *const synth_prompts[] = {
    "1,77,301,45,12,490,33,250,178,64,99,7,311,402,18,256,87,140,222,5,61,380,19,444,91,310,28,73,199,260,"
    "11,477,305,88,42,133,500,17,9,71,300,12",
    "1,77,301,45,12,490,33,250,178,64,99,7,311,402,18,256,87,140,222,5,61,380,19,444,91,310,28,73,199,260,"
    "11,477,305,88,42,133,500,17,9,71,13,14,15,16,17,18,19,20,21,22,23,24",
    "1,77,301,45,12,490,33,250,178,64,99,7,311,402,18,256,87,140,222,5,61,380,19,444,91,310,28,73,199,260,"
    "11,477,305,88,42,133,500,17,9,71",
    "1,5,6,7,8",
    "1,400,401,402,403,404,405,406,407,408,409,410",
};
#define N_SYNTH 5

/* stdout of the single-sequence mode, or a failed test. */
static char *alone(const char *model, const char *prompt_args, const char *opts)
{
    struct run_result r = run_cmd("%s -m %s %s %s", infer_bin(), test_data(model), prompt_args, opts);
    if (r.status) fail_msg("alone run exit %d: %s", r.status, r.err);
    free(r.err);
    return r.out;
}

static char *alone_text(const char *model, const char *text, const char *opts)
{
    char args[4200];
    snprintf(args, sizeof args, "-p %s", sq(text));
    return alone(model, args, opts);
}

static char *alone_ids(const char *model, const char *ids, const char *opts)
{
    char args[4200];
    snprintf(args, sizeof args, "--prompt-ids %s", ids);
    return alone(model, args, opts);
}

/* The {"stats": ...} object of a --json run's stderr (caller deletes). */
static cJSON *stats_of(const struct run_result *r)
{
    for (const char *p = r->err; p && *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        if (!strncmp(p, "{\"stats\"", 8)) {
            char *line = strndup(p, n);
            cJSON *j = cJSON_Parse(line);
            free(line);
            assert_non_null(j);
            return j;
        }
        p = nl ? nl + 1 : p + n;
    }
    fail_msg("no stats object on stderr: %s", r->err);
    return NULL;
}

static double stat_num(const cJSON *stats, const char *key)
{
    const cJSON *v = cJSON_GetObjectItem(cJSON_GetObjectItem(stats, "stats"), key);
    if (!cJSON_IsNumber(v)) fail_msg("stats has no %s", key);
    return v->valuedouble;
}

/* --prompts --json output: one object per line, as an array. */
static cJSON *parse_jsonl(const char *out)
{
    cJSON *arr = cJSON_CreateArray();
    for (const char *p = out; *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        char *line = strndup(p, n);
        cJSON *j = cJSON_Parse(line);
        if (!j) fail_msg("not JSON: %s", line);
        free(line);
        cJSON_AddItemToArray(arr, j);
        p = nl ? nl + 1 : p + n;
    }
    return arr;
}

static const char *item_text(const cJSON *arr, int i)
{
    const cJSON *t = cJSON_GetObjectItem(cJSON_GetArrayItem(arr, i), "text");
    assert_true(cJSON_IsString(t));
    return t->valuestring;
}

static const char *item_stop(const cJSON *arr, int i)
{
    return cJSON_GetObjectItem(cJSON_GetArrayItem(arr, i), "stop_reason")->valuestring;
}

static void expect_same(const char *got, const char *want, const char *what, int i)
{
    if (strcmp(got, want)) fail_msg("%s %d:\n[%s]\nalone:\n[%s]", what, i, got, want);
}

/* A temporary prompts file. */
static void write_file(char *path, const char *const *lines, int n, bool as_ids)
{
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    for (int i = 0; i < n; i++) {
        if (as_ids) fprintf(f, "{\"prompt_ids\": [%s]}\n", lines[i]);
        else fprintf(f, "%s\n", lines[i]);
    }
    fclose(f);
}

/* -np N samples of one prompt at --temp 0 equal the alone run; the prompt is
 * computed once and its blocks are shared. */
static void check_samples(const char *model, const char *prompt_args, const char *want, int N, const char *opts,
                          int n_prompt_tokens)
{
    struct run_result r = run_cmd("%s -m %s %s -np %d --json %s", infer_bin(), test_data(model), prompt_args, N, opts);
    if (r.status) fail_msg("exit %d: %s", r.status, r.err);
    cJSON *arr = cJSON_Parse(r.out);
    assert_non_null(arr);
    assert_int_equal(cJSON_GetArraySize(arr), N);
    for (int i = 0; i < N; i++) {
        assert_int_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(arr, i), "index")->valueint, i);
        expect_same(item_text(arr, i), want, "sample", i);
    }
    cJSON *st = stats_of(&r);
    /* One prompt evaluation for all N; the others fork it. */
    assert_int_equal((int)stat_num(st, "prompt_tokens_computed"), n_prompt_tokens);
    assert_int_equal((int)stat_num(st, "prompt_tokens_shared"), (N - 1) * n_prompt_tokens);
    /* Fewer blocks than N unshared sequences would take. */
    const int bs = (int)stat_num(st, "kv_block");
    const int per_seq = (int)((stat_num(st, "kv_tokens_unshared") / N + bs - 1) / bs);
    if (N > 1 && n_prompt_tokens >= bs) {
        assert_true(stat_num(st, "kv_blocks_allocated") < N * per_seq);
        assert_true(stat_num(st, "kv_blocks_shared_peak") >= n_prompt_tokens / bs);
        assert_true(stat_num(st, "kv_bytes_used") < stat_num(st, "kv_bytes_unshared"));
    }
    cJSON_Delete(st);
    cJSON_Delete(arr);
    run_free(&r);
}

static void test_samples_match_alone_stories(void **state)
{
    (void)state;
    const char *opts = "-n 40 --temp 0 -t 1";
    char *want = alone_text(STORIES, story_prompts[2], opts);
    assert_true(strlen(want) > 50);
    char args[512];
    snprintf(args, sizeof args, "-p %s", sq(story_prompts[2]));
    struct run_result t = run_cmd("%s -m %s %s --tokenize --json", infer_bin(), test_data(STORIES), args);
    cJSON *ids = cJSON_Parse(t.out);
    const int n_prompt = cJSON_GetArraySize(ids);
    cJSON_Delete(ids);
    run_free(&t);
    check_samples(STORIES, args, want, 3, opts, n_prompt);
    check_samples(STORIES, args, want, 8, opts, n_prompt);
    free(want);
    /* Threads change nothing either. */
    want = alone_text(STORIES, story_prompts[2], "-n 40 --temp 0 -t 2");
    check_samples(STORIES, args, want, 3, "-n 40 --temp 0 -t 2", n_prompt);
    free(want);
}

static void test_samples_match_alone_synthetic(void **state)
{
    (void)state;
    const char *opts = "-n 24 --temp 0 -t 1";
    char args[512];
    snprintf(args, sizeof args, "--prompt-ids %s", synth_prompts[0]);
    char *want = alone_ids(SYNTH, synth_prompts[0], opts);
    check_samples(SYNTH, args, want, 3, opts, 42);
    check_samples(SYNTH, args, want, 8, opts, 42);
    free(want);
    /* A short prompt whose only block is partly filled: it is copied on the first write. */
    snprintf(args, sizeof args, "--prompt-ids %s", synth_prompts[3]);
    want = alone_ids(SYNTH, synth_prompts[3], opts);
    check_samples(SYNTH, args, want, 8, opts, 5);
    free(want);
}

/* --prompts: every prompt gives its alone text, in input order. */
static cJSON *run_prompts(const char *model, const char *file, const char *opts, cJSON **stats)
{
    struct run_result r = run_cmd("%s -m %s --prompts %s --json %s", infer_bin(), test_data(model), file, opts);
    if (r.status) fail_msg("exit %d: %s", r.status, r.err);
    cJSON *arr = parse_jsonl(r.out);
    if (stats) *stats = stats_of(&r);
    run_free(&r);
    return arr;
}

static void check_prompts_stories(const char *file, const char *opts, const char *alone_opts, char **want,
                                  cJSON **stats)
{
    cJSON *arr = run_prompts(STORIES, file, opts, stats);
    assert_int_equal(cJSON_GetArraySize(arr), N_STORY);
    for (int i = 0; i < N_STORY; i++) {
        const cJSON *it = cJSON_GetArrayItem(arr, i);
        assert_int_equal(cJSON_GetObjectItem(it, "index")->valueint, i);
        assert_string_equal(cJSON_GetObjectItem(it, "prompt")->valuestring, story_prompts[i]);
        if (!want[i]) want[i] = alone_text(STORIES, story_prompts[i], alone_opts);
        expect_same(item_text(arr, i), want[i], "prompt", i);
        assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(it, "token_ids")),
                         cJSON_GetObjectItem(it, "n_tokens")->valueint);
    }
    cJSON_Delete(arr);
}

static void test_prompts_match_alone(void **state)
{
    (void)state;
    char path[] = "/tmp/infer-prompts-XXXXXX";
    write_file(path, story_prompts, N_STORY, false);
    char *want[N_STORY] = {0};
    /* N = 1 (--prompts with one slot), 3 and 8 at a time, sharing on and off. */
    check_prompts_stories(path, "-np 3 -n 32 --temp 0 -t 1", "-n 32 --temp 0 -t 1", want, NULL);
    check_prompts_stories(path, "-np 8 -n 32 --temp 0 -t 1 --no-share-prefix", "-n 32 --temp 0 -t 1", want, NULL);
    for (int i = 0; i < N_STORY; i++) free(want[i]);

    /* One prompt: the N = 1 case. */
    char one[] = "/tmp/infer-prompts-XXXXXX";
    write_file(one, story_prompts + 4, 1, false);
    cJSON *arr = run_prompts(STORIES, one, "-n 32 --temp 0 -t 1", NULL);
    char *w = alone_text(STORIES, story_prompts[4], "-n 32 --temp 0 -t 1");
    assert_int_equal(cJSON_GetArraySize(arr), 1);
    expect_same(item_text(arr, 0), w, "prompt", 0);
    free(w);
    cJSON_Delete(arr);
    unlink(one);

    /* Plain text output: labelled, in input order; stdin as the file. */
    struct run_result r = run_cmd("cat %s | %s -m %s --prompts - -np 2 -n 8 --temp 0 -t 1", path, infer_bin(),
                                  test_data(STORIES));
    assert_int_equal(r.status, 0);
    const char *p = r.out;
    for (int i = 0; i < N_STORY; i++) {
        char hdr[64];
        snprintf(hdr, sizeof hdr, "--- prompt %d ---\n", i);
        const char *h = strstr(p, hdr);
        if (!h) fail_msg("missing '%s' in order:\n%s", hdr, r.out);
        p = h + strlen(hdr);
    }
    assert_non_null(strstr(r.err, "tok/s"));
    run_free(&r);
    unlink(path);
}

/* Synthetic model, prompts given as ids in JSONL, with sharing at -b 16,
 * -b 4 and the default -b 512. */
static void test_prompts_synthetic(void **state)
{
    (void)state;
    char path[] = "/tmp/infer-prompts-XXXXXX";
    write_file(path, synth_prompts, N_SYNTH, true);
    const char *bs[] = {"-b 16", "-b 4", ""};
    for (int b = 0; b < 3; b++) {
        char opts[160], aopts[128];
        snprintf(aopts, sizeof aopts, "-n 48 --temp 0 -t 1 %s", bs[b]);
        snprintf(opts, sizeof opts, "-np 3 %s", aopts);
        cJSON *st;
        cJSON *arr = run_prompts(SYNTH, path, opts, &st);
        assert_int_equal(cJSON_GetArraySize(arr), N_SYNTH);
        for (int i = 0; i < N_SYNTH; i++) {
            char *w = alone_ids(SYNTH, synth_prompts[i], aopts);
            expect_same(item_text(arr, i), w, bs[b], i);
            free(w);
        }
        /* The common 40-id prefix is shared in whole blocks of 16: every
         * weight is quantized, so prompt chunks take the row kernels and
         * sharing does not wait for multiples of -b (forward_batch_invariant). */
        assert_true(stat_num(st, "prompt_tokens_shared") >= 32);
        cJSON_Delete(st);
        cJSON_Delete(arr);
    }
    unlink(path);
}

/* JSONL: per-prompt n_predict and seed. */
static void test_prompts_jsonl_options(void **state)
{
    (void)state;
    char path[] = "/tmp/infer-prompts-XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "{\"prompt\": \"Once upon a time\", \"n_predict\": 5}\n"
               "Tom and Sue went to the beach.\n"
               "\n"
               "{\"prompt\": \"Once upon a time\", \"seed\": 7, \"n_predict\": 30}\n"
               "{\"prompt\": \"Once upon a time\\nthere was\", \"n_predict\": 0}\n");
    fclose(f);
    cJSON *arr = run_prompts(STORIES, path, "-np 2 -n 12 -s 3 -t 1", NULL);
    assert_int_equal(cJSON_GetArraySize(arr), 4);
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(arr, 0), "n_tokens")->valueint, 5);
    assert_string_equal(item_stop(arr, 0), "limit");
    char *w = alone_text(STORIES, "Once upon a time", "-n 5 -s 3 -t 1");
    expect_same(item_text(arr, 0), w, "prompt", 0);
    free(w);
    w = alone_text(STORIES, "Tom and Sue went to the beach.", "-n 12 -s 3 -t 1");
    expect_same(item_text(arr, 1), w, "prompt", 1);
    free(w);
    w = alone_text(STORIES, "Once upon a time", "-n 30 -s 7 -t 1");
    expect_same(item_text(arr, 2), w, "prompt", 2);
    free(w);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(arr, 3), "prompt")->valuestring,
                        "Once upon a time\nthere was");
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(arr, 3), "n_tokens")->valueint, 0);
    cJSON_Delete(arr);
    unlink(path);
}

/* Sample i uses seed + i: reproducible, different from the others, and equal
 * to the alone run with that seed. */
static void test_seeds(void **state)
{
    (void)state;
    const char *cmd = "%s -m %s -p 'Once upon a time' -np 3 -n 48 -s 42 -t 1 --json";
    struct run_result a = run_cmd(cmd, infer_bin(), test_data(STORIES));
    struct run_result b = run_cmd(cmd, infer_bin(), test_data(STORIES));
    assert_int_equal(a.status, 0);
    assert_string_equal(a.out, b.out);
    cJSON *arr = cJSON_Parse(a.out);
    assert_int_equal(cJSON_GetArraySize(arr), 3);
    assert_string_not_equal(item_text(arr, 0), item_text(arr, 1));
    assert_string_not_equal(item_text(arr, 0), item_text(arr, 2));
    assert_string_not_equal(item_text(arr, 1), item_text(arr, 2));
    for (int i = 0; i < 3; i++) {
        char opts[64];
        snprintf(opts, sizeof opts, "-n 48 -s %d -t 1", 42 + i);
        char *w = alone_text(STORIES, "Once upon a time", opts);
        expect_same(item_text(arr, i), w, "seeded sample", i);
        assert_int_equal((int)cJSON_GetObjectItem(cJSON_GetArrayItem(arr, i), "seed")->valuedouble, 42 + i);
        free(w);
    }
    cJSON_Delete(arr);
    run_free(&a);
    run_free(&b);
}

/* A pool of a few blocks: sequences wait or are preempted and recomputed,
 * and every output is still complete and equal to the alone run. */
static void test_pool_exhaustion(void **state)
{
    (void)state;
    char path[] = "/tmp/infer-prompts-XXXXXX";
    write_file(path, story_prompts, N_STORY, false);
    char *want[N_STORY] = {0};
    cJSON *st;
    /* 7 blocks of 16 tokens for up to 4 sequences of ~40 + 48 tokens. */
    check_prompts_stories(path, "-np 4 -n 48 --temp 0 -t 1 -b 16", "-n 48 --temp 0 -t 1 -b 16", want, &st);
    cJSON_Delete(st);
    struct run_result r = run_cmd("INFER_KV_MAX_BLOCKS=7 %s -m %s --prompts %s --json -np 4 -n 48 --temp 0 -t 1 -b 16",
                                  infer_bin(), test_data(STORIES), path);
    assert_int_equal(r.status, 0);
    cJSON *arr = parse_jsonl(r.out);
    st = stats_of(&r);
    assert_true(stat_num(st, "preemptions") > 0);
    assert_true(stat_num(st, "kv_blocks_allocated") <= 7);
    for (int i = 0; i < N_STORY; i++) {
        expect_same(item_text(arr, i), want[i], "prompt (tiny pool)", i);
        assert_string_equal(item_stop(arr, i), "limit");
    }
    cJSON_Delete(st);
    cJSON_Delete(arr);
    run_free(&r);
    for (int i = 0; i < N_STORY; i++) free(want[i]);
    unlink(path);

    /* --parallel with room for about two of eight samples. */
    char *w = alone_text(STORIES, "Once upon a time", "-n 40 --temp 0 -t 1");
    r = run_cmd("INFER_KV_MAX_BLOCKS=5 %s -m %s -p 'Once upon a time' -np 8 -n 40 --temp 0 -t 1 --json",
                infer_bin(), test_data(STORIES));
    assert_int_equal(r.status, 0);
    arr = cJSON_Parse(r.out);
    assert_int_equal(cJSON_GetArraySize(arr), 8);
    for (int i = 0; i < 8; i++) expect_same(item_text(arr, i), w, "sample (tiny pool)", i);
    cJSON_Delete(arr);
    run_free(&r);

    /* Too small for even one sequence: it stops early and says so. */
    r = run_cmd("INFER_KV_MAX_BLOCKS=2 %s -m %s -p 'Once upon a time' -np 2 -n 40 --temp 0 -t 1 --json",
                infer_bin(), test_data(STORIES));
    assert_int_equal(r.status, 0);
    arr = cJSON_Parse(r.out);
    for (int i = 0; i < 2; i++) {
        assert_string_equal(item_stop(arr, i), "out of KV memory");
        assert_true(strlen(item_text(arr, i)) > 0);
        assert_true(!strncmp(w, item_text(arr, i), strlen(item_text(arr, i))));
    }
    assert_non_null(strstr(r.err, "out of KV memory"));
    cJSON_Delete(arr);
    run_free(&r);
    free(w);
}

/* The context limit ends every sample as it ends the alone run. */
static void test_context_full(void **state)
{
    (void)state;
    char *w = alone_text(STORIES, "Once upon a time", "-c 40 -n -1 --ignore-eos --temp 0 -t 1");
    struct run_result r = run_cmd("%s -m %s -p 'Once upon a time' -np 3 -c 40 -n -1 --ignore-eos --temp 0 -t 1 --json",
                                  infer_bin(), test_data(STORIES));
    assert_int_equal(r.status, 0);
    cJSON *arr = cJSON_Parse(r.out);
    for (int i = 0; i < 3; i++) {
        expect_same(item_text(arr, i), w, "sample", i);
        assert_string_equal(item_stop(arr, i), "context full");
    }
    cJSON_Delete(arr);
    run_free(&r);
    free(w);
}

/* Ctrl-C: partial outputs, valid JSON, exit 130. A closed stdout: a quick, quiet stop. */
static void test_interrupt_and_closed_stdout(void **state)
{
    (void)state;
    struct run_result r = run_cmd("%s -m %s -p 'Once upon a time' -np 4 -n -1 --ignore-eos -t 1 --json & p=$!; "
                                  "sleep 0.4; kill -INT $p; wait $p",
                                  infer_bin(), test_data(STORIES));
    assert_int_equal(r.status, 130);
    cJSON *arr = cJSON_Parse(r.out);
    if (!arr) fail_msg("not JSON: %s", r.out);
    assert_int_equal(cJSON_GetArraySize(arr), 4);
    for (int i = 0; i < 4; i++) {
        assert_string_equal(item_stop(arr, i), "interrupted");
        assert_true(cJSON_GetObjectItem(cJSON_GetArrayItem(arr, i), "n_tokens")->valueint > 0);
    }
    cJSON_Delete(arr);
    run_free(&r);

    /* Thousands of tokens were asked for; the reader is gone at once. */
    r = run_cmd("s=$(date +%%s%%N); (%s -m %s -p 'Once upon a time' -np 4 -n 2000 --ignore-eos -t 1; "
                "echo \"RC=$?\" >&2) | true; echo \"MS=$((($(date +%%s%%N) - s) / 1000000))\" >&2",
                infer_bin(), test_data(STORIES));
    assert_int_equal(r.status, 0);
    int rc = -1, ms = -1;
    assert_non_null(strstr(r.err, "RC="));
    assert_non_null(strstr(r.err, "MS="));
    sscanf(strstr(r.err, "RC="), "RC=%d", &rc);
    sscanf(strstr(r.err, "MS="), "MS=%d", &ms);
    assert_int_equal(rc, 0);
    assert_true(ms < 3000);
    run_free(&r);
}

/* Bad input: one line on stderr naming the place, exit 1. */
static void test_prompts_errors(void **state)
{
    (void)state;
    struct run_result r = run_cmd("printf 'hello\\n{\"n_predict\": 3}\\n' | %s -m %s --prompts -", infer_bin(),
                                  test_data(STORIES));
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "stdin:2:"));
    assert_int_equal(r.out_len, 0);
    run_free(&r);
    r = run_cmd("printf '{\"prompt\": \"hi\", \"n_predict\": \"x\"}\\n' | %s -m %s --prompts -", infer_bin(),
                test_data(STORIES));
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "n_predict"));
    run_free(&r);
    r = run_cmd("printf 'Once upon a time there was a girl\\n' | %s -m %s --prompts - -c 4", infer_bin(),
                test_data(STORIES));
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "context size"));
    run_free(&r);
    r = run_cmd("%s -m %s --prompts /nonexistent/prompts.txt", infer_bin(), test_data(STORIES));
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "/nonexistent/prompts.txt"));
    run_free(&r);
    r = run_cmd("printf '\\n\\n' | %s -m %s --prompts -", infer_bin(), test_data(STORIES));
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "no prompts"));
    run_free(&r);
    r = run_cmd("echo hi | %s -m %s --prompts - -p hello", infer_bin(), test_data(STORIES));
    assert_int_equal(r.status, 1);
    run_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_samples_match_alone_stories),
        cmocka_unit_test(test_samples_match_alone_synthetic),
        cmocka_unit_test(test_prompts_match_alone),
        cmocka_unit_test(test_prompts_synthetic),
        cmocka_unit_test(test_prompts_jsonl_options),
        cmocka_unit_test(test_seeds),
        cmocka_unit_test(test_pool_exhaustion),
        cmocka_unit_test(test_context_full),
        cmocka_unit_test(test_interrupt_and_closed_stdout),
        cmocka_unit_test(test_prompts_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
