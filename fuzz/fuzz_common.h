/*
 * fuzz_common.h — shared by the libFuzzer targets and tests/test_regress.c:
 * the invariants every hostile input must keep. A violated invariant calls
 * FUZZ_FAIL, which aborts under libFuzzer (a finding) and fails the test in
 * the regression suite.
 *
 *   - a load failure leaves exactly one line "NAME: reason" in the error buffer
 *     (non-empty, no control characters, names the input);
 *   - token ids are in [0, n_vocab); the streaming detokenizer only ever emits
 *     valid UTF-8 and never more than the room it was given;
 *   - where the vocabulary allows it, text survives encode + decode.
 */
#ifndef INFER_FUZZ_COMMON_H
#define INFER_FUZZ_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memfd_create */
#endif

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef FUZZ_FAIL
#define FUZZ_FAIL(...) (fprintf(stderr, "fuzz invariant violated: " __VA_ARGS__), fputc('\n', stderr), abort())
#endif

#include "../tests/utf8_valid.h"

/* A load error: one line that starts with "name: " and says something. */
static inline void fuzz_check_error(const char *what, const char *err, size_t errlen, const char *name)
{
    size_t nl = strlen(name), n = strnlen(err, errlen);
    if (n == errlen) FUZZ_FAIL("%s: error message not terminated", what);
    if (n <= nl + 2 || strncmp(err, name, nl) || err[nl] != ':' || err[nl + 1] != ' ')
        FUZZ_FAIL("%s: error message does not name the input: [%s]", what, err);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)err[i] < 0x20 || err[i] == 0x7f)
            FUZZ_FAIL("%s: control character 0x%02x in error message: [%s]", what, (unsigned char)err[i], err);
}


#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "forward.h"
#include "matmul.h"
#include "model.h"
#include "sampler.h"
#include "tokenizer.h"

/* The input as a file: a memfd, reused, named /proc/self/fd/N (path-based
 * loaders read it like any file; nothing touches the disk). */
static inline const char *fuzz_memfd_path(const uint8_t *data, size_t size)
{
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("fuzz-input", 0);
        if (fd < 0) FUZZ_FAIL("memfd_create failed");
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) || ftruncate(fd, (off_t)size) || (size && pwrite(fd, data, size, 0) != (ssize_t)size))
        FUZZ_FAIL("writing the memfd failed");
    return path;
}

/* Read every byte of a view (so ASan sees any out-of-bounds pointer). */
static inline uint64_t fuzz_touch(const void *p, size_t n)
{
    const volatile uint8_t *b = p;
    uint64_t acc = 0;
    for (size_t i = 0; i < n; i++) acc += b[i];
    return acc;
}

/* A loaded model must run: a tiny context, two tokens, greedy and sampled
 * picks in range. The weights may be garbage (NaN, inf): results may be
 * nonsense but nothing may crash or read outside the file. */
static inline void fuzz_run_model(const struct model *m, int32_t first_token)
{
    const int n_vocab = m->hp.n_vocab;
    if (n_vocab <= 0) FUZZ_FAIL("model loaded with n_vocab %d", n_vocab);
    char err[256];
    struct context_params cp = {.n_ctx = 4, .n_batch = 2, .kv_block = 2, .n_seq_max = 1, .gemm_min_batch = 0};
    struct context *ctx = context_new(m, &cp, err, sizeof err);
    if (!ctx) return; /* out of memory is a clean failure */
    float *logits = malloc((size_t)n_vocab * sizeof *logits);
    int32_t toks[2] = {first_token >= 0 && first_token < n_vocab ? first_token : 0, n_vocab - 1};
    if (logits && forward_seq(ctx, 0, toks, 2, 0, false, logits) == 0) {
        struct sampler_params sp;
        sampler_defaults(&sp);
        sp.seed = 1;
        struct sampler s;
        if (sampler_init(&s, &sp, n_vocab) == 0) {
            int32_t a = argmax(logits, n_vocab);
            int32_t b = sampler_sample(&s, logits);
            if (a < 0 || a >= n_vocab || b < 0 || b >= n_vocab) FUZZ_FAIL("sampled token %d/%d out of range", a, b);
            /* one decode step at the next position */
            (void)forward_seq(ctx, 0, &b, 1, 2, false, logits);
        }
        sampler_free(&s);
    }
    free(logits);
    context_free(ctx);
}

/* Encode text and check ids and the streaming detokenizer's output. Returns
 * the ids (caller frees) and their count. */
static inline int32_t *fuzz_encode_check(const struct tokenizer *t, const char *text, size_t len, bool bos,
                                         bool special, size_t *n)
{
    int32_t *ids = tokenizer_encode(t, text, len, bos, special, n);
    if (!ids) FUZZ_FAIL("tokenizer_encode returned NULL on %zu bytes", len);
    const int32_t nv = tokenizer_n_vocab(t);
    for (size_t i = 0; i < *n; i++)
        if (ids[i] < 0 || ids[i] >= nv) FUZZ_FAIL("token id %d out of range [0, %d)", ids[i], nv);
    /* streaming decode into exactly the documented minimum room */
    const size_t cap = 64 + tokenizer_max_token_bytes(t);
    char *buf = malloc(cap);
    struct detokenizer d;
    detok_init(&d, t, bos);
    for (size_t i = 0; i < *n; i++) {
        size_t k = detok_push(&d, ids[i], buf, cap);
        if (k > cap) FUZZ_FAIL("detok_push wrote %zu bytes into %zu", k, cap);
        if (!valid_utf8((unsigned char *)buf, k)) FUZZ_FAIL("detok_push emitted invalid UTF-8");
    }
    size_t k = detok_flush(&d, buf, cap);
    if (k > cap || !valid_utf8((unsigned char *)buf, k)) FUZZ_FAIL("detok_flush emitted invalid UTF-8");
    free(buf);
    return ids;
}

#endif
