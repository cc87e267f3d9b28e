/*
 * test_cli_edge.c — ./infer ($INFER_BIN) against hostile command lines and
 * environments: empty and oversized prompts, -n 0, bad flag values, unknown
 * and incomplete flags, non-files as models, invalid UTF-8 prompts, stdout
 * closed early, SIGINT mid-generation, huge contexts, broken llama2.c
 * checkpoints and mismatched tokenizers. Each case has an expected exit code
 * and message; errors are one line on stderr.
 */
#include "testutil.h"

#include "forward.h"

#include <stdbool.h>
#include <sys/stat.h>

static const char *infer_bin(void)
{
    const char *b = getenv("INFER_BIN");
    return b && *b ? b : "./infer";
}

static const char *model(void) { return test_data("models/stories260K.gguf"); }

/* The last line of stderr (the error, after any load line). */
static const char *last_line(const char *s)
{
    size_t n = strlen(s);
    while (n && s[n - 1] == '\n') n--;
    while (n && s[n - 1] != '\n') n--;
    return s + n;
}

/* Run "infer ARGS" (ARGS already shell-quoted); expect exit code rc, `want`
 * in stderr, and for errors (rc 1) a single stderr line and nothing on stdout. */
static void expect(const char *args, int rc, const char *want)
{
    struct run_result r = run_cmd("%s %s", infer_bin(), args);
    if (r.status != rc || (want && !strstr(r.err, want)) ||
        (rc == 1 && (count_lines(r.err) != 1 || r.out_len != 0)))
        fail_msg("infer %s: exit %d (want %d), stderr [%s], want [%s]", args, r.status, rc, r.err,
                 want ? want : "");
    run_free(&r);
}

static void test_bad_flags(void **state)
{
    (void)state;
    char a[4096];
    const char *m = model();
    struct { const char *args; const char *want; } cases[] = {
        {"-n abc", "invalid value for -n: 'abc' (expected an integer ≥ -1)"},
        {"-n -2", "invalid value for -n: '-2'"},
        {"-n 99999999999", "invalid value for -n: '99999999999'"},
        {"-n ''", "invalid value for -n: ''"},
        {"-c -1", "invalid value for -c: '-1' (expected an integer from 0 to 16777216)"},
        {"-c 12x", "invalid value for -c: '12x'"},
        {"-c 16777217", "invalid value for -c: '16777217'"},
        {"-c 99999999999999999999", "invalid value for -c"},
        {"-t 0", "invalid value for -t: '0'"},
        {"-b 0", "invalid value for -b: '0'"},
        {"--kv-block 0", "invalid value for --kv-block: '0'"},
        {"--temp -0.5", "invalid value for --temp: '-0.5'"},
        {"--temp nan", "invalid value for --temp: 'nan'"},
        {"--temp inf", "invalid value for --temp: 'inf'"},
        {"--top-p 1.5", "invalid value for --top-p: '1.5' (expected a number from 0 to 1)"},
        {"--top-k -1", "invalid value for --top-k: '-1'"},
        {"--min-p x", "invalid value for --min-p: 'x'"},
        {"--repeat-penalty 0", "invalid value for --repeat-penalty: '0'"},
        {"-s -1", "invalid value for -s: '-1' (expected a non-negative integer)"},
        {"-s ' -1'", "invalid value for -s: ' -1'"},
        {"-s 99999999999999999999999", "invalid value for -s"},
        {"-np 0", "invalid value for -np: '0'"},
        {"--bogus", "unknown option '--bogus' (see infer --help)"},
        {"-x", "unknown option '-x'"},
        {"stray", "unexpected argument 'stray'"},
        {"--info --tokenize", "--tokenize cannot be combined with another mode"},
        {"-p", "-p needs a value"},
        {"-n", "-n needs a value"},
        {"-z", "-z needs a value"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(a, sizeof a, "-m %s %s", m, cases[i].args);
        expect(a, 1, cases[i].want);
    }
    expect("-m", 1, "-m needs a value");
    expect("-p hi", 1, "no model given (use -m MODEL; see infer --help)");
    expect("", 1, "no model given");
    struct run_result r = run_cmd("%s --help", infer_bin());
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "usage: infer"));
    run_free(&r);
}

