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

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef FUZZ_FAIL
#define FUZZ_FAIL(...) (fprintf(stderr, "fuzz invariant violated: " __VA_ARGS__), fputc('\n', stderr), abort())
#endif

/* Strict UTF-8 (no overlongs, no surrogates, ≤ U+10FFFF). */
static inline bool fuzz_valid_utf8(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        int l;
        uint32_t v, min;
        if (c < 0x80) { i++; continue; }
        if (c >= 0xC2 && c <= 0xDF) l = 2, v = c & 0x1F, min = 0x80;
        else if (c >= 0xE0 && c <= 0xEF) l = 3, v = c & 0x0F, min = 0x800;
        else if (c >= 0xF0 && c <= 0xF4) l = 4, v = c & 0x07, min = 0x10000;
        else return false;
        if (i + (size_t)l > n) return false;
        for (int k = 1; k < l; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return false;
            v = v << 6 | (s[i + k] & 0x3F);
        }
        if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return false;
        i += (size_t)l;
    }
    return true;
}

/* A load error: one line that starts with "name: " and says something. */
static inline void fuzz_check_error(const char *what, const char *err, const char *name)
{
    size_t nl = strlen(name), n = strnlen(err, 4096);
    if (n == 4096) FUZZ_FAIL("%s: error message not terminated", what);
    if (n <= nl + 2 || strncmp(err, name, nl) || err[nl] != ':' || err[nl + 1] != ' ')
        FUZZ_FAIL("%s: error message does not name the input: [%s]", what, err);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)err[i] < 0x20 || err[i] == 0x7f)
            FUZZ_FAIL("%s: control character 0x%02x in error message: [%s]", what, (unsigned char)err[i], err);
}

#endif
