/*
 * fuzz_gguf.c — libFuzzer target: the whole input is a GGUF file.
 *
 * gguf_open_memory → (on success) every metadata value and tensor view read
 * byte by byte, --info in text and JSON form (through a memfd, to
 * /dev/null), tokenizer_load_gguf, model_from_gguf, and when both load and
 * agree on the vocabulary, a two-token forward pass. Failures must be one
 * clean line naming the input.
 *
 * Also compiled into tests/test_regress.c (FUZZ_NO_MAIN) to replay
 * fuzz/regress/gguf/ in the normal test suite.
 */
#include "fuzz_common.h"

#include "cli.h"

#define FUZZ_GGUF_NAME "fuzz.gguf"

static uint64_t fuzz_gguf_traverse(const struct gguf_file *f)
{
    uint64_t acc = f->version + f->alignment + f->data_offset;
    for (uint64_t i = 0; i < f->n_kv; i++) {
        const struct gguf_kv *kv = &f->kv[i];
        acc += fuzz_touch(kv->key.ptr, kv->key.len) + fuzz_touch(kv->raw, kv->raw_len);
        acc += (uint64_t)gguf_type_name(kv->type)[0];
        if (kv->type == GGUF_STRING) acc += fuzz_touch(kv->val.str.ptr, kv->val.str.len);
        if (kv->type != GGUF_ARRAY) continue;
        acc += (uint64_t)gguf_type_name(kv->arr_type)[0];
        const uint64_t n = kv->arr_n < 65536 ? kv->arr_n : 65536;
        for (uint64_t j = 0; j < n; j++) {
            if (kv->arr_type == GGUF_STRING) acc += fuzz_touch(kv->strs[j].ptr, kv->strs[j].len);
            else if (kv->arr_type == GGUF_ARRAY) break;
            else acc += (uint64_t)gguf_arr_int(kv, j) + (uint64_t)(int64_t)(gguf_arr_float(kv, j) != 0);
        }
        /* the typed getters on the key itself */
        char key[256];
        if (kv->key.len < sizeof key) {
            memcpy(key, kv->key.ptr, kv->key.len);
            key[kv->key.len] = 0;
            int64_t iv; double dv; bool bv; struct gguf_str sv; const struct gguf_kv *av;
            acc += gguf_get_int(f, key, &iv) + gguf_get_float(f, key, &dv) + gguf_get_bool(f, key, &bv) +
                   gguf_get_str(f, key, &sv) + gguf_get_array(f, key, kv->arr_type, &av);
        }
    }
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const struct gguf_tensor *t = &f->tensors[i];
        acc += fuzz_touch(t->name.ptr, t->name.len) + (uint64_t)type_traits(t->type)->name[0];
        if (t->n_dims < 1 || t->n_dims > GGUF_MAX_DIMS) FUZZ_FAIL("tensor with %u dims accepted", t->n_dims);
        if (t->nbytes) {
            const uint8_t *d = t->data;
            if (d < f->base || d + t->nbytes > f->base + f->size) FUZZ_FAIL("tensor data outside the file");
            acc += d[0] + d[t->nbytes - 1];
        }
        if (i < 64 && gguf_find_tensor(f, "") == t) acc++;
    }
    return acc;
}

static void fuzz_gguf_info(const uint8_t *data, size_t size)
{
    const char *path = fuzz_memfd_path(data, size);
    struct options o;
    memset(&o, 0, sizeof o);
    /* run_info writes to stdout: point it at /dev/null for the call. */
    fflush(stdout);
    int saved = dup(STDOUT_FILENO), null = open("/dev/null", O_WRONLY);
    if (saved < 0 || null < 0) FUZZ_FAIL("cannot redirect stdout");
    dup2(null, STDOUT_FILENO);
    close(null);
    o.json = false;
    run_info(&o, path);
    o.json = true;
    run_info(&o, path);
    dup2(saved, STDOUT_FILENO);
    close(saved);
}

static int fuzz_gguf_input(const uint8_t *data, size_t size)
{
    static bool init;
    if (!init) {
        matmul_set_threads(1);
        init = true;
    }
    char err[1024];
    struct gguf_file *f = gguf_open_memory(data, size, FUZZ_GGUF_NAME, err, sizeof err);
    if (!f) {
        fuzz_check_error("gguf_open_memory", err, sizeof err, FUZZ_GGUF_NAME);
        return 0;
    }
    volatile uint64_t sink = fuzz_gguf_traverse(f);
    (void)sink;
    fuzz_gguf_info(data, size);

    struct tokenizer *t = tokenizer_load_gguf(f, err, sizeof err);
    if (!t) {
        fuzz_check_error("tokenizer_load_gguf", err, sizeof err, FUZZ_GGUF_NAME);
    } else {
        size_t n;
        static const char text[] = "Hello world! <s> 123 \xe4\xbd\xa0\xe5\xa5\xbd \xff\xfe ";
        free(fuzz_encode_check(t, text, sizeof text - 1, true, true, &n));
        free(fuzz_encode_check(t, text, sizeof text - 1, false, false, &n));
        const int32_t nv = tokenizer_n_vocab(t);
        for (int32_t id = 0; id < nv && id < 300; id++) {
            char b[8];
            (void)tokenizer_token_bytes(t, id, b, sizeof b);
            if (!tokenizer_piece(t, id)) FUZZ_FAIL("no piece for token %d", id);
            (void)tokenizer_is_eog(t, id);
        }
        (void)tokenizer_piece(t, -1);
        (void)tokenizer_piece(t, nv);
    }
    struct model *m = model_from_gguf(f, err, sizeof err);
    if (!m) {
        fuzz_check_error("model_from_gguf", err, sizeof err, FUZZ_GGUF_NAME);
        gguf_close(f);
    } else {
        if (t && m->hp.n_vocab == tokenizer_n_vocab(t)) fuzz_run_model(m, tokenizer_bos(t));
        model_free(m); /* closes f */
    }
    tokenizer_free(t);
    return 0;
}

#ifndef FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fuzz_gguf_input(data, size); }
#endif
