/*
 * gguf.c — GGUF parser over a file in memory. See gguf.h for the contract:
 * after gguf_open() succeeds, every view it hands out is inside the file.
 *
 * The parser is a cursor over the bytes with checked reads; each failure
 * records one message naming what was wrong and stops.
 */
#include "gguf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GGUF_MAGIC 0x46554747u /* "GGUF" read little-endian */

struct cursor {
    const uint8_t *base;
    size_t size, pos;
    char *err;
    size_t errlen;
    const char *name;
    bool failed;
};

static bool fail(struct cursor *c, const char *fmt, ...)
{
    if (c->failed) return false;
    c->failed = true;
    int n = snprintf(c->err, c->errlen, "%s: ", c->name);
    if (n < 0 || (size_t)n >= c->errlen) return false;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err + n, c->errlen - (size_t)n, fmt, ap);
    va_end(ap);
    /* Names and keys come from the file: keep the message one printable line. */
    for (char *p = c->err; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = '?';
    return false;
}

/* Length of a file string for "%.*s" in messages: bounded, never negative. */
#define SHOWN(s) ((int)((s).len > 200 ? 200 : (s).len))

static bool take(struct cursor *c, void *dst, size_t n, const char *what)
{
    if (c->failed) return false;
    if (n > c->size - c->pos)
        return fail(c, "file truncated while reading %s (offset %zu, file size %zu)", what, c->pos,
                    c->size);
    memcpy(dst, c->base + c->pos, n);
    c->pos += n;
    return true;
}

static bool take_u32(struct cursor *c, uint32_t *v, const char *what) { return take(c, v, 4, what); }
static bool take_u64(struct cursor *c, uint64_t *v, const char *what) { return take(c, v, 8, what); }

static bool take_str(struct cursor *c, struct gguf_str *s, const char *what)
{
    uint64_t len = 0;
    if (!take_u64(c, &len, what)) return false;
    if (len > c->size - c->pos)
        return fail(c, "%s length %llu runs past end of file", what, (unsigned long long)len);
    s->ptr = (const char *)c->base + c->pos;
    s->len = len;
    c->pos += len;
    return true;
}

static size_t scalar_size(enum gguf_type t)
{
    switch (t) {
    case GGUF_U8: case GGUF_I8: case GGUF_BOOL: return 1;
    case GGUF_U16: case GGUF_I16: return 2;
    case GGUF_U32: case GGUF_I32: case GGUF_F32: return 4;
    case GGUF_U64: case GGUF_I64: case GGUF_F64: return 8;
    default: return 0;
    }
}

const char *gguf_type_name(enum gguf_type t)
{
    static const char *names[GGUF_TYPE_COUNT] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32",
                                                 "bool", "string", "array", "u64", "i64", "f64"};
    return (unsigned)t < GGUF_TYPE_COUNT ? names[t] : "invalid";
}

/* Read one scalar of type t at p into the kv's union. */
static void load_scalar(struct gguf_kv *kv, enum gguf_type t, const uint8_t *p)
{
    uint8_t u8; uint16_t u16; uint32_t u32; uint64_t u64; float f32; double f64;
    switch (t) {
    case GGUF_U8: case GGUF_BOOL: memcpy(&u8, p, 1); kv->val.u = u8; break;
    case GGUF_I8: kv->val.i = (int8_t)p[0]; break;
    case GGUF_U16: memcpy(&u16, p, 2); kv->val.u = u16; break;
    case GGUF_I16: memcpy(&u16, p, 2); kv->val.i = (int16_t)u16; break;
    case GGUF_U32: memcpy(&u32, p, 4); kv->val.u = u32; break;
    case GGUF_I32: memcpy(&u32, p, 4); kv->val.i = (int32_t)u32; break;
    case GGUF_F32: memcpy(&f32, p, 4); kv->val.f = f32; break;
    case GGUF_U64: memcpy(&u64, p, 8); kv->val.u = u64; break;
    case GGUF_I64: memcpy(&u64, p, 8); kv->val.i = (int64_t)u64; break;
    case GGUF_F64: memcpy(&f64, p, 8); kv->val.f = f64; break;
    default: break;
    }
}

