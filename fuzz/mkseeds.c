/*
 * mkseeds.c — tiny, valid inputs for the fuzz targets (a few KB each, so
 * that mutations are cheap and reach deep): an SPM llama GGUF with F32, F16
 * and Q8_0 weights, a GPT-2-BPE qwen2 GGUF with biases, a vocab-only GGUF, a
 * llama2.c checkpoint and a tokenizer.bin. Usage: mkseeds DIR (writes
 * DIR/gguf/, DIR/llama2c/, DIR/tokenizer/).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gguf_write.h"
#include "tok_internal.h"

enum { DIM = 32, FF = 64, NH = 4, NKV = 2, HD = DIM / NH };

static float frand(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return (float)((*s >> 8) & 0xFFFF) / 65536.0f - 0.5f;
}

/* Weights in a pool that outlives gw_write. */
static unsigned char pool[1 << 22];
static size_t pool_used;

static void *weights(enum ggml_type type, int64_t ne0, int64_t ne1, size_t *nbytes, unsigned *seed)
{
    const int64_t n = ne0 * ne1;
    float *f = malloc((size_t)n * sizeof *f);
    for (int64_t i = 0; i < n; i++) f[i] = frand(seed) * 0.5f;
    *nbytes = type_row_size(type, ne0) * (size_t)ne1;
    void *dst = pool + pool_used;
    pool_used += (*nbytes + 63) & ~(size_t)63;
    if (pool_used > sizeof pool) { fprintf(stderr, "mkseeds: pool too small\n"); exit(1); }
    if (type == TYPE_F32) memcpy(dst, f, *nbytes);
    else for (int64_t r = 0; r < ne1; r++)
        type_traits(type)->from_float(f + r * ne0, (char *)dst + (size_t)r * type_row_size(type, ne0), ne0);
    free(f);
    return dst;
}

static void tensor(struct gguf_writer *w, const char *name, enum ggml_type type, int64_t ne0, int64_t ne1,
                   unsigned *seed)
{
    size_t nb;
    void *d = weights(type, ne0, ne1, &nb, seed);
    int64_t ne[2] = {ne0, ne1};
    gw_tensor(w, name, ne1 > 1 ? 2 : 1, ne, type, d, nb);
}

static void norm(struct gguf_writer *w, const char *name, int64_t n)
{
    float *d = (float *)(pool + pool_used);
    pool_used += ((size_t)n * 4 + 63) & ~(size_t)63;
    for (int64_t i = 0; i < n; i++) d[i] = 1.0f;
    int64_t ne[1] = {n};
    gw_tensor(w, name, 1, ne, TYPE_F32, d, (size_t)n * 4);
}

static void hparams(struct gguf_writer *w, const char *arch)
{
    char k[128];
    gw_str(w, "general.architecture", arch);
    gw_str(w, "general.name", "fuzz seed");
#define HP(key, v) (snprintf(k, sizeof k, "%s." key, arch), gw_u32(w, k, v))
    HP("embedding_length", DIM);
    HP("block_count", 1);
    HP("feed_forward_length", FF);
    HP("attention.head_count", NH);
    HP("attention.head_count_kv", NKV);
    HP("context_length", 64);
    HP("rope.dimension_count", HD);
#undef HP
    snprintf(k, sizeof k, "%s.attention.layer_norm_rms_epsilon", arch);
    gw_f32(w, k, 1e-5f);
    snprintf(k, sizeof k, "%s.rope.freq_base", arch);
    gw_f32(w, k, 10000.0f);
}

static void layer(struct gguf_writer *w, bool bias, unsigned *seed)
{
    norm(w, "blk.0.attn_norm.weight", DIM);
    norm(w, "blk.0.ffn_norm.weight", DIM);
    tensor(w, "blk.0.attn_q.weight", TYPE_Q8_0, DIM, NH * HD, seed);
    tensor(w, "blk.0.attn_k.weight", TYPE_F16, DIM, NKV * HD, seed);
    tensor(w, "blk.0.attn_v.weight", TYPE_F32, DIM, NKV * HD, seed);
    tensor(w, "blk.0.attn_output.weight", TYPE_Q8_0, NH * HD, DIM, seed);
    tensor(w, "blk.0.ffn_gate.weight", TYPE_F16, DIM, FF, seed);
    tensor(w, "blk.0.ffn_up.weight", TYPE_Q8_0, DIM, FF, seed);
    tensor(w, "blk.0.ffn_down.weight", TYPE_F32, FF, DIM, seed);
    if (bias) {
        tensor(w, "blk.0.attn_q.bias", TYPE_F32, NH * HD, 1, seed);
        tensor(w, "blk.0.attn_k.bias", TYPE_F32, NKV * HD, 1, seed);
        tensor(w, "blk.0.attn_v.bias", TYPE_F32, NKV * HD, 1, seed);
    }
}

