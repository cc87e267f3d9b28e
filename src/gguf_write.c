/*
 * gguf_write.c — GGUF v3 writer. Metadata values are serialized into their
 * on-disk bytes as they are added; tensors are kept by reference.
 */
#include "gguf_write.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct wkv {
    char *key;
    uint8_t *val; /* type id + value bytes, as on disk */
    size_t len;
};

struct wtensor {
    char *name;
    int n_dims;
    int64_t ne[GGUF_MAX_DIMS];
    enum ggml_type type;
    const void *data;
    size_t nbytes;
};

struct gguf_writer {
    struct wkv *kv;
    size_t n_kv, cap_kv;
    struct wtensor *t;
    size_t n_t, cap_t;
    bool oom;
};

/* A growable byte buffer for one value. */
struct bytes {
    uint8_t *p;
    size_t n, cap;
    bool oom;
};

static void put(struct bytes *b, const void *src, size_t n)
{
    if (b->oom) return;
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + n) cap *= 2;
        uint8_t *p = realloc(b->p, cap);
        if (!p) { b->oom = true; return; }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}

static void put_u32(struct bytes *b, uint32_t v) { put(b, &v, 4); }
static void put_u64(struct bytes *b, uint64_t v) { put(b, &v, 8); }
static void put_str(struct bytes *b, const char *s, uint64_t n)
{
    put_u64(b, n);
    put(b, s, n);
}

struct gguf_writer *gguf_writer_new(void) { return calloc(1, sizeof(struct gguf_writer)); }

void gguf_writer_free(struct gguf_writer *w)
{
    if (!w) return;
    for (size_t i = 0; i < w->n_kv; i++) { free(w->kv[i].key); free(w->kv[i].val); }
    for (size_t i = 0; i < w->n_t; i++) free(w->t[i].name);
    free(w->kv);
    free(w->t);
    free(w);
}

static void add_kv(struct gguf_writer *w, const char *key, size_t key_len, struct bytes *b)
{
    if (b->oom) { w->oom = true; free(b->p); return; }
    for (size_t i = 0; i < w->n_kv; i++) {
        if (strlen(w->kv[i].key) == key_len && !memcmp(w->kv[i].key, key, key_len)) {
            free(w->kv[i].val);
            w->kv[i].val = b->p;
            w->kv[i].len = b->n;
            return;
        }
    }
    if (w->n_kv == w->cap_kv) {
        size_t cap = w->cap_kv ? w->cap_kv * 2 : 32;
        struct wkv *p = realloc(w->kv, cap * sizeof *p);
        if (!p) { w->oom = true; free(b->p); return; }
        w->kv = p;
        w->cap_kv = cap;
    }
    w->kv[w->n_kv++] = (struct wkv){strndup(key, key_len), b->p, b->n};
}

void gw_copy_kv(struct gguf_writer *w, const struct gguf_kv *kv)
{
    struct bytes b = {0};
    put(&b, kv->raw, kv->raw_len);
    add_kv(w, kv->key.ptr, kv->key.len, &b);
}

static void scalar(struct gguf_writer *w, const char *key, enum gguf_type t, const void *v, size_t n)
{
    struct bytes b = {0};
    put_u32(&b, t);
    put(&b, v, n);
    add_kv(w, key, strlen(key), &b);
}

void gw_u32(struct gguf_writer *w, const char *key, uint32_t v) { scalar(w, key, GGUF_U32, &v, 4); }
void gw_f32(struct gguf_writer *w, const char *key, float v) { scalar(w, key, GGUF_F32, &v, 4); }
void gw_bool(struct gguf_writer *w, const char *key, bool v)
{
    uint8_t u = v;
    scalar(w, key, GGUF_BOOL, &u, 1);
}

void gw_str(struct gguf_writer *w, const char *key, const char *v)
{
    struct bytes b = {0};
    put_u32(&b, GGUF_STRING);
    put_str(&b, v, strlen(v));
    add_kv(w, key, strlen(key), &b);
}

void gw_arr_str(struct gguf_writer *w, const char *key, const char *const *v, uint64_t n)
{
    struct bytes b = {0};
    put_u32(&b, GGUF_ARRAY);
    put_u32(&b, GGUF_STRING);
    put_u64(&b, n);
    for (uint64_t i = 0; i < n; i++) put_str(&b, v[i], strlen(v[i]));
    add_kv(w, key, strlen(key), &b);
}