/* Skip (validating) an array body of n elements of type t; depth bounds nesting. */
static bool skip_array(struct cursor *c, enum gguf_type t, uint64_t n, int depth)
{
    if (depth > 8) return fail(c, "arrays nested more than 8 deep");
    size_t es = scalar_size(t);
    if (es) {
        if (n > (c->size - c->pos) / es)
            return fail(c, "array of %llu %s runs past end of file", (unsigned long long)n,
                        gguf_type_name(t));
        c->pos += n * es;
        return true;
    }
    for (uint64_t i = 0; i < n && !c->failed; i++) {
        if (t == GGUF_STRING) {
            struct gguf_str s;
            take_str(c, &s, "array string");
        } else if (t == GGUF_ARRAY) {
            uint32_t et = 0;
            uint64_t en = 0;
            if (take_u32(c, &et, "nested array type") && take_u64(c, &en, "nested array length")) {
                if (et >= GGUF_TYPE_COUNT) return fail(c, "unknown metadata value type %u", et);
                skip_array(c, (enum gguf_type)et, en, depth + 1);
            }
        } else {
            return fail(c, "unknown metadata value type %u", (unsigned)t);
        }
    }
    return !c->failed;
}

static bool read_value(struct cursor *c, struct gguf_kv *kv);

static bool read_kv(struct cursor *c, struct gguf_kv *kv)
{
    if (!take_str(c, &kv->key, "metadata key")) return false;
    size_t start = c->pos;
    if (!read_value(c, kv)) return false;
    kv->raw = c->base + start;
    kv->raw_len = c->pos - start;
    return true;
}

static bool read_value(struct cursor *c, struct gguf_kv *kv)
{
    uint32_t t = 0;
    if (!take_u32(c, &t, "metadata value type")) return false;
    if (t >= GGUF_TYPE_COUNT)
        return fail(c, "metadata '%.*s' has unknown value type %u", SHOWN(kv->key), kv->key.ptr, t);
    kv->type = (enum gguf_type)t;
    if (kv->type == GGUF_STRING) return take_str(c, &kv->val.str, "metadata string");
    if (kv->type != GGUF_ARRAY) {
        size_t es = scalar_size(kv->type);
        if (es > c->size - c->pos) return fail(c, "file truncated in metadata '%.*s'",
                                               SHOWN(kv->key), kv->key.ptr);
        load_scalar(kv, kv->type, c->base + c->pos);
        c->pos += es;
        return true;
    }
    uint32_t et = 0;
    if (!take_u32(c, &et, "array element type") || !take_u64(c, &kv->arr_n, "array length"))
        return false;
    if (et >= GGUF_TYPE_COUNT)
        return fail(c, "metadata '%.*s' has unknown array element type %u", SHOWN(kv->key),
                    kv->key.ptr, et);
    kv->arr_type = (enum gguf_type)et;
    kv->arr_data = c->base + c->pos;
    if (kv->arr_type == GGUF_STRING) {
        /* Each string takes at least its 8-byte length, which bounds the index. */
        if (kv->arr_n > (c->size - c->pos) / 8)
            return fail(c, "metadata '%.*s': array of %llu strings runs past end of file",
                        SHOWN(kv->key), kv->key.ptr, (unsigned long long)kv->arr_n);
        kv->strs = malloc((kv->arr_n ? kv->arr_n : 1) * sizeof *kv->strs);
        if (!kv->strs) return fail(c, "out of memory indexing '%.*s'", SHOWN(kv->key), kv->key.ptr);
        for (uint64_t i = 0; i < kv->arr_n; i++)
            if (!take_str(c, &kv->strs[i], "array string")) return false;
        return true;
    }
    return skip_array(c, kv->arr_type, kv->arr_n, 0);
}

