/*
 * test_tokenizer.c — tokenizers against llama.cpp's tokenizer test vectors
 * (models/vocab/ggml-vocab-*.gguf with .inp/.out), the golden prompts, the
 * llama2.c tokenizer files, the streaming detokenizer and hostile input.
 */
#define _GNU_SOURCE
#include <math.h>
#include <time.h>

#include "testutil.h"

#include "gguf.h"
#include "tok_internal.h"
#include "tokenizer.h"

/* ------------------------------------------------------------ helpers */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static struct tokenizer *load_vocab_path(const char *path)
{
    char err[512];
    struct gguf_file *f = gguf_open(path, err, sizeof err);
    if (!f) fail_msg("%s", err);
    struct tokenizer *t = tokenizer_load_gguf(f, err, sizeof err);
    gguf_close(f);
    if (!t) fail_msg("%s", err);
    return t;
}

static struct tokenizer *load_vocab(const char *name)
{
    char rel[256];
    snprintf(rel, sizeof rel, "models/vocab/ggml-vocab-%s.gguf", name);
    return load_vocab_path(test_data(rel));
}

static int32_t *enc(const struct tokenizer *t, const char *s, size_t len, bool bos, bool special,
                    size_t *n)
{
    int32_t *ids = tokenizer_encode(t, s, len, bos, special, n);
    assert_non_null(ids);
    return ids;
}

/* Concatenated tokenizer_token_bytes of ids (raw, no UTF-8 repair). */
static char *raw_decode(const struct tokenizer *t, const int32_t *ids, size_t n, size_t *len)
{
    size_t cap = 64, l = 0;
    char *out = malloc(cap);
    for (size_t i = 0; i < n; i++) {
        size_t k = tokenizer_token_bytes(t, ids[i], NULL, 0);
        while (l + k + 1 > cap) out = realloc(out, cap *= 2);
        tokenizer_token_bytes(t, ids[i], out + l, k);
        l += k;
    }
    out[l] = 0;
    *len = l;
    return out;
}

/* Streaming decode of ids; output is always valid UTF-8. */
static char *stream_decode(const struct tokenizer *t, const int32_t *ids, size_t n, bool strip,
                           size_t *len)
{
    struct detokenizer d;
    detok_init(&d, t, strip);
    size_t piece = 64 + tokenizer_max_token_bytes(t);
    size_t cap = piece * (n + 2) + 16, l = 0;
    char *out = malloc(cap);
    for (size_t i = 0; i < n; i++) l += detok_push(&d, ids[i], out + l, piece);
    l += detok_flush(&d, out + l, cap - l);
    out[l] = 0;
    *len = l;
    return out;
}

static void fmt_ids(char *buf, size_t cap, const int32_t *ids, size_t n)
{
    size_t o = 0;
    buf[0] = 0;
    for (size_t i = 0; i < n && o + 16 < cap; i++) o += (size_t)snprintf(buf + o, cap - o, "%s%d", i ? " " : "", ids[i]);
}

static void c_escape(char *buf, size_t cap, const char *s, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 8 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n') o += (size_t)snprintf(buf + o, cap - o, "\\n");
        else if (c == '\t') o += (size_t)snprintf(buf + o, cap - o, "\\t");
        else if (c < 0x20) o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", c);
        else buf[o++] = (char)c;
    }
    buf[o] = 0;
}

/* ------------------------------------------------ llama.cpp test vectors */

struct cases {
    char *inp, *out;
    char **text;
    size_t *len;
    int32_t **ids;
    size_t *n_ids;
    int n;
};

static void cases_free(struct cases *c)
{
    for (int i = 0; i < c->n; i++) free(c->ids[i]);
    free(c->text);
    free(c->len);
    free(c->ids);
    free(c->n_ids);
    free(c->inp);
    free(c->out);
}

/* test-tokenizer-0's reading: inputs separated by "\n__ggml_vocab_test__\n",
 * one line of ids per input. */
static struct cases read_cases(const char *name)
{
    struct cases c = {0};
    char rel[256];
    size_t il = 0, ol = 0;
    snprintf(rel, sizeof rel, "models/vocab/ggml-vocab-%s.gguf.inp", name);
    c.inp = read_whole(test_data(rel), &il);
    snprintf(rel, sizeof rel, "models/vocab/ggml-vocab-%s.gguf.out", name);
    c.out = read_whole(test_data(rel), &ol);
    assert_non_null(c.inp);
    assert_non_null(c.out);
    const char *sep = "\n__ggml_vocab_test__\n";
    size_t sl = strlen(sep);
    int cap = 64;
    c.text = malloc(cap * sizeof *c.text);
    c.len = malloc(cap * sizeof *c.len);
    for (size_t pos = 0; pos < il;) {
        char *q = memmem(c.inp + pos, il - pos, sep, sl);
        size_t end = q ? (size_t)(q - c.inp) : il;
        if (c.n == cap) {
            cap *= 2;
            c.text = realloc(c.text, cap * sizeof *c.text);
            c.len = realloc(c.len, cap * sizeof *c.len);
        }
        c.text[c.n] = c.inp + pos;
        c.len[c.n] = end - pos;
        c.n++;
        if (!q) break;
        pos = end + sl;
    }
    c.ids = calloc(c.n, sizeof *c.ids);
    c.n_ids = calloc(c.n, sizeof *c.n_ids);
    char *line = c.out;
    for (int i = 0; i < c.n; i++) {
        assert_true(line < c.out + ol + 1);
        char *eol = strchr(line, '\n');
        if (eol) *eol = 0;
        c.ids[i] = malloc((strlen(line) / 2 + 2) * sizeof(int32_t));
        char *p = line, *e;
        for (;;) {
            long v = strtol(p, &e, 10);
            if (e == p) break;
            c.ids[i][c.n_ids[i]++] = (int32_t)v;
            p = e;
        }
        line = eol ? eol + 1 : line + strlen(line);
    }
    return c;
}

/* Every case must give exactly llama.cpp's ids (add_special = false,
 * parse_special = false, as test-tokenizer-0 ran them), and decode back. */
