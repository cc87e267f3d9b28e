/*
 * tok_spm.c — SentencePiece-style BPE over vocab scores, as llama.cpp's
 * llm_tokenizer_spm: the text (spaces already "▁") is cut into UTF-8
 * characters, then the adjacent
 * pair whose concatenation is the vocab token of highest score is merged
 * (ties → leftmost) until no pair forms a token. Symbols that are no token
 * fall back to their bytes: <0xXX> tokens (or 1-byte tokens), else UNK.
 *
 * One deliberate difference: llama.cpp cuts characters by the lead byte
 * alone, so an invalid lead byte swallows the next bytes (even an escaped
 * space, which then comes back as the bytes of "▁"). Here an invalid byte is
 * a symbol of its own; for valid UTF-8 the two agree.
 */
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"

static bool try_add_bigram(const struct tokenizer *t, const char *text, const struct tok_scratch *s,
                           struct bigram_queue *h, int32_t l, int32_t r)
{
    if (l < 0 || r < 0) return true;
    uint32_t size = s->n[l] + s->n[r];
    int32_t id = tok_map_get(&t->vocab, text + s->start[l], size, 0);
    if (id < 0) return true;
    return bigram_push(h, (struct bigram){l, r, t->score[id], size});
}

bool tok_spm_encode(const struct tokenizer *t, const char *text, size_t len, struct tok_scratch *ws,
                    struct tok_vec *out)
{
    if (len == 0) return true;
    if (len > INT32_MAX || !tok_scratch_syms(ws, len)) return false;
    struct tok_scratch *s = ws;
    struct bigram_queue h = {ws->heap, 0, ws->heap_cap / sizeof(struct bigram)};
    bool ok = false;

    int32_t ns = 0;
    for (size_t off = 0; off < len;) {
        uint32_t cp;
        int v = tok_utf8_decode((const unsigned char *)text + off, len - off, &cp);
        size_t l = v > 0 ? (size_t)v : 1;
        s->start[ns] = (uint32_t)off;
        s->n[ns] = (uint32_t)l;
        s->prev[ns] = ns - 1;
        off += l;
        s->next[ns] = off == len ? -1 : ns + 1;
        ns++;
    }

    for (int32_t i = 1; i < ns; i++)
        if (!try_add_bigram(t, text, s, &h, i - 1, i)) goto done;
    while (h.n) {
        struct bigram bg = bigram_pop(&h);
        int32_t l = bg.left, r = bg.right;
        if (s->n[l] == 0 || s->n[r] == 0 || s->n[l] + s->n[r] != bg.size) continue; /* outdated */
        s->n[l] += s->n[r];
        s->n[r] = 0;
        s->next[l] = s->next[r];
        if (s->next[r] >= 0) s->prev[s->next[r]] = l;
        if (!try_add_bigram(t, text, s, &h, s->prev[l], l) ||
            !try_add_bigram(t, text, s, &h, l, s->next[l]))
            goto done;
    }

    for (int32_t i = 0; i != -1; i = s->next[i]) {
        const char *p = text + s->start[i];
        int32_t id = tok_map_get(&t->vocab, p, s->n[i], 0);
        if (id >= 0) {
            tok_vec_push(out, id);
            continue;
        }
        /* Merged symbols are always tokens, so this is one unknown character:
         * its bytes as byte tokens, or UNK when the vocab lacks them. */
        bool all = true;
        for (uint32_t j = 0; j < s->n[i]; j++) all = all && t->byte_tok[(unsigned char)p[j]] >= 0;
        if (all) {
            for (uint32_t j = 0; j < s->n[i]; j++) tok_vec_push(out, t->byte_tok[(unsigned char)p[j]]);
        } else if (t->unk >= 0) {
            tok_vec_push(out, t->unk);
        }
    }
    ok = !out->oom;
done:
    ws->heap = h.v;
    ws->heap_cap = h.cap * sizeof(struct bigram);
    return ok;
}
