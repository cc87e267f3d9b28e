/*
 * test_modes.c — the measuring modes end to end, as a user runs them:
 * --bench (markdown table, JSON and JSON lines with llama-bench's fields, the
 * bandwidth columns), --perplexity (independent of the batch size, a sane
 * value on story text and a much worse one on shuffled words, and the same
 * numbers as a log-softmax computed here from --dump-logits) and --kv-info
 * (checked against the model's own metadata). Speeds are printed by the
 * modes but never asserted: only shapes, fields and invariants are.
 * Expects the binary at $INFER_BIN (default ./infer).
 */
#include "testutil.h"

#include <math.h>
#include <stdbool.h>

static const char *infer_bin(void)
{
    const char *b = getenv("INFER_BIN");
    return b && *b ? b : "./infer";
}

static const char *stories(void) { return test_data("models/stories260K.gguf"); }

/* A TinyStories-like text written for this test (~2400 stories260K tokens). */
static const char story[] =
    "Once upon a time, there was a little girl named Lily. She lived in a small house with her mom and dad and her dog, Max. Lily loved to play outside in the sun. One day, she saw a big red ball in the park. She ran to the ball and picked it up. It was shiny and round.\n"
    "Lily wanted to play with the ball, but she saw a boy named Tom. Tom was sad because he lost his ball. Lily said, \"Is this your ball?\" Tom looked at the ball and smiled. \"Yes, it is my ball! Thank you, Lily!\" Lily gave the ball to Tom and they played together all day. They were very happy.\n"
    "When the sun went down, Lily went home. Her mom gave her a big hug and said, \"You are a good friend, Lily.\" Lily smiled and went to bed. She dreamed about the big red ball and her new friend Tom.\n"
    "The next day, Lily and Tom went to the park again. They saw a little bird in a tree. The bird was sad because it could not fly. Tom said, \"Let's help the bird!\" Lily and Tom looked at the bird. It had a hurt wing. Lily took the bird home to her mom. Her mom was very kind. She helped the bird and gave it some food and water.\n"
    "After a few days, the bird was better. It could fly again! The bird flew up into the sky and sang a happy song. Lily and Tom waved goodbye to the bird. They felt happy because they helped their new friend.\n"
    "Once upon a time, there was a big cat named Tim. Tim liked to sleep in the sun. One day, Tim saw a little mouse. The mouse was very scared. Tim said, \"Do not be scared, little mouse. I want to be your friend.\" The mouse looked at Tim and said, \"Really? You want to be my friend?\" Tim nodded and smiled.\n"
    "The mouse and the cat played together in the garden. They ran and jumped and laughed. When it was time to eat, Tim shared his food with the mouse. The mouse was very happy. He said, \"Thank you, Tim. You are a good friend.\"\n"
    "One day, a big dog came to the garden. The dog was mean and wanted to chase the mouse. Tim was brave. He stood in front of the mouse and said, \"Go away, dog! Leave my friend alone!\" The dog was surprised and ran away. The mouse hugged Tim and said, \"You saved me!\" From that day on, the cat and the mouse were best friends forever.\n"
    "Once upon a time, there was a little boy named Ben. Ben had a toy car. It was blue and fast. Ben loved to play with his car every day. He would make the car go fast on the floor. \"Vroom, vroom!\" said Ben.\n"
    "One day, Ben could not find his car. He looked under the bed. He looked in the box. He looked in the kitchen. But the car was not there. Ben was very sad. He started to cry. His sister, Sue, saw him and asked, \"Why are you sad, Ben?\" Ben said, \"I lost my blue car.\"\n"
    "Sue wanted to help her brother. She looked in the garden, and there was the car, under a big green tree! Sue ran to Ben and gave him the car. Ben was so happy. He said, \"Thank you, Sue! You are the best sister!\" They played with the car together until it was time for dinner.\n"
    "Once upon a time, in a small town, there lived a girl named Amy. Amy liked to draw pictures. She drew the sun, the moon and the stars. She drew her mom and her dad. One day, she wanted to draw a big tree. She went outside with her paper and her crayons.\n"
    "Amy sat under the big tree and started to draw. A little squirrel came down from the tree. It looked at her picture. \"What are you doing?\" asked the squirrel. \"I am drawing your tree,\" said Amy. The squirrel was happy. \"Can you draw me too?\" it asked. Amy smiled and drew the squirrel next to the tree.\n"
    "When the picture was done, Amy showed it to her mom. Her mom said, \"What a beautiful picture! I love the tree and the little squirrel.\" Amy put the picture on the wall. Every day, she looked at it and thought of her friend, the squirrel.\n"
    "Once upon a time, there was a little duck named Dot. Dot lived by a big pond with her mom. Dot wanted to swim, but she was scared of the water. Her mom said, \"Do not be afraid, Dot. The water is nice and warm.\" Dot put one foot in the water. Then she put the other foot in the water.\n"
    "Soon, Dot was swimming! She was so happy. She swam with her mom all around the pond. They saw a fish and a frog. The frog said, \"Hello, little duck! You are a good swimmer!\" Dot felt very proud. She said, \"Thank you, frog! I was scared, but now I love to swim.\"\n"
    "At the end of the day, Dot and her mom went back to their nest. Dot was tired, but she was happy. She said, \"Mom, can we swim again tomorrow?\" Her mom smiled and said, \"Yes, Dot. We can swim every day.\" Dot closed her eyes and went to sleep.\n"
    "Once upon a time, there was a kind old man who had a big garden. In his garden, he grew red apples and yellow flowers. Every morning, he gave water to the flowers and picked the apples. The children in the town loved to visit him.\n"
    "One day, a little girl named Mia came to the garden. She was hungry. The old man gave her a big red apple. Mia said, \"Thank you! This apple is very good.\" The old man smiled. He showed Mia how to plant a seed. Mia put the seed in the ground and gave it some water.\n"
    "Every day, Mia came back to see her seed. One morning, she saw a little green plant. She was so happy! She ran to the old man and said, \"Look, my seed is a plant now!\" The old man laughed and said, \"If you take care of it, it will grow into a big tree.\" Mia took care of the plant every day, and it grew big and strong.\n";

