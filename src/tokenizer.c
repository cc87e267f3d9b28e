/*
 * tokenizer.c — vocab loading (GGUF tokenizer.ggml.*, llama2.c tokenizer.bin),
 * special-token handling, encoding front end and the detokenizer.
 *
 * The behaviour follows llama.cpp (llama-vocab.cpp): see tok_spm.c for the
 * SentencePiece-style merges, tok_bpe.c for byte-level BPE and tok_pretok.c
 * for the regex pre-tokenizers. As there:
 *   - special tokens (control, user-defined, unknown types) are cut out of the
 *     text first, longest first; with parse_special false only user-defined
 *     ones are (they are "added tokens", e.g. mpt's runs of spaces);
 *   - an SPM text fragment at the start or after a special token gets a "▁"
 *     prefix (tokenizer.ggml.add_space_prefix, default on);
 *   - texts of end-of-turn / FIM tokens (<|im_end|>, <|eot_id|>, ...) are
 *     forced to the control type, and end generation with EOS/EOT/EOM;
 *   - phi-3 special tokens swallow the whitespace after them.
 * Where llama.cpp has no answer or a bug, this file chooses safety: invalid
 * UTF-8 keeps its bytes (byte fallback) instead of becoming U+FFFD, an SPM
 * character the vocab cannot spell (no byte tokens) becomes UNK, and a
 * missing or out-of-range special id (4294967295) is "unset".
 */
#define _GNU_SOURCE /* memmem */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"

/* ---------------------------------------------------------------- helpers */

bool tok_vec_grow(struct tok_vec *vec, size_t need)
{
    if (vec->oom) return false;
    if (need <= vec->cap) return true;
    size_t nc = vec->cap ? vec->cap : 16;
    while (nc < need) {
        if (nc > SIZE_MAX / 2 / sizeof(int32_t)) {
            vec->oom = true;
            return false;
        }
        nc *= 2;
    }
    int32_t *nv = realloc(vec->v, nc * sizeof *nv);
    if (!nv) {
        vec->oom = true;
        return false;
    }
    vec->v = nv;
    vec->cap = nc;
    return true;
}

bool tok_scratch_syms(struct tok_scratch *s, size_t n)
{
    if (n <= s->sym_cap) return true;
    size_t cap = s->sym_cap ? s->sym_cap : 256;
    while (cap < n) cap *= 2;
    uint32_t *st = realloc(s->start, cap * sizeof *st);
    if (!st) return false;
    s->start = st;
    uint32_t *ln = realloc(s->n, cap * sizeof *ln);
    if (!ln) return false;
    s->n = ln;
    int32_t *pv = realloc(s->prev, cap * sizeof *pv);
    if (!pv) return false;
    s->prev = pv;
    int32_t *nx = realloc(s->next, cap * sizeof *nx);
    if (!nx) return false;
    s->next = nx;
    s->sym_cap = cap;
    return true;
}

static inline bool bigram_before(const struct bigram *a, const struct bigram *b)
{
    return a->priority > b->priority || (a->priority == b->priority && a->left < b->left);
}

bool bigram_push(struct bigram_queue *q, struct bigram x)
{
    if (q->n == q->cap) {
        size_t nc = q->cap ? q->cap * 2 : 64;
        struct bigram *nv = realloc(q->v, nc * sizeof *nv);
        if (!nv) return false;
        q->v = nv;
        q->cap = nc;
    }
    size_t i = q->n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!bigram_before(&x, &q->v[p])) break;
        q->v[i] = q->v[p];
        i = p;
    }
    q->v[i] = x;
    return true;
}

struct bigram bigram_pop(struct bigram_queue *q)
{
    struct bigram top = q->v[0], x = q->v[--q->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= q->n) break;
        if (c + 1 < q->n && bigram_before(&q->v[c + 1], &q->v[c])) c++;
        if (!bigram_before(&q->v[c], &x)) break;
        q->v[i] = q->v[c];
        i = c;
    }
    if (q->n) q->v[i] = x;
    return top;
}

void tok_scratch_free(struct tok_scratch *s)
{
    free(s->buf);
    free(s->start);
    free(s->n);
    free(s->prev);
    free(s->next);
    free(s->heap);
    pretok_ws_free(s->pre);
    memset(s, 0, sizeof *s);
}

