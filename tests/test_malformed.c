/*
 * test_malformed.c — broken GGUF files, generated at test time from a valid
 * model ($INFER_TEST_DATA/models/stories260K.gguf) into a temporary directory:
 * truncation at every header / metadata / tensor-info boundary and inside the
 * data, bad magic and versions, counts and lengths near 2^64, dimension
 * overflows, unknown types, misaligned / overlapping / past-the-end offsets,
 * duplicate names and keys, missing tensors, wrong shapes, metadata of the
 * wrong type, bad alignment, unsupported architectures, vocab mismatches...
 *
 * Every case must fail with one line naming the file and the problem: through
 * the library (gguf_open → tokenizer_load_gguf → model_from_gguf, the order
 * infer loads in) for all cases, and through ./infer ($INFER_BIN) for those
 * marked CLI — exit 1, exactly one line on stderr.
 */
#include "testutil.h"

#include <math.h>
#include <sys/stat.h>

#include "gguf.h"
#include "model.h"
#include "tokenizer.h"

static const char *infer_bin(void)
{
    const char *b = getenv("INFER_BIN");
    return b && *b ? b : "./infer";
}

/* ------------------------------------------------ an editable GGUF file */

struct ekv {
    char key[256];
    bool key_len_set;      /* write key_len instead of strlen(key) */
    uint64_t key_len;
    uint8_t *val;          /* type id + value bytes, as on disk */
    size_t val_len;
};

struct et {
    char name[256];
    bool name_len_set;
    uint64_t name_len;
    uint32_t n_dims;
    uint64_t ne[8];
    uint32_t type;
    uint64_t offset;
};

struct mf {
    uint32_t magic, version;
    bool n_t_set, n_kv_set;
    uint64_t n_t, n_kv;    /* the counts written when *_set */
    struct ekv kv[64];
    int nkv;
    struct et t[64];
    int nt;
    uint8_t *data;         /* the data section */
    size_t data_len;
    uint64_t pad_align;    /* the header is padded to this before the data */
};

static struct mf g_base;   /* stories260K.gguf, parsed */
static char g_dir[64];     /* where the variants go */

struct buf {
    uint8_t *p;
    size_t n, cap;
};

