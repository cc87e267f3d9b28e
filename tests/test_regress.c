/*
 * test_regress.c — replays the fuzzers' regression inputs (every file in
 * fuzz/regress/TARGET/: inputs that once crashed or broke an invariant, and hand-made
 * ones for fixed bugs) through the same entry points as the libFuzzer targets
 * (fuzz/fuzz_*.c, compiled in here), so that `make test` / `make SAN=1 test`
 * keep them fixed. $INFER_FUZZ_REGRESS overrides the fuzz/regress directory.
 */
#define _GNU_SOURCE /* memfd_create, memmem (fuzz/) */
#include "testutil.h"

#include <dirent.h>
#include <stdbool.h>

/* A broken invariant fails the test instead of aborting. */
#define FUZZ_FAIL(...) fail_msg(__VA_ARGS__)
#define FUZZ_NO_MAIN
#include "../fuzz/fuzz_gguf.c"
#include "../fuzz/fuzz_llama2c.c"
#include "../fuzz/fuzz_tokenizer.c"

static const char *regress_dir(void)
{
    const char *d = getenv("INFER_FUZZ_REGRESS");
    return d && *d ? d : "fuzz/regress";
}

/* Run every file of regress/<target>/ through fn; returns how many. */
static int replay(const char *target, int (*fn)(const uint8_t *, size_t))
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/%s", regress_dir(), target);
    DIR *d = opendir(dir);
    if (!d) fail_msg("%s: cannot open (run the tests from the repository root)", dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || strstr(e->d_name, ".md")) continue;
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        size_t len = 0;
        char *data = read_whole(path, &len);
        if (!data) fail_msg("%s: cannot read", path);
        /* an exact-size copy, so ASan sees reads past the input's end */
        uint8_t *copy = malloc(len ? len : 1);
        memcpy(copy, data, len);
        free(data);
        print_message("%s (%zu bytes)\n", path, len);
        fn(copy, len);
        free(copy);
        n++;
    }
    closedir(d);
    return n;
}

static void test_gguf(void **state)
{
    (void)state;
    assert_true(replay("gguf", fuzz_gguf_input) > 0);
}

static void test_tokenizer(void **state)
{
    (void)state;
    assert_true(replay("tokenizer", fuzz_tokenizer_input) > 0);
    fuzz_tokenizer_free_all();
}

static void test_llama2c(void **state)
{
    (void)state;
    assert_true(replay("llama2c", fuzz_llama2c_input) > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gguf),
        cmocka_unit_test(test_tokenizer),
        cmocka_unit_test(test_llama2c),
    };
    return cmocka_run_group_tests_name("fuzz regressions", tests, NULL, NULL);
}