static int cmp_tensor_name(const void *a, const void *b)
{
    const struct gguf_tensor *x = *(const struct gguf_tensor *const *)a;
    const struct gguf_tensor *y = *(const struct gguf_tensor *const *)b;
    size_t n = x->name.len < y->name.len ? x->name.len : y->name.len;
    int r = n ? memcmp(x->name.ptr, y->name.ptr, n) : 0;
    return r ? r : (x->name.len > y->name.len) - (x->name.len < y->name.len);
}

static int cmp_kv_key(const void *a, const void *b)
{
    const struct gguf_kv *x = *(const struct gguf_kv *const *)a;
    const struct gguf_kv *y = *(const struct gguf_kv *const *)b;
    size_t n = x->key.len < y->key.len ? x->key.len : y->key.len;
    int r = n ? memcmp(x->key.ptr, y->key.ptr, n) : 0;
    return r ? r : (x->key.len > y->key.len) - (x->key.len < y->key.len);
}

/* A key given twice is ambiguous (which value wins?): refuse it, as llama.cpp does. */
static bool check_duplicate_keys(struct gguf_file *f, struct cursor *c)
{
    if (f->n_kv < 2) return true;
    const struct gguf_kv **order = malloc(f->n_kv * sizeof *order);
    if (!order) return fail(c, "out of memory");
    for (uint64_t i = 0; i < f->n_kv; i++) order[i] = &f->kv[i];
    qsort(order, f->n_kv, sizeof *order, cmp_kv_key);
    bool ok = true;
    for (uint64_t i = 1; i < f->n_kv && ok; i++)
        if (!cmp_kv_key(&order[i - 1], &order[i]))
            ok = fail(c, "duplicate metadata key '%.*s'", SHOWN(order[i]->key), order[i]->key.ptr);
    free(order);
    return ok;
}

static int cmp_tensor_offset(const void *a, const void *b)
{
    const struct gguf_tensor *x = *(const struct gguf_tensor *const *)a;
    const struct gguf_tensor *y = *(const struct gguf_tensor *const *)b;
    return (x->offset > y->offset) - (x->offset < y->offset);
}

static bool read_tensor_info(struct cursor *c, struct gguf_tensor *t)
{
    if (!take_str(c, &t->name, "tensor name") || !take_u32(c, &t->n_dims, "tensor dimension count"))
        return false;
    const int nl = (int)(t->name.len > 200 ? 200 : t->name.len);
    if (t->n_dims < 1 || t->n_dims > GGUF_MAX_DIMS)
        return fail(c, "tensor '%.*s' has %u dimensions (1 to %d allowed)", nl, t->name.ptr,
                    t->n_dims, GGUF_MAX_DIMS);
    for (int d = 0; d < GGUF_MAX_DIMS; d++) t->ne[d] = 1;
    for (uint32_t d = 0; d < t->n_dims; d++) {
        uint64_t v = 0;
        if (!take_u64(c, &v, "tensor dimension")) return false;
        if (v == 0 || v > (1ull << 40))
            return fail(c, "tensor '%.*s' has invalid dimension %llu", nl, t->name.ptr,
                        (unsigned long long)v);
        t->ne[d] = (int64_t)v;
    }
    uint32_t type = 0;
    if (!take_u32(c, &type, "tensor type") || !take_u64(c, &t->offset, "tensor offset")) return false;
    const struct type_traits *tt = type < TYPE_COUNT ? type_traits((enum ggml_type)type) : NULL;
    if (!tt) return fail(c, "tensor '%.*s' has unknown type id %u", nl, t->name.ptr, type);
    t->type = (enum ggml_type)type;
    if (t->ne[0] % tt->block_size)
        return fail(c, "tensor '%.*s': row length %lld is not a multiple of the %s block size %d",
                    nl, t->name.ptr, (long long)t->ne[0], tt->name, tt->block_size);
    /* Dims are ≤ 2^40 each, so check the product step by step against 2^62. */
    uint64_t rows = 1;
    for (int d = 1; d < GGUF_MAX_DIMS; d++) {
        if ((uint64_t)t->ne[d] > (1ull << 62) / rows)
            return fail(c, "tensor '%.*s': element count overflows", nl, t->name.ptr);
        rows *= (uint64_t)t->ne[d];
    }
    uint64_t row_bytes = (uint64_t)(t->ne[0] / tt->block_size) * tt->type_size;
    if (rows && row_bytes > (1ull << 62) / rows)
        return fail(c, "tensor '%.*s': size overflows", nl, t->name.ptr);
    t->nbytes = (size_t)(row_bytes * rows);
    return true;
}