/* Write len bytes of s to a fresh temporary file; returns its path (static slot). */
static const char *write_temp(const char *s, size_t len)
{
    static char paths[8][64];
    static int slot;
    char *p = paths[slot++ % 8];
    snprintf(p, sizeof paths[0], "/tmp/infer-modes-XXXXXX");
    int fd = mkstemp(p);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, s, len), (ssize_t)len);
    close(fd);
    return p;
}

static void fail_run(const char *what, struct run_result *r)
{
    fail_msg("%s: exit %d\nstdout: %s\nstderr: %s", what, r->status, r->out, r->err);
}

static double num(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v)) fail_msg("field '%s' missing or not a number", key);
    return v->valuedouble;
}

static bool rel_close(double a, double b, double tol) { return fabs(a - b) <= tol * fabs(b); }

/* Bytes of the first n lines of the story. */
static size_t story_prefix(int n)
{
    const char *p = story;
    for (int i = 0; i < n && *p; i++) p = strchr(p, '\n') + 1;
    return (size_t)(p - story);
}

/* --- --bench --------------------------------------------------------------- */

static void test_bench_markdown(void **state)
{
    (void)state;
    struct run_result r = run_cmd("%s --bench -m %s -p 16 -n 8 -r 2 -t 2", infer_bin(), stories());
    if (r.status) fail_run("--bench", &r);
    /* Header, separator, then one row per test in llama-bench's order. */
    assert_int_equal(count_lines(r.out), 4);
    assert_true(!strncmp(r.out, "| model", 7));
    const char *pp = strstr(r.out, "| pp16 |"), *tg = strstr(r.out, "| tg8 |");
    if (!pp) pp = strstr(r.out, " pp16 |");
    if (!tg) tg = strstr(r.out, " tg8 |");
    assert_non_null(pp);
    assert_non_null(tg);
    assert_true(pp < tg);
    assert_non_null(strstr(r.out, "±"));
    assert_non_null(strstr(r.out, "llama"));
    assert_non_null(strstr(r.out, "decode GB/s"));
    assert_null(strstr(r.out, "% peak")); /* only with --roofline */
    /* Each row: threads 2 and a positive mean. */
    const char *row = strchr(strchr(r.out, '\n') + 1, '\n') + 1;
    for (int i = 0; i < 2; i++) {
        int cells = 0;
        for (const char *p = row; *p && *p != '\n'; p++) cells += *p == '|';
        assert_int_equal(cells, 9);
        const char *ts = strstr(row, "±");
        assert_non_null(ts);
        const char *b = ts;
        while (b > row && b[-1] != '|') b--;
        assert_true(strtod(b, NULL) > 0);
        row = strchr(row, '\n') + 1;
    }
    run_free(&r);
}