static void check_vocab(const char *name)
{
    struct tokenizer *t = load_vocab(name);
    struct cases c = read_cases(name);
    int bad = 0, bad_rt = 0;
    bool spm = strcmp(tokenizer_model(t), "llama") == 0;
    for (int i = 0; i < c.n; i++) {
        size_t n;
        int32_t *ids = enc(t, c.text[i], c.len[i], false, false, &n);
        bool same = n == c.n_ids[i] && (n == 0 || memcmp(ids, c.ids[i], n * sizeof *ids) == 0);
        if (!same) {
            char txt[512], want[2048], got[2048];
            c_escape(txt, sizeof txt, c.text[i], c.len[i]);
            fmt_ids(want, sizeof want, c.ids[i], c.n_ids[i]);
            fmt_ids(got, sizeof got, ids, n);
            print_error("%s case %d \"%s\":\n  expected: %s\n  got:      %s\n", name, i, txt, want, got);
            bad++;
        }
        size_t dl;
        char *dec = stream_decode(t, ids, n, spm && tokenizer_add_space_prefix(t), &dl);
        if (dl != c.len[i] || memcmp(dec, c.text[i], dl) != 0) {
            char txt[512], back[512];
            c_escape(txt, sizeof txt, c.text[i], c.len[i]);
            c_escape(back, sizeof back, dec, dl);
            print_error("%s case %d round trip: \"%s\" -> \"%s\"\n", name, i, txt, back);
            bad_rt++;
        }
        free(dec);
        free(ids);
    }
    print_message("%-15s %d/%d cases match llama.cpp, %d/%d round-trip\n", name, c.n - bad, c.n,
                  c.n - bad_rt, c.n);
    int n = c.n;
    cases_free(&c);
    tokenizer_free(t);
    assert_int_equal(n, 46);
    assert_int_equal(bad, 0);
    assert_int_equal(bad_rt, 0);
}

static void test_vocab_llama_spm(void **s) { (void)s; check_vocab("llama-spm"); }
static void test_vocab_phi3(void **s) { (void)s; check_vocab("phi-3"); }
static void test_vocab_gpt2(void **s) { (void)s; check_vocab("gpt-2"); }
static void test_vocab_starcoder(void **s) { (void)s; check_vocab("starcoder"); }
static void test_vocab_falcon(void **s) { (void)s; check_vocab("falcon"); }
static void test_vocab_deepseek_llm(void **s) { (void)s; check_vocab("deepseek-llm"); }
static void test_vocab_deepseek_coder(void **s) { (void)s; check_vocab("deepseek-coder"); }
static void test_vocab_mpt(void **s) { (void)s; check_vocab("mpt"); }
static void test_vocab_refact(void **s) { (void)s; check_vocab("refact"); }

static const char *const sample_texts[] = {
    "Hello world",
    " Hello, world! How are you?",
    "   leading and trailing spaces   ",
    "tabs\tand\nnewlines\r\n\n",
    "numbers 1234567890 and 3.14159",
    "unicode: caf\xc3\xa9, na\xc3\xafve, \xe4\xb8\xad\xe6\x96\x87, \xf0\x9f\xa6\x99, \xd0\xbf\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82",
    "code: int main(void) { return 0; }",
    "",
    " ",
    "\n",
};

/* No test vectors: load, encode, decode back. */
static void check_round_trip(const char *name)
{
    struct tokenizer *t = load_vocab(name);
    bool spm = strcmp(tokenizer_model(t), "llama") == 0;
    for (size_t i = 0; i < sizeof sample_texts / sizeof *sample_texts; i++) {
        const char *s = sample_texts[i];
        size_t n, dl;
        int32_t *ids = enc(t, s, strlen(s), false, false, &n);
        if (strlen(s) > 0) assert_true(n > 0);
        char *dec = stream_decode(t, ids, n, spm, &dl);
        if (dl != strlen(s) || memcmp(dec, s, dl) != 0) fail_msg("%s: \"%s\" decoded as \"%s\"", name, s, dec);
        free(dec);
        free(ids);
    }
    tokenizer_free(t);
}

static void test_baichuan(void **s) { (void)s; check_round_trip("baichuan"); }
static void test_gpt_neox(void **s) { (void)s; check_round_trip("gpt-neox"); }

static void test_bert_unsupported(void **s)
{
    (void)s;
    char err[512];
    struct gguf_file *f = gguf_open(test_data("models/vocab/ggml-vocab-bert-bge.gguf"), err, sizeof err);
    assert_non_null(f);
    struct tokenizer *t = tokenizer_load_gguf(f, err, sizeof err);
    gguf_close(f);
    assert_null(t);
    assert_non_null(strstr(err, "unsupported tokenizer model 'bert'"));
    assert_non_null(strstr(err, "ggml-vocab-bert-bge.gguf: "));
}

/* ----------------------------------------------------- golden prompts */

static int32_t *json_ids(cJSON *j, const char *key, size_t *n)
{
    cJSON *a = cJSON_GetObjectItem(j, key);
    assert_non_null(a);
    *n = (size_t)cJSON_GetArraySize(a);
    int32_t *ids = malloc((*n + 1) * sizeof *ids);
    for (size_t i = 0; i < *n; i++) ids[i] = (int32_t)cJSON_GetArrayItem(a, (int)i)->valuedouble;
    return ids;
}

/* The golden prompt decodes to some text; encoding that text with BOS must
 * give the prompt ids back. Returns the decoded text. */
static char *check_golden(const struct tokenizer *t, const char *json)
{
    cJSON *j = read_json(test_data(json));
    assert_non_null(j);
    size_t n, dl, m;
    int32_t *want = json_ids(j, "prompt_ids", &n);
    cJSON_Delete(j);
    assert_true(n >= 2);
    assert_int_equal(want[0], tokenizer_bos(t));
    char *text = stream_decode(t, want, n, true, &dl);
    int32_t *got = enc(t, text, dl, tokenizer_add_bos(t), false, &m);
    char a[1024], b[1024];
    fmt_ids(a, sizeof a, want, n);
    fmt_ids(b, sizeof b, got, m);
    if (strcmp(a, b) != 0) fail_msg("%s: \"%s\" encodes as %s, golden %s", json, text, b, a);
    free(want);
    free(got);
    return text;
}

static void test_stories260k(void **s)
{
    (void)s;
    struct tokenizer *t = load_vocab_path(test_data("models/stories260K.gguf"));
    assert_int_equal(tokenizer_n_vocab(t), 512);
    assert_int_equal(tokenizer_bos(t), 1);
    assert_int_equal(tokenizer_eos(t), 2);
    assert_true(tokenizer_add_bos(t));
    size_t n;
    int32_t *ids = enc(t, "Once upon a time", 16, true, false, &n);
    const int32_t want[] = {1, 403, 407, 261, 378};
    assert_int_equal(n, 5);
    assert_memory_equal(ids, want, sizeof want);
    free(ids);
    char *text = check_golden(t, "golden/stories260K.once.json");
    assert_string_equal(text, "Once upon a time");
    free(text);
    free(check_golden(t, "golden/stories260K.tom.json"));
    assert_true(tokenizer_is_eog(t, 2));
    assert_false(tokenizer_is_eog(t, 1));
    assert_false(tokenizer_is_eog(t, 403));
    assert_false(tokenizer_is_eog(t, -1));
    assert_false(tokenizer_is_eog(t, 512));
    tokenizer_free(t);
}