static bool parse(struct gguf_file *f, struct cursor *c)
{
    uint32_t magic = 0;
    if (!take_u32(c, &magic, "magic")) return false;
    if (magic != GGUF_MAGIC) return fail(c, "not a GGUF file (bad magic)");
    if (!take_u32(c, &f->version, "version")) return false;
    if (f->version == 1) return fail(c, "GGUF version 1 is not supported (re-convert the model)");
    if (f->version != 2 && f->version != 3) {
        uint32_t sw = __builtin_bswap32(f->version);
        if (sw == 2 || sw == 3) return fail(c, "big-endian GGUF files are not supported");
        return fail(c, "unsupported GGUF version %u", f->version);
    }
    if (!take_u64(c, &f->n_tensors, "tensor count") || !take_u64(c, &f->n_kv, "metadata count"))
        return false;
    /* A kv takes at least 8+4+1 bytes, a tensor info 8+4+8+4+8: bounds both counts. */
    if (f->n_kv > (c->size - c->pos) / 13)
        return fail(c, "metadata count %llu is larger than the file could hold",
                    (unsigned long long)f->n_kv);
    if (f->n_tensors > (c->size - c->pos) / 32)
        return fail(c, "tensor count %llu is larger than the file could hold",
                    (unsigned long long)f->n_tensors);
    f->kv = calloc(f->n_kv ? f->n_kv : 1, sizeof *f->kv);
    f->tensors = calloc(f->n_tensors ? f->n_tensors : 1, sizeof *f->tensors);
    if (!f->kv || !f->tensors) return fail(c, "out of memory");
    for (uint64_t i = 0; i < f->n_kv; i++)
        if (!read_kv(c, &f->kv[i])) return false;
    if (!check_duplicate_keys(f, c)) return false;

    f->alignment = GGUF_DEFAULT_ALIGNMENT;
    const struct gguf_kv *al = gguf_find(f, "general.alignment");
    if (al) {
        if (al->type != GGUF_U32) return fail(c, "general.alignment must be u32, not %s",
                                              gguf_type_name(al->type));
        if (al->val.u == 0 || (al->val.u & (al->val.u - 1)))
            return fail(c, "general.alignment %llu is not a power of two",
                        (unsigned long long)al->val.u);
        f->alignment = al->val.u;
    }
    for (uint64_t i = 0; i < f->n_tensors; i++)
        if (!read_tensor_info(c, &f->tensors[i])) return false;

    uint64_t data = c->pos + (f->alignment - c->pos % f->alignment) % f->alignment;
    f->data_offset = data;
    if (f->n_tensors == 0) return true; /* vocab-only files end right after the header */
    if (data > c->size) return fail(c, "file truncated before the tensor data");

    struct gguf_tensor **order = malloc(f->n_tensors * sizeof *order);
    if (!order) return fail(c, "out of memory");
    for (uint64_t i = 0; i < f->n_tensors; i++) order[i] = &f->tensors[i];
    bool ok = true;
    for (uint64_t i = 0; i < f->n_tensors && ok; i++) {
        struct gguf_tensor *t = order[i];
        const int nl = (int)(t->name.len > 200 ? 200 : t->name.len);
        if (t->offset % f->alignment)
            ok = fail(c, "tensor '%.*s' data offset %llu is not aligned to %llu", nl, t->name.ptr,
                      (unsigned long long)t->offset, (unsigned long long)f->alignment);
        else if (t->offset > c->size - data || t->nbytes > c->size - data - t->offset)
            ok = fail(c, "tensor '%.*s' data ends past end of file", nl, t->name.ptr);
        else
            t->data = c->base + data + t->offset;
    }
    if (ok) {
        qsort(order, f->n_tensors, sizeof *order, cmp_tensor_name);
        for (uint64_t i = 1; i < f->n_tensors && ok; i++)
            if (!cmp_tensor_name(&order[i - 1], &order[i]))
                ok = fail(c, "duplicate tensor name '%.*s'", (int)(order[i]->name.len > 200 ? 200 : order[i]->name.len), order[i]->name.ptr);
    }
    if (ok) {
        qsort(order, f->n_tensors, sizeof *order, cmp_tensor_offset);
        for (uint64_t i = 1; i < f->n_tensors && ok; i++)
            if (order[i - 1]->offset + order[i - 1]->nbytes > order[i]->offset)
                ok = fail(c, "tensors '%.*s' and '%.*s' overlap",
                          (int)(order[i - 1]->name.len > 200 ? 200 : order[i - 1]->name.len),
                          order[i - 1]->name.ptr, (int)(order[i]->name.len > 200 ? 200 : order[i]->name.len),
                          order[i]->name.ptr);
    }
    free(order);
    return ok;
}