static void put(struct buf *b, const void *src, size_t n)
{
    if (b->n + n > b->cap) {
        while (b->n + n > b->cap) b->cap = b->cap ? b->cap * 2 : 4096;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    if (n) memcpy(b->p + b->n, src, n);
    b->n += n;
}
static void put_u32(struct buf *b, uint32_t v) { put(b, &v, 4); }
static void put_u64(struct buf *b, uint64_t v) { put(b, &v, 8); }

/* Serialize; bounds (if given) receives the offset after every field. */
static struct buf serialize(const struct mf *m, size_t *bounds, int *n_bounds)
{
    struct buf b = {0};
    int nb = 0;
#define MARK() do { if (bounds) bounds[nb++] = b.n; } while (0)
    put_u32(&b, m->magic); MARK();
    put_u32(&b, m->version); MARK();
    put_u64(&b, m->n_t_set ? m->n_t : (uint64_t)m->nt); MARK();
    put_u64(&b, m->n_kv_set ? m->n_kv : (uint64_t)m->nkv); MARK();
    for (int i = 0; i < m->nkv; i++) {
        const struct ekv *k = &m->kv[i];
        put_u64(&b, k->key_len_set ? k->key_len : strlen(k->key)); MARK();
        put(&b, k->key, strlen(k->key)); MARK();
        put(&b, k->val, 4); MARK();
        put(&b, k->val + 4, k->val_len - 4); MARK();
    }
    for (int i = 0; i < m->nt; i++) {
        const struct et *t = &m->t[i];
        put_u64(&b, t->name_len_set ? t->name_len : strlen(t->name)); MARK();
        put(&b, t->name, strlen(t->name)); MARK();
        put_u32(&b, t->n_dims); MARK();
        for (uint32_t d = 0; d < t->n_dims && d < 8; d++) { put_u64(&b, t->ne[d]); MARK(); }
        put_u32(&b, t->type); MARK();
        put_u64(&b, t->offset); MARK();
    }
    static const uint8_t zeros[256];
    size_t pad = (size_t)((m->pad_align - b.n % m->pad_align) % m->pad_align);
    put(&b, zeros, pad);
    if (m->nt) {
        MARK();
        put(&b, m->data, m->data_len);
    }
#undef MARK
    if (n_bounds) *n_bounds = nb;
    return b;
}

static void mf_copy(struct mf *dst, const struct mf *src)
{
    *dst = *src;
    for (int i = 0; i < src->nkv; i++) {
        dst->kv[i].val = malloc(src->kv[i].val_len);
        memcpy(dst->kv[i].val, src->kv[i].val, src->kv[i].val_len);
    }
    dst->data = malloc(src->data_len);
    memcpy(dst->data, src->data, src->data_len);
}

static void mf_free(struct mf *m)
{
    for (int i = 0; i < m->nkv; i++) free(m->kv[i].val);
    free(m->data);
    memset(m, 0, sizeof *m);
}

static int kv_find(const struct mf *m, const char *key)
{
    for (int i = 0; i < m->nkv; i++)
        if (!strcmp(m->kv[i].key, key)) return i;
    return -1;
}

/* Set key to (type, payload bytes); appended when absent. */
static void kv_set(struct mf *m, const char *key, uint32_t type, const void *payload, size_t n)
{
    int i = kv_find(m, key);
    if (i < 0) {
        assert_true(m->nkv < 64);
        i = m->nkv++;
        memset(&m->kv[i], 0, sizeof m->kv[i]);
        snprintf(m->kv[i].key, sizeof m->kv[i].key, "%s", key);
    } else {
        free(m->kv[i].val);
    }
    m->kv[i].val = malloc(4 + n);
    memcpy(m->kv[i].val, &type, 4);
    if (n) memcpy(m->kv[i].val + 4, payload, n);
    m->kv[i].val_len = 4 + n;
}

static void kv_u32(struct mf *m, const char *key, uint32_t v) { kv_set(m, key, GGUF_U32, &v, 4); }
static void kv_i32(struct mf *m, const char *key, int32_t v) { kv_set(m, key, GGUF_I32, &v, 4); }
static void kv_u64(struct mf *m, const char *key, uint64_t v) { kv_set(m, key, GGUF_U64, &v, 8); }
static void kv_f32(struct mf *m, const char *key, float v) { kv_set(m, key, GGUF_F32, &v, 4); }
static void kv_f64(struct mf *m, const char *key, double v) { kv_set(m, key, GGUF_F64, &v, 8); }
static void kv_str(struct mf *m, const char *key, const char *s)
{
    uint64_t n = strlen(s);
    uint8_t tmp[512];
    memcpy(tmp, &n, 8);
    memcpy(tmp + 8, s, n);
    kv_set(m, key, GGUF_STRING, tmp, 8 + n);
}

static void kv_del(struct mf *m, const char *key)
{
    int i = kv_find(m, key);
    assert_true(i >= 0);
    free(m->kv[i].val);
    memmove(&m->kv[i], &m->kv[i + 1], (size_t)(m->nkv - i - 1) * sizeof m->kv[0]);
    m->nkv--;
}

static struct et *t_find(struct mf *m, const char *name)
{
    for (int i = 0; i < m->nt; i++)
        if (!strcmp(m->t[i].name, name)) return &m->t[i];
    fail_msg("no tensor %s in the base model", name);
    return NULL;
}

/* The array kv `key` with its first `keep` elements (fixed-size elements of
 * es bytes, or strings when es == 0). */
static void kv_trim_array(struct mf *m, const char *key, uint64_t keep)
{
    struct ekv *k = &m->kv[kv_find(m, key)];
    uint32_t et;
    memcpy(&et, k->val + 4, 4);
    size_t end = 16;
    for (uint64_t i = 0; i < keep; i++) {
        if (et == GGUF_STRING) {
            uint64_t l;
            memcpy(&l, k->val + end, 8);
            end += 8 + l;
        } else {
            end += et == GGUF_F32 || et == GGUF_I32 || et == GGUF_U32 ? 4 : et == GGUF_U8 || et == GGUF_I8 ? 1 : 8;
        }
    }
    memcpy(k->val + 8, &keep, 8);
    k->val_len = end;
}

/* ------------------------------------------------------------ the cases */

struct mcase {
    const char *name;
    void (*mutate)(struct mf *m, char *want, size_t wantlen);
    const char *want;      /* distinctive substring of the message (or set by mutate) */
    bool cli;              /* also through ./infer */
    bool cli_only;         /* the check lives in the CLI (session), not the loaders */
};

#define WANT(...) snprintf(want, wantlen, __VA_ARGS__)
#define CASE(fn) static void fn(struct mf *m, char *want, size_t wantlen)
#define UNUSED (void)m, (void)want, (void)wantlen

/* header */
CASE(c_magic) { UNUSED; memcpy(&m->magic, "GGUX", 4); }
CASE(c_magic_ggml) { UNUSED; memcpy(&m->magic, "lmgg", 4); }
CASE(c_version1) { UNUSED; m->version = 1; }
CASE(c_version7) { UNUSED; m->version = 7; }
CASE(c_big_endian) { UNUSED; m->version = 0x03000000; }
CASE(c_n_tensors_huge) { UNUSED; m->n_t_set = true; m->n_t = UINT64_MAX; }
CASE(c_n_kv_huge) { UNUSED; m->n_kv_set = true; m->n_kv = UINT64_MAX; }
CASE(c_n_kv_2_60) { UNUSED; m->n_kv_set = true; m->n_kv = 1ull << 60; }
/* one kv fewer than present: the last kv is read as a tensor info (its type id, 6, as n_dims) */
CASE(c_n_kv_short) { UNUSED; m->n_kv_set = true; m->n_kv = (uint64_t)m->nkv - 1; }
/* one tensor info fewer: the last tensor is missing */
CASE(c_n_tensors_short)
{
    m->n_t_set = true;
    m->n_t = (uint64_t)m->nt - 1;
    WANT("missing tensor '%s'", m->t[m->nt - 1].name);
}

/* metadata encoding */
CASE(c_key_len_huge) { UNUSED; m->kv[0].key_len_set = true; m->kv[0].key_len = UINT64_MAX; }
CASE(c_key_len_2_63) { UNUSED; m->kv[3].key_len_set = true; m->kv[3].key_len = 1ull << 63; }
CASE(c_str_len_huge)
{
    UNUSED;
    uint8_t p[13];
    uint64_t n = UINT64_MAX - 1;
    memcpy(p, &n, 8);
    memcpy(p + 8, "llama", 5);
    kv_set(m, "general.architecture", GGUF_STRING, p, 13);
}
CASE(c_str_array_count_huge)
{
    UNUSED;
    struct ekv *k = &m->kv[kv_find(m, "tokenizer.ggml.tokens")];
    uint64_t n = UINT64_MAX;
    memcpy(k->val + 8, &n, 8);
}
CASE(c_num_array_count_huge)
{
    UNUSED;
    struct ekv *k = &m->kv[kv_find(m, "tokenizer.ggml.scores")];
    uint64_t n = 1ull << 61;
    memcpy(k->val + 8, &n, 8);
}
CASE(c_array_string_len_huge)
{
    UNUSED;
    struct ekv *k = &m->kv[kv_find(m, "tokenizer.ggml.tokens")];
    uint64_t n = UINT64_MAX; /* the first string's length */
    memcpy(k->val + 16, &n, 8);
}
CASE(c_unknown_value_type) { UNUSED; uint32_t t = 13; memcpy(m->kv[kv_find(m, "general.name")].val, &t, 4); }
CASE(c_unknown_array_type) { UNUSED; uint32_t t = 99; memcpy(m->kv[kv_find(m, "tokenizer.ggml.token_type")].val + 4, &t, 4); }
CASE(c_nested_arrays)
{
    UNUSED;
    struct buf b = {0};
    put_u32(&b, GGUF_ARRAY); /* element type of the top array */
    put_u64(&b, 1);
    for (int i = 0; i < 12; i++) { put_u32(&b, GGUF_ARRAY); put_u64(&b, 1); }
    put_u32(&b, GGUF_U8);
    put_u64(&b, 0);
    kv_set(m, "x.nested", GGUF_ARRAY, b.p, b.n);
    free(b.p);
}
/* A key full of control characters: the message stays one printable line. */
CASE(c_key_control_chars)
{
    UNUSED;
    int i = kv_find(m, "general.name");
    snprintf(m->kv[i].key, sizeof m->kv[i].key, "evil\nkey\r\x1b[31m");
    uint32_t t = 77;
    memcpy(m->kv[i].val, &t, 4);
}
CASE(c_duplicate_key) { UNUSED; int n = m->nkv; kv_u32(m, "x", 1); snprintf(m->kv[n].key, sizeof m->kv[n].key, "llama.block_count"); }

/* metadata semantics */
CASE(c_block_count_string) { UNUSED; kv_str(m, "llama.block_count", "5"); }
CASE(c_arch_not_string) { UNUSED; kv_u32(m, "general.architecture", 1); }
CASE(c_arch_missing) { UNUSED; kv_del(m, "general.architecture"); }
CASE(c_arch_unsupported) { UNUSED; kv_str(m, "general.architecture", "gptj"); }
CASE(c_arch_control) { UNUSED; kv_str(m, "general.architecture", "ll\nama"); }
CASE(c_block_count_zero) { UNUSED; kv_u32(m, "llama.block_count", 0); }
CASE(c_block_count_more) { UNUSED; kv_u32(m, "llama.block_count", 6); }
CASE(c_block_count_huge) { UNUSED; kv_u32(m, "llama.block_count", 100000); }
CASE(c_embd_missing) { UNUSED; kv_del(m, "llama.embedding_length"); }
CASE(c_embd_negative) { UNUSED; kv_i32(m, "llama.embedding_length", -64); }
CASE(c_embd_u64_huge) { UNUSED; kv_u64(m, "llama.embedding_length", (1ull << 63) + 5); }
CASE(c_embd_wrong) { UNUSED; kv_u32(m, "llama.embedding_length", 65); }
CASE(c_ffn_wrong) { UNUSED; kv_u32(m, "llama.feed_forward_length", 171); }
CASE(c_heads_zero) { UNUSED; kv_u32(m, "llama.attention.head_count", 0); }
CASE(c_heads_kv_not_divisor) { UNUSED; kv_u32(m, "llama.attention.head_count_kv", 3); }
CASE(c_heads_more_than_dim) { UNUSED; kv_u32(m, "llama.attention.head_count", 128); }
CASE(c_rope_dim_odd) { UNUSED; kv_u32(m, "llama.rope.dimension_count", 7); }
CASE(c_rope_dim_big) { UNUSED; kv_u32(m, "llama.rope.dimension_count", 9999); }
CASE(c_eps_string) { UNUSED; kv_str(m, "llama.attention.layer_norm_rms_epsilon", "1e-5"); }
CASE(c_eps_nan) { UNUSED; kv_f32(m, "llama.attention.layer_norm_rms_epsilon", NAN); }
CASE(c_eps_f64_huge) { UNUSED; kv_f64(m, "llama.attention.layer_norm_rms_epsilon", 1e300); }
CASE(c_freq_base_zero) { UNUSED; kv_f32(m, "llama.rope.freq_base", 0.0f); }
CASE(c_context_zero) { UNUSED; kv_u32(m, "llama.context_length", 0); }
CASE(c_align_zero) { UNUSED; kv_u32(m, "general.alignment", 0); }
CASE(c_align_48) { UNUSED; kv_u32(m, "general.alignment", 48); }
CASE(c_align_string) { UNUSED; kv_str(m, "general.alignment", "32"); }
/* A valid alignment the offsets do not follow. */
CASE(c_align_1024)
{
    UNUSED;
    kv_u32(m, "general.alignment", 1024);
    m->pad_align = 1024;
}
CASE(c_tokens_missing) { UNUSED; kv_del(m, "tokenizer.ggml.tokens"); }
CASE(c_tokens_not_strings) { UNUSED; kv_u32(m, "tokenizer.ggml.tokens", 512); }
CASE(c_tok_model_unknown) { UNUSED; kv_str(m, "tokenizer.ggml.model", "wordpiece9"); }
CASE(c_scores_short) { UNUSED; kv_trim_array(m, "tokenizer.ggml.scores", 100); }
/* The vocabulary and the embedding matrix disagree (checked by infer's session). */
CASE(c_vocab_mismatch)
{
    UNUSED;
    kv_trim_array(m, "tokenizer.ggml.tokens", 500);
    kv_trim_array(m, "tokenizer.ggml.scores", 500);
    kv_trim_array(m, "tokenizer.ggml.token_type", 500);
}

/* tensor infos */
CASE(c_ndims5) { UNUSED; struct et *t = t_find(m, "blk.0.attn_q.weight"); t->n_dims = 5; t->ne[2] = t->ne[3] = t->ne[4] = 1; }
CASE(c_ndims0) { UNUSED; t_find(m, "blk.0.attn_q.weight")->n_dims = 0; }
CASE(c_ndims_huge) { UNUSED; t_find(m, "blk.0.attn_q.weight")->n_dims = 0xFFFFFFFFu; }
CASE(c_dim_zero) { UNUSED; t_find(m, "blk.0.attn_k.weight")->ne[1] = 0; }
CASE(c_dim_huge) { UNUSED; t_find(m, "blk.0.attn_k.weight")->ne[0] = 1ull << 41; }
CASE(c_dims_overflow)
{
    UNUSED;
    struct et *t = t_find(m, "blk.0.attn_k.weight");
    t->n_dims = 4;
    t->ne[0] = 1;
    t->ne[1] = t->ne[2] = t->ne[3] = 1ull << 40;
}
CASE(c_size_overflow)
{
    UNUSED;
    struct et *t = t_find(m, "blk.0.attn_k.weight");
    t->ne[0] = 1ull << 40;
    t->ne[1] = 1ull << 22;
}
CASE(c_type_unknown) { UNUSED; t_find(m, "blk.0.attn_q.weight")->type = 200; }
CASE(c_type_removed) { UNUSED; t_find(m, "blk.0.attn_q.weight")->type = 4; /* Q4_2, gone from ggml */ }
CASE(c_type_internal) { UNUSED; t_find(m, "blk.0.attn_q.weight")->type = TYPE_Q4_0_OCT; /* ours, never in files */ }
CASE(c_type_block_mismatch) { UNUSED; t_find(m, "blk.0.attn_q.weight")->type = TYPE_Q4_K; }
CASE(c_type_unsupported) { UNUSED; t_find(m, "blk.0.attn_q.weight")->type = 26; /* I32: same size as F32 */ }
CASE(c_offset_misaligned) { UNUSED; t_find(m, "blk.1.attn_v.weight")->offset += 4; }
CASE(c_offset_past_end) { UNUSED; t_find(m, "blk.1.attn_v.weight")->offset = 1ull << 40; }
CASE(c_offset_wraps) { UNUSED; t_find(m, "blk.1.attn_v.weight")->offset = UINT64_MAX - 31; }
/* The tensor with the highest offset grows past the end of the file. */
CASE(c_size_past_end)
{
    UNUSED;
    struct et *last = &m->t[0];
    for (int i = 1; i < m->nt; i++)
        if (m->t[i].offset > last->offset) last = &m->t[i];
    last->ne[last->n_dims - 1] *= 2;
}
CASE(c_overlap)
{
    struct et *a = t_find(m, "blk.2.ffn_up.weight"), *b = t_find(m, "blk.2.ffn_down.weight");
    b->offset = a->offset + 64;
    WANT("overlap");
}
CASE(c_duplicate_name) { UNUSED; snprintf(t_find(m, "blk.0.attn_k.weight")->name, 256, "blk.0.attn_q.weight"); }
CASE(c_name_len_huge) { UNUSED; m->t[0].name_len_set = true; m->t[0].name_len = UINT64_MAX; }
CASE(c_missing_output_norm) { UNUSED; snprintf(t_find(m, "output_norm.weight")->name, 256, "output_norm.weigh"); }
CASE(c_missing_token_embd) { UNUSED; snprintf(t_find(m, "token_embd.weight")->name, 256, "tok_embeddings.weight"); }
CASE(c_missing_layer_tensor) { UNUSED; snprintf(t_find(m, "blk.3.ffn_up.weight")->name, 256, "blk.3.ffn_upp.weight"); }
CASE(c_shape_swapped)
{
    UNUSED;
    struct et *t = t_find(m, "blk.0.ffn_gate.weight");
    uint64_t x = t->ne[0];
    t->ne[0] = t->ne[1];
    t->ne[1] = x;
}
CASE(c_shape_3d) { UNUSED; struct et *t = t_find(m, "blk.0.attn_q.weight"); t->n_dims = 3; t->ne[1] = 32; t->ne[2] = 2; }
CASE(c_vector_as_matrix) { UNUSED; struct et *t = t_find(m, "output_norm.weight"); t->n_dims = 2; t->ne[0] = 32; t->ne[1] = 2; }
CASE(c_embd_vocab_mismatch) { UNUSED; t_find(m, "output.weight")->ne[1] = 511; }
CASE(c_no_tensors)
{
    UNUSED;
    m->nt = 0;
    m->data_len = 0;
}

static const struct mcase cases[] = {
    {"magic", c_magic, "not a GGUF file (bad magic)", true, false},
    {"magic-ggml", c_magic_ggml, "bad magic", false, false},
    {"version1", c_version1, "GGUF version 1 is not supported", true, false},
    {"version7", c_version7, "unsupported GGUF version 7", false, false},
    {"big-endian", c_big_endian, "big-endian GGUF files are not supported", false, false},
    {"n-tensors-huge", c_n_tensors_huge, "tensor count 18446744073709551615 is larger than the file could hold", true, false},
    {"n-kv-huge", c_n_kv_huge, "metadata count 18446744073709551615 is larger than the file could hold", false, false},
    {"n-kv-2-60", c_n_kv_2_60, "metadata count 1152921504606846976 is larger", false, false},
    {"n-kv-short", c_n_kv_short, "has 6 dimensions (1 to 4 allowed)", false, false},
    {"n-tensors-short", c_n_tensors_short, NULL, false, false},
    {"key-len-huge", c_key_len_huge, "metadata key length 18446744073709551615 runs past end of file", true, false},
    {"key-len-2-63", c_key_len_2_63, "metadata key length 9223372036854775808 runs past end of file", false, false},
    {"string-len-huge", c_str_len_huge, "metadata string length 18446744073709551614 runs past end of file", false, false},
    {"string-array-count-huge", c_str_array_count_huge, "array of 18446744073709551615 strings runs past end of file", true, false},
    {"number-array-count-huge", c_num_array_count_huge, "array of 2305843009213693952 f32 runs past end of file", false, false},
    {"array-string-len-huge", c_array_string_len_huge, "array string length 18446744073709551615 runs past end of file", false, false},
    {"unknown-value-type", c_unknown_value_type, "metadata 'general.name' has unknown value type 13", true, false},
    {"unknown-array-type", c_unknown_array_type, "'tokenizer.ggml.token_type' has unknown array element type 99", false, false},
    {"nested-arrays", c_nested_arrays, "arrays nested more than 8 deep", false, false},
    {"key-control-chars", c_key_control_chars, "metadata 'evil?key??[31m' has unknown value type 77", true, false},
    {"duplicate-key", c_duplicate_key, "duplicate metadata key 'llama.block_count'", true, false},
    {"block-count-string", c_block_count_string, "metadata 'llama.block_count' has the wrong type (expected an integer)", true, false},
    {"arch-not-string", c_arch_not_string, "metadata 'general.architecture' is not a string", false, false},
    {"arch-missing", c_arch_missing, "missing metadata 'general.architecture'", false, false},
    {"arch-unsupported", c_arch_unsupported, "unsupported architecture 'gptj'", true, false},
    {"arch-control-chars", c_arch_control, "unsupported architecture 'll?ama'", true, false},
    {"block-count-zero", c_block_count_zero, "metadata 'llama.block_count' = 0 is out of range", false, false},
    {"block-count-more", c_block_count_more, "missing tensor 'blk.5.attn_norm.weight'", true, false},
    {"block-count-huge", c_block_count_huge, "metadata 'llama.block_count' = 100000 is out of range", false, false},
    {"embd-missing", c_embd_missing, "missing metadata 'llama.embedding_length'", false, false},
    {"embd-negative", c_embd_negative, "metadata 'llama.embedding_length' = -64 is out of range", false, false},
    {"embd-u64-huge", c_embd_u64_huge, "metadata 'llama.embedding_length' has the wrong type", false, false},
    {"embd-wrong", c_embd_wrong, "tensor 'token_embd.weight' has shape [64, 512, 1, 1], expected [65, 512]", true, false},
    {"ffn-wrong", c_ffn_wrong, "tensor 'blk.0.ffn_gate.weight' has shape [64, 172, 1, 1], expected [64, 171]", false, false},
    {"heads-zero", c_heads_zero, "metadata 'llama.attention.head_count' = 0 is out of range", false, false},
    {"heads-kv-not-divisor", c_heads_kv_not_divisor, "head_count 8 is not a multiple of head_count_kv 3", false, false},
    {"heads-more-than-dim", c_heads_more_than_dim, "embedding_length 64 is smaller than head_count 128", false, false},
    {"rope-dim-odd", c_rope_dim_odd, "rope.dimension_count 7 is odd", false, false},
    {"rope-dim-big", c_rope_dim_big, "metadata 'llama.rope.dimension_count' = 9999 is out of range", false, false},
    {"eps-string", c_eps_string, "'llama.attention.layer_norm_rms_epsilon' has the wrong type (expected a float)", false, false},
    {"eps-nan", c_eps_nan, "'llama.attention.layer_norm_rms_epsilon' = nan is out of range", true, false},
    {"eps-f64-huge", c_eps_f64_huge, "'llama.attention.layer_norm_rms_epsilon' = 1e+300 is out of range", false, false},
    {"freq-base-zero", c_freq_base_zero, "rope.freq_base 0 must be greater than 1", false, false},
    {"context-zero", c_context_zero, "metadata 'llama.context_length' = 0 is out of range", false, false},
    {"alignment-zero", c_align_zero, "general.alignment 0 is not a power of two", false, false},
    {"alignment-48", c_align_48, "general.alignment 48 is not a power of two", true, false},
    {"alignment-string", c_align_string, "general.alignment must be u32, not string", false, false},
    {"alignment-1024", c_align_1024, "is not aligned to 1024", false, false},
    {"tokens-missing", c_tokens_missing, "no tokenizer.ggml.tokens", true, false},
    {"tokens-not-strings", c_tokens_not_strings, "tokenizer.ggml.tokens is not an array of strings", false, false},
    {"tokenizer-model-unknown", c_tok_model_unknown, "unsupported tokenizer model 'wordpiece9'", false, false},
    {"scores-short", c_scores_short, "tokenizer.ggml.scores has 100 entries for 512 tokens", false, false},
    {"vocab-mismatch", c_vocab_mismatch, "the model has 512 token embeddings but the vocabulary 500 tokens", true, true},
    {"ndims-5", c_ndims5, "tensor 'blk.0.attn_q.weight' has 5 dimensions (1 to 4 allowed)", true, false},
    {"ndims-0", c_ndims0, "tensor 'blk.0.attn_q.weight' has 0 dimensions", false, false},
    {"ndims-huge", c_ndims_huge, "has 4294967295 dimensions", false, false},
    {"dim-zero", c_dim_zero, "tensor 'blk.0.attn_k.weight' has invalid dimension 0", false, false},
    {"dim-huge", c_dim_huge, "tensor 'blk.0.attn_k.weight' has invalid dimension 2199023255552", false, false},
    {"dims-overflow", c_dims_overflow, "tensor 'blk.0.attn_k.weight': element count overflows", true, false},
    {"size-overflow", c_size_overflow, "tensor 'blk.0.attn_k.weight': size overflows", false, false},
    {"type-unknown", c_type_unknown, "tensor 'blk.0.attn_q.weight' has unknown type id 200", true, false},
    {"type-removed", c_type_removed, "tensor 'blk.0.attn_q.weight' has unknown type id 4", false, false},
    {"type-internal", c_type_internal, "tensor 'blk.0.attn_q.weight' has unknown type id 40", false, false},
    {"type-block-mismatch", c_type_block_mismatch, "row length 64 is not a multiple of the Q4_K block size 256", false, false},
    {"type-unsupported", c_type_unsupported, "tensor 'blk.0.attn_q.weight' has type I32, which is not supported", true, false},
    {"offset-misaligned", c_offset_misaligned, "tensor 'blk.1.attn_v.weight' data offset", true, false},
    {"offset-past-end", c_offset_past_end, "tensor 'blk.1.attn_v.weight' data ends past end of file", false, false},
    {"offset-wraps", c_offset_wraps, "tensor 'blk.1.attn_v.weight' data ends past end of file", false, false},
    {"size-past-end", c_size_past_end, "data ends past end of file", false, false},
    {"overlap", c_overlap, NULL, true, false},
    {"duplicate-name", c_duplicate_name, "duplicate tensor name 'blk.0.attn_q.weight'", true, false},
    {"name-len-huge", c_name_len_huge, "tensor name length 18446744073709551615 runs past end of file", false, false},
    {"missing-output-norm", c_missing_output_norm, "missing tensor 'output_norm.weight'", false, false},
    {"missing-token-embd", c_missing_token_embd, "missing tensor 'token_embd.weight'", true, false},
    {"missing-layer-tensor", c_missing_layer_tensor, "missing tensor 'blk.3.ffn_up.weight'", false, false},
    {"shape-swapped", c_shape_swapped, "tensor 'blk.0.ffn_gate.weight' has shape [172, 64, 1, 1], expected [64, 172]", true, false},
    {"shape-3d", c_shape_3d, "tensor 'blk.0.attn_q.weight' has shape [64, 32, 2, 1], expected [64, 64]", false, false},
    {"vector-as-matrix", c_vector_as_matrix, "tensor 'output_norm.weight' has shape [32, 2, 1, 1], expected [64, 1]", false, false},
    {"embd-vocab-mismatch", c_embd_vocab_mismatch, "tensor 'output.weight' has shape [64, 511, 1, 1], expected [64, 512]", false, false},
    {"no-tensors", c_no_tensors, "no tensors (a vocab-only file?): cannot run it as a model", true, false},
};

/* ------------------------------------------------------------- checking */

static void write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static void check_message(const char *who, const char *path, const char *err, const char *want)
{
    if (!strstr(err, path) || (want && !strstr(err, want)) || strchr(err, '\n') || strchr(err, '\r'))
        fail_msg("%s: %s: got [%s], want [%s]", who, path, err, want ? want : "");
}

/* Load the way infer does; the load must fail with one line naming the file. */
static void expect_library_failure(const char *path, const char *want)
{
    char err[1024] = "";
    struct gguf_file *f = gguf_open(path, err, sizeof err);
    struct tokenizer *t = NULL;
    struct model *m = NULL;
    if (f) {
        t = tokenizer_load_gguf(f, err, sizeof err);
        if (t) {
            m = model_from_gguf(f, err, sizeof err);
            if (m) f = NULL; /* the model owns it */
        }
    }
    const bool loaded = m != NULL;
    model_free(m);
    tokenizer_free(t);
    gguf_close(f);
    if (loaded) fail_msg("%s: loaded; expected a failure with [%s]", path, want ? want : "");
    check_message("library", path, err, want);
}

static void expect_cli_failure(const char *path, const char *want)
{
    struct run_result r = run_cmd("%s -m %s -p hi -n 1", infer_bin(), path);
    if (r.status != 1 || count_lines(r.err) != 1 || r.out_len)
        fail_msg("infer: %s: exit %d, %d stderr lines, %zu stdout bytes; stderr: %s", path, r.status,
                 count_lines(r.err), r.out_len, r.err);
    r.err[strcspn(r.err, "\n")] = 0;
    check_message("infer", path, r.err, want);
    run_free(&r);
}

static void test_cases(void **state)
{
    (void)state;
    int n_cli = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct mcase *c = &cases[i];
        struct mf m;
        mf_copy(&m, &g_base);
        char want[512] = "";
        if (c->want) snprintf(want, sizeof want, "%s", c->want);
        c->mutate(&m, want, sizeof want);
        struct buf b = serialize(&m, NULL, NULL);
        char path[256];
        snprintf(path, sizeof path, "%s/%s.gguf", g_dir, c->name);
        write_file(path, b.p, b.n);
        free(b.p);
        mf_free(&m);
        if (!c->cli_only) expect_library_failure(path, want);
        if (c->cli || c->cli_only) {
            expect_cli_failure(path, want);
            n_cli++;
        }
        unlink(path);
    }
    print_message("%zu malformed files, %d also through infer\n", sizeof cases / sizeof cases[0], n_cli);
    assert_true(sizeof cases / sizeof cases[0] >= 40);
}