static void array(struct gguf_writer *w, const char *key, enum gguf_type t, const void *v, uint64_t n)
{
    struct bytes b = {0};
    put_u32(&b, GGUF_ARRAY);
    put_u32(&b, t);
    put_u64(&b, n);
    put(&b, v, n * 4);
    add_kv(w, key, strlen(key), &b);
}

void gw_arr_f32(struct gguf_writer *w, const char *key, const float *v, uint64_t n) { array(w, key, GGUF_F32, v, n); }
void gw_arr_i32(struct gguf_writer *w, const char *key, const int32_t *v, uint64_t n) { array(w, key, GGUF_I32, v, n); }

void gw_tensor(struct gguf_writer *w, const char *name, int n_dims, const int64_t *ne, enum ggml_type type,
               const void *data, size_t nbytes)
{
    if (w->n_t == w->cap_t) {
        size_t cap = w->cap_t ? w->cap_t * 2 : 64;
        struct wtensor *p = realloc(w->t, cap * sizeof *p);
        if (!p) { w->oom = true; return; }
        w->t = p;
        w->cap_t = cap;
    }
    struct wtensor *t = &w->t[w->n_t++];
    *t = (struct wtensor){.name = strdup(name), .n_dims = n_dims, .type = type, .data = data, .nbytes = nbytes};
    for (int d = 0; d < GGUF_MAX_DIMS; d++) t->ne[d] = d < n_dims ? ne[d] : 1;
}

static uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

int gw_write(struct gguf_writer *w, const char *path, char *err, size_t errlen)
{
    if (w->oom) {
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    /* general.alignment, when set, must be a u32 power of two (the reader checks). */
    uint64_t alignment = GGUF_DEFAULT_ALIGNMENT;
    for (size_t i = 0; i < w->n_kv; i++)
        if (!strcmp(w->kv[i].key, "general.alignment") && w->kv[i].len == 8) {
            uint32_t a;
            memcpy(&a, w->kv[i].val + 4, 4);
            if (a && !(a & (a - 1))) alignment = a;
        }
    struct bytes h = {0};
    put_u32(&h, 0x46554747u);
    put_u32(&h, 3);
    put_u64(&h, w->n_t);
    put_u64(&h, w->n_kv);
    for (size_t i = 0; i < w->n_kv; i++) {
        put_str(&h, w->kv[i].key, strlen(w->kv[i].key));
        put(&h, w->kv[i].val, w->kv[i].len);
    }
    uint64_t off = 0;
    for (size_t i = 0; i < w->n_t; i++) {
        const struct wtensor *t = &w->t[i];
        put_str(&h, t->name, strlen(t->name));
        put_u32(&h, (uint32_t)t->n_dims);
        for (int d = 0; d < t->n_dims; d++) put_u64(&h, (uint64_t)t->ne[d]);
        put_u32(&h, t->type);
        put_u64(&h, off);
        off = align_up(off + t->nbytes, alignment);
    }
    static const uint8_t zeros[256];
    size_t pad = (size_t)(align_up(h.n, alignment) - h.n);
    while (pad > 0) {
        size_t k = pad < sizeof zeros ? pad : sizeof zeros;
        put(&h, zeros, k);
        pad -= k;
    }
    if (h.oom) {
        free(h.p);
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    FILE *f = fopen(path, "wb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        free(h.p);
        return -1;
    }
    bool ok = fwrite(h.p, 1, h.n, f) == h.n;
    free(h.p);
    for (size_t i = 0; i < w->n_t && ok; i++) {
        const struct wtensor *t = &w->t[i];
        ok = fwrite(t->data, 1, t->nbytes, f) == t->nbytes;
        size_t tail = (size_t)(align_up(t->nbytes, alignment) - t->nbytes);
        /* The last tensor needs no padding: the data ends with the file. */
        if (ok && i + 1 < w->n_t)
            while (tail > 0 && ok) {
                size_t k = tail < sizeof zeros ? tail : sizeof zeros;
                ok = fwrite(zeros, 1, k, f) == k;
                tail -= k;
            }
    }
    ok &= fclose(f) == 0;
    if (!ok) {
        snprintf(err, errlen, "%s: write failed: %s", path, strerror(errno));
        remove(path);
        return -1;
    }
    return 0;
}
