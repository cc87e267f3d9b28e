/*
 * tok_internal.h — shared internals of the tokenizers (tokenizer.c, tok_spm.c,
 * tok_bpe.c, tok_pretok.c). Not part of the public API.
 */
#ifndef INFER_TOK_INTERNAL_H
#define INFER_TOK_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tokenizer.h"

enum tok_kind { TOK_SPM = 1, TOK_BPE = 2 };

/* Token attributes (llama.cpp's llama_token_attr bits, plus EOG). */
enum {
    TOK_ATTR_NORMAL = 1 << 0,
    TOK_ATTR_UNKNOWN = 1 << 1,
    TOK_ATTR_UNUSED = 1 << 2,
    TOK_ATTR_CONTROL = 1 << 3,
    TOK_ATTR_USER = 1 << 4,
    TOK_ATTR_BYTE = 1 << 5,
    TOK_ATTR_LSTRIP = 1 << 6,
    TOK_ATTR_RSTRIP = 1 << 7,
    TOK_ATTR_EOG = 1 << 8,
};

/* Growable int32 vector; `oom` sticks once an allocation failed. */
struct tok_vec {
    int32_t *v;
    size_t n, cap;
    bool oom;
};

bool tok_vec_grow(struct tok_vec *vec, size_t need);
static inline void tok_vec_push(struct tok_vec *vec, int32_t x)
{
    if (vec->n == vec->cap && !tok_vec_grow(vec, vec->n + 1)) return;
    vec->v[vec->n++] = x;
}

/* Open-addressing hash of byte strings → int32 values. */
struct tok_map {
    uint64_t *slots; /* entry index + 1 | hash tag << 32; 0 = empty */
    uint32_t mask;
    /* entries */
    const char **key;
    uint32_t *klen;
    uint32_t *aux; /* extra 32-bit key part (BPE merge split point), else 0 */
    int32_t *val;
    uint32_t n, cap;
};

uint64_t tok_hash_bytes(const void *p, size_t n, uint64_t seed);
bool tok_map_init(struct tok_map *m, uint32_t expected);
void tok_map_free(struct tok_map *m);
/* Inserts unless present; returns false on OOM. *inserted tells which. The key
 * bytes are not copied (they must outlive the map). */
bool tok_map_put(struct tok_map *m, const char *key, uint32_t klen, uint32_t aux, int32_t val,
                 bool *inserted);
int32_t tok_map_get(const struct tok_map *m, const char *key, size_t klen, uint32_t aux);

struct pretok;
struct bpe_merges;

struct tokenizer {
    enum tok_kind kind;
    int32_t n_vocab;

    /* token texts as stored in the vocab, each NUL-terminated in pool */
    char *pool;
    size_t *tok_off;
    uint32_t *tok_len;
    float *score;
    uint16_t *attr;
    struct tok_map vocab; /* text → id */

    /* output bytes of each token (tokenizer_token_bytes) */
    char *out_pool;
    size_t *out_off;
    uint32_t *out_len;
    size_t max_out_len;

    int32_t bos, eos, unk, eot, eom, pad;
    bool add_bos, add_eos, add_space_prefix;

    /* SPM byte fallback: <0xXX> (or the 1-char token); BPE: the 1-byte string */
    int32_t byte_tok[256];

    /* special tokens (control, user-defined, unknown), longest first */
    int32_t *special;
    int n_special;
    /* trie over the special tokens' texts, to find which occur in a text:
     * edges (node << 8 | byte) → child in an open-addressing table */
    uint64_t *trie_key;      /* edge key + 1, 0 = empty */
    int32_t *trie_child;
    uint32_t trie_mask;
    int32_t *trie_special;   /* node → index in special[] ending there, or -1 */
    int32_t trie_nodes;

    /* BPE */
    struct bpe_merges *merges;
    struct pretok *pre;
    bool ignore_merges;

    char model[16];
    char pre_name[64];
};

/* Working memory of one tokenizer_encode() call, reused across fragments and
 * words (the tokenizer itself stays read-only, so calls may run in parallel). */
struct pretok_ws;
struct tok_scratch {
    char *buf;          /* BPE: the byte-encoded word */
    size_t buf_cap;
    uint32_t *start, *n; /* symbols */
    int32_t *prev, *next;
    size_t sym_cap;
    void *heap;         /* bigram heap storage */
    size_t heap_cap;    /* in bytes */
    struct pretok_ws *pre;
};
bool tok_scratch_syms(struct tok_scratch *s, size_t n);

/* The merge queue both merge loops use: candidate pairs of adjacent symbols
 * (left, right), best first: highest priority, then leftmost. SPM's priority
 * is the merged piece's score, BPE's the negated merge rank. */
struct bigram {
    int32_t left, right;
    float priority;
    uint32_t size;      /* bytes of the merged piece */
};
struct bigram_queue {
    struct bigram *v;
    size_t n, cap;
};
bool bigram_push(struct bigram_queue *q, struct bigram x);
struct bigram bigram_pop(struct bigram_queue *q);
void tok_scratch_free(struct tok_scratch *s);

/* SPM: encode one fragment (already space-escaped, prefix added). */
bool tok_spm_encode(const struct tokenizer *t, const char *text, size_t len, struct tok_scratch *ws,
                    struct tok_vec *out);

/* BPE */
struct bpe_merges *bpe_merges_load(const struct gguf_kv *kv, char *err, size_t errlen);
void bpe_merges_free(struct bpe_merges *m);
/* GPT-2 byte → unicode encoding of byte b (1 or 2 UTF-8 bytes in out). */
int bpe_byte_encode(uint8_t b, char out[2]);
/* GPT-2 unicode code point → byte, or -1. */
int bpe_byte_decode(uint32_t cp);
/* Encode one pre-tokenized word (raw bytes). */
bool tok_bpe_encode_word(const struct tokenizer *t, const char *word, size_t len,
                         struct tok_scratch *ws, struct tok_vec *out);

/* Pre-tokenizer (regex splitting, PCRE2). */
struct pretok_info {
    bool known;          /* the name was recognised */
    bool ignore_merges;  /* llama.cpp's tokenizer_ignore_merges */
    bool add_bos;        /* llama.cpp's default add_bos for this pre type */
    bool no_bos;         /* the pre type unsets BOS (chatglm) */
};
struct pretok *pretok_create(const char *name, struct pretok_info *info, char *err, size_t errlen);
void pretok_free(struct pretok *p);
/* Split text into words: *pieces receives (offset, length) pairs into text
 * (owned by the workspace, valid until the next call), *n_out their count.
 * *ws is created on first use; free it with pretok_ws_free. False on OOM. */
bool pretok_split(const struct pretok *p, struct pretok_ws **ws, const char *text, size_t len,
                  const size_t **pieces, size_t *n_out);
void pretok_ws_free(struct pretok_ws *ws);

/* UTF-8: length of the valid sequence at s (1..4), or 0 when s[0] does not
 * start a valid sequence within n bytes; *cp gets the code point. */
int tok_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);

#endif