/* The base file must load: the cases test one fault each. */
static void test_base_loads(void **state)
{
    (void)state;
    struct buf b = serialize(&g_base, NULL, NULL);
    char path[256];
    snprintf(path, sizeof path, "%s/base.gguf", g_dir);
    write_file(path, b.p, b.n);
    size_t len;
    char *orig = read_whole(test_data("models/stories260K.gguf"), &len);
    assert_non_null(orig);
    assert_int_equal(len, b.n); /* the serializer reproduces the file byte for byte */
    assert_memory_equal(orig, b.p, len);
    free(orig);
    free(b.p);
    struct run_result r = run_cmd("%s -m %s -p hi -n 2 --temp 0", infer_bin(), path);
    assert_int_equal(r.status, 0);
    run_free(&r);
    unlink(path);
}

/* A prefix of the file, cut at every field boundary, one byte before and
 * after it, and inside the data: never loads, always one line. */
static void test_truncation(void **state)
{
    (void)state;
    static size_t bounds[4096];
    int nb = 0;
    struct buf b = serialize(&g_base, bounds, &nb);
    assert_true(nb > 200);
    char path[256];
    snprintf(path, sizeof path, "%s/truncated.gguf", g_dir);
    static const char *const ok_msgs[] = {"too small", "truncated", "past end of file", "could hold"};
    int n = 0, n_cli = 0;
    size_t cuts[3 * 4096 + 8];
    int nc = 0;
    for (int i = 0; i < nb; i++) {
        const size_t at[3] = {bounds[i] - 1, bounds[i], bounds[i] + 1};
        for (int k = 0; k < 3; k++)
            if (at[k] > 0 && at[k] < b.n) cuts[nc++] = at[k];
    }
    cuts[nc++] = 0;
    cuts[nc++] = b.n / 2;
    cuts[nc++] = b.n - 4096;
    cuts[nc++] = b.n - 1;
    size_t prev = (size_t)-1;
    for (int i = 0; i < nc; i++) {
        if (cuts[i] == prev) continue;
        prev = cuts[i];
        write_file(path, b.p, cuts[i]);
        char err[1024] = "";
        struct gguf_file *f = gguf_open(path, err, sizeof err);
        if (f) fail_msg("cut at %zu of %zu: opened", cuts[i], b.n);
        bool ok = false;
        for (size_t k = 0; k < sizeof ok_msgs / sizeof ok_msgs[0]; k++) ok |= strstr(err, ok_msgs[k]) != NULL;
        if (!ok || !strstr(err, path) || strchr(err, '\n')) fail_msg("cut at %zu: [%s]", cuts[i], err);
        /* a spread of cuts through the CLI too */
        if (i % 37 == 0 || i == nc - 1) {
            struct run_result r = run_cmd("%s -m %s -p hi -n 1", infer_bin(), path);
            if (r.status != 1 || count_lines(r.err) != 1 || !strstr(r.err, path))
                fail_msg("infer, cut at %zu: exit %d: %s", cuts[i], r.status, r.err);
            run_free(&r);
            n_cli++;
        }
        n++;
    }
    print_message("%d truncation points (%d through infer)\n", n, n_cli);
    unlink(path);
    free(b.p);
}