static void test_tinystories_656k(void **s)
{
    (void)s;
    struct tokenizer *t = load_vocab_path(test_data("models/TinyStories-656K.f16.gguf"));
    assert_int_equal(tokenizer_n_vocab(t), 2048);
    /* all scores -1000, no byte tokens, "▁" as a suffix */
    size_t n;
    int32_t *ids = enc(t, "Once upon a time", 16, true, false, &n);
    const int32_t want[] = {1, 80, 147, 201, 282, 57};
    assert_int_equal(n, 6);
    assert_memory_equal(ids, want, sizeof want);
    free(ids);
    char *text = check_golden(t, "golden/TinyStories-656K.f16.bird.json");
    print_message("TinyStories-656K bird prompt: \"%s\"\n", text);
    assert_true(strncmp(text, "Once upon a time", 16) == 0);
    free(text);
    /* no byte tokens: a character outside the vocab becomes <unk> */
    ids = enc(t, "\xe4\xb8\xad", 3, false, false, &n);
    assert_int_equal(n, 2);
    assert_int_equal(ids[1], 0);
    free(ids);
    tokenizer_free(t);
}

static void test_llama2_tiny_random(void **s)
{
    (void)s;
    struct tokenizer *t = load_vocab_path(test_data("models/llama-2-tiny-random.gguf"));
    assert_int_equal(tokenizer_n_vocab(t), 32000);
    free(check_golden(t, "golden/llama-2-tiny-random.once.json"));
    tokenizer_free(t);
}

/* ------------------------------------------------- llama2.c tokenizers */

static void same_vocab(const struct tokenizer *a, const struct tokenizer *b)
{
    assert_int_equal(tokenizer_n_vocab(a), tokenizer_n_vocab(b));
    for (int i = 0; i < tokenizer_n_vocab(a); i++)
        if (strcmp(tokenizer_piece(a, i), tokenizer_piece(b, i)) != 0)
            fail_msg("token %d: '%s' vs '%s'", i, tokenizer_piece(a, i), tokenizer_piece(b, i));
    assert_int_equal(tokenizer_bos(a), tokenizer_bos(b));
    assert_int_equal(tokenizer_eos(a), tokenizer_eos(b));
}

static void test_llama2c_tok512(void **s)
{
    (void)s;
    char err[512];
    struct tokenizer *bin = tokenizer_load_llama2c(test_data("models/tok512.bin"), 512, err, sizeof err);
    if (!bin) fail_msg("%s", err);
    struct tokenizer *gg = load_vocab_path(test_data("models/stories260K.gguf"));
    same_vocab(bin, gg);
    struct cases c = read_cases("llama-spm");
    for (int i = 0; i < c.n; i++) {
        size_t n1, n2;
        int32_t *x = enc(bin, c.text[i], c.len[i], true, false, &n1);
        int32_t *y = enc(gg, c.text[i], c.len[i], true, false, &n2);
        assert_int_equal(n1, n2);
        assert_memory_equal(x, y, n1 * sizeof *x);
        free(x);
        free(y);
    }
    cases_free(&c);
    size_t n;
    int32_t *ids = enc(bin, "Once upon a time", 16, true, false, &n);
    const int32_t want[] = {1, 403, 407, 261, 378};
    assert_int_equal(n, 5);
    assert_memory_equal(ids, want, sizeof want);
    free(ids);
    /* n_vocab <= 0: as many tokens as the file holds */
    struct tokenizer *all = tokenizer_load_llama2c(test_data("models/tok512.bin"), 0, err, sizeof err);
    assert_non_null(all);
    assert_int_equal(tokenizer_n_vocab(all), 512);
    tokenizer_free(all);
    tokenizer_free(bin);
    tokenizer_free(gg);
}

static void test_llama2c_tokenizer_bin(void **s)
{
    (void)s;
    char err[512];
    struct tokenizer *bin = tokenizer_load_llama2c(test_data("models/tokenizer.bin"), 32000, err, sizeof err);
    if (!bin) fail_msg("%s", err);
    struct tokenizer *gg = load_vocab_path(test_data("models/llama-2-tiny-random.gguf"));
    same_vocab(bin, gg);
    tokenizer_free(gg);
    /* the Llama 2 vocab: llama.cpp's llama-spm test vectors hold for it too */
    struct cases c = read_cases("llama-spm");
    for (int i = 0; i < c.n; i++) {
        size_t n;
        int32_t *x = enc(bin, c.text[i], c.len[i], false, false, &n);
        assert_int_equal(n, c.n_ids[i]);
        if (n) assert_memory_equal(x, c.ids[i], n * sizeof *x);
        free(x);
    }
    cases_free(&c);
    tokenizer_free(bin);
}

static void test_llama2c_aidreams(void **s)
{
    (void)s;
    char err[512];
    struct tokenizer *t =
        tokenizer_load_llama2c(test_data("models/aidreams260K_tok512.bin"), 512, err, sizeof err);
    if (!t) fail_msg("%s", err);
    size_t n;
    int32_t *ids = enc(t, "dream", 5, true, false, &n);
    const int32_t want[] = {1, 281, 269, 435, 447};
    assert_int_equal(n, 5);
    assert_memory_equal(ids, want, sizeof want);
    free(ids);
    tokenizer_free(t);
}

static char *write_tmp(const void *data, size_t n)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/infer-tok-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, n), (ssize_t)n);
    close(fd);
    return path;
}

static void test_llama2c_malformed(void **s)
{
    (void)s;
    char err[512];
    size_t size = 0;
    char *data = read_whole(test_data("models/tok512.bin"), &size);
    assert_non_null(data);
    /* truncated anywhere */
    const size_t cuts[] = {0, 2, 4, 7, 8, 11, 12, 100, size / 2, size - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        char *p = write_tmp(data, cuts[i]);
        struct tokenizer *t = tokenizer_load_llama2c(p, 512, err, sizeof err);
        unlink(p);
        assert_null(t);
        assert_non_null(strstr(err, "truncated"));
        assert_null(strchr(err, '\n'));
        t = tokenizer_load_llama2c(p, 0, err, sizeof err); /* also gone: a clean error */
        assert_null(t);
    }
    /* n_vocab mismatch both ways */
    char *p = write_tmp(data, size);
    assert_null(tokenizer_load_llama2c(p, 513, err, sizeof err));
    assert_non_null(strstr(err, "truncated"));
    assert_null(tokenizer_load_llama2c(p, 511, err, sizeof err));
    assert_non_null(strstr(err, "vocab size"));
    unlink(p);
    /* a negative / oversized token length */
    char *bad = malloc(size);
    memcpy(bad, data, size);
    int32_t neg = -5;
    memcpy(bad + 8, &neg, 4); /* token 0's length */
    p = write_tmp(bad, size);
    assert_null(tokenizer_load_llama2c(p, 512, err, sizeof err));
    assert_non_null(strstr(err, "length"));
    unlink(p);
    int32_t big = 1000;
    memcpy(bad + 8, &big, 4);
    p = write_tmp(bad, size);
    assert_null(tokenizer_load_llama2c(p, 512, err, sizeof err));
    unlink(p);
    /* a silly max_token_length */
    memcpy(bad, data, size);
    memcpy(bad, &neg, 4);
    p = write_tmp(bad, size);
    assert_null(tokenizer_load_llama2c(p, 512, err, sizeof err));
    unlink(p);
    assert_null(tokenizer_load_llama2c("/nonexistent/tokenizer.bin", 512, err, sizeof err));
    assert_non_null(strstr(err, "/nonexistent/tokenizer.bin: "));
    free(bad);
    free(data);
}