static struct gguf_file *open_common(struct gguf_file *f, const char *name, char *err, size_t errlen)
{
    char dummy[8];
    if (!err || !errlen) { err = dummy; errlen = sizeof dummy; }
    struct cursor c = {.base = f->base, .size = f->size, .err = err, .errlen = errlen, .name = name};
    if (!parse(f, &c)) {
        gguf_close(f);
        return NULL;
    }
    return f;
}

struct gguf_file *gguf_open_memory(const void *data, size_t size, const char *name, char *err,
                                   size_t errlen)
{
    struct gguf_file *f = calloc(1, sizeof *f);
    if (!f) {
        snprintf(err, errlen, "%s: out of memory", name);
        return NULL;
    }
    f->path = strdup(name);
    f->base = data;
    f->size = size;
    return open_common(f, name, err, errlen);
}

struct gguf_file *gguf_open_as(const char *path, enum load_mode mode, char *err, size_t errlen)
{
    struct filemap map;
    if (filemap_open(&map, path, mode, err, errlen)) {
        char why[256];
        snprintf(why, sizeof why, "%s", err);
        snprintf(err, errlen, "%s: %s", path, why);
        return NULL;
    }
    if (map.size < 24) {
        snprintf(err, errlen, "%s: file too small to be a GGUF model (%zu bytes)", path, map.size);
        filemap_close(&map);
        return NULL;
    }
    struct gguf_file *f = calloc(1, sizeof *f);
    if (!f) {
        filemap_close(&map);
        snprintf(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    f->path = strdup(path);
    f->map = map;
    f->base = map.data;
    f->size = map.size;
    return open_common(f, path, err, errlen);
}

struct gguf_file *gguf_open(const char *path, char *err, size_t errlen)
{
    return gguf_open_as(path, LOAD_MMAP, err, errlen);
}

void gguf_close(struct gguf_file *f)
{
    if (!f) return;
    if (f->kv)
        for (uint64_t i = 0; i < f->n_kv; i++) free(f->kv[i].strs);
    free(f->kv);
    free(f->tensors);
    filemap_close(&f->map);
    free(f->path);
    free(f);
}

bool gguf_str_eq(struct gguf_str s, const char *c)
{
    size_t n = strlen(c);
    return s.len == n && memcmp(s.ptr, c, n) == 0;
}

const struct gguf_kv *gguf_find(const struct gguf_file *f, const char *key)
{
    for (uint64_t i = 0; i < f->n_kv; i++)
        if (f->kv[i].key.ptr && gguf_str_eq(f->kv[i].key, key)) return &f->kv[i];
    return NULL;
}

const struct gguf_tensor *gguf_find_tensor(const struct gguf_file *f, const char *name)
{
    for (uint64_t i = 0; i < f->n_tensors; i++)
        if (gguf_str_eq(f->tensors[i].name, name)) return &f->tensors[i];
    return NULL;
}

static bool is_signed(enum gguf_type t) { return t == GGUF_I8 || t == GGUF_I16 || t == GGUF_I32 || t == GGUF_I64; }
static bool is_unsigned(enum gguf_type t) { return t == GGUF_U8 || t == GGUF_U16 || t == GGUF_U32 || t == GGUF_U64; }

enum gguf_get gguf_get_int(const struct gguf_file *f, const char *key, int64_t *out)
{
    const struct gguf_kv *kv = gguf_find(f, key);
    if (!kv) return GGUF_MISSING;
    if (is_signed(kv->type)) *out = kv->val.i;
    else if (is_unsigned(kv->type) && kv->val.u <= INT64_MAX) *out = (int64_t)kv->val.u;
    else return GGUF_WRONG_TYPE;
    return GGUF_OK;
}

enum gguf_get gguf_get_float(const struct gguf_file *f, const char *key, double *out)
{
    const struct gguf_kv *kv = gguf_find(f, key);
    if (!kv) return GGUF_MISSING;
    if (kv->type != GGUF_F32 && kv->type != GGUF_F64) return GGUF_WRONG_TYPE;
    *out = kv->val.f;
    return GGUF_OK;
}

enum gguf_get gguf_get_bool(const struct gguf_file *f, const char *key, bool *out)
{
    const struct gguf_kv *kv = gguf_find(f, key);
    if (!kv) return GGUF_MISSING;
    if (kv->type != GGUF_BOOL) return GGUF_WRONG_TYPE;
    *out = kv->val.u != 0;
    return GGUF_OK;
}

enum gguf_get gguf_get_str(const struct gguf_file *f, const char *key, struct gguf_str *out)
{
    const struct gguf_kv *kv = gguf_find(f, key);
    if (!kv) return GGUF_MISSING;
    if (kv->type != GGUF_STRING) return GGUF_WRONG_TYPE;
    *out = kv->val.str;
    return GGUF_OK;
}

enum gguf_get gguf_get_array(const struct gguf_file *f, const char *key, enum gguf_type elem,
                             const struct gguf_kv **out)
{
    const struct gguf_kv *kv = gguf_find(f, key);
    if (!kv) return GGUF_MISSING;
    if (kv->type != GGUF_ARRAY || kv->arr_type != elem) return GGUF_WRONG_TYPE;
    *out = kv;
    return GGUF_OK;
}

double gguf_arr_float(const struct gguf_kv *kv, uint64_t i)
{
    const uint8_t *p = kv->arr_data + i * scalar_size(kv->arr_type);
    if (kv->arr_type == GGUF_F32) { float v; memcpy(&v, p, 4); return v; }
    if (kv->arr_type == GGUF_F64) { double v; memcpy(&v, p, 8); return v; }
    return (double)gguf_arr_int(kv, i);
}

int64_t gguf_arr_int(const struct gguf_kv *kv, uint64_t i)
{
    struct gguf_kv tmp = {0};
    load_scalar(&tmp, kv->arr_type, kv->arr_data + i * scalar_size(kv->arr_type));
    if (kv->arr_type == GGUF_F32 || kv->arr_type == GGUF_F64) /* NaN / out of range: 0, not UB */
        return tmp.val.f > -9.2e18 && tmp.val.f < 9.2e18 ? (int64_t)tmp.val.f : 0;
    return is_signed(kv->arr_type) ? tmp.val.i : (int64_t)tmp.val.u;
}