static void test_not_a_model(void **state)
{
    (void)state;
    char dir[] = "/tmp/infer-edge-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char a[4096], p[1024];
    snprintf(a, sizeof a, "-m %s -p hi", dir);
    expect(a, 1, "is a directory, not a model file");
    snprintf(a, sizeof a, "--info -m %s", dir);
    expect(a, 1, "not a regular file");
    expect("-m /dev/null -p hi", 1, "/dev/null: not a regular file");
    expect("-m /nonexistent/model.gguf -p hi", 1, "/nonexistent/model.gguf: No such file or directory");
    expect("-m /nonexistent/model.bin -p hi", 1, "/nonexistent/model.bin: No such file or directory");
    /* an empty file, and text, under names that are not .gguf: taken for llama2.c */
    snprintf(p, sizeof p, "%s/empty.bin", dir);
    fclose(fopen(p, "w"));
    snprintf(a, sizeof a, "-m %s -p hi", p);
    expect(a, 1, "empty.bin: not a llama2.c checkpoint");
    snprintf(p, sizeof p, "%s/readme.txt", dir);
    FILE *f = fopen(p, "w");
    fputs("This is not a model, it is a text file that is long enough.\n", f);
    fclose(f);
    snprintf(a, sizeof a, "-m %s -p hi", p);
    expect(a, 1, "readme.txt: neither a GGUF file nor a llama2.c checkpoint");
    /* the same empty file named .gguf */
    snprintf(p, sizeof p, "%s/empty.gguf", dir);
    fclose(fopen(p, "w"));
    snprintf(a, sizeof a, "-m %s -p hi", p);
    expect(a, 1, "empty.gguf: file too small to be a GGUF model (0 bytes)");
    /* unreadable (when not root: root reads anything) */
    if (geteuid() != 0) {
        snprintf(p, sizeof p, "%s/secret.gguf", dir);
        fclose(fopen(p, "w"));
        chmod(p, 0);
        snprintf(a, sizeof a, "-m %s -p hi", p);
        expect(a, 1, "Permission denied");
        unlink(p);
    }
    /* a vocab-only GGUF cannot generate */
    snprintf(a, sizeof a, "-m %s -p hi", test_data("models/vocab/ggml-vocab-llama-spm.gguf"));
    expect(a, 1, "no tensors (a vocab-only file?): cannot run it as a model");
    snprintf(p, sizeof p, "%s/empty.bin", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/readme.txt", dir);
    unlink(p);
    snprintf(p, sizeof p, "%s/empty.gguf", dir);
    unlink(p);
    rmdir(dir);
}

static void test_prompts(void **state)
{
    (void)state;
    char a[8192];
    const char *m = model();
    /* empty prompt: BOS alone starts the story */
    struct run_result r = run_cmd("%s -m %s -p '' -n 8 --temp 0", infer_bin(), m);
    assert_int_equal(r.status, 0);
    assert_true(r.out_len > 0);
    run_free(&r);
    /* stdin that is not a terminal and empty: the same */
    r = run_cmd("%s -m %s -n 4 --temp 0 < /dev/null", infer_bin(), m);
    assert_int_equal(r.status, 0);
    run_free(&r);
    snprintf(a, sizeof a, "-m %s -p '' --no-bos -n 4", m);
    expect(a, 1, "empty prompt (and no BOS token to start from)");
    /* longer than the context */
    snprintf(a, sizeof a, "-m %s -c 8 -p 'Once upon a time there was a little girl named Lily'", m);
    expect(a, 1, "more than the context size 8 (use -c)");
    /* exactly the context: the prompt fits, no room to generate */
    r = run_cmd("%s -m %s -c 3 -p 'Once upon' -n 10 --temp 0", infer_bin(), m);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.err, "stop: context full"));
    run_free(&r);
    /* -n 0: the prompt is evaluated, nothing is printed */
    r = run_cmd("%s -m %s -p 'Once upon a time' -n 0", infer_bin(), m);
    assert_int_equal(r.status, 0);
    assert_int_equal(r.out_len, 0);
    assert_non_null(strstr(r.err, "generated 0 tokens"));
    run_free(&r);
    /* --prompt-ids */
    snprintf(a, sizeof a, "-m %s --prompt-ids 1,abc", m);
    expect(a, 1, "--prompt-ids: 'abc' is not a token id in 0..511");
    snprintf(a, sizeof a, "-m %s --prompt-ids 99999", m);
    expect(a, 1, "'99999' is not a token id in 0..511");
    snprintf(a, sizeof a, "-m %s --prompt-ids -5", m);
    expect(a, 1, "is not a token id");
    snprintf(a, sizeof a, "-m %s --prompt-ids ''", m);
    expect(a, 1, "--prompt-ids: no ids given");
    /* prompt files */
    snprintf(a, sizeof a, "-m %s -f /nonexistent/prompt.txt", m);
    expect(a, 1, "/nonexistent/prompt.txt: No such file or directory");
    snprintf(a, sizeof a, "-m %s -f /tmp", m);
    expect(a, 1, "/tmp: cannot read the prompt: Is a directory");
    /* an endless prompt is refused, not read until memory runs out */
    snprintf(a, sizeof a, "-m %s -f /dev/zero", m);
    expect(a, 1, "/dev/zero: cannot read the prompt: larger than 256 MiB");
    snprintf(a, sizeof a, "-m %s <&-", m);
    expect(a, 1, "stdin: cannot read the prompt");
    /* --dump-logits to a path that cannot be written: exit 1, the error last */
    r = run_cmd("%s -m %s -p hi -n 1 --dump-logits /nonexistent/logits.json", infer_bin(), m);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(last_line(r.err), "/nonexistent/logits.json: No such file or directory"));
    run_free(&r);
}