/* One JSON row has llama-bench's fields with sane values. */
static void check_bench_row(const cJSON *o, int n_prompt, int n_gen, int reps, int threads)
{
    assert_true(cJSON_IsObject(o));
    const char *strs[] = {"model_filename", "model_type", "backends", "cpu_info", "type_k", "type_v", "test_time"};
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, strs[i]);
        if (!cJSON_IsString(v) || !*v->valuestring) fail_msg("field '%s' missing or empty", strs[i]);
    }
    assert_string_equal(cJSON_GetObjectItem(o, "type_k")->valuestring, "f16");
    assert_true(num(o, "model_size") > 0);
    assert_true(num(o, "model_n_params") > 0);
    assert_int_equal((int)num(o, "n_threads"), threads);
    assert_int_equal((int)num(o, "n_batch"), 512);
    assert_int_equal((int)num(o, "n_prompt"), n_prompt);
    assert_int_equal((int)num(o, "n_gen"), n_gen);
    assert_true(num(o, "avg_ns") > 0);
    assert_true(num(o, "stddev_ns") >= 0);
    assert_true(num(o, "avg_ts") > 0);
    assert_true(num(o, "stddev_ts") >= 0);
    const cJSON *sns = cJSON_GetObjectItem(o, "samples_ns"), *sts = cJSON_GetObjectItem(o, "samples_ts");
    assert_int_equal(cJSON_GetArraySize(sns), reps);
    assert_int_equal(cJSON_GetArraySize(sts), reps);
    /* avg_ts is the mean of the per-run speeds, each tokens / time. */
    double sum = 0;
    for (int i = 0; i < reps; i++) {
        const double ns = cJSON_GetArrayItem(sns, i)->valuedouble, ts = cJSON_GetArrayItem(sts, i)->valuedouble;
        assert_true(ns > 0 && ts > 0);
        assert_true(rel_close(ts, 1e9 * (n_prompt + n_gen) / ns, 1e-3));
        sum += ts;
    }
    assert_true(rel_close(num(o, "avg_ts"), sum / reps, 1e-9));
    if (n_gen) {
        assert_true(num(o, "decode_bandwidth_gbs") > 0);
        /* Bytes per token: all weights a decode step reads, plus the K/V it attends over. */
        assert_true(num(o, "weight_bytes_per_token") <= num(o, "model_size"));
        assert_true(num(o, "weight_bytes_per_token") > 0.5 * num(o, "model_size"));
        assert_true(rel_close(num(o, "bytes_per_token"), num(o, "weight_bytes_per_token") + num(o, "kv_bytes_per_token"), 1e-9));
        assert_true(rel_close(num(o, "decode_bandwidth_gbs"), num(o, "bytes_per_token") * num(o, "avg_ts") / 1e9, 1e-9));
    } else {
        assert_null(cJSON_GetObjectItem(o, "decode_bandwidth_gbs"));
    }
}

/* `infer --bench -m stories260K ARGS -o json`, which must succeed, parsed. */
static cJSON *bench_json(const char *args)
{
    struct run_result r = run_cmd("%s --bench -m %s %s -o json", infer_bin(), stories(), args);
    if (r.status) fail_run(args, &r);
    cJSON *j = cJSON_Parse(r.out);
    if (!j) fail_msg("not JSON: %s", r.out);
    run_free(&r);
    return j;
}

static void test_bench_json(void **state)
{
    (void)state;
    cJSON *j = bench_json("-p 16 -n 8 -r 2 -t 1");
    assert_true(cJSON_IsArray(j));
    assert_int_equal(cJSON_GetArraySize(j), 2);
    check_bench_row(cJSON_GetArrayItem(j, 0), 16, 0, 2, 1);
    check_bench_row(cJSON_GetArrayItem(j, 1), 0, 8, 2, 1);
    const cJSON *o = cJSON_GetArrayItem(j, 0);
    assert_non_null(strstr(cJSON_GetObjectItem(o, "model_filename")->valuestring, "stories260K.gguf"));
    assert_int_equal((int)num(o, "model_n_params"), 292800);
    cJSON_Delete(j);
}

