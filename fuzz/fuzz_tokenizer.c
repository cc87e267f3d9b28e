/*
 * fuzz_tokenizer.c — libFuzzer target: arbitrary bytes through the
 * tokenizers of real vocabularies (loaded once from $INFER_TEST_DATA,
 * default ../shared).
 *
 * Input: byte 0 picks the vocabulary, byte 1 the flags (bit 0: add BOS,
 * bit 1: parse special tokens); the rest is the text. Checked:
 *   - every id is in range, the streaming detokenizer emits only valid UTF-8
 *     and never more than the room it was given;
 *   - "exact" vocabularies (SentencePiece with byte fallback, GPT-2 with all
 *     256 byte symbols) keep arbitrary bytes: the concatenated token bytes
 *     equal the text (SPM: with the " " prefix it adds), when special tokens
 *     are not parsed (and, for SPM, the text has no "▁" U+2581 of its own:
 *     it decodes as a space, as in llama.cpp);
 *   - for exact vocabularies, valid UTF-8 round-trips through the streaming
 *     detokenizer (SPM: BOS + prefix space stripped, as infer --echo does).
 * What does not hold, and is not asserted: round trips through text that
 * matched a user-defined token (phi-3's "</s>" is one: llama.cpp matches those
 * even without parse_special, and SPM then prefixes the next text with a
 * space); exact round trips for BPE vocabs
 * without symbols for some bytes (falcon, mpt, starcoder, deepseek: llama.cpp
 * drops those bytes too), or with parse_special (the text "<s>" becomes BOS).
 *
 * Also compiled into tests/test_regress.c (FUZZ_NO_MAIN).
 */
#include "fuzz_common.h"

#include "tok_internal.h" /* token attributes */

struct fuzz_vocab {
    const char *rel;     /* under $INFER_TEST_DATA */
    bool llama2c;        /* tokenizer.bin (vocab size 512) */
    bool exact;
    struct tokenizer *t;
};

static struct fuzz_vocab fuzz_vocabs[] = {
    {"models/stories260K.gguf", false, true, NULL},
    {"models/tok512.bin", true, true, NULL},
    {"models/vocab/ggml-vocab-llama-spm.gguf", false, true, NULL},
    {"models/vocab/ggml-vocab-phi-3.gguf", false, true, NULL},
    {"models/vocab/ggml-vocab-gpt-2.gguf", false, true, NULL},
    {"models/vocab/ggml-vocab-deepseek-llm.gguf", false, false, NULL},
    {"models/vocab/ggml-vocab-deepseek-coder.gguf", false, false, NULL},
    {"models/vocab/ggml-vocab-falcon.gguf", false, false, NULL},
    {"models/vocab/ggml-vocab-starcoder.gguf", false, false, NULL},
    {"models/vocab/ggml-vocab-mpt.gguf", false, false, NULL},
    {"models/vocab/ggml-vocab-refact.gguf", false, false, NULL},
    {"models/vocab/ggml-vocab-gpt-neox.gguf", false, false, NULL},
    {"models/synthetic/rand-qwen2-q8_0.gguf", false, false, NULL},
};
#define FUZZ_N_VOCABS (sizeof fuzz_vocabs / sizeof fuzz_vocabs[0])

static void fuzz_tokenizer_init(void)
{
    static bool done;
    if (done) return;
    done = true;
    const char *root = getenv("INFER_TEST_DATA");
    if (!root || !*root) root = "../shared";
    for (size_t i = 0; i < FUZZ_N_VOCABS; i++) {
        char path[4096], err[1024];
        snprintf(path, sizeof path, "%s/%s", root, fuzz_vocabs[i].rel);
        if (fuzz_vocabs[i].llama2c) {
            fuzz_vocabs[i].t = tokenizer_load_llama2c(path, 512, err, sizeof err);
        } else {
            struct gguf_file *f = gguf_open(path, err, sizeof err);
            if (f) fuzz_vocabs[i].t = tokenizer_load_gguf(f, err, sizeof err);
            gguf_close(f);
        }
        if (!fuzz_vocabs[i].t) FUZZ_FAIL("cannot load vocabulary %s: %s (set INFER_TEST_DATA)", path, err);
    }
}

__attribute__((unused)) static void fuzz_tokenizer_free_all(void)
{
    for (size_t i = 0; i < FUZZ_N_VOCABS; i++) {
        tokenizer_free(fuzz_vocabs[i].t);
        fuzz_vocabs[i].t = NULL;
    }
}