/* Invalid UTF-8 (and NULs, through a file) in the prompt: byte fallback, no
 * crash, and what comes out — echo included — is valid UTF-8. */
static void test_invalid_utf8(void **state)
{
    (void)state;
    const char *m = model();
    struct run_result r = run_cmd("%s -m %s -p \"$(printf '\\377\\376\\300\\200 abc \\355\\240\\200 \\360\\237')\" "
                                  "--echo -n 24 --temp 0", infer_bin(), m);
    if (r.status) fail_msg("exit %d: %s", r.status, r.err);
    assert_true(r.out_len > 8);
    assert_true(valid_utf8((unsigned char *)r.out, r.out_len));
    assert_non_null(strstr(r.out, "\xef\xbf\xbd")); /* the bad bytes come back as U+FFFD */
    run_free(&r);
    char path[] = "/tmp/infer-edge-promptXXXXXX";
    int fd = mkstemp(path);
    static const unsigned char bytes[] = {'O', 'n', 0, 'c', 'e', 0xff, 0x80, 0xc3, ' ', 0xe2, 0x82, '\n', 0xf4, 0x90, 0x80, 0x80};
    assert_int_equal(write(fd, bytes, sizeof bytes), (ssize_t)sizeof bytes);
    close(fd);
    for (int seed = 1; seed <= 3; seed++) {
        r = run_cmd("%s -m %s -f %s --echo -n 32 -s %d", infer_bin(), m, path, seed);
        if (r.status) fail_msg("exit %d: %s", r.status, r.err);
        if (!valid_utf8((unsigned char *)r.out, r.out_len)) fail_msg("invalid UTF-8 on stdout (seed %d)", seed);
        run_free(&r);
    }
    r = run_cmd("%s -m %s -f %s --tokenize", infer_bin(), m, path);
    assert_int_equal(r.status, 0);
    run_free(&r);
    /* the same through a llama2.c tokenizer */
    r = run_cmd("%s -m %s -z %s -f %s --echo -n 16 --temp 0", infer_bin(), test_data("models/stories260K.bin"),
                test_data("models/tok512.bin"), path);
    if (r.status) fail_msg("exit %d: %s", r.status, r.err);
    assert_true(valid_utf8((unsigned char *)r.out, r.out_len));
    run_free(&r);
    unlink(path);
}