static void test_bench_jsonl(void **state)
{
    (void)state;
    struct run_result r = run_cmd("%s --bench -m %s -p 16,32 -n 8 -r 2 -t 1 -o jsonl", infer_bin(), stories());
    if (r.status) fail_run("--bench -o jsonl", &r);
    assert_int_equal(count_lines(r.out), 3);
    const int want_p[] = {16, 32, 0}, want_n[] = {0, 0, 8};
    char *save = NULL, *line = strtok_r(r.out, "\n", &save);
    for (int i = 0; i < 3; i++, line = strtok_r(NULL, "\n", &save)) {
        assert_non_null(line);
        cJSON *o = cJSON_Parse(line);
        if (!o) fail_msg("line %d is not JSON: %s", i + 1, line);
        check_bench_row(o, want_p[i], want_n[i], 2, 1);
        cJSON_Delete(o);
    }
    run_free(&r);
}

/* A quantized model with another shape (a 1B model would be too slow here). */
static void test_bench_synthetic(void **state)
{
    (void)state;
    struct run_result r = run_cmd("%s --bench -m %s -p 32 -n 8 -r 2 -t 1 -o json", infer_bin(),
                                  test_data("models/synthetic/rand-llama-q4_0.gguf"));
    if (r.status) fail_run("--bench q4_0", &r);
    cJSON *j = cJSON_Parse(r.out);
    assert_non_null(j);
    assert_int_equal(cJSON_GetArraySize(j), 2);
    check_bench_row(cJSON_GetArrayItem(j, 0), 32, 0, 2, 1);
    check_bench_row(cJSON_GetArrayItem(j, 1), 0, 8, 2, 1);
    assert_non_null(strstr(cJSON_GetObjectItem(cJSON_GetArrayItem(j, 0), "model_type")->valuestring, "Q4_0"));
    cJSON_Delete(j);
    run_free(&r);
    /* -p 0 skips prompt processing; the markdown has just the tg row. */
    r = run_cmd("%s --bench -m %s -p 0 -n 4 -r 1 -t 1", infer_bin(), test_data("models/synthetic/rand-qwen3-q8_0.gguf"));
    if (r.status) fail_run("--bench qwen3 -p 0", &r);
    assert_int_equal(count_lines(r.out), 3);
    assert_null(strstr(r.out, "pp"));
    assert_non_null(strstr(r.out, "tg4"));
    assert_non_null(strstr(r.out, "qwen3"));
    run_free(&r);
}

static void test_bench_roofline(void **state)
{
    (void)state;
    /* A 256 MiB probe: the default (≥ 1 GiB) takes seconds to fault in on
     * some VMs, and the value is not asserted here, only its plumbing. */
    struct run_result r = run_cmd("INFER_BANDWIDTH_MIB=256 %s --bench -m %s -p 0 -n 4 -r 2 -t 1 --roofline -o json",
                                  infer_bin(), stories());
    if (r.status) fail_run("--bench --roofline", &r);
    cJSON *j = cJSON_Parse(r.out);
    assert_non_null(j);
    const cJSON *o = cJSON_GetArrayItem(j, 0);
    check_bench_row(o, 0, 4, 2, 1);
    /* each run is held to the probe measured just before it */
    const cJSON *probes = cJSON_GetObjectItem(o, "samples_machine_bandwidth_gbs");
    const cJSON *ts = cJSON_GetObjectItem(o, "samples_ts");
    assert_int_equal(cJSON_GetArraySize(probes), 2);
    const double p0 = cJSON_GetArrayItem(probes, 0)->valuedouble, p1 = cJSON_GetArrayItem(probes, 1)->valuedouble;
    const double bpt = num(o, "bytes_per_token");
    assert_true(p0 > 0.1 && p0 < 100000 && p1 > 0.1 && p1 < 100000);
    assert_true(rel_close(num(o, "machine_bandwidth_gbs"), (p0 + p1) / 2, 1e-9));
    const double pct = 50.0 * (bpt * cJSON_GetArrayItem(ts, 0)->valuedouble / 1e9 / p0 +
                               bpt * cJSON_GetArrayItem(ts, 1)->valuedouble / 1e9 / p1);
    assert_true(rel_close(num(o, "bandwidth_pct"), pct, 1e-9));
    assert_int_equal((int)num(o, "machine_bandwidth_buffer_bytes"), 256 << 20);
    assert_non_null(strstr(r.err, "GB/s"));
    cJSON_Delete(j);
    run_free(&r);
    /* The table gets the peak and percentage columns. */
    r = run_cmd("INFER_BANDWIDTH_MIB=64 %s --bench -m %s -p 0 -n 4 -r 1 -t 1 --roofline", infer_bin(), stories());
    if (r.status) fail_run("--bench --roofline (md)", &r);
    assert_non_null(strstr(r.out, "peak GB/s"));
    assert_non_null(strstr(r.out, "% peak"));
    run_free(&r);
}

