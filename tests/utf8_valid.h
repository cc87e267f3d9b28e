/*
 * utf8_valid.h — strict UTF-8 validation (no overlongs, no surrogates,
 * at most U+10FFFF), shared by the tests and the fuzzers that check infer's
 * output is valid UTF-8.
 */
#ifndef INFER_UTF8_VALID_H
#define INFER_UTF8_VALID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

static inline bool valid_utf8(const unsigned char *s, size_t n)
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

#endif