static bool fuzz_is_spm(const struct tokenizer *t) { return strcmp(tokenizer_model(t), "llama") == 0; }

/* Did the text match a user-defined / control / unknown token? */
static bool fuzz_has_special(const struct tokenizer *t, const int32_t *ids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (t->attr[ids[i]] & (TOK_ATTR_USER | TOK_ATTR_CONTROL | TOK_ATTR_UNKNOWN) && ids[i] != tokenizer_bos(t))
            return true;
    return false;
}

/* Concatenated tokenizer_token_bytes (no UTF-8 repair). */
static char *fuzz_raw_decode(const struct tokenizer *t, const int32_t *ids, size_t n, size_t *len)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++) total += tokenizer_token_bytes(t, ids[i], NULL, 0);
    char *out = malloc(total + 1);
    size_t l = 0;
    for (size_t i = 0; i < n; i++) {
        size_t k = tokenizer_token_bytes(t, ids[i], NULL, 0);
        /* exactly k bytes of room: ASan catches a write past it */
        if (tokenizer_token_bytes(t, ids[i], out + l, k) != k) FUZZ_FAIL("token_bytes length changed");
        l += k;
    }
    *len = l;
    return out;
}

static char *fuzz_stream_decode(const struct tokenizer *t, const int32_t *ids, size_t n, bool strip, size_t *len)
{
    struct detokenizer d;
    detok_init(&d, t, strip);
    const size_t piece = 64 + tokenizer_max_token_bytes(t);
    char *out = malloc(piece * (n + 1));
    size_t l = 0;
    for (size_t i = 0; i < n; i++) l += detok_push(&d, ids[i], out + l, piece);
    l += detok_flush(&d, out + l, piece);
    *len = l;
    return out;
}

static int fuzz_tokenizer_input(const uint8_t *data, size_t size)
{
    fuzz_tokenizer_init();
    if (size < 2) return 0;
    const struct fuzz_vocab *v = &fuzz_vocabs[data[0] % FUZZ_N_VOCABS];
    const struct tokenizer *t = v->t;
    const bool bos = data[1] & 1, special = data[1] & 2;
    const char *text = (const char *)data + 2;
    const size_t len = size - 2;
    const bool spm = fuzz_is_spm(t);

    size_t n;
    int32_t *ids = fuzz_encode_check(t, text, len, bos, special, &n);
    /* SPM writes spaces as U+2581 "▁": one already in the text decodes as a space. */
    const bool has_2581 = spm && memmem(text, len, "\xe2\x96\x81", 3);
    if (v->exact && !special && !has_2581 && !fuzz_has_special(t, ids, n)) {
        size_t dl;
        char *dec = fuzz_raw_decode(t, ids, n, &dl);
        const size_t prefix = spm && tokenizer_add_space_prefix(t) && len > 0 ? 1 : 0;
        if (dl != len + prefix || (prefix && dec[0] != ' ') || memcmp(dec + prefix, text, len))
            FUZZ_FAIL("%s: %zu bytes do not survive encode + token bytes (got %zu)", v->rel, len, dl);
        free(dec);
        if (valid_utf8((const unsigned char *)text, len)) {
            /* as infer --echo prints a prompt: BOS (SPM) and the prefix space stripped */
            size_t m, sl;
            int32_t *ids2 = fuzz_encode_check(t, text, len, spm, false, &m);
            char *s = fuzz_stream_decode(t, ids2, m, spm, &sl);
            if (sl != len || memcmp(s, text, len))
                FUZZ_FAIL("%s: valid UTF-8 (%zu bytes) does not round-trip (got %zu)", v->rel, len, sl);
            free(s);
            free(ids2);
        }
    }
    /* the pieces of what came out, and the text as a vocab lookup */
    for (size_t i = 0; i < n && i < 64; i++) (void)strlen(tokenizer_piece(t, ids[i]));
    if (len < 256) {
        char key[256];
        memcpy(key, text, len);
        key[len] = 0;
        int32_t id = tokenizer_find(t, key);
        if (id < -1 || id >= tokenizer_n_vocab(t)) FUZZ_FAIL("tokenizer_find returned %d", id);
    }
    free(ids);
    return 0;
}

#ifndef FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fuzz_tokenizer_input(data, size); }
#endif