/* --info must reject the same files with the same one line (it parses only the header). */
static void test_info_rejects(void **state)
{
    (void)state;
    const char *names[] = {"duplicate-key", "offset-misaligned", "nested-arrays"};
    for (size_t i = 0; i < 3; i++) {
        const struct mcase *c = NULL;
        for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
            if (!strcmp(cases[k].name, names[i])) c = &cases[k];
        assert_non_null(c);
        struct mf m;
        mf_copy(&m, &g_base);
        char want[512];
        snprintf(want, sizeof want, "%s", c->want);
        c->mutate(&m, want, sizeof want);
        struct buf b = serialize(&m, NULL, NULL);
        char path[256];
        snprintf(path, sizeof path, "%s/info-%s.gguf", g_dir, c->name);
        write_file(path, b.p, b.n);
        free(b.p);
        mf_free(&m);
        struct run_result r = run_cmd("%s --info --json -m %s", infer_bin(), path);
        if (r.status != 1 || count_lines(r.err) != 1 || r.out_len || !strstr(r.err, want))
            fail_msg("--info %s: exit %d: %s", path, r.status, r.err);
        run_free(&r);
        unlink(path);
    }
}

/* ------------------------------------------------------------ set-up */

static int setup(void **state)
{
    (void)state;
    char err[512];
    struct gguf_file *f = gguf_open(test_data("models/stories260K.gguf"), err, sizeof err);
    if (!f) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    struct mf *m = &g_base;
    memset(m, 0, sizeof *m);
    memcpy(&m->magic, "GGUF", 4);
    m->version = f->version;
    m->pad_align = f->alignment;
    if (f->n_kv > 64 || f->n_tensors > 64) return -1;
    m->nkv = (int)f->n_kv;
    for (int i = 0; i < m->nkv; i++) {
        const struct gguf_kv *kv = &f->kv[i];
        snprintf(m->kv[i].key, sizeof m->kv[i].key, "%.*s", (int)kv->key.len, kv->key.ptr);
        m->kv[i].val = malloc(kv->raw_len);
        memcpy(m->kv[i].val, kv->raw, kv->raw_len);
        m->kv[i].val_len = kv->raw_len;
    }
    m->nt = (int)f->n_tensors;
    for (int i = 0; i < m->nt; i++) {
        const struct gguf_tensor *t = &f->tensors[i];
        struct et *e = &m->t[i];
        snprintf(e->name, sizeof e->name, "%.*s", (int)t->name.len, t->name.ptr);
        e->n_dims = t->n_dims;
        for (int d = 0; d < 4; d++) e->ne[d] = (uint64_t)t->ne[d];
        e->type = (uint32_t)t->type;
        e->offset = t->offset;
    }
    m->data_len = f->size - f->data_offset;
    m->data = malloc(m->data_len);
    memcpy(m->data, f->base + f->data_offset, m->data_len);
    gguf_close(f);
    snprintf(g_dir, sizeof g_dir, "/tmp/infer-malformed-XXXXXX");
    return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    mf_free(&g_base);
    rmdir(g_dir);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base_loads),
        cmocka_unit_test(test_cases),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_info_rejects),
    };
    return cmocka_run_group_tests_name("malformed", tests, setup, teardown);
}
