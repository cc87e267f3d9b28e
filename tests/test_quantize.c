/*
 * test_quantize.c — infer-quantize against llama-quantize: the Q8_0, Q4_0 and
 * Q4_K_M files it writes from rand-llama-f32.gguf hold, tensor for tensor,
 * the same types and bytes as the reference files made by llama-quantize,
 * and they load and run in infer. Expects ./infer-quantize and ./infer.
 */
#include "testutil.h"

#include "gguf.h"

static char tmpdir[64];

static int setup(void **state)
{
    (void)state;
    strcpy(tmpdir, "/tmp/infer-quantXXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    struct run_result r = run_cmd("rm -rf %s", tmpdir);
    run_free(&r);
    return 0;
}

/* Quantize rand-llama-f32 to `type` and compare every tensor with `reference`. */
static void check_identical(const char *type, const char *reference)
{
    char out[256];
    snprintf(out, sizeof out, "%s/%s.gguf", tmpdir, type);
    struct run_result r = run_cmd("./infer-quantize %s %s %s", test_data("models/synthetic/rand-llama-f32.gguf"), out, type);
    if (r.status) fail_msg("infer-quantize %s: exit %d: %s", type, r.status, r.err);
    run_free(&r);
    char err[512];
    struct gguf_file *a = gguf_open(out, err, sizeof err);
    if (!a) fail_msg("%s", err);
    struct gguf_file *b = gguf_open(test_data(reference), err, sizeof err);
    assert_non_null(b);
    assert_int_equal(a->n_tensors, b->n_tensors);
    for (uint64_t i = 0; i < a->n_tensors; i++) {
        const struct gguf_tensor *t = &a->tensors[i];
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.ptr);
        const struct gguf_tensor *u = gguf_find_tensor(b, name);
        if (!u) fail_msg("%s: tensor %s missing in the reference", type, name);
        if (t->type != u->type)
            fail_msg("%s: %s is %s, llama-quantize wrote %s", type, name, type_traits(t->type)->name,
                     type_traits(u->type)->name);
        assert_int_equal(t->nbytes, u->nbytes);
        if (memcmp(t->data, u->data, t->nbytes)) fail_msg("%s: %s (%s) bytes differ", type, name, type_traits(t->type)->name);
    }
    int64_t ftype_a = -1, ftype_b = -2;
    gguf_get_int(a, "general.file_type", &ftype_a);
    gguf_get_int(b, "general.file_type", &ftype_b);
    assert_int_equal(ftype_a, ftype_b);
    gguf_close(a);
    gguf_close(b);
    /* The file runs: its prompt logits are those of the reference file. */
    r = run_cmd("./infer -m %s --prompt-ids 1,385,328,432 -n 8 --temp 0", out);
    assert_int_equal(r.status, 0);
    struct run_result ref = run_cmd("./infer -m %s --prompt-ids 1,385,328,432 -n 8 --temp 0", test_data(reference));
    assert_string_equal(r.out, ref.out);
    run_free(&r);
    run_free(&ref);
}

static void test_q8_0(void **state) { (void)state; check_identical("q8_0", "models/synthetic/rand-llama-q8_0.gguf"); }
static void test_q4_0(void **state) { (void)state; check_identical("q4_0", "models/synthetic/rand-llama-q4_0.gguf"); }
static void test_q4_k_m(void **state) { (void)state; check_identical("q4_k_m", "models/synthetic/rand-llama-q4_k_m.gguf"); }

/* Does the line of `text` that starts with `start` contain `what`? */
static bool line_has(const char *text, const char *start, const char *what)
{
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (strncmp(p, start, strlen(start))) continue;
        const char *end = strchr(p, '\n');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        char line[512];
        snprintf(line, sizeof line, "%.*s", (int)n, p);
        return strstr(line, what) != NULL;
    }
    return false;
}

/* stories260K's ffn_down rows (172) fit no 32-block: they fall back to F16,
 * norms stay F32, and the quantized model still tells the same story start. */
static void test_fallback_and_quality(void **state)
{
    (void)state;
    char out[256];
    snprintf(out, sizeof out, "%s/stories-q8_0.gguf", tmpdir);
    struct run_result r = run_cmd("./infer-quantize %s %s q8_0", test_data("models/stories260K.gguf"), out);
    assert_int_equal(r.status, 0);
    assert_true(line_has(r.err, "blk.0.ffn_down.weight ", "-> F16 "));
    assert_true(line_has(r.err, "blk.0.attn_norm.weight ", "-> F32 "));
    assert_true(line_has(r.err, "blk.0.ffn_up.weight ", "-> Q8_0 "));
    run_free(&r);
    r = run_cmd("./infer -m %s -p 'Once upon a time' -n 12 --temp 0", out);
    assert_int_equal(r.status, 0);
    assert_true(strncmp(r.out, ", there was a little girl", 25) == 0);
    run_free(&r);
    r = run_cmd("./infer-quantize %s %s/x.gguf q9_9", test_data("models/stories260K.gguf"), tmpdir);
    assert_int_equal(r.status, 2);
    assert_non_null(strstr(r.err, "unknown type"));
    run_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_q8_0),
        cmocka_unit_test(test_q4_0),
        cmocka_unit_test(test_q4_k_m),
        cmocka_unit_test(test_fallback_and_quality),
    };
    return cmocka_run_group_tests_name("quantize", tests, setup, teardown);
}