/* stdout closed early: generation stops quietly, exit 0. */
static void test_stdout_closed(void **state)
{
    (void)state;
    struct run_result r = run_cmd("bash -c '%s -m %s -p Once -n 2000 --ignore-eos | head -c 20 > /dev/null; "
                                  "echo \"rc=${PIPESTATUS[0]}\"'", infer_bin(), model());
    assert_int_equal(r.status, 0);
    if (!strstr(r.out, "rc=0")) fail_msg("infer's exit: %s; stderr: %s", r.out, r.err);
    if (strstr(r.err, "rror") || strstr(r.err, "Broken pipe") || strstr(r.err, "failed"))
        fail_msg("stderr has an error: %s", r.err);
    assert_non_null(strstr(r.err, "stop: stdout closed"));
    run_free(&r);
    /* stdout closed before the first byte: the same */
    r = run_cmd("bash -c '%s -m %s -p Once -n 50 >&-; echo \"rc=$?\"'", infer_bin(), model());
    if (!strstr(r.out, "rc=0")) fail_msg("closed stdout: %s; stderr: %s", r.out, r.err);
    run_free(&r);
    /* --info and --tokenize into a closed pipe: exit status without a crash */
    r = run_cmd("bash -c '%s --info -m %s | head -c 1 > /dev/null; echo \"rc=${PIPESTATUS[0]}\"'", infer_bin(),
                model());
    assert_true(strstr(r.out, "rc=0") || strstr(r.out, "rc=1"));
    run_free(&r);
}

/* SIGINT mid-generation: the stats line, then exit 130. */
static void test_sigint(void **state)
{
    (void)state;
    struct run_result r = run_cmd("bash -c '%s -m %s -p Once --ignore-eos -n 100000 -c 200000 > /dev/null & "
                                  "pid=$!; sleep 0.5; kill -INT $pid; wait $pid; echo \"rc=$?\"'",
                                  infer_bin(), model());
    if (!strstr(r.out, "rc=130") || !strstr(r.err, "stop: interrupted"))
        fail_msg("stdout [%s] stderr [%s]", r.out, r.err);
    assert_non_null(strstr(r.err, "generated "));
    run_free(&r);
}


/* Huge contexts. The KV cache grows in blocks as tokens arrive, but a pool
 * that could never fit in the memory available is refused up front with the
 * bytes it needs (context_new); one that fits allocates nothing up front —
 * checked under a 2 GB address-space limit when not under ASan (which
 * reserves terabytes of shadow). */
static void test_huge_context(void **state)
{
    (void)state;
    const char *m = model();
    const bool asan = getenv("ASAN_OPTIONS") != NULL;
    const unsigned long long avail = available_memory();
    /* stories260K: 640 bytes per token in F16, 10 GiB for 2^24 tokens */
    struct run_result r = run_cmd("bash -c '%s %s -m %s -c 16777216 -p Once -n 8 --temp 0'",
                                  asan ? "" : "ulimit -v 2000000;", infer_bin(), m);
    if (avail > 10737418240ull + (1ull << 30)) {
        if (r.status) fail_msg("exit %d: %s", r.status, r.err);
        assert_non_null(strstr(r.err, "ctx 16777216"));
    } else if (avail && avail < 10737418240ull - (1ull << 30)) {
        if (r.status != 1 || !strstr(r.err, "needs 10737418240 bytes")) fail_msg("exit %d: %s", r.status, r.err);
    }
    run_free(&r);
    r = run_cmd("%s -m %s --kv-info -c 16777216", infer_bin(), m);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, "10.00 GiB"));
    run_free(&r);
    /* 8 sequences of 2^24 tokens in F32 of a 1 KiB-per-token (F16) model: 256 GiB, refused */
    r = run_cmd("%s -m %s -c 16777216 --kv-f32 -np 8 -p Once -n 2", infer_bin(),
                test_data("models/synthetic/rand-llama-f16.gguf"));
    if (r.status != 1 || !strstr(last_line(r.err), "needs 274877906944 bytes (256.0 GiB)") ||
        !strstr(last_line(r.err), "use a smaller -c") || r.out_len)
        fail_msg("-np 8 -c 16777216 --kv-f32: exit %d: %s", r.status, r.err);
    run_free(&r);
    /* one sequence of the same: 32 GiB, refused unless this machine has it */
    r = run_cmd("%s -m %s -c 16777216 --kv-f32 -p Once -n 2", infer_bin(),
                test_data("models/synthetic/rand-llama-f16.gguf"));
    if (avail && avail < 34359738368ull) {
        if (r.status != 1 || count_lines(r.err) != 1 ||
            !strstr(r.err, "the KV cache for 16777216 token(s) needs 34359738368 bytes (32.0 GiB)"))
            fail_msg("-c 16777216 --kv-f32: exit %d: %s", r.status, r.err);
    } else {
        if (r.status) fail_msg("exit %d: %s", r.status, r.err);
    }
    run_free(&r);
    /* many sequences × huge context × 1-token blocks: block counts past 2^31
     * are refused before anything is sized with them. */
    r = run_cmd("%s -m %s -np 256 -c 16777216 --kv-block 1 -p Once -n 2 --temp 0", infer_bin(), m);
    if (r.status != 1 || count_lines(r.err) != 1 || !strstr(r.err, "KV pool too large"))
        fail_msg("-np 256 -c 16777216 --kv-block 1: exit %d: %s", r.status, r.err);
    run_free(&r);
}