static inline uint64_t rd64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline uint64_t fmix64(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

uint64_t tok_hash_bytes(const void *data, size_t n, uint64_t seed)
{
    const unsigned char *p = data;
    uint64_t h = seed ^ (n * 0x9E3779B97F4A7C15ULL);
    while (n >= 8) {
        h ^= rd64(p) * 0x87c37b91114253d5ULL;
        h = ((h << 31) | (h >> 33)) * 0x4cf5ad432745937fULL;
        p += 8;
        n -= 8;
    }
    uint64_t k = 0;
    for (size_t i = 0; i < n; i++) k |= (uint64_t)p[i] << (8 * i);
    h ^= k * 0x87c37b91114253d5ULL;
    return fmix64(h);
}

bool tok_map_init(struct tok_map *m, uint32_t expected)
{
    memset(m, 0, sizeof *m);
    uint64_t slots = 16;
    while (slots < (uint64_t)expected * 2) slots *= 2;
    if (slots > (1ull << 31)) return false;
    m->slots = calloc(slots, sizeof *m->slots);
    m->mask = (uint32_t)(slots - 1);
    m->cap = expected ? expected : 1;
    m->key = malloc(m->cap * sizeof *m->key);
    m->klen = malloc(m->cap * sizeof *m->klen);
    m->aux = malloc(m->cap * sizeof *m->aux);
    m->val = malloc(m->cap * sizeof *m->val);
    if (!m->slots || !m->key || !m->klen || !m->aux || !m->val) {
        tok_map_free(m);
        return false;
    }
    return true;
}

void tok_map_free(struct tok_map *m)
{
    free(m->slots);
    free(m->key);
    free(m->klen);
    free(m->aux);
    free(m->val);
    memset(m, 0, sizeof *m);
}

/* A slot holds (entry index + 1) in the low 32 bits and the high 32 bits of
 * the key's hash above, so most mismatches never touch the entry arrays. */
static inline uint64_t map_hash(const char *key, size_t klen, uint32_t aux)
{
    return tok_hash_bytes(key, klen, 0x1234567ULL + aux);
}

static inline bool map_eq(const struct tok_map *m, uint32_t e, const char *key, size_t klen, uint32_t aux)
{
    return m->klen[e] == klen && m->aux[e] == aux && memcmp(m->key[e], key, klen) == 0;
}

int32_t tok_map_get(const struct tok_map *m, const char *key, size_t klen, uint32_t aux)
{
    if (!m->slots) return -1;
    uint64_t h = map_hash(key, klen, aux);
    uint32_t tag = (uint32_t)(h >> 32), i = (uint32_t)h & m->mask;
    for (;;) {
        uint64_t sl = m->slots[i];
        if (!sl) return -1;
        uint32_t e = (uint32_t)sl - 1;
        if ((uint32_t)(sl >> 32) == tag && map_eq(m, e, key, klen, aux)) return m->val[e];
        i = (i + 1) & m->mask;
    }
}

static bool map_rehash(struct tok_map *m)
{
    uint64_t slots = (uint64_t)m->mask + 1;
    if (slots >= (1ull << 31)) return false;
    slots *= 2;
    uint64_t *ns = calloc(slots, sizeof *ns);
    if (!ns) return false;
    uint32_t mask = (uint32_t)(slots - 1);
    for (uint32_t e = 0; e < m->n; e++) {
        uint64_t h = map_hash(m->key[e], m->klen[e], m->aux[e]);
        uint32_t i = (uint32_t)h & mask;
        while (ns[i]) i = (i + 1) & mask;
        ns[i] = (h >> 32 << 32) | (uint64_t)(e + 1);
    }
    free(m->slots);
    m->slots = ns;
    m->mask = mask;
    return true;
}

bool tok_map_put(struct tok_map *m, const char *key, uint32_t klen, uint32_t aux, int32_t val,
                 bool *inserted)
{
    *inserted = false;
    if (m->n == m->cap) {
        if (m->cap > UINT32_MAX / 2) return false;
        uint32_t nc = m->cap * 2;
        const char **k = realloc(m->key, nc * sizeof *k);
        if (!k) return false;
        m->key = k;
        uint32_t *kl = realloc(m->klen, nc * sizeof *kl);
        if (!kl) return false;
        m->klen = kl;
        uint32_t *ax = realloc(m->aux, nc * sizeof *ax);
        if (!ax) return false;
        m->aux = ax;
        int32_t *v = realloc(m->val, nc * sizeof *v);
        if (!v) return false;
        m->val = v;
        m->cap = nc;
    }
    if ((uint64_t)(m->n + 1) * 2 > (uint64_t)m->mask + 1 && !map_rehash(m)) return false;
    uint64_t h = map_hash(key, klen, aux);
    uint32_t tag = (uint32_t)(h >> 32), i = (uint32_t)h & m->mask;
    for (;;) {
        uint64_t sl = m->slots[i];
        if (!sl) break;
        if ((uint32_t)(sl >> 32) == tag && map_eq(m, (uint32_t)sl - 1, key, klen, aux)) return true;
        i = (i + 1) & m->mask;
    }
    uint32_t e = m->n++;
    m->key[e] = key;
    m->klen[e] = klen;
    m->aux[e] = aux;
    m->val[e] = val;
    m->slots[i] = ((uint64_t)tag << 32) | (uint64_t)(e + 1);
    *inserted = true;
    return true;
}

static void seterr(char *err, size_t errlen, const char *path, const char *fmt, ...)
{
    if (!err || !errlen) return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(err, errlen, "%s: %s", path ? path : "tokenizer", msg);
}

/* A printable, bounded copy of a metadata string for messages. */
static void printable(char *dst, size_t cap, const char *s, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n && o + 1 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        dst[o++] = (c >= 0x20 && c < 0x7F) ? (char)c : '?';
    }
    dst[o] = 0;
}

static bool str_is(const char *s, size_t n, const char *lit)
{
    size_t l = strlen(lit);
    return n == l && memcmp(s, lit, l) == 0;
}

/* ------------------------------------------------------------- lifecycle */

void tokenizer_free(struct tokenizer *t)
{
    if (!t) return;
    free(t->pool);
    free(t->tok_off);
    free(t->tok_len);
    free(t->score);
    free(t->attr);
    tok_map_free(&t->vocab);
    free(t->out_pool);
    free(t->out_off);
    free(t->out_len);
    free(t->special);
    free(t->trie_key);
    free(t->trie_child);
    free(t->trie_special);
    bpe_merges_free(t->merges);
    pretok_free(t->pre);
    free(t);
}