static void expect_one_line_error(struct run_result *r, const char *needle)
{
    if (r->status != 1) fail_run("expected exit 1", r);
    assert_int_equal(r->out_len, 0);
    assert_int_equal(count_lines(r->err), 1);
    if (needle && !strstr(r->err, needle)) fail_msg("stderr lacks '%s': %s", needle, r->err);
    run_free(r);
}

/* -d: every test again after a context of D tokens, labelled as llama-bench
 * labels it, with the K/V that decode reads counted from the depth on. */
static void test_bench_depth(void **state)
{
    (void)state;
    cJSON *j = bench_json("-p 16 -n 8 -d 0,40 -r 2 -t 1");
    assert_int_equal(cJSON_GetArraySize(j), 4);
    const int want_p[] = {16, 0, 16, 0}, want_n[] = {0, 8, 0, 8}, want_d[] = {0, 0, 40, 40};
    for (int i = 0; i < 4; i++) {
        const cJSON *o = cJSON_GetArrayItem(j, i);
        check_bench_row(o, want_p[i], want_n[i], 2, 1);
        assert_int_equal((int)num(o, "n_depth"), want_d[i]);
    }
    /* tg8 decodes positions 1..8 (after a 1-token prompt), then 40..47: on
     * average 5.5 and 44.5 cached tokens a step */
    const double kv0 = num(cJSON_GetArrayItem(j, 1), "kv_bytes_per_token");
    const double kv40 = num(cJSON_GetArrayItem(j, 3), "kv_bytes_per_token");
    assert_true(kv0 > 0);
    assert_true(rel_close(kv40 / kv0, 44.5 / 5.5, 1e-9));
    cJSON_Delete(j);

    struct run_result r = run_cmd("%s --bench -m %s -p 16 -n 8 -d 40 -r 1 -t 1", infer_bin(), stories());
    if (r.status) fail_run("--bench -d 40", &r);
    assert_int_equal(count_lines(r.out), 4);
    assert_non_null(strstr(r.out, " pp16 @ d40 |"));
    assert_non_null(strstr(r.out, " tg8 @ d40 |"));
    run_free(&r);
}

static void test_bench_bad_args(void **state)
{
    (void)state;
    struct run_result r = run_cmd("%s --bench -m %s -p 16,abc -n 8", infer_bin(), stories());
    expect_one_line_error(&r, "-p");
    r = run_cmd("%s --bench -m %s -p 16, -n 8", infer_bin(), stories());
    expect_one_line_error(&r, "-p");
    r = run_cmd("%s --bench -m %s -p -5", infer_bin(), stories());
    expect_one_line_error(&r, "-p");
    r = run_cmd("%s --bench -m %s -n 8x", infer_bin(), stories());
    expect_one_line_error(&r, "-n");
    r = run_cmd("%s --bench -m %s -d 0,-1", infer_bin(), stories());
    expect_one_line_error(&r, "-d");
    r = run_cmd("%s --bench -m %s -o xml", infer_bin(), stories());
    expect_one_line_error(&r, "-o");
    r = run_cmd("%s --bench -m %s -p 0 -n 0", infer_bin(), stories());
    expect_one_line_error(&r, NULL);
}

/* --- --perplexity ---------------------------------------------------------- */

static cJSON *ppl_json(const char *file, const char *extra)
{
    struct run_result r = run_cmd("%s --perplexity -m %s -f %s --json -t 1 %s", infer_bin(), stories(), file, extra);
    if (r.status) fail_run("--perplexity", &r);
    cJSON *j = cJSON_Parse(r.out);
    if (!j) fail_msg("not JSON: %s", r.out);
    run_free(&r);
    return j;
}

/* Splitting the chunks into batches changes the kernels (sgemm for batches of
 * 8 or more, row dots below), never the math: -b 1 and -b 7 go through row
 * dots, -b 512 (= the 128-token chunk) through sgemm. With F32 K/V the
 * results agree to float noise. With the default F16 cache the same noise
 * can flip the rounding of a K/V value to the neighbouring half-precision
 * number (~5e-4 relative), so the agreement is looser there, though still far
 * below any real difference between models. */