static int write(struct gguf_writer *w, const char *dir, const char *name)
{
    char path[4096], err[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int rc = gw_write(w, path, err, sizeof err);
    if (rc) fprintf(stderr, "mkseeds: %s\n", err);
    gguf_writer_free(w);
    return rc;
}

/* SPM vocab: <unk> <s> </s>, 256 byte tokens, then some pieces. */
static const char *spm_pieces[] = {"\xe2\x96\x81", "\xe2\x96\x81" "a", "a", "b", "\xe2\x96\x81" "the", "the", "he",
                                   "\xe2\x96\x81" "t", "<|im_start|>", "<|im_end|>"};
#define N_SPM (3 + 256 + (int)(sizeof spm_pieces / sizeof spm_pieces[0]))

static void spm_vocab(struct gguf_writer *w)
{
    static char bytes[256][8];
    const char *tok[N_SPM];
    float score[N_SPM];
    int32_t type[N_SPM];
    tok[0] = "<unk>"; tok[1] = "<s>"; tok[2] = "</s>";
    type[0] = 2; type[1] = type[2] = 3;
    for (int i = 0; i < 256; i++) {
        snprintf(bytes[i], sizeof bytes[i], "<0x%02X>", i);
        tok[3 + i] = bytes[i];
        type[3 + i] = 6;
    }
    for (int i = 0; i < (int)(sizeof spm_pieces / sizeof spm_pieces[0]); i++) {
        tok[259 + i] = spm_pieces[i];
        type[259 + i] = spm_pieces[i][0] == '<' ? 3 : 1;
    }
    for (int i = 0; i < N_SPM; i++) score[i] = type[i] == 1 ? -(float)i : 0.0f;
    gw_str(w, "tokenizer.ggml.model", "llama");
    gw_arr_str(w, "tokenizer.ggml.tokens", tok, N_SPM);
    gw_arr_f32(w, "tokenizer.ggml.scores", score, N_SPM);
    gw_arr_i32(w, "tokenizer.ggml.token_type", type, N_SPM);
    gw_u32(w, "tokenizer.ggml.bos_token_id", 1);
    gw_u32(w, "tokenizer.ggml.eos_token_id", 2);
    gw_u32(w, "tokenizer.ggml.unknown_token_id", 0);
    gw_bool(w, "tokenizer.ggml.add_bos_token", true);
}

/* GPT-2 BPE vocab: the 256 byte symbols, some merges, <|endoftext|>. */
static const char *bpe_merges[] = {"\xc4\xa0 t", "h e", "\xc4\xa0t he", "i n", "a n", "\xc4\xa0 a"};
#define N_MERGES (int)(sizeof bpe_merges / sizeof bpe_merges[0])
#define N_BPE (256 + N_MERGES + 2)

static void bpe_vocab(struct gguf_writer *w)
{
    static char sym[256][4], merged[N_MERGES][32];
    const char *tok[N_BPE];
    int32_t type[N_BPE];
    for (int b = 0; b < 256; b++) {
        int k = bpe_byte_encode((uint8_t)b, sym[b]);
        sym[b][k] = 0;
        tok[b] = sym[b];
        type[b] = 1;
    }
    for (int i = 0; i < N_MERGES; i++) {
        const char *sp = strchr(bpe_merges[i], ' ');
        snprintf(merged[i], sizeof merged[i], "%.*s%s", (int)(sp - bpe_merges[i]), bpe_merges[i], sp + 1);
        tok[256 + i] = merged[i];
        type[256 + i] = 1;
    }
    tok[256 + N_MERGES] = "<|endoftext|>";
    tok[257 + N_MERGES] = "<|im_start|>";
    type[256 + N_MERGES] = type[257 + N_MERGES] = 3;
    gw_str(w, "tokenizer.ggml.model", "gpt2");
    gw_str(w, "tokenizer.ggml.pre", "qwen2");
    gw_arr_str(w, "tokenizer.ggml.tokens", tok, N_BPE);
    gw_arr_i32(w, "tokenizer.ggml.token_type", type, N_BPE);
    gw_arr_str(w, "tokenizer.ggml.merges", bpe_merges, N_MERGES);
    gw_u32(w, "tokenizer.ggml.bos_token_id", 256 + N_MERGES);
    gw_u32(w, "tokenizer.ggml.eos_token_id", 256 + N_MERGES);
    gw_bool(w, "tokenizer.ggml.add_bos_token", false);
}

static int gguf_seeds(const char *dir)
{
    unsigned seed = 1;
    int rc = 0;
    struct gguf_writer *w = gguf_writer_new();
    hparams(w, "llama");
    spm_vocab(w);
    tensor(w, "token_embd.weight", TYPE_F16, DIM, N_SPM, &seed);
    norm(w, "output_norm.weight", DIM);
    layer(w, false, &seed);
    rc |= write(w, dir, "tiny-llama-spm.gguf");

    w = gguf_writer_new();
    hparams(w, "qwen2");
    bpe_vocab(w);
    tensor(w, "token_embd.weight", TYPE_F32, DIM, N_BPE, &seed);
    tensor(w, "output.weight", TYPE_Q8_0, DIM, N_BPE, &seed);
    norm(w, "output_norm.weight", DIM);
    layer(w, true, &seed);
    rc |= write(w, dir, "tiny-qwen2-bpe.gguf");

    w = gguf_writer_new();
    spm_vocab(w);
    rc |= write(w, dir, "tiny-vocab-only.gguf");
    return rc;
}

static int put_file(const char *dir, const char *name, const void *p, size_t n)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n || fclose(f)) {
        fprintf(stderr, "mkseeds: cannot write %s\n", path);
        return 1;
    }
    return 0;
}

