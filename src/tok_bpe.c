/*
 * tok_bpe.c — byte-level BPE (GPT-2 style), as llama.cpp's llm_tokenizer_bpe:
 * every byte of a pre-tokenized word becomes the GPT-2 "byte unicode" symbol
 * for it, then adjacent symbols are merged by the rank of the pair in
 * tokenizer.ggml.merges (lowest rank first, ties → leftmost) until no listed
 * pair is left; each final symbol is a vocab token (or, failing that, its
 * single-byte pieces where the vocab has them).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"

struct bpe_merges {
    struct tok_map map; /* key: "ab" (the two parts joined), aux: length of "a"; val: rank */
    char *pool;
};

/* GPT-2 bytes_to_unicode(): printable Latin-1 bytes map to themselves, the
 * other 68 (0x00-0x20, 0x7F-0xA0, 0xAD) to U+0100.. in byte order. */
static uint32_t byte_cp(uint8_t b)
{
    if (b <= 0x20) return 256u + b;
    if (b >= 0x7F && b <= 0xA0) return 256u + 33 + (b - 0x7Fu);
    if (b == 0xAD) return 256u + 33 + 34;
    return b;
}

int bpe_byte_encode(uint8_t b, char out[2])
{
    uint32_t cp = byte_cp(b);
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
}

int bpe_byte_decode(uint32_t cp)
{
    if (cp < 256) return byte_cp((uint8_t)cp) == cp ? (int)cp : -1;
    if (cp <= 256 + 0x20) return (int)(cp - 256);
    if (cp <= 256 + 33 + 33) return (int)(cp - 256 - 33 + 0x7F);
    if (cp == 256 + 33 + 34) return 0xAD;
    return -1;
}

void bpe_merges_free(struct bpe_merges *m)
{
    if (!m) return;
    tok_map_free(&m->map);
    free(m->pool);
    free(m);
}

struct bpe_merges *bpe_merges_load(const struct gguf_kv *kv, char *err, size_t errlen)
{
    struct bpe_merges *m = calloc(1, sizeof *m);
    if (!m) goto oom;
    uint64_t n = kv->arr_n;
    if (n > INT32_MAX) {
        snprintf(err, errlen, "tokenizer.ggml.merges has too many entries (%llu)", (unsigned long long)n);
        goto fail;
    }
    size_t total = 0;
    for (uint64_t i = 0; i < n; i++) total += kv->strs[i].len;
    m->pool = malloc(total + 1);
    if (!m->pool || !tok_map_init(&m->map, (uint32_t)n)) goto oom;
    size_t off = 0;
    for (uint64_t i = 0; i < n; i++) {
        const char *s = kv->strs[i].ptr;
        size_t len = kv->strs[i].len;
        /* llama.cpp splits at the first space after the first byte */
        const char *sp = len > 1 ? memchr(s + 1, ' ', len - 1) : NULL;
        if (!sp || sp + 1 == s + len) {
            int shown = (int)(len > 40 ? 40 : len);
            snprintf(err, errlen, "tokenizer.ggml.merges[%llu] is not of the form 'a b': '%.*s'",
                     (unsigned long long)i, shown, s);
            goto fail;
        }
        size_t l1 = (size_t)(sp - s), l2 = len - l1 - 1;
        if (l1 + l2 > UINT32_MAX) goto oom;
        char *k = m->pool + off;
        memcpy(k, s, l1);
        memcpy(k + l1, sp + 1, l2);
        off += l1 + l2;
        bool ins;
        if (!tok_map_put(&m->map, k, (uint32_t)(l1 + l2), (uint32_t)l1, (int32_t)i, &ins)) goto oom;
    }
    return m;
oom:
    snprintf(err, errlen, "out of memory loading tokenizer.ggml.merges");
fail:
    bpe_merges_free(m);
    return NULL;
}

/* ---- the merge loop ---- */

static bool add_bigram(const struct bpe_merges *m, const char *buf, const struct tok_scratch *s,
                       struct bigram_queue *h, int32_t l, int32_t r)
{
    if (l < 0 || r < 0) return true;
    uint32_t size = s->n[l] + s->n[r];
    int32_t rank = tok_map_get(&m->map, buf + s->start[l], size, s->n[l]);
    if (rank < 0) return true;
    return bigram_push(h, (struct bigram){l, r, -(float)rank, size}); /* ranks < 2^24: exact */
}

bool tok_bpe_encode_word(const struct tokenizer *t, const char *word, size_t len,
                         struct tok_scratch *ws, struct tok_vec *out)
{
    if (len == 0) return true;
    if (len > INT32_MAX / 2 || !tok_scratch_syms(ws, len)) return false;
    if (ws->buf_cap < len * 2) {
        char *nb = realloc(ws->buf, len * 2);
        if (!nb) return false;
        ws->buf = nb;
        ws->buf_cap = len * 2;
    }
    char *buf = ws->buf;
    struct tok_scratch *s = ws;
    struct bigram_queue h = {ws->heap, 0, ws->heap_cap / sizeof(struct bigram)};
    bool ok = false;

    uint32_t bl = 0;
    for (size_t i = 0; i < len; i++) {
        s->start[i] = bl;
        s->n[i] = (uint32_t)bpe_byte_encode((uint8_t)word[i], buf + bl);
        bl += s->n[i];
        s->prev[i] = (int32_t)i - 1;
        s->next[i] = i + 1 == len ? -1 : (int32_t)i + 1;
    }

    if (t->ignore_merges) {
        int32_t id = tok_map_get(&t->vocab, buf, bl, 0);
        if (id >= 0) {
            tok_vec_push(out, id);
            ok = !out->oom;
            goto done;
        }
    }

    for (size_t i = 1; i < len; i++)
        if (!add_bigram(t->merges, buf, s, &h, (int32_t)i - 1, (int32_t)i)) goto done;
    while (h.n) {
        struct bigram bg = bigram_pop(&h);
        int32_t l = bg.left, r = bg.right;
        if (s->n[l] == 0 || s->n[r] == 0 || s->n[l] + s->n[r] != bg.size) continue; /* outdated */
        s->n[l] += s->n[r];
        s->n[r] = 0;
        s->next[l] = s->next[r];
        if (s->next[r] >= 0) s->prev[s->next[r]] = l;
        if (!add_bigram(t->merges, buf, s, &h, s->prev[l], l) ||
            !add_bigram(t->merges, buf, s, &h, l, s->next[l]))
            goto done;
    }

    for (int32_t i = 0; i != -1; i = s->next[i]) {
        int32_t id = tok_map_get(&t->vocab, buf + s->start[i], s->n[i], 0);
        if (id >= 0) {
            tok_vec_push(out, id);
            continue;
        }
        /* llama.cpp: each byte of the encoded symbol as a 1-byte token, if any */
        for (uint32_t j = 0; j < s->n[i]; j++) {
            int32_t bid = t->byte_tok[(uint8_t)buf[s->start[i] + j]];
            if (bid >= 0) tok_vec_push(out, bid);
        }
    }
    ok = !out->oom;
done:
    ws->heap = h.v;
    ws->heap_cap = h.cap * sizeof(struct bigram);
    return ok;
}
