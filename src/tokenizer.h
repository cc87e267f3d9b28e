/*
 * tokenizer.h — text ⇄ token ids for the vocabularies GGUF files carry
 * (SentencePiece-style "llama", byte-level BPE "gpt2") and llama2.c's
 * tokenizer.bin, plus a streaming detokenizer that only ever emits valid UTF-8.
 */
#ifndef INFER_TOKENIZER_H
#define INFER_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gguf.h"

struct tokenizer;

/* From a GGUF file's tokenizer.ggml.* metadata (also vocab-only files).
 * NULL with "PATH: reason" in err on failure. The tokenizer does not keep
 * pointers into f: it may be closed afterwards. */
struct tokenizer *tokenizer_load_gguf(const struct gguf_file *f, char *err, size_t errlen);
/* llama2.c tokenizer.bin (SentencePiece-style; BOS 1, EOS 2). */
struct tokenizer *tokenizer_load_llama2c(const char *path, int n_vocab, char *err, size_t errlen);
void tokenizer_free(struct tokenizer *t);

int tokenizer_n_vocab(const struct tokenizer *t);
int32_t tokenizer_bos(const struct tokenizer *t);   /* -1 when unset */
int32_t tokenizer_eos(const struct tokenizer *t);
bool tokenizer_add_bos(const struct tokenizer *t);  /* does the model want BOS added? */
/* True for tokens that end generation (EOS, EOT, <|im_end|>, ...). */
bool tokenizer_is_eog(const struct tokenizer *t, int32_t id);
/* The token's text as stored in the vocab (for --info / debugging). */
const char *tokenizer_piece(const struct tokenizer *t, int32_t id);
/* Id of the exact vocab string s, or -1. */
int32_t tokenizer_find(const struct tokenizer *t, const char *s);

/* Encode len bytes of text (any bytes; invalid UTF-8 goes through byte
 * fallback where the vocab has it). add_bos: prepend BOS. parse_special:
 * control/special tokens written in the text (e.g. "<|im_start|>") become
 * single tokens. Returns a malloc'd array and its length in *n, or NULL on
 * out-of-memory. */
int32_t *tokenizer_encode(const struct tokenizer *t, const char *text, size_t len, bool add_bos,
                          bool parse_special, size_t *n);

/* The bytes a token stands for in output text (byte tokens → that byte,
 * "▁" → space, GPT-2 byte-unicode → bytes, control tokens → nothing).
 * Writes at most cap bytes to buf and returns the full length. */
size_t tokenizer_token_bytes(const struct tokenizer *t, int32_t id, char *buf, size_t cap);

/* Additions to the API above. */
/* SPM vocab that prefixes the text with a space ("▁"): when echoing a prompt
 * that starts with BOS, strip one leading space from the first piece (see
 * detok_init). */
bool tokenizer_add_space_prefix(const struct tokenizer *t);
const char *tokenizer_model(const struct tokenizer *t); /* "llama" or "gpt2" */
const char *tokenizer_pre(const struct tokenizer *t);   /* gpt2: the pre-tokenizer name */
/* The most bytes one token can produce: tokenizer_token_bytes() of any token,
 * and detok_push() of any token (invalid bytes grow into 3-byte U+FFFDs), are
 * at most this. A detok_push() cap of 64 + this never drops output. */
size_t tokenizer_max_token_bytes(const struct tokenizer *t);
/* Control or unknown-type token (prints as nothing). */
bool tokenizer_is_control(const struct tokenizer *t, int32_t id);

/* Streaming detokenizer: feed ids, get back only complete, valid UTF-8.
 * Bytes of a character split across tokens are held until it completes;
 * bytes that can never form valid UTF-8 come out as U+FFFD. */
struct detokenizer {
    const struct tokenizer *tok;
    unsigned char held[8];
    int n_held;
    bool at_start;   /* strip the SentencePiece leading space of the first piece */
};
/* strip_leading_space: drop one leading space from the first non-empty piece
 * (use it when the ids start with BOS, as llama.cpp/llama2.c do); it has no
 * effect for vocabs that add no "▁" prefix (gpt2 BPE). */
void detok_init(struct detokenizer *d, const struct tokenizer *t, bool strip_leading_space);
/* Appends output to out (cap bytes available); returns bytes written.
 * cap must be at least 64 + longest token: 64 + tokenizer_max_token_bytes(t)
 * is always enough (whole characters that do not fit are dropped, never cut). */
size_t detok_push(struct detokenizer *d, int32_t id, char *out, size_t cap);
/* At end of stream: any held incomplete bytes as U+FFFD. */
size_t detok_flush(struct detokenizer *d, char *out, size_t cap);

#endif
