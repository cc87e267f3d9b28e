/*
 * model.c — the architecture table and weight binding: GGUF metadata and
 * tensors → struct model, with every shape checked against the
 * hyperparameters, so the forward pass can trust them. Also the llama2.c
 * checkpoint loader, which maps the same struct onto a float32 .bin file.
 */
#include "model.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <string.h>

static const struct arch_info arch_table[] = {
    {"llama", ROPE_NORM, false, false},
    {"qwen2", ROPE_NEOX, true, false},
    {"qwen3", ROPE_NEOX, false, true},
};

const struct arch_info *arch_lookup(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof arch_table / sizeof arch_table[0]; i++)
        if (strlen(arch_table[i].name) == len && !memcmp(arch_table[i].name, name, len))
            return &arch_table[i];
    return NULL;
}

size_t model_kv_bytes_per_token(const struct model *m, size_t elem)
{
    const struct hparams *hp = &m->hp;
    return (size_t)hp->n_layer * hp->n_kv_head * (hp->head_dim + hp->head_dim_v) * elem;
}

/* Loading state: the error buffer and the file, so helpers can report. */
struct loader {
    struct model *m;
    const struct gguf_file *f;
    const char *path;
    char *err;
    size_t errlen;
    char prefix[64];   /* "llama." */
};

