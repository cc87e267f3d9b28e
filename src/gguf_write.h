/*
 * gguf_write.h — building a GGUF v3 file: metadata entries and tensors are
 * collected (tensor data by pointer, not copied), then written in one pass
 * with the data section aligned. Used by the quantizer and the model generator.
 */
#ifndef INFER_GGUF_WRITE_H
#define INFER_GGUF_WRITE_H

#include "gguf.h"

struct gguf_writer;

struct gguf_writer *gguf_writer_new(void);
void gguf_writer_free(struct gguf_writer *w);

/* Metadata. A key set twice keeps the last value. */
void gw_copy_kv(struct gguf_writer *w, const struct gguf_kv *kv);
void gw_u32(struct gguf_writer *w, const char *key, uint32_t v);
void gw_f32(struct gguf_writer *w, const char *key, float v);
void gw_bool(struct gguf_writer *w, const char *key, bool v);
void gw_str(struct gguf_writer *w, const char *key, const char *v);
void gw_arr_str(struct gguf_writer *w, const char *key, const char *const *v, uint64_t n);
void gw_arr_f32(struct gguf_writer *w, const char *key, const float *v, uint64_t n);
void gw_arr_i32(struct gguf_writer *w, const char *key, const int32_t *v, uint64_t n);

/* A tensor of shape ne[0..n_dims-1]; data must stay valid until gw_write. */
void gw_tensor(struct gguf_writer *w, const char *name, int n_dims, const int64_t *ne,
               enum ggml_type type, const void *data, size_t nbytes);

/* Write the file; 0 on success, else -1 with "PATH: reason" in err. */
int gw_write(struct gguf_writer *w, const char *path, char *err, size_t errlen);

#endif