/* ------------------------------------------------------- special tokens */

static void test_parse_special(void **s)
{
    (void)s;
    struct tokenizer *t = load_vocab("gpt-2");
    const char *txt = "Hello<|endoftext|>world";
    size_t n;
    int32_t *ids = enc(t, txt, strlen(txt), false, true, &n);
    const int32_t want[] = {15496, 50256, 6894};
    assert_int_equal(n, 3);
    assert_memory_equal(ids, want, sizeof want);
    free(ids);
    ids = enc(t, txt, strlen(txt), false, false, &n);
    assert_true(n > 3);
    for (size_t i = 0; i < n; i++) assert_int_not_equal(ids[i], 50256);
    size_t dl;
    char *dec = raw_decode(t, ids, n, &dl);
    assert_string_equal(dec, txt);
    free(dec);
    free(ids);
    assert_int_equal(tokenizer_find(t, "<|endoftext|>"), 50256);
    assert_int_equal(tokenizer_find(t, "no such token"), -1);
    assert_true(tokenizer_is_eog(t, 50256));
    assert_false(tokenizer_add_bos(t));
    /* control tokens print as nothing */
    assert_int_equal(tokenizer_token_bytes(t, 50256, NULL, 0), 0);
    tokenizer_free(t);

    /* SPM: "<s>" as a token or as text; a space prefix after a special token */
    t = load_vocab("llama-spm");
    ids = enc(t, "<s>Hello", 8, false, true, &n);
    assert_true(n >= 2);
    assert_int_equal(ids[0], 1);
    assert_string_equal(tokenizer_piece(t, ids[1]), "\xe2\x96\x81Hello");
    free(ids);
    ids = enc(t, "<s>Hello", 8, false, false, &n);
    for (size_t i = 0; i < n; i++) assert_int_not_equal(ids[i], 1);
    free(ids);
    tokenizer_free(t);

    /* phi-3: <|user|> is one token, and (like llama.cpp) eats the newline after it */
    t = load_vocab("phi-3");
    ids = enc(t, "<|user|>\nHi<|end|>", 18, true, true, &n);
    assert_true(n >= 4);
    assert_int_equal(ids[0], 1);
    assert_int_equal(ids[1], tokenizer_find(t, "<|user|>"));
    assert_int_equal(ids[n - 1], tokenizer_find(t, "<|end|>"));
    assert_true(tokenizer_is_eog(t, tokenizer_find(t, "<|end|>")));
    assert_true(tokenizer_is_eog(t, tokenizer_find(t, "<|endoftext|>")));
    assert_false(tokenizer_is_eog(t, tokenizer_find(t, "<|user|>")));
    free(ids);
    tokenizer_free(t);

    /* deepseek-llm: user-defined tokens are cut out even without parse_special */
    t = load_vocab("deepseek-llm");
    ids = enc(t, "\xc3\xb8", 2, false, false, &n);
    assert_int_equal(n, 1);
    assert_int_equal(ids[0], 100002);
    free(ids);
    tokenizer_free(t);
}

/* ----------------------------------------------------------- detokenizer */

static void test_detok_stream(void **s)
{
    (void)s;
    struct tokenizer *t = load_vocab_path(test_data("models/stories260K.gguf"));
    int32_t b[256];
    char name[8];
    for (int i = 0; i < 256; i++) {
        snprintf(name, sizeof name, "<0x%02X>", i);
        b[i] = tokenizer_find(t, name);
        assert_true(b[i] >= 0);
        char c;
        assert_int_equal(tokenizer_token_bytes(t, b[i], &c, 1), 1);
        assert_int_equal((unsigned char)c, i);
    }
    char out[256];
    struct detokenizer d;
    /* € = E2 82 AC, split over three byte tokens: nothing until complete */
    detok_init(&d, t, false);
    assert_int_equal(detok_push(&d, b[0xE2], out, sizeof out), 0);
    assert_int_equal(detok_push(&d, b[0x82], out, sizeof out), 0);
    assert_int_equal(detok_push(&d, b[0xAC], out, sizeof out), 3);
    assert_memory_equal(out, "\xe2\x82\xac", 3);
    assert_int_equal(detok_flush(&d, out, sizeof out), 0);
    /* a lone continuation byte, an invalid lead byte */
    assert_int_equal(detok_push(&d, b[0x80], out, sizeof out), 3);
    assert_memory_equal(out, "\xef\xbf\xbd", 3);
    assert_int_equal(detok_push(&d, b[0xFF], out, sizeof out), 3);
    assert_memory_equal(out, "\xef\xbf\xbd", 3);
    /* an interrupted sequence: U+FFFD, then the byte itself */
    assert_int_equal(detok_push(&d, b[0xF0], out, sizeof out), 0);
    assert_int_equal(detok_push(&d, b[0x9F], out, sizeof out), 0);
    assert_int_equal(detok_push(&d, b['A'], out, sizeof out), 4);
    assert_memory_equal(out, "\xef\xbf\xbd" "A", 4);
    /* overlong and surrogate starts */
    assert_int_equal(detok_push(&d, b[0xC0], out, sizeof out), 3);
    assert_int_equal(detok_push(&d, b[0xED], out, sizeof out), 0);
    assert_int_equal(detok_push(&d, b[0xA0], out, sizeof out), 6);
    assert_memory_equal(out, "\xef\xbf\xbd\xef\xbf\xbd", 6);
    /* incomplete at the end: flushed as U+FFFD */
    assert_int_equal(detok_push(&d, b[0xE2], out, sizeof out), 0);
    assert_int_equal(detok_flush(&d, out, sizeof out), 3);
    assert_memory_equal(out, "\xef\xbf\xbd", 3);
    /* out-of-range ids */
    assert_int_equal(detok_push(&d, -1, out, sizeof out), 0);
    assert_int_equal(detok_push(&d, 512, out, sizeof out), 0);
    assert_int_equal(tokenizer_token_bytes(t, -1, out, sizeof out), 0);
    assert_int_equal(tokenizer_token_bytes(t, 512, out, sizeof out), 0);
    assert_int_equal(tokenizer_token_bytes(t, INT32_MAX, out, sizeof out), 0);
    assert_string_equal(tokenizer_piece(t, 99999), "");
    /* too small a buffer: nothing is cut in half */
    detok_init(&d, t, false);
    assert_int_equal(detok_push(&d, b[0xFF], out, 2), 0);

    /* leading space: stripped once, after BOS */
    size_t n, dl;
    int32_t *ids = enc(t, "Once upon a time", 16, true, false, &n);
    char *dec = stream_decode(t, ids, n, true, &dl);
    assert_string_equal(dec, "Once upon a time");
    free(dec);
    dec = stream_decode(t, ids, n, false, &dl);
    assert_string_equal(dec, " Once upon a time");
    free(dec);
    free(ids);

    /* random id streams never produce invalid UTF-8 */
    srand(7);
    int32_t *rnd = malloc(20000 * sizeof *rnd);
    for (int i = 0; i < 20000; i++) rnd[i] = rand() % 600 - 40; /* some out of range */
    dec = stream_decode(t, rnd, 20000, true, &dl);
    assert_true(valid_utf8((unsigned char *)dec, dl));
    free(dec);
    free(rnd);
    tokenizer_free(t);

    /* BPE: a multi-byte character split over byte-level tokens */
    t = load_vocab("gpt-2");
    ids = enc(t, " Hello", 6, false, false, &n);
    dec = stream_decode(t, ids, n, true, &dl); /* no "▁" prefix: nothing to strip */
    assert_string_equal(dec, " Hello");
    free(dec);
    free(ids);
    ids = enc(t, "\xf0\x9f\xa6\x99", 4, false, false, &n); /* 🦙: several tokens */
    assert_true(n >= 2);
    detok_init(&d, t, false);
    size_t total = 0;
    for (size_t i = 0; i + 1 < n; i++) total += detok_push(&d, ids[i], out + total, sizeof out - total);
    assert_int_equal(total, 0);
    total += detok_push(&d, ids[n - 1], out, sizeof out);
    assert_int_equal(total, 4);
    assert_memory_equal(out, "\xf0\x9f\xa6\x99", 4);
    free(ids);
    tokenizer_free(t);
}