static void test_ppl_batch_invariance(void **state)
{
    (void)state;
    const char *f = write_temp(story, story_prefix(13)); /* ~1500 tokens: 11 chunks */
    const char *batches[] = {"-b 1", "-b 7", "-b 512"};
    double p32[3], p16[2];
    for (int i = 0; i < 3; i++) {
        char extra[64];
        snprintf(extra, sizeof extra, "-c 128 %s --kv-f32", batches[i]);
        cJSON *j = ppl_json(f, extra);
        p32[i] = num(j, "ppl");
        assert_int_equal((int)num(j, "n_ctx"), 128);
        assert_int_equal((int)num(j, "n_chunks"), cJSON_GetArraySize(cJSON_GetObjectItem(j, "chunks")));
        cJSON_Delete(j);
    }
    for (int i = 0; i < 2; i++) {
        char extra[64];
        snprintf(extra, sizeof extra, "-c 128 %s", batches[i * 2]);
        cJSON *j = ppl_json(f, extra);
        p16[i] = num(j, "ppl");
        cJSON_Delete(j);
    }
    print_message("ppl f32 kv: b1 %.10f b7 %.10f b512 %.10f; f16 kv: b1 %.10f b512 %.10f\n", p32[0], p32[1], p32[2],
                  p16[0], p16[1]);
    assert_true(rel_close(p32[1], p32[0], 1e-6));
    assert_true(rel_close(p32[2], p32[0], 1e-5));
    assert_true(rel_close(p16[1], p16[0], 1e-3));
    assert_true(rel_close(p16[0], p32[0], 1e-3));
    unlink(f);
}

/* The same words in a random order: a working model is far more perplexed. */
static char *shuffled_words(const char *text)
{
    size_t n = 0, cap = 4096;
    char **w = malloc(cap * sizeof *w), *copy = strdup(text), *save = NULL;
    for (char *t = strtok_r(copy, " \n", &save); t; t = strtok_r(NULL, " \n", &save)) w[n++] = t;
    uint64_t s = 12345;
    for (size_t i = n - 1; i > 0; i--) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        size_t k = (size_t)((s >> 33) % (i + 1));
        char *t = w[i];
        w[i] = w[k];
        w[k] = t;
    }
    char *out = malloc(strlen(text) + 2), *p = out;
    for (size_t i = 0; i < n; i++) p += sprintf(p, i ? " %s" : "%s", w[i]);
    free(w);
    free(copy);
    return out;
}

static void test_ppl_sane(void **state)
{
    (void)state;
    const char *f = write_temp(story, strlen(story));
    /* The text output, llama.cpp's format. */
    struct run_result r = run_cmd("%s --perplexity -m %s -f %s -c 128 -t 1", infer_bin(), stories(), f);
    if (r.status) fail_run("--perplexity", &r);
    assert_true(!strncmp(r.out, "[1]", 3));
    const char *fin = strstr(r.out, "Final estimate: PPL = ");
    assert_non_null(fin);
    double ppl_text = strtod(fin + strlen("Final estimate: PPL = "), NULL);
    assert_non_null(strstr(fin, " +/- "));
    assert_null(strstr(r.out, "infer:")); /* diagnostics stay on stderr */
    run_free(&r);

    cJSON *j = ppl_json(f, "-c 128");
    const double ppl = num(j, "ppl"), err = num(j, "ppl_stderr");
    const int n_chunks = (int)num(j, "n_chunks");
    assert_true(fabs(ppl - ppl_text) < 1e-4);
    assert_int_equal(n_chunks, (int)num(j, "n_tokens") / 128);
    assert_int_equal((int)num(j, "tokens_scored"), n_chunks * (128 - 1 - 64));
    assert_true(err > 0 && err < ppl / 5);
    /* The chunks' mean NLLs average to the final one (equal-size chunks). */
    double s = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(j, "chunks")) s += num(c, "nll");
    assert_true(rel_close(exp(s / n_chunks), ppl, 1e-9));
    cJSON_Delete(j);

    char *shuf = shuffled_words(story);
    const char *g = write_temp(shuf, strlen(shuf));
    j = ppl_json(g, "-c 128");
    const double ppl_shuf = num(j, "ppl");
    cJSON_Delete(j);
    print_message("stories260K: ppl %.4f ± %.4f on the story, %.4f on its shuffled words\n", ppl, err, ppl_shuf);
    /* Measured: ~3.2 on the story, ~150 shuffled. */
    assert_true(ppl > 1.5 && ppl < 10);
    assert_true(ppl_shuf > 5 * ppl);
    free(shuf);
    unlink(f);
    unlink(g);
}