/* llama2.c checkpoint: dim 16, hidden 32, 1 layer, 2 heads, 1 kv head, vocab 512, seq 8. */
static int llama2c_seeds(const char *dir)
{
    const int32_t h[7] = {16, 32, 1, 2, 1, 512, 8};
    const int64_t D = 16, F = 32, KV = 8, V = 512, S = 8, HDim = 8;
    const int64_t n = V * D + D + D * D + 2 * D * KV + D * D + D + 3 * D * F + D + S * HDim;
    unsigned char *buf = calloc(1, 28 + (size_t)n * 4);
    memcpy(buf, h, 28);
    unsigned seed = 7;
    float *f = (float *)(buf + 28);
    for (int64_t i = 0; i < n; i++) f[i] = frand(&seed);
    int rc = put_file(dir, "tiny-checkpoint.bin", buf, 28 + (size_t)n * 4);
    /* A separate classifier: negative vocab size, one more V × D array. */
    int32_t h2[7] = {16, 32, 1, 2, 1, -512, 8};
    unsigned char *b2 = calloc(1, 28 + (size_t)(n + V * D) * 4);
    memcpy(b2, h2, 28);
    memcpy(b2 + 28, buf + 28, (size_t)n * 4);
    rc |= put_file(dir, "tiny-checkpoint-unshared.bin", b2, 28 + (size_t)(n + V * D) * 4);
    free(b2);
    free(buf);

    /* tokenizer.bin: max_token_length, then (score, len, bytes) per token. */
    unsigned char tb[16384];
    size_t o = 0;
    int32_t maxlen = 16;
    memcpy(tb, &maxlen, 4);
    o = 4;
    for (int i = 0; i < 512; i++) {
        char s[32];
        if (i == 0) strcpy(s, "<unk>");
        else if (i == 1) strcpy(s, "\n<s>\n");
        else if (i == 2) strcpy(s, "\n</s>\n");
        else if (i < 259) snprintf(s, sizeof s, "<0x%02X>", i - 3);
        else if (i == 259) strcpy(s, " ");
        else snprintf(s, sizeof s, "%s%c%c", i % 2 ? " " : "", 'a' + i % 26, 'a' + (i / 26) % 26);
        float sc = i < 259 ? 0.0f : -(float)i;
        int32_t len = (int32_t)strlen(s);
        memcpy(tb + o, &sc, 4);
        memcpy(tb + o + 4, &len, 4);
        memcpy(tb + o + 8, s, (size_t)len);
        o += 8 + (size_t)len;
    }
    rc |= put_file(dir, "tiny-tokenizer.bin", tb, o);
    return rc;
}

/* Tokenizer target inputs: vocab selector, flags, text. */
static int tokenizer_seeds(const char *dir)
{
    static const char *texts[] = {"Hello world", " leading space", "<s>special</s><|im_start|>x",
                                  "\xe4\xbd\xa0\xe5\xa5\xbd\xf0\x9f\xa6\x99", "\xff\xfe\xc0\x80 bad utf8",
                                  "tab\tnew\nline  \r\n", "12345 3.14 don't I'm"};
    int rc = 0;
    for (int v = 0; v < 13; v++)
        for (int t = 0; t < (int)(sizeof texts / sizeof texts[0]); t++) {
            unsigned char b[256];
            b[0] = (unsigned char)v;
            b[1] = (unsigned char)(t & 3);
            size_t n = strlen(texts[t]);
            memcpy(b + 2, texts[t], n);
            char name[64];
            snprintf(name, sizeof name, "v%02d-t%d", v, t);
            rc |= put_file(dir, name, b, n + 2);
        }
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: mkseeds DIR\n");
        return 2;
    }
    char d[3][4096];
    const char *sub[3] = {"gguf", "llama2c", "tokenizer"};
    for (int i = 0; i < 3; i++) {
        snprintf(d[i], sizeof d[i], "%s/%s", argv[1], sub[i]);
        mkdir(argv[1], 0777);
        mkdir(d[i], 0777);
    }
    return gguf_seeds(d[0]) | llama2c_seeds(d[1]) | tokenizer_seeds(d[2]);
}
