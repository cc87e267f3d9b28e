/*
 * fuzz_llama2c.c — libFuzzer target: the input as a llama2.c checkpoint and
 * as a llama2.c tokenizer.bin (both loaders take a path: the input goes
 * through a memfd). A checkpoint that loads runs a two-token forward pass; a
 * tokenizer that loads encodes and decodes text. Failures must be one clean
 * line naming the file.
 *
 * Also compiled into tests/test_regress.c (FUZZ_NO_MAIN).
 */
#include "fuzz_common.h"

static int fuzz_llama2c_input(const uint8_t *data, size_t size)
{
    static bool init;
    if (!init) {
        matmul_set_threads(1);
        init = true;
    }
    const char *path = fuzz_memfd_path(data, size);
    char err[1024];
    struct model *m = model_from_llama2c(path, LOAD_MMAP, err, sizeof err);
    if (!m) {
        fuzz_check_error("model_from_llama2c", err, sizeof err, path);
    } else {
        fuzz_run_model(m, 1);
    }
    /* The same bytes as a tokenizer.bin, for the checkpoint's vocabulary and for 512. */
    const int n_vocab[2] = {m ? m->hp.n_vocab : 0, 512};
    for (int k = 0; k < 2; k++) {
        if (n_vocab[k] <= 0 || (k == 1 && n_vocab[0] == 512)) continue;
        struct tokenizer *t = tokenizer_load_llama2c(path, n_vocab[k], err, sizeof err);
        if (!t) {
            fuzz_check_error("tokenizer_load_llama2c", err, sizeof err, path);
            continue;
        }
        if (tokenizer_n_vocab(t) != n_vocab[k]) FUZZ_FAIL("tokenizer has %d tokens, asked for %d", tokenizer_n_vocab(t), n_vocab[k]);
        size_t n;
        static const char text[] = "Once upon a time \xe4\xbd\xa0\xff <s> </s>";
        free(fuzz_encode_check(t, text, sizeof text - 1, true, true, &n));
        free(fuzz_encode_check(t, text, sizeof text - 1, false, false, &n));
        if (size) { /* some of the input as text too */
            const size_t tail = size < 64 ? size : 64;
            free(fuzz_encode_check(t, (const char *)data + size - tail, tail, true, false, &n));
        }
        tokenizer_free(t);
    }
    model_free(m);
    return 0;
}

#ifndef FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return fuzz_llama2c_input(data, size); }
#endif