/* NLL of positions first..n-2 predicting the next id, from dumped logits. */
static double nll_from_logits(const cJSON *rows, const int *ids, int n, int first)
{
    double s = 0;
    for (int j = first; j < n - 1; j++) {
        const cJSON *row = cJSON_GetArrayItem(rows, j);
        const int nv = cJSON_GetArraySize(row);
        double mx = -INFINITY, sum = 0;
        const cJSON *v;
        cJSON_ArrayForEach(v, row) if (v->valuedouble > mx) mx = v->valuedouble;
        cJSON_ArrayForEach(v, row) sum += exp(v->valuedouble - mx);
        assert_true(ids[j + 1] < nv);
        s += -(cJSON_GetArrayItem(row, ids[j + 1])->valuedouble - mx - log(sum));
    }
    return s / (n - 1 - first);
}

/* --perplexity agrees with an independent computation: the chunk's ids
 * (first replaced by BOS) through the plain generate path with --dump-logits,
 * and the log-softmax done here. The text is short: exactly 2 chunks, the
 * least llama-perplexity accepts. */
static void test_ppl_matches_dump_logits(void **state)
{
    (void)state;
    const int C = 96;
    /* The first two paragraphs: 221 tokens, so 2 chunks of 96. */
    const char *f = write_temp(story, story_prefix(2));
    struct run_result r = run_cmd("%s -m %s -f %s --tokenize --json", infer_bin(), stories(), f);
    if (r.status) fail_run("--tokenize", &r);
    cJSON *toks = cJSON_Parse(r.out);
    run_free(&r);
    const int n = cJSON_GetArraySize(toks);
    assert_true(n >= 2 * C && n < 3 * C);
    const int bos = cJSON_GetArrayItem(toks, 0)->valueint;

    char extra[32];
    snprintf(extra, sizeof extra, "-c %d", C);
    cJSON *j = ppl_json(f, extra);
    assert_int_equal((int)num(j, "n_chunks"), 2);
    const cJSON *chunks = cJSON_GetObjectItem(j, "chunks");
    double total = 0;
    for (int k = 0; k < 2; k++) {
        int ids[C];
        char list[C * 8], *p = list;
        for (int i = 0; i < C; i++) {
            ids[i] = i == 0 ? bos : cJSON_GetArrayItem(toks, k * C + i)->valueint;
            p += sprintf(p, i ? ",%d" : "%d", ids[i]);
        }
        char dump[] = "/tmp/infer-modes-logitsXXXXXX";
        close(mkstemp(dump));
        r = run_cmd("%s -m %s --prompt-ids %s -n 0 -t 1 --dump-logits %s", infer_bin(), stories(), list, dump);
        if (r.status) fail_run("--dump-logits", &r);
        run_free(&r);
        cJSON *rows = read_json(dump);
        assert_non_null(rows);
        assert_int_equal(cJSON_GetArraySize(rows), C);
        const double want = nll_from_logits(rows, ids, C, C / 2);
        const double got = num(cJSON_GetArrayItem(chunks, k), "nll");
        print_message("chunk %d: nll %.9f (--perplexity) vs %.9f (--dump-logits)\n", k + 1, got, want);
        assert_true(rel_close(got, want, 1e-5));
        total += want;
        cJSON_Delete(rows);
        unlink(dump);
    }
    assert_true(rel_close(num(j, "ppl"), exp(total / 2), 1e-5));
    assert_int_equal((int)num(j, "tokens_scored"), 2 * (C - 1 - C / 2));
    cJSON_Delete(j);
    cJSON_Delete(toks);
    unlink(f);
}

static void test_ppl_too_short(void **state)
{
    (void)state;
    const char *f = write_temp("Once upon a time there was a cat.\n", 34);
    struct run_result r = run_cmd("%s --perplexity -m %s -f %s -c 128", infer_bin(), stories(), f);
    expect_one_line_error(&r, "256");
    /* No file at all is an error too, not a wait on the terminal. */
    r = run_cmd("%s --perplexity -m %s -f /nonexistent/file.txt", infer_bin(), stories());
    expect_one_line_error(&r, "/nonexistent/file.txt");
    unlink(f);
}

/* --- --kv-info ------------------------------------------------------------- */

static int meta_int(const cJSON *md, const char *arch, const char *key, int dflt)
{
    char full[128];
    snprintf(full, sizeof full, "%s.%s", arch, key);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(md, full);
    return e ? (int)cJSON_GetObjectItem(e, "value")->valuedouble : dflt;
}