/* Copy the token texts (strs[i], n of them) into the tokenizer and index them. */
static bool build_vocab(struct tokenizer *t, int32_t n, const struct gguf_str *strs, const char *path,
                        char *err, size_t errlen)
{
    size_t total = 0;
    for (int32_t i = 0; i < n; i++) {
        if (strs[i].len > (1u << 30)) {
            seterr(err, errlen, path, "token %d is %llu bytes long", i, (unsigned long long)strs[i].len);
            return false;
        }
        total += strs[i].len + 1;
    }
    t->n_vocab = n;
    t->pool = malloc(total ? total : 1);
    t->tok_off = malloc((size_t)n * sizeof *t->tok_off);
    t->tok_len = malloc((size_t)n * sizeof *t->tok_len);
    t->score = calloc((size_t)n, sizeof *t->score);
    t->attr = malloc((size_t)n * sizeof *t->attr);
    if (!t->pool || !t->tok_off || !t->tok_len || !t->score || !t->attr ||
        !tok_map_init(&t->vocab, (uint32_t)n))
        goto oom;
    size_t off = 0;
    for (int32_t i = 0; i < n; i++) {
        t->tok_off[i] = off;
        t->tok_len[i] = (uint32_t)strs[i].len;
        if (strs[i].len) memcpy(t->pool + off, strs[i].ptr, strs[i].len);
        t->pool[off + strs[i].len] = 0;
        off += strs[i].len + 1;
        t->attr[i] = TOK_ATTR_NORMAL;
    }
    /* Index after copying (keys point into the pool). Empty tokens can never
     * be matched; duplicates keep the first id. */
    for (int32_t i = 0; i < n; i++) {
        bool ins;
        if (t->tok_len[i] &&
            !tok_map_put(&t->vocab, t->pool + t->tok_off[i], t->tok_len[i], 0, i, &ins))
            goto oom;
    }
    return true;
oom:
    seterr(err, errlen, path, "out of memory for a %d-token vocab", n);
    return false;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* "<0xXX>" → XX, else -1 */
static int byte_piece(const char *s, size_t n)
{
    if (n != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>') return -1;
    int h = hexval(s[3]), l = hexval(s[4]);
    return h < 0 || l < 0 ? -1 : h * 16 + l;
}

/* The bytes a token prints as (llama.cpp's token_to_piece with special=false).
 * Never longer than the token's text, so the output pool is the pool's size. */
static bool build_outputs(struct tokenizer *t)
{
    size_t total = 1;
    for (int32_t id = 0; id < t->n_vocab; id++) total += t->tok_len[id];
    t->out_pool = malloc(total);
    t->out_off = malloc((size_t)t->n_vocab * sizeof *t->out_off);
    t->out_len = malloc((size_t)t->n_vocab * sizeof *t->out_len);
    if (!t->out_pool || !t->out_off || !t->out_len) return false;
    char *o = t->out_pool;
    size_t len = 0;
    t->max_out_len = 0;
    for (int32_t id = 0; id < t->n_vocab; id++) {
        const char *s = t->pool + t->tok_off[id];
        size_t n = t->tok_len[id];
        uint16_t a = t->attr[id];
        size_t start = len;
        int b = -1;
        if (a & (TOK_ATTR_UNKNOWN | TOK_ATTR_CONTROL)) {
            /* nothing */
        } else if (a & TOK_ATTR_USER) {
            memcpy(o + len, s, n);
            len += n;
        } else if ((a & TOK_ATTR_BYTE) && (b = byte_piece(s, n)) >= 0) {
            o[len++] = (char)b;
        } else if (a & (TOK_ATTR_NORMAL | TOK_ATTR_BYTE)) {
            if (t->kind == TOK_SPM) {
                for (size_t i = 0; i < n;) {
                    if (i + 3 <= n && memcmp(s + i, "\xE2\x96\x81", 3) == 0) {
                        o[len++] = ' ';
                        i += 3;
                    } else {
                        o[len++] = s[i++];
                    }
                }
            } else {
                for (size_t i = 0; i < n;) {
                    uint32_t cp;
                    int l = tok_utf8_decode((const unsigned char *)s + i, n - i, &cp);
                    int byte = l ? bpe_byte_decode(cp) : -1;
                    if (byte >= 0) {
                        o[len++] = (char)byte;
                    } else {
                        /* not a GPT-2 byte character: keep it as it is */
                        size_t k = l ? (size_t)l : 1;
                        memcpy(o + len, s + i, k);
                        len += k;
                    }
                    i += l ? (size_t)l : 1;
                }
            }
        }
        t->out_off[id] = start;
        t->out_len[id] = (uint32_t)(len - start);
        if (len - start > t->max_out_len) t->max_out_len = len - start;
    }
    return true;
}

struct special_key {
    uint32_t len;
    int32_t id;
};

static int cmp_special(const void *a, const void *b)
{
    const struct special_key *x = a, *y = b;
    if (x->len != y->len) return x->len > y->len ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static int32_t trie_child(const struct tokenizer *t, int32_t node, unsigned char c)
{
    uint64_t key = ((uint64_t)node << 8 | c) + 1;
    uint32_t i = (uint32_t)fmix64(key) & t->trie_mask;
    for (;;) {
        if (t->trie_key[i] == 0) return -1;
        if (t->trie_key[i] == key) return t->trie_child[i];
        i = (i + 1) & t->trie_mask;
    }
}

/* The list of special tokens (longest first) and a trie over their texts. */
static bool build_specials(struct tokenizer *t)
{
    int n = 0;
    size_t total = 1;
    for (int32_t id = 0; id < t->n_vocab; id++)
        if ((t->attr[id] & (TOK_ATTR_CONTROL | TOK_ATTR_USER | TOK_ATTR_UNKNOWN)) && t->tok_len[id]) {
            n++;
            total += t->tok_len[id];
        }
    t->special = malloc((size_t)(n ? n : 1) * sizeof *t->special);
    if (!t->special) return false;
    struct special_key *keys = malloc((size_t)(n ? n : 1) * sizeof *keys);
    if (!keys) return false;
    t->n_special = 0;
    for (int32_t id = 0; id < t->n_vocab; id++)
        if ((t->attr[id] & (TOK_ATTR_CONTROL | TOK_ATTR_USER | TOK_ATTR_UNKNOWN)) && t->tok_len[id])
            keys[t->n_special++] = (struct special_key){t->tok_len[id], id};
    qsort(keys, (size_t)n, sizeof *keys, cmp_special);
    for (int k = 0; k < n; k++) t->special[k] = keys[k].id;
    free(keys);

    if (total > INT32_MAX / 2) return false;
    uint64_t slots = 16;
    while (slots < total * 2) slots *= 2;
    t->trie_mask = (uint32_t)(slots - 1);
    t->trie_key = calloc(slots, sizeof *t->trie_key);
    t->trie_child = malloc(slots * sizeof *t->trie_child);
    t->trie_special = malloc(total * sizeof *t->trie_special);
    if (!t->trie_key || !t->trie_child || !t->trie_special) return false;
    t->trie_nodes = 1;
    t->trie_special[0] = -1;
    for (int k = 0; k < t->n_special; k++) {
        int32_t id = t->special[k], node = 0;
        const unsigned char *s = (const unsigned char *)t->pool + t->tok_off[id];
        for (uint32_t j = 0; j < t->tok_len[id]; j++) {
            int32_t c = trie_child(t, node, s[j]);
            if (c < 0) {
                c = t->trie_nodes++;
                t->trie_special[c] = -1;
                uint64_t key = ((uint64_t)node << 8 | s[j]) + 1;
                uint32_t i = (uint32_t)fmix64(key) & t->trie_mask;
                while (t->trie_key[i]) i = (i + 1) & t->trie_mask;
                t->trie_key[i] = key;
                t->trie_child[i] = c;
            }
            node = c;
        }
        if (t->trie_special[node] < 0) t->trie_special[node] = k;
    }
    return true;
}

static int32_t find_text(const struct tokenizer *t, const char *s)
{
    return tok_map_get(&t->vocab, s, strlen(s), 0);
}

/* End-of-generation tokens and other texts llama.cpp recognises (and forces to
 * the control type), then everything derived from the attributes. */
static bool finalize(struct tokenizer *t, bool phi3)
{
    static const char *const eog_texts[] = {
        "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<end_of_turn>",
        "<|endoftext|>", "<|eom_id|>", "<EOT>", "_<EOT>", "<|end_of_text|>", "<end_of_utterance>",
    };
    static const char *const eot_texts[] = {
        "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>",
        "<EOT>", "_<EOT>", "<\357\275\234end\342\226\201of\342\226\201sentence\357\275\234>",
        "<end_of_utterance>",
    };
    /* FIM tokens: prefix/suffix/middle are only forced to control; pad, repo
     * and file separator also end generation (as in llama.cpp). */
    static const char *const fim_texts[][9] = {
        {"<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<\357\275\234fim\342\226\201begin\357\275\234>",
         "<PRE>", "\xE2\x96\x81<PRE>", "<|code_prefix|>", NULL},
        {"<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<\357\275\234fim\342\226\201hole\357\275\234>",
         "<SUF>", "\xE2\x96\x81<SUF>", "<|code_suffix|>", NULL},
        {"<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<\357\275\234fim\342\226\201end\357\275\234>",
         "<MID>", "\xE2\x96\x81<MID>", "<|code_middle|>", NULL},
        {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", NULL},
        {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>", NULL},
        {"<|file_sep|>", NULL},
    };
    int32_t id;

    if (t->eot < 0) {
        int32_t best = -1;
        for (size_t i = 0; i < sizeof eot_texts / sizeof *eot_texts; i++) {
            id = find_text(t, eot_texts[i]);
            if (id >= 0 && (best < 0 || id < best)) best = id;
        }
        if (best >= 0) {
            t->eot = best;
            t->attr[best] |= TOK_ATTR_CONTROL;
        }
    }
    if (t->eom < 0 && (id = find_text(t, "<|eom_id|>")) >= 0) {
        t->eom = id;
        t->attr[id] |= TOK_ATTR_CONTROL;
    }
    for (size_t k = 0; k < sizeof fim_texts / sizeof *fim_texts; k++) {
        int32_t best = -1;
        for (size_t i = 0; fim_texts[k][i]; i++) {
            id = find_text(t, fim_texts[k][i]);
            if (id >= 0 && (best < 0 || id < best)) best = id;
        }
        if (best >= 0) {
            t->attr[best] |= TOK_ATTR_CONTROL;
            if (k >= 3) t->attr[best] |= TOK_ATTR_EOG;
        }
    }
    for (size_t i = 0; i < sizeof eog_texts / sizeof *eog_texts; i++) {
        if ((id = find_text(t, eog_texts[i])) >= 0) t->attr[id] |= TOK_ATTR_CONTROL | TOK_ATTR_EOG;
    }
    if (t->eos >= 0) t->attr[t->eos] |= TOK_ATTR_EOG;
    if (t->eot >= 0) t->attr[t->eot] |= TOK_ATTR_EOG;
    if (t->eom >= 0) t->attr[t->eom] |= TOK_ATTR_EOG;
    /* gpt-oss (harmony): <|end|> ends a message, not the generation */
    int32_t ret = find_text(t, "<|return|>"), call = find_text(t, "<|call|>"), end = find_text(t, "<|end|>");
    if (ret >= 0 && call >= 0 && end >= 0) t->attr[end] = TOK_ATTR_USER;

    if (!build_specials(t)) return false;
    if (phi3) {
        /* llama.cpp: phi-3 special tokens eat the whitespace after them */
        for (int k = 0; k < t->n_special; k++) t->attr[t->special[k]] |= TOK_ATTR_RSTRIP;
        if ((id = find_text(t, "</s>")) >= 0) t->attr[id] |= TOK_ATTR_RSTRIP;
        const char *keep[] = {"<unk>", "<s>", "<|endoftext|>"};
        for (int i = 0; i < 3; i++)
            if ((id = find_text(t, keep[i])) >= 0) t->attr[id] &= (uint16_t)~TOK_ATTR_RSTRIP;
    }

    /* byte fallback tables */
    for (int b = 0; b < 256; b++) {
        char c = (char)b;
        if (t->kind == TOK_SPM) {
            char buf[7];
            snprintf(buf, sizeof buf, "<0x%02X>", b);
            id = tok_map_get(&t->vocab, buf, 6, 0);
            if (id < 0) id = tok_map_get(&t->vocab, &c, 1, 0);
        } else {
            id = tok_map_get(&t->vocab, &c, 1, 0);
        }
        t->byte_tok[b] = id;
    }
    if (t->bos < 0) t->add_bos = false;
    if (t->eos < 0) t->add_eos = false;
    return build_outputs(t);
}

static struct tokenizer *tok_new(void)
{
    struct tokenizer *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->bos = t->eos = t->unk = t->eot = t->eom = t->pad = -1;
    return t;
}

/* ------------------------------------------------------------------ GGUF */

static bool get_id(const struct gguf_file *f, const char *key, int32_t n, int32_t *id, const char *path,
                   char *err, size_t errlen)
{
    int64_t v;
    enum gguf_get r = gguf_get_int(f, key, &v);
    if (r == GGUF_MISSING) return true;
    if (r == GGUF_WRONG_TYPE) {
        seterr(err, errlen, path, "%s is not an integer", key);
        return false;
    }
    *id = (v >= 0 && v < n) ? (int32_t)v : -1; /* 4294967295 (and anything out of range): unset */
    return true;
}

static bool get_flag(const struct gguf_file *f, const char *key, bool *out, const char *path, char *err,
                     size_t errlen)
{
    bool v;
    enum gguf_get r = gguf_get_bool(f, key, &v);
    if (r == GGUF_MISSING) return true;
    if (r == GGUF_WRONG_TYPE) {
        seterr(err, errlen, path, "%s is not a bool", key);
        return false;
    }
    *out = v;
    return true;
}

static bool is_numeric(enum gguf_type ty)
{
    return ty == GGUF_U8 || ty == GGUF_I8 || ty == GGUF_U16 || ty == GGUF_I16 || ty == GGUF_U32 ||
           ty == GGUF_I32 || ty == GGUF_F32 || ty == GGUF_U64 || ty == GGUF_I64 || ty == GGUF_F64;
}

static bool is_integer(enum gguf_type ty)
{
    return is_numeric(ty) && ty != GGUF_F32 && ty != GGUF_F64;
}

struct tokenizer *tokenizer_load_gguf(const struct gguf_file *f, char *err, size_t errlen)
{
    if (err && errlen) err[0] = 0;
    if (!f) {
        seterr(err, errlen, NULL, "no file");
        return NULL;
    }
    const char *path = f->path;
    struct gguf_str model;
    enum gguf_get r = gguf_get_str(f, "tokenizer.ggml.model", &model);
    if (r == GGUF_MISSING) {
        seterr(err, errlen, path, "no tokenizer.ggml.model (the file has no vocabulary)");
        return NULL;
    }
    if (r == GGUF_WRONG_TYPE) {
        seterr(err, errlen, path, "tokenizer.ggml.model is not a string");
        return NULL;
    }
    enum tok_kind kind;
    if (str_is(model.ptr, model.len, "llama")) {
        kind = TOK_SPM;
    } else if (str_is(model.ptr, model.len, "gpt2")) {
        kind = TOK_BPE;
    } else {
        char m[64];
        printable(m, sizeof m, model.ptr, model.len);
        seterr(err, errlen, path, "unsupported tokenizer model '%s'", m);
        return NULL;
    }

    const struct gguf_kv *tokens = gguf_find(f, "tokenizer.ggml.tokens");
    if (!tokens) {
        seterr(err, errlen, path, "no tokenizer.ggml.tokens");
        return NULL;
    }
    if (tokens->type != GGUF_ARRAY || tokens->arr_type != GGUF_STRING || !tokens->strs) {
        seterr(err, errlen, path, "tokenizer.ggml.tokens is not an array of strings");
        return NULL;
    }
    if (tokens->arr_n == 0 || tokens->arr_n > INT32_MAX / 2) {
        seterr(err, errlen, path, "tokenizer.ggml.tokens has %llu entries",
               (unsigned long long)tokens->arr_n);
        return NULL;
    }
    int32_t n = (int32_t)tokens->arr_n;

    const struct gguf_kv *scores = gguf_find(f, "tokenizer.ggml.scores");
    if (scores) {
        if (scores->type != GGUF_ARRAY || !is_numeric(scores->arr_type)) {
            seterr(err, errlen, path, "tokenizer.ggml.scores is not an array of numbers");
            return NULL;
        }
        if (scores->arr_n != (uint64_t)n) {
            seterr(err, errlen, path, "tokenizer.ggml.scores has %llu entries for %d tokens",
                   (unsigned long long)scores->arr_n, n);
            return NULL;
        }
    }
    const struct gguf_kv *types = gguf_find(f, "tokenizer.ggml.token_type");
    if (types) {
        if (types->type != GGUF_ARRAY || !is_integer(types->arr_type)) {
            seterr(err, errlen, path, "tokenizer.ggml.token_type is not an array of integers");
            return NULL;
        }
        if (types->arr_n != (uint64_t)n) {
            seterr(err, errlen, path, "tokenizer.ggml.token_type has %llu entries for %d tokens",
                   (unsigned long long)types->arr_n, n);
            return NULL;
        }
    }
    const struct gguf_kv *merges = NULL;
    if (kind == TOK_BPE) {
        merges = gguf_find(f, "tokenizer.ggml.merges");
        if (!merges) {
            seterr(err, errlen, path, "no tokenizer.ggml.merges (needed by a gpt2 tokenizer)");
            return NULL;
        }
        if (merges->type != GGUF_ARRAY || merges->arr_type != GGUF_STRING || !merges->strs) {
            seterr(err, errlen, path, "tokenizer.ggml.merges is not an array of strings");
            return NULL;
        }
    }

    struct tokenizer *t = tok_new();
    if (!t) {
        seterr(err, errlen, path, "out of memory");
        return NULL;
    }
    t->kind = kind;
    snprintf(t->model, sizeof t->model, "%s", kind == TOK_SPM ? "llama" : "gpt2");
    if (!build_vocab(t, n, tokens->strs, path, err, errlen)) goto fail;

    for (int32_t i = 0; i < n; i++) {
        if (scores) {
            double s = gguf_arr_float(scores, (uint64_t)i);
            if (isnan(s)) {
                seterr(err, errlen, path, "tokenizer.ggml.scores[%d] is NaN", i);
                goto fail;
            }
            t->score[i] = (float)s;
        }
        if (types) {
            switch (gguf_arr_int(types, (uint64_t)i)) {
            case 1: t->attr[i] = TOK_ATTR_NORMAL; break;
            case 2: t->attr[i] = TOK_ATTR_UNKNOWN; break;
            case 3: t->attr[i] = TOK_ATTR_CONTROL; break;
            case 4: t->attr[i] = TOK_ATTR_USER; break;
            case 5: t->attr[i] = TOK_ATTR_UNUSED; break;
            case 6: t->attr[i] = TOK_ATTR_BYTE; break;
            default: t->attr[i] = 0; break; /* undefined */
            }
        }
    }

    if (kind == TOK_SPM && !types) {
        /* old conversions without token types: <0xXX> pieces are still bytes */
        for (int32_t i = 0; i < n; i++)
            if (byte_piece(t->pool + t->tok_off[i], t->tok_len[i]) >= 0) t->attr[i] = TOK_ATTR_BYTE;
    }
    if (kind == TOK_SPM) {
        t->bos = n > 1 ? 1 : -1;
        t->eos = n > 2 ? 2 : -1;
        t->unk = 0;
        t->add_bos = true;
        t->add_space_prefix = true;
    } else {
        t->merges = bpe_merges_load(merges, err, errlen);
        if (!t->merges) {
            char msg[400];
            snprintf(msg, sizeof msg, "%s", err ? err : "");
            seterr(err, errlen, path, "%s", msg);
            goto fail;
        }
        struct gguf_str pre = {0};
        r = gguf_get_str(f, "tokenizer.ggml.pre", &pre);
        if (r == GGUF_WRONG_TYPE) {
            seterr(err, errlen, path, "tokenizer.ggml.pre is not a string");
            goto fail;
        }
        char name[64] = "";
        if (r == GGUF_OK) {
            /* a name with NUL bytes or too long for any known one stays unknown */
            if (pre.len < sizeof name && !memchr(pre.ptr, 0, pre.len)) {
                memcpy(name, pre.ptr, pre.len);
                name[pre.len] = 0;
            } else {
                snprintf(name, sizeof name, "?");
            }
        }
        struct pretok_info info;
        char perr[256] = "";
        t->pre = pretok_create(r == GGUF_OK ? name : NULL, &info, perr, sizeof perr);
        if (!t->pre) {
            seterr(err, errlen, path, "%s", perr);
            goto fail;
        }
        if (!info.known) {
            char shown[64];
            printable(shown, sizeof shown, pre.ptr, pre.len);
            if (r == GGUF_OK)
                fprintf(stderr, "%s: warning: unknown pre-tokenizer '%s', using the default split\n",
                        path ? path : "tokenizer", shown);
            else
                fprintf(stderr, "%s: warning: no tokenizer.ggml.pre, using the default split\n",
                        path ? path : "tokenizer");
        }
        if (r == GGUF_OK) printable(t->pre_name, sizeof t->pre_name, pre.ptr, pre.len);
        else snprintf(t->pre_name, sizeof t->pre_name, "default");
        t->ignore_merges = info.ignore_merges;
        t->add_bos = info.add_bos;
        t->add_space_prefix = false;
        t->bos = t->eos = t->unk = -1;
    }

    if (!get_id(f, "tokenizer.ggml.bos_token_id", n, &t->bos, path, err, errlen) ||
        !get_id(f, "tokenizer.ggml.eos_token_id", n, &t->eos, path, err, errlen) ||
        !get_id(f, "tokenizer.ggml.unknown_token_id", n, &t->unk, path, err, errlen) ||
        !get_id(f, "tokenizer.ggml.eot_token_id", n, &t->eot, path, err, errlen) ||
        !get_id(f, "tokenizer.ggml.eom_token_id", n, &t->eom, path, err, errlen) ||
        !get_id(f, "tokenizer.ggml.padding_token_id", n, &t->pad, path, err, errlen) ||
        !get_flag(f, "tokenizer.ggml.add_bos_token", &t->add_bos, path, err, errlen) ||
        !get_flag(f, "tokenizer.ggml.add_eos_token", &t->add_eos, path, err, errlen) ||
        !get_flag(f, "tokenizer.ggml.add_space_prefix", &t->add_space_prefix, path, err, errlen))
        goto fail;
    {
        /* fim / eog ids given by key also end generation */
        int32_t fim_ids[3] = {-1, -1, -1};
        if (!get_id(f, "tokenizer.ggml.fim_pad_token_id", n, &fim_ids[0], path, err, errlen) ||
            !get_id(f, "tokenizer.ggml.fim_rep_token_id", n, &fim_ids[1], path, err, errlen) ||
            !get_id(f, "tokenizer.ggml.fim_sep_token_id", n, &fim_ids[2], path, err, errlen))
            goto fail;
        for (int i = 0; i < 3; i++)
            if (fim_ids[i] >= 0) t->attr[fim_ids[i]] |= TOK_ATTR_EOG;
    }

    bool phi3 = false;
    struct gguf_str gname;
    if (gguf_get_str(f, "general.name", &gname) == GGUF_OK) {
        char lower[256];
        size_t l = gname.len < sizeof lower - 1 ? gname.len : sizeof lower - 1;
        for (size_t i = 0; i < l; i++) lower[i] = (char)tolower((unsigned char)gname.ptr[i]);
        lower[l] = 0;
        phi3 = strstr(lower, "phi-3") || strstr(lower, "phi3");
    }
    if (!finalize(t, phi3)) {
        seterr(err, errlen, path, "out of memory");
        goto fail;
    }
    return t;
fail:
    tokenizer_free(t);
    return NULL;
}

/* -------------------------------------------------------------- llama2.c */

struct tokenizer *tokenizer_load_llama2c(const char *path, int n_vocab, char *err, size_t errlen)
{
    if (err && errlen) err[0] = 0;
    if (!path) {
        seterr(err, errlen, NULL, "no path");
        return NULL;
    }
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        seterr(err, errlen, path, "%s", strerror(errno));
        return NULL;
    }
    unsigned char *data = NULL;
    size_t size = 0, cap = 0;
    for (;;) {
        if (size == cap) {
            if (cap >= (1u << 30)) {
                fclose(fp);
                free(data);
                seterr(err, errlen, path, "file too large for a tokenizer");
                return NULL;
            }
            size_t nc = cap ? cap * 2 : 1 << 16;
            unsigned char *nd = realloc(data, nc);
            if (!nd) {
                fclose(fp);
                free(data);
                seterr(err, errlen, path, "out of memory");
                return NULL;
            }
            data = nd;
            cap = nc;
        }
        size_t got = fread(data + size, 1, cap - size, fp);
        size += got;
        if (got == 0) break;
    }
    bool rerr = ferror(fp);
    fclose(fp);
    struct tokenizer *t = NULL;
    struct gguf_str *strs = NULL;
    char *conv = NULL;
    float *scores = NULL;
    if (rerr) {
        seterr(err, errlen, path, "read error");
        goto fail;
    }
    if (size < 4) {
        seterr(err, errlen, path, "truncated llama2.c tokenizer (no header)");
        goto fail;
    }
    int32_t max_len;
    memcpy(&max_len, data, 4);
    if (max_len <= 0 || max_len > (1 << 20)) {
        seterr(err, errlen, path, "not a llama2.c tokenizer (max_token_length %d)", max_len);
        goto fail;
    }
    /* first pass: count and validate */
    size_t pos = 4;
    int32_t count = 0;
    while (n_vocab > 0 ? count < n_vocab : pos < size) {
        if (size - pos < 8) {
            if (n_vocab > 0)
                seterr(err, errlen, path, "truncated llama2.c tokenizer: token %d of %d is missing", count,
                       n_vocab);
            else
                seterr(err, errlen, path, "truncated llama2.c tokenizer: token %d is cut short", count);
            goto fail;
        }
        float sc;
        int32_t len;
        memcpy(&sc, data + pos, 4);
        memcpy(&len, data + pos + 4, 4);
        if (len < 0 || len > max_len) {
            seterr(err, errlen, path, "token %d has length %d (max_token_length %d)", count, len, max_len);
            goto fail;
        }
        if (isnan(sc)) {
            seterr(err, errlen, path, "token %d has a NaN score", count);
            goto fail;
        }
        if ((size_t)len > size - pos - 8) {
            seterr(err, errlen, path, "truncated llama2.c tokenizer: token %d is cut short", count);
            goto fail;
        }
        pos += 8 + (size_t)len;
        if (++count > (1 << 24)) {
            seterr(err, errlen, path, "too many tokens");
            goto fail;
        }
    }
    if (count == 0) {
        seterr(err, errlen, path, "llama2.c tokenizer has no tokens");
        goto fail;
    }
    if (pos != size) {
        seterr(err, errlen, path,
               "%zu bytes follow the %d tokens: the tokenizer does not match the model's vocab size",
               size - pos, count);
        goto fail;
    }

    /* second pass: convert to the GGUF form (' ' → '▁', "\n<s>\n" → "<s>") */
    strs = malloc((size_t)count * sizeof *strs);
    scores = malloc((size_t)count * sizeof *scores);
    conv = malloc(size * 3 + 16);
    if (!strs || !scores || !conv) {
        seterr(err, errlen, path, "out of memory");
        goto fail;
    }
    pos = 4;
    size_t co = 0;
    for (int32_t i = 0; i < count; i++) {
        int32_t len;
        memcpy(&scores[i], data + pos, 4);
        memcpy(&len, data + pos + 4, 4);
        const char *s = (const char *)data + pos + 8;
        pos += 8 + (size_t)len;
        strs[i].ptr = conv + co;
        if (i == 1 && str_is(s, (size_t)len, "\n<s>\n")) {
            memcpy(conv + co, "<s>", 3);
            co += 3;
        } else if (i == 2 && str_is(s, (size_t)len, "\n</s>\n")) {
            memcpy(conv + co, "</s>", 4);
            co += 4;
        } else {
            for (int32_t j = 0; j < len; j++) {
                if (s[j] == ' ') {
                    memcpy(conv + co, "\xE2\x96\x81", 3);
                    co += 3;
                } else {
                    conv[co++] = s[j];
                }
            }
        }
        strs[i].len = (uint64_t)(conv + co - strs[i].ptr);
    }

    t = tok_new();
    if (!t) {
        seterr(err, errlen, path, "out of memory");
        goto fail;
    }
    t->kind = TOK_SPM;
    snprintf(t->model, sizeof t->model, "llama");
    if (!build_vocab(t, count, strs, path, err, errlen)) goto fail;
    for (int32_t i = 0; i < count; i++) {
        t->score[i] = scores[i];
        const char *s = t->pool + t->tok_off[i];
        if (i == 0 && str_is(s, t->tok_len[i], "<unk>")) t->attr[i] = TOK_ATTR_UNKNOWN;
        else if (i == 1 || i == 2) t->attr[i] = TOK_ATTR_CONTROL;
        else if (byte_piece(s, t->tok_len[i]) >= 0) t->attr[i] = TOK_ATTR_BYTE;
        else t->attr[i] = TOK_ATTR_NORMAL;
    }
    t->unk = t->attr[0] == TOK_ATTR_UNKNOWN ? 0 : -1;
    t->bos = count > 1 ? 1 : -1;
    t->eos = count > 2 ? 2 : -1;
    t->add_bos = true;
    t->add_space_prefix = true;
    if (!finalize(t, false)) {
        seterr(err, errlen, path, "out of memory");
        goto fail;
    }
    free(data);
    free(strs);
    free(scores);
    free(conv);
    return t;
fail:
    free(data);
    free(strs);
    free(scores);
    free(conv);
    tokenizer_free(t);
    return NULL;
}

/* -------------------------------------------------------------- queries */

int tokenizer_n_vocab(const struct tokenizer *t) { return t ? t->n_vocab : 0; }
int32_t tokenizer_bos(const struct tokenizer *t) { return t ? t->bos : -1; }
int32_t tokenizer_eos(const struct tokenizer *t) { return t ? t->eos : -1; }
bool tokenizer_add_bos(const struct tokenizer *t) { return t && t->add_bos && t->bos >= 0; }
bool tokenizer_add_space_prefix(const struct tokenizer *t)
{
    return t && t->kind == TOK_SPM && t->add_space_prefix;
}
const char *tokenizer_model(const struct tokenizer *t) { return t ? t->model : ""; }
const char *tokenizer_pre(const struct tokenizer *t) { return t ? t->pre_name : ""; }
size_t tokenizer_max_token_bytes(const struct tokenizer *t)
{
    /* each byte (the up to 3 held ones too) yields at most 3 output bytes */
    return t ? 3 * (t->max_out_len + 3) : 0;
}

bool tokenizer_is_eog(const struct tokenizer *t, int32_t id)
{
    return t && id >= 0 && id < t->n_vocab && (t->attr[id] & TOK_ATTR_EOG);
}

bool tokenizer_is_control(const struct tokenizer *t, int32_t id)
{
    return t && id >= 0 && id < t->n_vocab && (t->attr[id] & (TOK_ATTR_CONTROL | TOK_ATTR_UNKNOWN));
}

const char *tokenizer_piece(const struct tokenizer *t, int32_t id)
{
    if (!t || id < 0 || id >= t->n_vocab) return "";
    return t->pool + t->tok_off[id];
}

int32_t tokenizer_find(const struct tokenizer *t, const char *s)
{
    if (!t || !s) return -1;
    return tok_map_get(&t->vocab, s, strlen(s), 0);
}

size_t tokenizer_token_bytes(const struct tokenizer *t, int32_t id, char *buf, size_t cap)
{
    if (!t || id < 0 || id >= t->n_vocab) return 0;
    size_t n = t->out_len[id];
    if (buf && cap) memcpy(buf, t->out_pool + t->out_off[id], n < cap ? n : cap);
    return n;
}

/* --------------------------------------------------------------- encode */

struct frag {
    size_t off, len;
    int32_t tok; /* -1: raw text */
};

struct frag_list {
    struct frag *v;
    size_t n, cap;
};

static bool frag_push(struct frag_list *l, size_t off, size_t len, int32_t tok)
{
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 16;
        struct frag *nv = realloc(l->v, nc * sizeof *nv);
        if (!nv) return false;
        l->v = nv;
        l->cap = nc;
    }
    l->v[l->n++] = (struct frag){off, len, tok};
    return true;
}

static inline bool c_isspace(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/* llama.cpp's tokenizer_st_partition: special tokens, longest first, each cut
 * out of every raw fragment left by the previous ones (leftmost occurrences).
 * With parse_special false only user-defined tokens are cut out. */
static bool partition(const struct tokenizer *t, const char *text, size_t len, bool parse_special,
                      struct frag_list *out)
{
    out->n = 0;
    if (len == 0) return true;
    if (!frag_push(out, 0, len, -1)) return false;
    if (t->n_special == 0) return true;

    /* which special tokens occur at all */
    unsigned char *occurs = calloc((size_t)t->n_special, 1);
    if (!occurs) return false;
    bool any = false;
    for (size_t p = 0; p < len; p++) {
        int32_t node = 0;
        for (size_t q = p; q < len; q++) {
            node = trie_child(t, node, (unsigned char)text[q]);
            if (node < 0) break;
            int32_t k = t->trie_special[node];
            if (k >= 0) {
                occurs[k] = 1;
                any = true;
            }
        }
    }
    bool ok = true;
    struct frag_list next = {0};
    for (int k = 0; any && k < t->n_special && ok; k++) {
        if (!occurs[k]) continue;
        int32_t id = t->special[k];
        uint16_t a = t->attr[id];
        if (!parse_special && (a & (TOK_ATTR_CONTROL | TOK_ATTR_UNKNOWN))) continue;
        const char *tt = t->pool + t->tok_off[id];
        size_t tl = t->tok_len[id];
        next.n = 0;
        for (size_t i = 0; i < out->n && ok; i++) {
            struct frag fr = out->v[i];
            if (fr.tok >= 0) {
                ok = frag_push(&next, fr.off, fr.len, fr.tok);
                continue;
            }
            size_t cur = fr.off, end = fr.off + fr.len;
            while (ok) {
                const char *m = end - cur >= tl ? memmem(text + cur, end - cur, tt, tl) : NULL;
                if (!m) {
                    if (end > cur) ok = frag_push(&next, cur, end - cur, -1);
                    break;
                }
                size_t ms = (size_t)(m - text);
                size_t left = ms - cur;
                if (a & TOK_ATTR_LSTRIP)
                    while (left > 0 && c_isspace(text[cur + left - 1])) left--;
                if (left > 0) ok = ok && frag_push(&next, cur, left, -1);
                ok = ok && frag_push(&next, 0, 0, id);
                size_t r = ms + tl;
                if (r >= end) break;
                if (a & TOK_ATTR_RSTRIP)
                    while (r < end && c_isspace(text[r])) r++;
                cur = r;
            }
        }
        struct frag_list tmp = *out;
        *out = next;
        next = tmp;
    }
    free(next.v);
    free(occurs);
    return ok;
}

int32_t *tokenizer_encode(const struct tokenizer *t, const char *text, size_t len, bool add_bos,
                          bool parse_special, size_t *n)
{
    if (n) *n = 0;
    if (!t) return NULL;
    if (!text) len = 0;
    if (len > SIZE_MAX / 4 - 16) return NULL;
    struct tok_vec out = {0};
    struct frag_list frags = {0};
    struct tok_scratch ws = {0};
    char *buf = NULL;
    size_t buf_cap = 0;
    bool ok = tok_vec_grow(&out, 16 + len / 3);
    if (ok && add_bos && t->bos >= 0) tok_vec_push(&out, t->bos);
    ok = ok && partition(t, text, len, parse_special, &frags);

    bool prev_special = true;
    for (size_t i = 0; ok && i < frags.n; i++) {
        struct frag fr = frags.v[i];
        if (fr.tok >= 0) {
            tok_vec_push(&out, fr.tok);
            prev_special = true;
            continue;
        }
        const char *s = text + fr.off;
        if (t->kind == TOK_SPM) {
            /* prefix a space after a special token (or at the start); spaces → ▁ */
            if (buf_cap < fr.len * 3 + 4) {
                free(buf);
                buf_cap = fr.len * 3 + 4;
                buf = malloc(buf_cap);
                if (!buf) {
                    ok = false;
                    break;
                }
            }
            size_t bl = 0;
            if (t->add_space_prefix && prev_special) {
                memcpy(buf, "\xE2\x96\x81", 3);
                bl = 3;
            }
            for (size_t j = 0; j < fr.len; j++) {
                if (s[j] == ' ') {
                    memcpy(buf + bl, "\xE2\x96\x81", 3);
                    bl += 3;
                } else {
                    buf[bl++] = s[j];
                }
            }
            ok = tok_spm_encode(t, buf, bl, &ws, &out);
        } else {
            const size_t *pieces = NULL;
            size_t np = 0;
            ok = pretok_split(t->pre, &ws.pre, s, fr.len, &pieces, &np);
            for (size_t k = 0; ok && k < np; k++)
                ok = tok_bpe_encode_word(t, s + pieces[2 * k], pieces[2 * k + 1], &ws, &out);
        }
        prev_special = false;
    }
    free(buf);
    free(frags.v);
    tok_scratch_free(&ws);
    if (!ok || out.oom) {
        free(out.v);
        return NULL;
    }
    if (n) *n = out.n;
    return out.v;
}

/* ----------------------------------------------------------- detokenizer */

void detok_init(struct detokenizer *d, const struct tokenizer *t, bool strip_leading_space)
{
    memset(d, 0, sizeof *d);
    d->tok = t;
    /* only a vocab that adds the "▁" prefix has a space to take back */
    d->at_start = strip_leading_space && tokenizer_add_space_prefix(t);
}

/* Expected continuation-byte range for position `pos` (1..3) of a sequence
 * that starts with `lead`. */
static bool cont_ok(unsigned char lead, int pos, unsigned char c)
{
    unsigned char lo = 0x80, hi = 0xBF;
    if (pos == 1) {
        if (lead == 0xE0) lo = 0xA0;
        else if (lead == 0xED) hi = 0x9F;
        else if (lead == 0xF0) lo = 0x90;
        else if (lead == 0xF4) hi = 0x8F;
    }
    return c >= lo && c <= hi;
}

static int seq_len(unsigned char c)
{
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) return 2;
    if (c >= 0xE0 && c <= 0xEF) return 3;
    if (c >= 0xF0 && c <= 0xF4) return 4;
    return 0;
}

struct outbuf {
    char *p;
    size_t n, cap;
};

/* Whole sequences only: what does not fit is dropped, never cut (a cap of
 * 64 + tokenizer_max_token_bytes() always fits). */
static void emit(struct outbuf *o, const void *s, size_t n)
{
    if (o->cap - o->n < n) return;
    memcpy(o->p + o->n, s, n);
    o->n += n;
}

static void feed_byte(struct detokenizer *d, struct outbuf *o, unsigned char c)
{
    for (;;) {
        if (d->n_held == 0) {
            int l = seq_len(c);
            if (l == 1) {
                emit(o, &c, 1);
            } else if (l == 0) {
                emit(o, "\xEF\xBF\xBD", 3);
            } else {
                d->held[0] = c;
                d->n_held = 1;
            }
            return;
        }
        if (cont_ok(d->held[0], d->n_held, c)) {
            d->held[d->n_held++] = c;
            if (d->n_held == seq_len(d->held[0])) {
                emit(o, d->held, (size_t)d->n_held);
                d->n_held = 0;
            }
            return;
        }
        /* the held sequence can never complete: one U+FFFD for it, then
         * look at c afresh */
        emit(o, "\xEF\xBF\xBD", 3);
        d->n_held = 0;
    }
}

size_t detok_push(struct detokenizer *d, int32_t id, char *out, size_t cap)
{
    if (!d || !d->tok || !out) return 0;
    const struct tokenizer *t = d->tok;
    if (id < 0 || id >= t->n_vocab) return 0;
    if (d->n_held < 0 || d->n_held > 3) d->n_held = 0;
    const unsigned char *s = (const unsigned char *)t->out_pool + t->out_off[id];
    size_t n = t->out_len[id];
    struct outbuf o = {out, 0, cap};
    if (n && d->at_start) {
        d->at_start = false;
        if (s[0] == ' ') {
            s++;
            n--;
        }
    }
    for (size_t i = 0; i < n; i++) feed_byte(d, &o, s[i]);
    return o.n;
}

size_t detok_flush(struct detokenizer *d, char *out, size_t cap)
{
    if (!d || !out) return 0;
    struct outbuf o = {out, 0, cap};
    if (d->n_held > 0) emit(&o, "\xEF\xBF\xBD", 3);
    d->n_held = 0;
    return o.n;
}