static bool lfail(struct loader *L, const char *fmt, ...)
{
    int n = snprintf(L->err, L->errlen, "%s: ", L->path);
    if (n >= 0 && (size_t)n < L->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(L->err + n, L->errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    /* Names in the message come from the file: keep it one printable line. */
    for (char *p = L->err; L->errlen && *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = '?';
    return false;
}

static float *own(struct model *m, size_t n)
{
    if (m->n_owned == m->cap_owned) {
        int cap = m->cap_owned ? m->cap_owned * 2 : 64;
        float **p = realloc(m->owned, (size_t)cap * sizeof *p);
        if (!p) return NULL;
        m->owned = p;
        m->cap_owned = cap;
    }
    float *buf = malloc(n * sizeof(float));
    if (buf) m->owned[m->n_owned++] = buf;
    return buf;
}

/* An integer hyperparameter "<arch>.<key>"; required ones fail when absent. */
static bool get_hp(struct loader *L, const char *key, int *out, bool required, int64_t lo, int64_t hi)
{
    char full[128];
    snprintf(full, sizeof full, "%s%s", L->prefix, key);
    int64_t v;
    switch (gguf_get_int(L->f, full, &v)) {
    case GGUF_MISSING:
        return required ? lfail(L, "missing metadata '%s'", full) : true;
    case GGUF_WRONG_TYPE:
        return lfail(L, "metadata '%s' has the wrong type (expected an integer)", full);
    case GGUF_OK: break;
    }
    if (v < lo || v > hi) return lfail(L, "metadata '%s' = %lld is out of range", full, (long long)v);
    *out = (int)v;
    return true;
}

static bool get_hp_float(struct loader *L, const char *key, float *out)
{
    char full[128];
    snprintf(full, sizeof full, "%s%s", L->prefix, key);
    double v;
    switch (gguf_get_float(L->f, full, &v)) {
    case GGUF_MISSING: return true;
    case GGUF_WRONG_TYPE: return lfail(L, "metadata '%s' has the wrong type (expected a float)", full);
    case GGUF_OK: break;
    }
    if (!isfinite(v) || v < 0 || v > FLT_MAX) /* (float)v must be defined */
        return lfail(L, "metadata '%s' = %g is out of range", full, v);
    *out = (float)v;
    return true;
}

/* Find tensor `name` and check its shape is exactly [ne0, ne1]. */
static bool bind(struct loader *L, struct tensor *t, const char *name, int64_t ne0, int64_t ne1,
                 bool required)
{
    const struct gguf_tensor *g = gguf_find_tensor(L->f, name);
    if (!g) {
        memset(t, 0, sizeof *t);
        return required ? lfail(L, "missing tensor '%s'", name) : true;
    }
    if (g->ne[0] != ne0 || g->ne[1] != ne1 || g->ne[2] != 1 || g->ne[3] != 1)
        return lfail(L, "tensor '%s' has shape [%lld, %lld, %lld, %lld], expected [%lld, %lld]", name,
                     (long long)g->ne[0], (long long)g->ne[1], (long long)g->ne[2],
                     (long long)g->ne[3], (long long)ne0, (long long)ne1);
    const struct type_traits *tt = type_traits(g->type);
    if (!tt->to_float)
        return lfail(L, "tensor '%s' has type %s, which is not supported", name, tt->name);
    t->type = g->type;
    memcpy(t->ne, g->ne, sizeof t->ne);
    t->data = g->data;
    t->nbytes = g->nbytes;
    return true;
}

/* A small vector tensor, converted to an owned F32 copy. */
static bool bind_vec(struct loader *L, const float **out, const char *name, int64_t n, bool required)
{
    struct tensor t = {0};
    *out = NULL;
    if (!bind(L, &t, name, n, 1, required)) return false;
    if (!t.data) return true;
    float *v = own(L->m, (size_t)n);
    if (!v) return lfail(L, "out of memory");
    type_traits(t.type)->to_float(t.data, v, n);
    *out = v;
    return true;
}

static void account(struct model *m, const struct tensor *t, int *type_count)
{
    if (!t->data) return;
    m->n_params += (uint64_t)(t->ne[0] * t->ne[1]);
    m->weight_bytes += t->nbytes;
    if (t->ne[1] > 1) type_count[t->type]++;
}

/* RoPE scaling: "linear" divides positions by the factor; Llama 3's
 * frequency-dependent scaling comes as the rope_freqs.weight tensor (bound
 * with the weights). Other schemes (YaRN, LongRoPE) change attention in ways
 * this engine does not implement, so they are refused rather than run wrong. */
static bool load_rope_scaling(struct loader *L)
{
    struct hparams *hp = &L->m->hp;
    hp->rope_freq_scale = 1.0f;
    char key[128];
    snprintf(key, sizeof key, "%srope.scaling.type", L->prefix);
    struct gguf_str type = {"none", 4};
    if (gguf_get_str(L->f, key, &type) == GGUF_WRONG_TYPE)
        return lfail(L, "metadata '%s' has the wrong type (expected a string)", key);
    float factor = 0.0f;
    if (!get_hp_float(L, "rope.scaling.factor", &factor)) return false;
    if (factor == 0.0f && !get_hp_float(L, "rope.scale_linear", &factor)) return false;
    if (gguf_str_eq(type, "linear") || (gguf_str_eq(type, "none") && factor > 0.0f)) {
        if (factor > 0.0f && factor != 1.0f) hp->rope_freq_scale = 1.0f / factor;
    } else if (!gguf_str_eq(type, "none")) {
        return lfail(L, "RoPE scaling '%.*s' is not supported", (int)(type.len > 32 ? 32 : type.len), type.ptr);
    }
    return true;
}

static bool load_hparams(struct loader *L)
{
    struct hparams *hp = &L->m->hp;
    const int big = 1 << 20;
    if (!get_hp(L, "embedding_length", &hp->dim, true, 1, big) ||
        !get_hp(L, "block_count", &hp->n_layer, true, 1, 4096) ||
        !get_hp(L, "feed_forward_length", &hp->ffn_dim, true, 1, big) ||
        !get_hp(L, "attention.head_count", &hp->n_head, true, 1, 4096))
        return false;
    hp->n_kv_head = hp->n_head;
    hp->ctx_train = 2048;
    if (!get_hp(L, "attention.head_count_kv", &hp->n_kv_head, false, 1, 4096) ||
        !get_hp(L, "context_length", &hp->ctx_train, false, 1, 1 << 24))
        return false;
    if (hp->n_head % hp->n_kv_head)
        return lfail(L, "head_count %d is not a multiple of head_count_kv %d", hp->n_head, hp->n_kv_head);
    hp->head_dim = hp->dim / hp->n_head;
    if (!get_hp(L, "attention.key_length", &hp->head_dim, false, 1, 65536)) return false;
    hp->head_dim_v = hp->head_dim;
    if (!get_hp(L, "attention.value_length", &hp->head_dim_v, false, 1, 65536)) return false;
    if (hp->head_dim * hp->n_head == 0)
        return lfail(L, "embedding_length %d is smaller than head_count %d", hp->dim, hp->n_head);
    hp->n_rot = hp->head_dim;
    if (!get_hp(L, "rope.dimension_count", &hp->n_rot, false, 0, hp->head_dim)) return false;
    if (hp->n_rot % 2) return lfail(L, "rope.dimension_count %d is odd", hp->n_rot);
    hp->rope_base = 10000.0f;
    hp->rms_eps = 1e-5f;
    if (!get_hp_float(L, "rope.freq_base", &hp->rope_base) ||
        !get_hp_float(L, "attention.layer_norm_rms_epsilon", &hp->rms_eps))
        return false;
    if (!(hp->rope_base > 1.0f)) return lfail(L, "rope.freq_base %g must be greater than 1", hp->rope_base);
    return load_rope_scaling(L);
}

struct model *model_from_gguf(struct gguf_file *f, char *err, size_t errlen)
{
    struct model *m = calloc(1, sizeof *m);
    struct loader L = {.m = m, .f = f, .path = f->path, .err = err, .errlen = errlen};
    if (!m) {
        lfail(&L, "out of memory");
        return NULL;
    }
    /* Vocab-only files (llama.cpp's ggml-vocab-*.gguf) name an architecture too. */
    if (f->n_tensors == 0) {
        lfail(&L, "no tensors (a vocab-only file?): cannot run it as a model");
        goto fail;
    }
    struct gguf_str a;
    switch (gguf_get_str(f, "general.architecture", &a)) {
    case GGUF_MISSING:
        lfail(&L, "missing metadata 'general.architecture'");
        goto fail;
    case GGUF_WRONG_TYPE: lfail(&L, "metadata 'general.architecture' is not a string"); goto fail;
    case GGUF_OK: break;
    }
    m->arch = arch_lookup(a.ptr, a.len);
    if (!m->arch) {
        lfail(&L, "unsupported architecture '%.*s' (supported: llama, qwen2, qwen3)",
              (int)(a.len > 64 ? 64 : a.len), a.ptr);
        goto fail;
    }
    snprintf(L.prefix, sizeof L.prefix, "%s.", m->arch->name);
    if (!load_hparams(&L)) goto fail;
    struct hparams *hp = &m->hp;

    struct gguf_str name;
    if (gguf_get_str(f, "general.name", &name) == GGUF_OK)
        snprintf(m->name, sizeof m->name, "%.*s", (int)(name.len > 100 ? 100 : name.len), name.ptr);

    const struct gguf_tensor *emb = gguf_find_tensor(f, "token_embd.weight");
    if (!emb) { lfail(&L, "missing tensor 'token_embd.weight'"); goto fail; }
    hp->n_vocab = (int)(emb->ne[1] > (1 << 30) ? 0 : emb->ne[1]);
    const int64_t D = hp->dim, Q = (int64_t)hp->n_head * hp->head_dim,
                  K = (int64_t)hp->n_kv_head * hp->head_dim, V = (int64_t)hp->n_kv_head * hp->head_dim_v,
                  O = (int64_t)hp->n_head * hp->head_dim_v;
    if (!bind(&L, &m->tok_embd, "token_embd.weight", D, hp->n_vocab, true) ||
        !bind_vec(&L, &m->output_norm, "output_norm.weight", D, true) ||
        !bind(&L, &m->output, "output.weight", D, hp->n_vocab, false))
        goto fail;
    if (!m->output.data) m->output = m->tok_embd; /* tied classifier */

    if (hp->n_rot > 0) {
        const float *ff;
        if (!bind_vec(&L, &ff, "rope_freqs.weight", hp->n_rot / 2, false)) goto fail;
        hp->rope_freq_factors = ff;
    }

    m->layers = calloc((size_t)hp->n_layer, sizeof *m->layers);
    if (!m->layers) { lfail(&L, "out of memory"); goto fail; }
    int type_count[TYPE_ALL] = {0};
    for (int l = 0; l < hp->n_layer; l++) {
        struct layer *ly = &m->layers[l];
        char n[96];
#define NAME(s) (snprintf(n, sizeof n, "blk.%d." s, l), n)
        if (!bind_vec(&L, &ly->attn_norm, NAME("attn_norm.weight"), D, true) ||
            !bind_vec(&L, &ly->ffn_norm, NAME("ffn_norm.weight"), D, true) ||
            !bind(&L, &ly->wq, NAME("attn_q.weight"), D, Q, true) ||
            !bind(&L, &ly->wk, NAME("attn_k.weight"), D, K, true) ||
            !bind(&L, &ly->wv, NAME("attn_v.weight"), D, V, true) ||
            !bind(&L, &ly->wo, NAME("attn_output.weight"), O, D, true) ||
            !bind(&L, &ly->w_gate, NAME("ffn_gate.weight"), D, hp->ffn_dim, true) ||
            !bind(&L, &ly->w_up, NAME("ffn_up.weight"), D, hp->ffn_dim, true) ||
            !bind(&L, &ly->w_down, NAME("ffn_down.weight"), hp->ffn_dim, D, true) ||
            !bind_vec(&L, &ly->bq, NAME("attn_q.bias"), Q, m->arch->qkv_bias) ||
            !bind_vec(&L, &ly->bk, NAME("attn_k.bias"), K, m->arch->qkv_bias) ||
            !bind_vec(&L, &ly->bv, NAME("attn_v.bias"), V, m->arch->qkv_bias) ||
            !bind_vec(&L, &ly->q_norm, NAME("attn_q_norm.weight"), hp->head_dim, m->arch->qk_norm) ||
            !bind_vec(&L, &ly->k_norm, NAME("attn_k_norm.weight"), hp->head_dim, m->arch->qk_norm))
            goto fail;
#undef NAME
        const struct tensor *ws[LAYER_MATRICES];
        layer_matrices(ly, ws);
        for (int i = 0; i < LAYER_MATRICES; i++) account(m, ws[i], type_count);
    }
    account(m, &m->tok_embd, type_count);
    if (m->output.data != m->tok_embd.data) account(m, &m->output, type_count);
    m->n_params += (uint64_t)D * (2 * (uint64_t)hp->n_layer + 1);
    int best = 0;
    for (int t = 0; t < TYPE_COUNT; t++)
        if (type_count[t] > type_count[best]) best = t;
    m->main_type = (enum ggml_type)best;
    m->gguf = f;
    return m;
fail:
    m->gguf = NULL; /* the caller still owns f */
    model_free(m);
    return NULL;
}

/* The i-th weight matrix that model_repack may rearrange (NULL past the
 * last): the layers' matrices, then the classifier if it is its own. */
static struct tensor *repack_candidate(struct model *m, int64_t i)
{
    if (i < (int64_t)LAYER_MATRICES * m->hp.n_layer) {
        struct layer *ly = &m->layers[i / LAYER_MATRICES];
        struct tensor *ws[LAYER_MATRICES] = {&ly->wq, &ly->wk, &ly->wv, &ly->wo, &ly->w_gate, &ly->w_up, &ly->w_down};
        return ws[i % LAYER_MATRICES];
    }
    if (i == (int64_t)LAYER_MATRICES * m->hp.n_layer && m->output.data != m->tok_embd.data) return &m->output;
    return NULL;
}

void model_repack(struct model *m)
{
    const struct filemap *fm = model_file(m);
    if (!fm->copied || !m->layers) return;
    bool any = false;
    struct tensor *t;
    for (int64_t i = 0; (t = repack_candidate(m, i)); i++) any |= quant_repack_type(t->type) != t->type;
    /* the copy is read-only (a stray write faults): writable for the while */
    if (!any || mprotect((void *)fm->data, fm->size, PROT_READ | PROT_WRITE)) return;
    for (int64_t i = 0; (t = repack_candidate(m, i)); i++) {
        const enum ggml_type to = quant_repack_type(t->type);
        if (to == t->type) continue;
        quant_repack(t->type, (void *)t->data, t->ne[1] * t->ne[2] * t->ne[3], t->ne[0]);
        t->type = to;
    }
    mprotect((void *)fm->data, fm->size, PROT_READ);
}

const struct filemap *model_file(const struct model *m)
{
    return m->gguf ? &m->gguf->map : &m->file;
}

void layer_matrices(const struct layer *ly, const struct tensor *ws[LAYER_MATRICES])
{
    const struct tensor *all[LAYER_MATRICES] = {&ly->wq, &ly->wk, &ly->wv, &ly->wo, &ly->w_gate, &ly->w_up, &ly->w_down};
    memcpy(ws, all, sizeof all);
}

/* llama2.c "legacy" checkpoint: 7 int32 (dim, hidden_dim, n_layers, n_heads,
 * n_kv_heads, vocab_size, seq_len; negative vocab_size = separate classifier),
 * then float32 arrays in run.c's order. */
struct model *model_from_llama2c(const char *path, enum load_mode mode, char *err, size_t errlen)
{
    struct loader L = {.path = path, .err = err, .errlen = errlen};
    struct filemap fm;
    char why[256];
    if (filemap_open(&fm, path, mode, why, sizeof why)) {
        lfail(&L, "%s", why);
        return NULL;
    }
    if (fm.size < 28) {
        filemap_close(&fm);
        lfail(&L, "not a llama2.c checkpoint (too small)");
        return NULL;
    }
    struct model *m = calloc(1, sizeof *m);
    if (!m) {
        filemap_close(&fm);
        lfail(&L, "out of memory");
        return NULL;
    }
    L.m = m;
    m->file = fm;
    const uint8_t *map = fm.data;
    int32_t h[7];
    memcpy(h, map, sizeof h);
    struct hparams *hp = &m->hp;
    bool shared = h[5] > 0;
    hp->dim = h[0]; hp->ffn_dim = h[1]; hp->n_layer = h[2]; hp->n_head = h[3];
    hp->n_kv_head = h[4]; hp->ctx_train = h[6];
    hp->n_vocab = shared ? h[5] : h[5] == INT32_MIN ? 0 : -h[5]; /* 0 (no -INT32_MIN): rejected below */
    if (hp->dim <= 0 || hp->ffn_dim <= 0 || hp->n_layer <= 0 || hp->n_head <= 0 || hp->n_kv_head <= 0 ||
        hp->n_vocab <= 0 || hp->ctx_train <= 0 || hp->dim % hp->n_head || hp->n_head % hp->n_kv_head ||
        hp->dim > (1 << 16) || hp->ffn_dim > (1 << 18) || hp->n_layer > 1024 || hp->n_vocab > (1 << 20) ||
        hp->ctx_train > (1 << 20) || (hp->dim / hp->n_head) % 2) {
        lfail(&L, "neither a GGUF file nor a llama2.c checkpoint (header: dim %d, hidden %d, layers %d, heads %d/%d, vocab %d, seq %d)",
              h[0], h[1], h[2], h[3], h[4], h[5], h[6]);
        goto fail;
    }
    m->arch = arch_lookup("llama", 5);
    hp->head_dim = hp->head_dim_v = hp->n_rot = hp->dim / hp->n_head;
    hp->rope_base = 10000.0f;
    hp->rope_freq_scale = 1.0f;
    hp->rms_eps = 1e-5f;
    snprintf(m->name, sizeof m->name, "llama2.c");

    const int64_t D = hp->dim, F = hp->ffn_dim, NL = hp->n_layer, KV = (int64_t)hp->n_kv_head * hp->head_dim;
    /* Element counts of each array, in file order. */
    const int64_t count_emb = (int64_t)hp->n_vocab * D, per_layer_q = D * D, per_layer_kv = D * KV;
    const int64_t total = count_emb + NL * D + NL * per_layer_q + 2 * NL * per_layer_kv + NL * per_layer_q +
                          NL * D + 3 * NL * D * F + D + (int64_t)hp->ctx_train * hp->head_dim +
                          (shared ? 0 : count_emb);
    if ((uint64_t)total * 4 + 28 > (uint64_t)fm.size) {
        lfail(&L, "truncated llama2.c checkpoint: needs %lld bytes, file has %lld",
              (long long)total * 4 + 28, (long long)fm.size);
        goto fail;
    }
    const float *p = (const float *)((const char *)map + 28);
    m->layers = calloc((size_t)NL, sizeof *m->layers);
    if (!m->layers) { lfail(&L, "out of memory"); goto fail; }
#define MAT(t, rows, cols) \
    ((t) = (struct tensor){TYPE_F32, {(cols), (rows), 1, 1}, p, (size_t)(rows) * (cols) * 4}, p += (int64_t)(rows) * (cols))
    MAT(m->tok_embd, hp->n_vocab, D);
    for (int l = 0; l < NL; l++) m->layers[l].attn_norm = p + l * D;
    p += NL * D;
    for (int l = 0; l < NL; l++) MAT(m->layers[l].wq, D, D);
    for (int l = 0; l < NL; l++) MAT(m->layers[l].wk, KV, D);
    for (int l = 0; l < NL; l++) MAT(m->layers[l].wv, KV, D);
    for (int l = 0; l < NL; l++) MAT(m->layers[l].wo, D, D);
    for (int l = 0; l < NL; l++) m->layers[l].ffn_norm = p + l * D;
    p += NL * D;
    for (int l = 0; l < NL; l++) MAT(m->layers[l].w_gate, F, D);
    for (int l = 0; l < NL; l++) MAT(m->layers[l].w_down, D, F);
    for (int l = 0; l < NL; l++) MAT(m->layers[l].w_up, F, D);
    m->output_norm = p;
    p += D;
    p += (int64_t)hp->ctx_train * hp->head_dim; /* legacy freq_cis_real/imag tables, unused */
    if (shared) m->output = m->tok_embd;
    else MAT(m->output, hp->n_vocab, D);
#undef MAT
    int type_count[TYPE_ALL] = {0};
    for (int l = 0; l < NL; l++) {
        struct layer *ly = &m->layers[l];
        const struct tensor *ws[LAYER_MATRICES];
        layer_matrices(ly, ws);
        for (int i = 0; i < LAYER_MATRICES; i++) account(m, ws[i], type_count);
    }
    account(m, &m->tok_embd, type_count);
    if (!shared) account(m, &m->output, type_count);
    m->n_params += (uint64_t)D * (2 * (uint64_t)NL + 1);
    m->main_type = TYPE_F32;
    return m;
fail:
    model_free(m);
    return NULL;
}

void model_free(struct model *m)
{
    if (!m) return;
    for (int i = 0; i < m->n_owned; i++) free(m->owned[i]);
    free(m->owned);
    free(m->layers);
    gguf_close(m->gguf);
    filemap_close(&m->file);
    free(m);
}
