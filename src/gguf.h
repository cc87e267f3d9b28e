/*
 * gguf.h — reading GGUF files (v2, v3; little-endian) straight from memory
 * (the file mapped, or read in: see filemap.h).
 *
 * gguf_open() validates the whole header up front: every length, count,
 * dimension and offset is checked against the file size with overflow-safe
 * arithmetic, so that after a successful open every pointer handed out
 * (strings, arrays, tensor data) lies inside the mapping. Nothing is copied:
 * strings are (pointer, length) views into the file, not NUL-terminated.
 */
#ifndef INFER_GGUF_H
#define INFER_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "filemap.h"
#include "quant/quant.h"

#define GGUF_MAX_DIMS 4
#define GGUF_DEFAULT_ALIGNMENT 32

enum gguf_type {
    GGUF_U8 = 0, GGUF_I8 = 1, GGUF_U16 = 2, GGUF_I16 = 3, GGUF_U32 = 4,
    GGUF_I32 = 5, GGUF_F32 = 6, GGUF_BOOL = 7, GGUF_STRING = 8,
    GGUF_ARRAY = 9, GGUF_U64 = 10, GGUF_I64 = 11, GGUF_F64 = 12,
    GGUF_TYPE_COUNT
};

struct gguf_str {
    const char *ptr; /* into the file; not NUL-terminated */
    uint64_t len;
};

struct gguf_kv {
    struct gguf_str key;
    enum gguf_type type;
    union {
        uint64_t u;      /* unsigned ints and bool */
        int64_t i;       /* signed ints */
        double f;        /* F32, F64 */
        struct gguf_str str;
    } val;
    /* GGUF_ARRAY: element type, count and raw little-endian data. For arrays
     * of strings `strs` indexes each element; nested arrays are validated but
     * only reachable as raw bytes. */
    enum gguf_type arr_type;
    uint64_t arr_n;
    const uint8_t *arr_data;
    struct gguf_str *strs;
    /* The value as stored (type id through the last byte), for copying it. */
    const uint8_t *raw;
    uint64_t raw_len;
};

struct gguf_tensor {
    struct gguf_str name;
    uint32_t n_dims;
    int64_t ne[GGUF_MAX_DIMS]; /* ne[0] is the contiguous dimension; unused dims are 1 */
    enum ggml_type type;
    uint64_t offset;           /* relative to the data section */
    const void *data;          /* into the mapping */
    size_t nbytes;
};

struct gguf_file {
    char *path;
    const uint8_t *base;  /* the file's bytes: map.data, or a borrowed buffer */
    size_t size;
    struct filemap map;   /* empty for a borrowed buffer */
    uint32_t version;
    uint64_t n_kv, n_tensors;
    struct gguf_kv *kv;
    struct gguf_tensor *tensors;
    uint64_t alignment;
    uint64_t data_offset;
};

/* Open and validate. On failure returns NULL and writes "PATH: reason" to err.
 * gguf_open maps the file; gguf_open_as brings it in per mode. */
struct gguf_file *gguf_open(const char *path, char *err, size_t errlen);
struct gguf_file *gguf_open_as(const char *path, enum load_mode mode, char *err, size_t errlen);
/* The same on a caller-owned buffer (fuzzing, tests); `name` is used in messages. */
struct gguf_file *gguf_open_memory(const void *data, size_t size, const char *name,
                                   char *err, size_t errlen);
void gguf_close(struct gguf_file *f);

const struct gguf_kv *gguf_find(const struct gguf_file *f, const char *key);
const struct gguf_tensor *gguf_find_tensor(const struct gguf_file *f, const char *name);
bool gguf_str_eq(struct gguf_str s, const char *c);
const char *gguf_type_name(enum gguf_type t);

/* Typed getters: GGUF_OK, GGUF_MISSING, or GGUF_WRONG_TYPE when the key holds
 * another kind of value (any integer type is accepted where an int is asked for,
 * as long as the value fits). */
enum gguf_get { GGUF_OK = 0, GGUF_MISSING = 1, GGUF_WRONG_TYPE = 2 };
enum gguf_get gguf_get_int(const struct gguf_file *f, const char *key, int64_t *out);
enum gguf_get gguf_get_float(const struct gguf_file *f, const char *key, double *out);
enum gguf_get gguf_get_bool(const struct gguf_file *f, const char *key, bool *out);
enum gguf_get gguf_get_str(const struct gguf_file *f, const char *key, struct gguf_str *out);
/* An array whose elements have type `elem` (GGUF_STRING: use kv->strs). */
enum gguf_get gguf_get_array(const struct gguf_file *f, const char *key, enum gguf_type elem,
                             const struct gguf_kv **out);

/* Element i of a numeric array as double / int64 (little-endian read). */
double gguf_arr_float(const struct gguf_kv *kv, uint64_t i);
int64_t gguf_arr_int(const struct gguf_kv *kv, uint64_t i);

#endif