static void copy_prefix(const char *src, const char *dst, size_t n)
{
    size_t len;
    char *b = read_whole(src, &len);
    assert_non_null(b);
    assert_true(n <= len);
    FILE *f = fopen(dst, "wb");
    assert_int_equal(fwrite(b, 1, n, f), n);
    fclose(f);
    free(b);
}

static void test_llama2c(void **state)
{
    (void)state;
    char dir[] = "/tmp/infer-edge-l2cXXXXXX";
    assert_non_null(mkdtemp(dir));
    char p[1024], a[4096];
    const char *tok = test_data("models/tok512.bin");
    /* truncated checkpoint */
    snprintf(p, sizeof p, "%s/cut.bin", dir);
    copy_prefix(test_data("models/stories260K.bin"), p, 500000);
    snprintf(a, sizeof a, "-m %s -z %s -p hi", p, tok);
    expect(a, 1, "truncated llama2.c checkpoint: needs 1056540 bytes, file has 500000");
    /* cut inside the header */
    copy_prefix(test_data("models/stories260K.bin"), p, 20);
    expect(a, 1, "not a llama2.c checkpoint");
    unlink(p);
    /* a tokenizer.bin for another vocabulary (32000 tokens for a 512-token model) */
    snprintf(a, sizeof a, "-m %s -z %s -p hi", test_data("models/stories260K.bin"), test_data("models/tokenizer.bin"));
    expect(a, 1, "tokenizer.bin");
    /* a truncated tokenizer */
    snprintf(p, sizeof p, "%s/tok.bin", dir);
    copy_prefix(tok, p, 3000);
    snprintf(a, sizeof a, "-m %s -z %s -p hi", test_data("models/stories260K.bin"), p);
    expect(a, 1, "truncated llama2.c tokenizer");
    unlink(p);
    /* a missing one, and a GGUF given as the tokenizer */
    snprintf(a, sizeof a, "-m %s -z /nonexistent/tok.bin -p hi", test_data("models/stories260K.bin"));
    expect(a, 1, "/nonexistent/tok.bin: No such file or directory");
    snprintf(a, sizeof a, "-m %s -z %s -p hi", test_data("models/stories260K.bin"), model());
    expect(a, 1, "stories260K.gguf");
    /* a checkpoint whose header is fine but whose vocab differs from the tokenizer's */
    snprintf(a, sizeof a, "-m %s -z %s -p hi", test_data("models/stories260K.bin"), test_data("models/tokenizer.bin"));
    expect(a, 1, NULL);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_flags),
        cmocka_unit_test(test_not_a_model),
        cmocka_unit_test(test_prompts),
        cmocka_unit_test(test_invalid_utf8),
        cmocka_unit_test(test_stdout_closed),
        cmocka_unit_test(test_sigint),
        cmocka_unit_test(test_huge_context),
        cmocka_unit_test(test_llama2c),
    };
    return cmocka_run_group_tests_name("cli_edge", tests, NULL, NULL);
}