/* ------------------------------------------------------- hostile input */

static void random_bytes(char *buf, size_t n, unsigned seed)
{
    srand(seed);
    for (size_t i = 0; i < n; i++) buf[i] = (char)(rand() & 0xFF);
}

/* Random valid UTF-8: ASCII, 2-, 3- and 4-byte characters, NUL included. */
static size_t random_utf8(char *buf, size_t cap, unsigned seed)
{
    srand(seed);
    size_t n = 0;
    while (n + 4 < cap) {
        uint32_t cp;
        switch (rand() % 4) {
        case 0: cp = (uint32_t)(rand() % 0x80); break;
        case 1: cp = 0x80 + (uint32_t)(rand() % 0x780); break;
        case 2: cp = 0x800 + (uint32_t)(rand() % 0xF800); break;
        default: cp = 0x10000 + (uint32_t)(rand() % 0x100000); break;
        }
        if (cp >= 0xD800 && cp <= 0xDFFF) cp = 'x';
        if (cp < 0x80) buf[n++] = (char)cp;
        else if (cp < 0x800) {
            buf[n++] = (char)(0xC0 | cp >> 6);
            buf[n++] = (char)(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            buf[n++] = (char)(0xE0 | cp >> 12);
            buf[n++] = (char)(0x80 | (cp >> 6 & 0x3F));
            buf[n++] = (char)(0x80 | (cp & 0x3F));
        } else {
            buf[n++] = (char)(0xF0 | cp >> 18);
            buf[n++] = (char)(0x80 | (cp >> 12 & 0x3F));
            buf[n++] = (char)(0x80 | (cp >> 6 & 0x3F));
            buf[n++] = (char)(0x80 | (cp & 0x3F));
        }
    }
    return n;
}

/* exact: raw bytes survive encode + token_bytes (SPM byte fallback, or a BPE
 * vocab with all 256 byte symbols as normal tokens) */
static void check_random(const char *name, bool exact)
{
    struct tokenizer *t = load_vocab(name);
    bool spm = strcmp(tokenizer_model(t), "llama") == 0;
    enum { N = 20000 };
    char *buf = malloc(N);
    for (unsigned seed = 1; seed <= 2; seed++) {
        /* arbitrary bytes (NULs, invalid UTF-8): byte fallback keeps them all */
        random_bytes(buf, N, seed);
        size_t n, dl;
        for (int special = 0; special < 2; special++) {
            int32_t *ids = enc(t, buf, N, false, special, &n);
            for (size_t i = 0; i < n; i++) assert_true(ids[i] >= 0 && ids[i] < tokenizer_n_vocab(t));
            char *dec = raw_decode(t, ids, n, &dl);
            if (!exact) {
                /* llama.cpp drops bytes the vocab has no symbol for */
            } else if (spm) {
                assert_true(dl == N + 1 && dec[0] == ' ');
                assert_memory_equal(dec + 1, buf, N);
            } else {
                assert_int_equal(dl, N);
                assert_memory_equal(dec, buf, N);
            }
            free(dec);
            free(ids);
        }
        /* valid UTF-8 round-trips through the streaming detokenizer */
        size_t len = random_utf8(buf, N, seed);
        int32_t *ids = enc(t, buf, len, spm, false, &n);
        char *dec = stream_decode(t, ids, n, spm, &dl);
        assert_true(valid_utf8((unsigned char *)dec, dl));
        if (exact) {
            assert_int_equal(dl, len);
            assert_memory_equal(dec, buf, len);
        }
        free(dec);
        free(ids);
    }
    free(buf);
    tokenizer_free(t);
}

static void test_random_spm(void **s)
{
    (void)s;
    check_random("llama-spm", true);
    check_random("phi-3", true);
}
static void test_random_bpe(void **s)
{
    (void)s;
    check_random("gpt-2", true);
    /* vocabs without a normal token for every byte: llama.cpp drops such
     * bytes (falcon, starcoder, mpt: some control and lead bytes) or has them
     * as user-defined tokens that print as their text (deepseek: 0xC0, 0xF5..) */
    check_random("mpt", false);
    check_random("deepseek-llm", false);
    check_random("falcon", false);
    check_random("starcoder", false);
}

static void test_huge_input(void **s)
{
    (void)s;
    const size_t N = 1 << 20;
    char *text = malloc(N), *spaces = malloc(N);
    size_t il = 0;
    char *inp = read_whole(test_data("models/vocab/ggml-vocab-gpt-2.gguf.inp"), &il);
    assert_non_null(inp);
    for (size_t i = 0; i < N; i++) text[i] = inp[i % il];
    free(inp);
    const size_t NS = N / 4; /* enough to show quadratic behaviour */
    memset(spaces, ' ', NS);
    const char *names[] = {"llama-spm", "deepseek-llm", "mpt"};
    for (int k = 0; k < 3; k++) {
        struct tokenizer *t = load_vocab(names[k]);
        double t0 = now_s();
        size_t n, m;
        int32_t *ids = enc(t, text, N, true, true, &n);
        double dt1 = now_s() - t0;
        free(ids);
        t0 = now_s();
        ids = enc(t, spaces, NS, false, false, &m); /* one long whitespace run */
        double dt2 = now_s() - t0;
        free(ids);
        print_message("%-12s 1 MiB of text: %zu tokens in %.2f s; 256 KiB of spaces: %zu in %.2f s\n", names[k], n,
                      dt1, m, dt2);
        /* Speed is reported, not asserted (tests are not benchmarks): the
         * check is that both finish and give sane token counts. */
        assert_true(n > N / 16 && n < N);
        assert_true(m > 0 && m <= NS);
        tokenizer_free(t);
    }
    free(text);
    free(spaces);
}

/* ---------------------------------------------- malformed GGUF metadata */

struct gb {
    unsigned char *p;
    size_t n, cap;
    uint64_t nkv;
};

static void gb_put(struct gb *g, const void *d, size_t n)
{
    while (g->n + n > g->cap) g->p = realloc(g->p, g->cap = g->cap ? g->cap * 2 : 1024);
    memcpy(g->p + g->n, d, n);
    g->n += n;
}
static void gb_u32(struct gb *g, uint32_t v) { gb_put(g, &v, 4); }
static void gb_u64(struct gb *g, uint64_t v) { gb_put(g, &v, 8); }
static void gb_str(struct gb *g, const char *s)
{
    gb_u64(g, strlen(s));
    gb_put(g, s, strlen(s));
}
static void gb_init(struct gb *g)
{
    memset(g, 0, sizeof *g);
    gb_u32(g, 0x46554747); /* "GGUF" */
    gb_u32(g, 3);
    gb_u64(g, 0);
    gb_u64(g, 0); /* n_kv, patched */
}
static void kv_str(struct gb *g, const char *k, const char *v)
{
    gb_str(g, k);
    gb_u32(g, 8);
    gb_str(g, v);
    g->nkv++;
}
static void kv_u32(struct gb *g, const char *k, uint32_t v)
{
    gb_str(g, k);
    gb_u32(g, 4);
    gb_u32(g, v);
    g->nkv++;
}
static void kv_strs(struct gb *g, const char *k, const char *const *v, size_t n)
{
    gb_str(g, k);
    gb_u32(g, 9);
    gb_u32(g, 8);
    gb_u64(g, n);
    for (size_t i = 0; i < n; i++) gb_str(g, v[i]);
    g->nkv++;
}
static void kv_f32s(struct gb *g, const char *k, const float *v, size_t n)
{
    gb_str(g, k);
    gb_u32(g, 9);
    gb_u32(g, 6);
    gb_u64(g, n);
    gb_put(g, v, n * 4);
    g->nkv++;
}
static void kv_i32s(struct gb *g, const char *k, const int32_t *v, size_t n)
{
    gb_str(g, k);
    gb_u32(g, 9);
    gb_u32(g, 5);
    gb_u64(g, n);
    gb_put(g, v, n * 4);
    g->nkv++;
}

/* Load what was built; NULL with err filled on failure. */
static struct tokenizer *gb_load(struct gb *g, char *err, size_t errlen)
{
    memcpy(g->p + 16, &g->nkv, 8);
    struct gguf_file *f = gguf_open_memory(g->p, g->n, "mem.gguf", err, errlen);
    if (!f) fail_msg("gguf: %s", err);
    struct tokenizer *t = tokenizer_load_gguf(f, err, errlen);
    gguf_close(f);
    free(g->p);
    return t;
}

static const char *const spm_tokens[] = {"<unk>", "<s>", "</s>", "\xe2\x96\x81", "a", "b", "\342\226\201a", "ab"};
static const float spm_scores[] = {0, 0, 0, -1, -2, -3, -4, -5};
static const int32_t spm_types[] = {2, 3, 3, 1, 1, 1, 1, 1};

static void expect_error(struct gb *g, const char *needle)
{
    char err[512] = "";
    struct tokenizer *t = gb_load(g, err, sizeof err);
    if (t) fail_msg("loaded, but expected an error containing \"%s\"", needle);
    if (!strstr(err, needle)) fail_msg("error \"%s\" lacks \"%s\"", err, needle);
    assert_non_null(strstr(err, "mem.gguf: "));
    assert_null(strchr(err, '\n'));
}

static void test_malformed_gguf(void **s)
{
    (void)s;
    struct gb g;
    char err[512];

    /* a good little SPM vocab first */
    gb_init(&g);
    kv_str(&g, "tokenizer.ggml.model", "llama");
    kv_strs(&g, "tokenizer.ggml.tokens", spm_tokens, 8);
    kv_f32s(&g, "tokenizer.ggml.scores", spm_scores, 8);
    kv_i32s(&g, "tokenizer.ggml.token_type", spm_types, 8);
    kv_u32(&g, "tokenizer.ggml.padding_token_id", 4294967295u);
    kv_u32(&g, "tokenizer.ggml.eos_token_id", 4294967295u);
    struct tokenizer *t = gb_load(&g, err, sizeof err);
    if (!t) fail_msg("%s", err);
    assert_int_equal(tokenizer_bos(t), 1);
    assert_int_equal(tokenizer_eos(t), -1); /* 4294967295: unset */
    size_t n;
    int32_t *ids = enc(t, "ab ab", 5, true, false, &n); /* ▁ab▁ab: ▁a b ▁a b */
    const int32_t want[] = {1, 6, 5, 6, 5};
    assert_int_equal(n, 5);
    assert_memory_equal(ids, want, sizeof want);
    free(ids);
    ids = enc(t, "zz\xff", 3, false, false, &n); /* no byte tokens: <unk> */
    assert_int_equal(n, 4);
    assert_int_equal(ids[1], 0);
    free(ids);
    tokenizer_free(t);

    gb_init(&g);
    kv_strs(&g, "tokenizer.ggml.tokens", spm_tokens, 8);
    expect_error(&g, "tokenizer.ggml.model");

    gb_init(&g);
    kv_str(&g, "tokenizer.ggml.model", "t5");
    kv_strs(&g, "tokenizer.ggml.tokens", spm_tokens, 8);
    expect_error(&g, "unsupported tokenizer model 't5'");

    gb_init(&g);
    kv_u32(&g, "tokenizer.ggml.model", 3);
    expect_error(&g, "tokenizer.ggml.model is not a string");

    gb_init(&g);
    kv_str(&g, "tokenizer.ggml.model", "llama");
    expect_error(&g, "no tokenizer.ggml.tokens");

    gb_init(&g);
    kv_str(&g, "tokenizer.ggml.model", "llama");
    kv_i32s(&g, "tokenizer.ggml.tokens", spm_types, 8);
    expect_error(&g, "tokenizer.ggml.tokens is not an array of strings");

    gb_init(&g);
    kv_str(&g, "tokenizer.ggml.model", "llama");
    kv_str(&g, "tokenizer.ggml.tokens", "abc");
    expect_error(&g, "tokenizer.ggml.tokens is not an array of strings");

    gb_init(&g);
    kv_str(&g, "tokenizer.ggml.model", "llama");
    kv_strs(&g, "tokenizer.ggml.tokens", spm_tokens, 0);
    expect_error(&g, "tokenizer.ggml.tokens has 0 entries");

    gb_init(&g);
    kv_str(&g, "tokenizer.ggml.model", "llama");
    kv_strs(&g, "tokenizer.ggml.tokens", spm_tokens, 8);
    kv_f32s(&g, "tokenizer.ggml.scores", spm_scores, 7);
    expect_error(&g, "tokenizer.ggml.scores has 7 entries for 8 tokens");

    gb_init(&g);
    kv_str(&g, "tokenizer.ggml.model", "llama");
    kv_strs(&g, "tokenizer.ggml.tokens", spm_tokens, 8);
    kv_strs(&g, "tokenizer.ggml.scores", spm_tokens, 8);
    expect_error(&g, "tokenizer.ggml.scores is not an array of numbers");

    float nan_scores[8];
    memcpy(nan_scores, spm_scores, sizeof nan_scores);
    nan_scores[5] = NAN;
    gb_init(&g);
    kv_str(&g, "tokenizer.ggml.model", "llama");
    kv_strs(&g, "tokenizer.ggml.tokens", spm_tokens, 8);
    kv_f32s(&g, "tokenizer.ggml.scores", nan_scores, 8);
    expect_error(&g, "NaN");

    gb_init(&g);
    kv_str(&g, "tokenizer.ggml.model", "llama");
    kv_strs(&g, "tokenizer.ggml.tokens", spm_tokens, 8);
    kv_i32s(&g, "tokenizer.ggml.token_type", spm_types, 9 - 2);
    expect_error(&g, "tokenizer.ggml.token_type has 7 entries for 8 tokens");

    gb_init(&g);
    kv_str(&g, "tokenizer.ggml.model", "llama");
    kv_strs(&g, "tokenizer.ggml.tokens", spm_tokens, 8);
    kv_str(&g, "tokenizer.ggml.bos_token_id", "1");
    expect_error(&g, "tokenizer.ggml.bos_token_id is not an integer");

    gb_init(&g);
    kv_str(&g, "tokenizer.ggml.model", "llama");
    kv_strs(&g, "tokenizer.ggml.tokens", spm_tokens, 8);
    kv_u32(&g, "tokenizer.ggml.add_bos_token", 1);
    expect_error(&g, "tokenizer.ggml.add_bos_token is not a bool");

    /* gpt2 */
    const char *bpe_tokens[] = {"a", "b", "c", "ab", "abc", "\xc4\xa0", "<|endoftext|>"};
    const char *good_merges[] = {"a b", "ab c"};
    const char *bad_merges[] = {"a b", "abc"};
    const char *bad_merges2[] = {"a ", "ab c"};

    gb_init(&g);
    kv_str(&g, "tokenizer.ggml.model", "gpt2");
    kv_strs(&g, "tokenizer.ggml.tokens", bpe_tokens, 7);
    expect_error(&g, "no tokenizer.ggml.merges");

    gb_init(&g);
    kv_str(&g, "tokenizer.ggml.model", "gpt2");
    kv_strs(&g, "tokenizer.ggml.tokens", bpe_tokens, 7);
    kv_strs(&g, "tokenizer.ggml.merges", bad_merges, 2);
    expect_error(&g, "tokenizer.ggml.merges[1] is not of the form 'a b'");

    gb_init(&g);
    kv_str(&g, "tokenizer.ggml.model", "gpt2");
    kv_strs(&g, "tokenizer.ggml.tokens", bpe_tokens, 7);
    kv_strs(&g, "tokenizer.ggml.merges", bad_merges2, 2);
    expect_error(&g, "tokenizer.ggml.merges[0] is not of the form 'a b'");

    gb_init(&g);
    kv_str(&g, "tokenizer.ggml.model", "gpt2");
    kv_strs(&g, "tokenizer.ggml.tokens", bpe_tokens, 7);
    kv_i32s(&g, "tokenizer.ggml.merges", spm_types, 2);
    expect_error(&g, "tokenizer.ggml.merges is not an array of strings");

    /* an unknown pre-tokenizer: a warning and the default split */
    gb_init(&g);
    kv_str(&g, "tokenizer.ggml.model", "gpt2");
    kv_str(&g, "tokenizer.ggml.pre", "no-such-pre");
    kv_strs(&g, "tokenizer.ggml.tokens", bpe_tokens, 7);
    kv_strs(&g, "tokenizer.ggml.merges", good_merges, 2);
    t = gb_load(&g, err, sizeof err);
    if (!t) fail_msg("%s", err);
    assert_string_equal(tokenizer_pre(t), "no-such-pre");
    ids = enc(t, "abc ab", 6, true, false, &n); /* no BOS: unset */
    assert_int_equal(n, 3);
    assert_int_equal(ids[0], 4);
    assert_int_equal(ids[1], 5);
    assert_int_equal(ids[2], 3);
    free(ids);
    /* bytes the vocab lacks are dropped (llama.cpp), never a crash */
    ids = enc(t, "xyz\xff\x00", 5, false, true, &n);
    assert_int_equal(n, 0);
    free(ids);
    assert_int_equal(tokenizer_bos(t), -1);
    tokenizer_free(t);
}

/* ------------------------------------------------------ pre-tokenizers */

/* Split with the named pre-tokenizer; pieces joined with '|'. */
static void split_str(const char *pre, const char *text, char *out, size_t cap)
{
    struct pretok_info info;
    char err[256];
    struct pretok *p = pretok_create(pre, &info, err, sizeof err);
    if (!p) fail_msg("%s", err);
    assert_true(info.known);
    struct pretok_ws *ws = NULL;
    const size_t *pc;
    size_t n, o = 0;
    assert_true(pretok_split(p, &ws, text, strlen(text), &pc, &n));
    out[0] = 0;
    for (size_t i = 0; i < n && o + pc[2 * i + 1] + 2 < cap; i++) {
        if (i) out[o++] = '|';
        memcpy(out + o, text + pc[2 * i], pc[2 * i + 1]);
        o += pc[2 * i + 1];
    }
    out[o] = 0;
    pretok_ws_free(ws);
    pretok_free(p);
}

static void expect_split(const char *pre, const char *text, const char *want)
{
    char got[1024];
    split_str(pre, text, got, sizeof got);
    if (strcmp(got, want) != 0) fail_msg("%s: \"%s\" split as \"%s\", expected \"%s\"", pre, text, got, want);
}

/* The Llama 3 / Qwen 2 splits (no vocab files here): Hugging Face's
 * pre-tokenizer output for these strings. */
static void test_pretokenizers(void **s)
{
    (void)s;
    const char *mixed = "Hello, y'all! How are you \xf0\x9f\x98\x81 ?\xe6\x88\x91\xe6\x83\xb3\xe5\x9c\xa8"
                        "apple\xe5\xb7\xa5\xe4\xbd\x9c" "1314151\xe5\xa4\xa9\xef\xbd\x9e";
    expect_split("llama-bpe", mixed,
                 "Hello|,| y|'all|!| How| are| you| \xf0\x9f\x98\x81| ?|\xe6\x88\x91\xe6\x83\xb3\xe5\x9c\xa8"
                 "apple\xe5\xb7\xa5\xe4\xbd\x9c|131|415|1|\xe5\xa4\xa9|\xef\xbd\x9e");
    expect_split("qwen2", mixed,
                 "Hello|,| y|'all|!| How| are| you| \xf0\x9f\x98\x81| ?|\xe6\x88\x91\xe6\x83\xb3\xe5\x9c\xa8"
                 "apple\xe5\xb7\xa5\xe4\xbd\x9c|1|3|1|4|1|5|1|\xe5\xa4\xa9|\xef\xbd\x9e");
    expect_split("llama3", "3333333", "333|333|3");
    expect_split("llama3", "   Hello\n\n  x", "  | Hello|\n\n| | x");
    expect_split("llama3", "I'M HERE'S it's", "I|'M| HERE|'S| it|'s");
    expect_split("gpt-2", "I'M HERE'S it's", "I|'|M| HERE|'|S| it|'s");
    expect_split("llama3", "a \t\n b  ", "a| \t\n| b|  ");
    /* non-ASCII whitespace is whitespace (U+3000, U+00A0) */
    expect_split("gpt-2", "a\xe3\x80\x80\xe3\x80\x80" "b", "a|\xe3\x80\x80|\xe3\x80\x80|b");
    /* invalid UTF-8 is matched as U+FFFD, but its bytes are kept */
    expect_split("gpt-2", "a\xff\xfe b", "a|\xff\xfe| b");

    /* every pre-tokenizer compiles and splits anything */
    const char *names[] = {"default", "llama3", "llama-bpe", "dbrx", "deepseek-llm", "deepseek-coder",
                           "falcon", "mpt", "gpt-2", "starcoder", "refact", "command-r", "qwen2",
                           "qwen35", "poro-chat", "viking", "tekken", "gpt-4o", "seed-coder",
                           "bailingmoe", "chatglm-bpe", "smollm", "stablelm2", "olmo", "codeshell"};
    char buf[4096];
    size_t len = random_utf8(buf, 2000, 3);
    random_bytes(buf + len, 500, 4);
    buf[len + 500] = 0;
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        struct pretok_info info;
        char err[256];
        struct pretok *p = pretok_create(names[i], &info, err, sizeof err);
        if (!p) fail_msg("%s: %s", names[i], err);
        assert_true(info.known);
        struct pretok_ws *ws = NULL;
        const size_t *pc;
        size_t n, total = 0;
        assert_true(pretok_split(p, &ws, buf, len + 500, &pc, &n));
        for (size_t k = 0; k < n; k++) {
            assert_int_equal(pc[2 * k], total); /* contiguous, in order, nothing lost */
            assert_true(pc[2 * k + 1] > 0);
            total += pc[2 * k + 1];
        }
        assert_int_equal(total, len + 500);
        pretok_ws_free(ws);
        pretok_free(p);
    }
    expect_split("tekken", "HelloWorld ABC def", "Hello|World| ABC| def");
}