static void check_kv_info(const char *model_rel, int n_ctx, int block, bool f32)
{
    const char *model = test_data(model_rel);
    struct run_result r = run_cmd("%s --info --json -m %s", infer_bin(), model);
    if (r.status) fail_run("--info", &r);
    cJSON *info = cJSON_Parse(r.out);
    run_free(&r);
    const cJSON *md = cJSON_GetObjectItem(info, "metadata");
    const char *arch = cJSON_GetObjectItem(cJSON_GetObjectItem(md, "general.architecture"), "value")->valuestring;
    const int L = meta_int(md, arch, "block_count", 0), H = meta_int(md, arch, "attention.head_count", 0);
    const int KVH = meta_int(md, arch, "attention.head_count_kv", H), D = meta_int(md, arch, "embedding_length", 0);
    const int hk = meta_int(md, arch, "attention.key_length", D / H), hv = meta_int(md, arch, "attention.value_length", hk);
    const double bytes = f32 ? 4 : 2;

    r = run_cmd("%s --kv-info --json -m %s -c %d --kv-block %d %s", infer_bin(), model, n_ctx, block, f32 ? "--kv-f32" : "");
    if (r.status) fail_run("--kv-info", &r);
    cJSON *j = cJSON_Parse(r.out);
    assert_non_null(j);
    const double per_tok = L * KVH * (hk + hv) * bytes;
    if (hk == hv) assert_true(per_tok == 2.0 * L * KVH * hk * bytes);
    assert_true(num(j, "bytes_per_token") == per_tok);
    assert_true(num(j, "k_bytes_per_token") == L * KVH * hk * bytes);
    assert_true(num(j, "context_bytes") == per_tok * n_ctx);
    assert_true(num(j, "mha_bytes_per_token") == L * H * (hk + hv) * bytes);
    assert_true(num(j, "mha_context_bytes") == L * H * (hk + hv) * bytes * n_ctx);
    assert_true(rel_close(num(j, "gqa_ratio"), (double)H / KVH, 1e-12));
    const int blocks = (n_ctx + block - 1) / block;
    assert_int_equal((int)num(j, "block_size"), block);
    assert_int_equal((int)num(j, "blocks_per_sequence"), blocks);
    assert_true(num(j, "block_bytes") == per_tok * block);
    assert_true(num(j, "pool_bytes") == per_tok * block * blocks);
    assert_int_equal((int)num(j, "n_ctx"), n_ctx);
    assert_true(num(j, "bytes_per_value") == bytes);
    cJSON_Delete(j);
    run_free(&r);

    /* The text form carries the same numbers. */
    r = run_cmd("%s --kv-info -m %s -c %d --kv-block %d %s", infer_bin(), model, n_ctx, block, f32 ? "--kv-f32" : "");
    if (r.status) fail_run("--kv-info text", &r);
    char want[64];
    snprintf(want, sizeof want, "per token:      %.0f bytes", per_tok);
    if (!strstr(r.out, want)) fail_msg("no '%s' in:\n%s", want, r.out);
    snprintf(want, sizeof want, "%.0f bytes", per_tok * n_ctx);
    assert_non_null(strstr(r.out, want));
    assert_non_null(strstr(r.out, "GQA"));
    run_free(&r);
    cJSON_Delete(info);
}

static void test_kv_info(void **state)
{
    (void)state;
    check_kv_info("models/stories260K.gguf", 2048, 16, false);
    check_kv_info("models/stories260K.gguf", 300, 32, true);
    check_kv_info("models/synthetic/rand-qwen3-q8_0.gguf", 500, 16, false);
    check_kv_info("models/llama-2-tiny-random.gguf", 4096, 64, false); /* MHA: ratio 1 */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bench_markdown),
        cmocka_unit_test(test_bench_json),
        cmocka_unit_test(test_bench_jsonl),
        cmocka_unit_test(test_bench_synthetic),
        cmocka_unit_test(test_bench_roofline),
        cmocka_unit_test(test_bench_depth),
        cmocka_unit_test(test_bench_bad_args),
        cmocka_unit_test(test_ppl_batch_invariance),
        cmocka_unit_test(test_ppl_sane),
        cmocka_unit_test(test_ppl_matches_dump_logits),
        cmocka_unit_test(test_ppl_too_short),
        cmocka_unit_test(test_kv_info),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