static void test_api_edges(void **s)
{
    (void)s;
    struct tokenizer *t = load_vocab("llama-spm");
    size_t n = 99;
    int32_t *ids = tokenizer_encode(t, NULL, 0, false, false, &n);
    assert_non_null(ids);
    assert_int_equal(n, 0);
    free(ids);
    ids = tokenizer_encode(t, "", 0, true, true, &n);
    assert_non_null(ids);
    assert_int_equal(n, 1);
    assert_int_equal(ids[0], 1);
    free(ids);
    /* NUL bytes are text like any other */
    ids = enc(t, "a\0b", 3, false, false, &n);
    assert_true(n >= 3);
    size_t dl;
    char *dec = raw_decode(t, ids, n, &dl);
    assert_int_equal(dl, 4);
    assert_memory_equal(dec, " a\0b", 4);
    free(dec);
    free(ids);
    assert_string_equal(tokenizer_model(t), "llama");
    assert_true(tokenizer_add_space_prefix(t));
    assert_int_equal(tokenizer_find(t, "\xe2\x96\x81the"), 278);
    char buf[4];
    assert_int_equal(tokenizer_token_bytes(t, 278, buf, sizeof buf), 4);
    assert_memory_equal(buf, " the", 4);
    assert_int_equal(tokenizer_token_bytes(t, 278, buf, 2), 4); /* truncated copy, full length */
    tokenizer_free(t);
    tokenizer_free(NULL);
    assert_int_equal(tokenizer_n_vocab(NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vocab_llama_spm),
        cmocka_unit_test(test_vocab_phi3),
        cmocka_unit_test(test_vocab_gpt2),
        cmocka_unit_test(test_vocab_starcoder),
        cmocka_unit_test(test_vocab_falcon),
        cmocka_unit_test(test_vocab_deepseek_llm),
        cmocka_unit_test(test_vocab_deepseek_coder),
        cmocka_unit_test(test_vocab_mpt),
        cmocka_unit_test(test_vocab_refact),
        cmocka_unit_test(test_baichuan),
        cmocka_unit_test(test_gpt_neox),
        cmocka_unit_test(test_bert_unsupported),
        cmocka_unit_test(test_stories260k),
        cmocka_unit_test(test_tinystories_656k),
        cmocka_unit_test(test_llama2_tiny_random),
        cmocka_unit_test(test_llama2c_tok512),
        cmocka_unit_test(test_llama2c_tokenizer_bin),
        cmocka_unit_test(test_llama2c_aidreams),
        cmocka_unit_test(test_llama2c_malformed),
        cmocka_unit_test(test_parse_special),
        cmocka_unit_test(test_detok_stream),
        cmocka_unit_test(test_random_spm),
        cmocka_unit_test(test_random_bpe),
        cmocka_unit_test(test_huge_input),
        cmocka_unit_test(test_malformed_gguf),
        cmocka_unit_test(test_pretokenizers),
        cmocka_unit_test(test_api_edges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
