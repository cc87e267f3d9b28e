/*
 * kvcache.c — block pool, per-sequence block tables, sharing and
 * copy-on-write. See kvcache.h for the layout.
 */
#include "kvcache.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/* Blocks come from one mapping in huge pages (see hugemem.h), untouched and
 * so not resident until tokens arrive. Under AddressSanitizer each block is
 * its own malloc, so that a write past a block is caught. */
#if defined(__SANITIZE_ADDRESS__)
#define KV_POOL_MAPPED 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KV_POOL_MAPPED 0
#endif
#endif
#ifndef KV_POOL_MAPPED
#define KV_POOL_MAPPED 1
#endif

int kv_init(struct kv_cache *kv, enum ggml_type type, int n_layer, int k_dim, int v_dim, int block_size,
            int max_blocks, int max_seqs)
{
    memset(kv, 0, sizeof *kv);
    if (n_layer <= 0 || k_dim <= 0 || v_dim <= 0 || block_size <= 0 || max_blocks <= 0 || max_seqs <= 0 ||
        (type != TYPE_F16 && type != TYPE_F32))
        return -1;
    kv->type = type;
    kv->elem = type == TYPE_F16 ? 2 : 4;
    kv->n_layer = n_layer;
    kv->k_dim = k_dim;
    kv->v_dim = v_dim;
    kv->block_size = block_size;
    kv->block_bytes = (size_t)n_layer * block_size * (size_t)(k_dim + v_dim) * kv->elem;
    kv->max_blocks = max_blocks;
    kv->blocks = calloc((size_t)max_blocks, sizeof *kv->blocks);
    kv->refcount = calloc((size_t)max_blocks, sizeof *kv->refcount);
    kv->free_ids = calloc((size_t)max_blocks, sizeof *kv->free_ids);
    kv->seqs = calloc((size_t)max_seqs, sizeof *kv->seqs);
    kv->n_seqs = max_seqs;
    if (!kv->blocks || !kv->refcount || !kv->free_ids || !kv->seqs) {
        kv_free(kv);
        return -1;
    }
    size_t pool_bytes;
    if (KV_POOL_MAPPED && !__builtin_mul_overflow((size_t)max_blocks, kv->block_bytes, &pool_bytes))
        kv->pool = huge_alloc(&kv->pool_region, pool_bytes); /* NULL: malloc each block */
    return 0;
}

void kv_free(struct kv_cache *kv)
{
    if (kv->pool) huge_free(&kv->pool_region);
    else if (kv->blocks)
        for (int i = 0; i < kv->n_allocated; i++) free(kv->blocks[i]);
    if (kv->seqs)
        for (int s = 0; s < kv->n_seqs; s++) free(kv->seqs[s].table);
    free(kv->blocks);
    free(kv->refcount);
    free(kv->free_ids);
    free(kv->seqs);
    memset(kv, 0, sizeof *kv);
}

size_t kv_block_bytes(const struct kv_cache *kv) { return kv->block_bytes; }

void kv_store(const struct kv_cache *kv, void *dst, const float *src, int n)
{
    if (kv->type == TYPE_F32) {
        memcpy(dst, src, (size_t)n * sizeof(float));
        return;
    }
    uint16_t *d = dst;
    for (int i = 0; i < n; i++) d[i] = fp32_to_fp16(src[i]);
}

/* A block with refcount 1: reused from the free stack, or newly allocated. */
static int block_take(struct kv_cache *kv)
{
    int id;
    if (kv->n_free > 0) {
        id = kv->free_ids[--kv->n_free];
    } else {
        if (kv->n_allocated == kv->max_blocks) return -1;
        uint8_t *b = kv->pool ? kv->pool + (size_t)kv->n_allocated * kv->block_bytes : malloc(kv_block_bytes(kv));
        if (!b) return -1;
        id = kv->n_allocated++;
        kv->blocks[id] = b;
    }
    kv->refcount[id] = 1;
    return id;
}

static void block_release(struct kv_cache *kv, int id)
{
    assert(kv->refcount[id] > 0);
    if (--kv->refcount[id] == 0) kv->free_ids[kv->n_free++] = id;
}

static bool table_reserve(struct kv_seq *s, int n)
{
    if (n <= s->cap) return true;
    int cap = s->cap ? s->cap : 8;
    while (cap < n) cap *= 2;
    int *t = realloc(s->table, (size_t)cap * sizeof *t);
    if (!t) return false;
    s->table = t;
    s->cap = cap;
    return true;
}

int kv_seq_new(struct kv_cache *kv)
{
    for (int i = 0; i < kv->n_seqs; i++) {
        if (!kv->seqs[i].live) {
            kv->seqs[i].live = true;
            kv->seqs[i].n_blocks = 0;
            kv->seqs[i].n_tokens = 0;
            return i;
        }
    }
    return -1;
}

int kv_seq_fork(struct kv_cache *kv, int src, int n_tokens)
{
    const struct kv_seq *s = &kv->seqs[src];
    if (n_tokens > s->n_tokens) n_tokens = s->n_tokens;
    int id = kv_seq_new(kv);
    if (id < 0) return -1;
    struct kv_seq *d = &kv->seqs[id];
    s = &kv->seqs[src];
    int nb = (n_tokens + kv->block_size - 1) / kv->block_size;
    if (!table_reserve(d, nb)) {
        d->live = false;
        return -1;
    }
    for (int i = 0; i < nb; i++) {
        d->table[i] = s->table[i];
        kv->refcount[s->table[i]]++;
    }
    d->n_blocks = nb;
    d->n_tokens = n_tokens;
    return id;
}

void kv_seq_truncate(struct kv_cache *kv, int seq, int n)
{
    struct kv_seq *s = &kv->seqs[seq];
    if (n < 0) n = 0;
    if (n >= s->n_tokens) return;
    int keep = (n + kv->block_size - 1) / kv->block_size;
    while (s->n_blocks > keep) block_release(kv, s->table[--s->n_blocks]);
    s->n_tokens = n;
}

void kv_seq_free(struct kv_cache *kv, int seq)
{
    kv_seq_truncate(kv, seq, 0);
    kv->seqs[seq].live = false;
}

bool kv_prepare_write(struct kv_cache *kv, int seq, int pos)
{
    struct kv_seq *s = &kv->seqs[seq];
    int bi = pos / kv->block_size;
    if (!table_reserve(s, bi + 1)) return false;
    while (s->n_blocks <= bi) {
        int id = block_take(kv);
        if (id < 0) return false;
        s->table[s->n_blocks++] = id;
    }
    int id = s->table[bi];
    if (kv->refcount[id] > 1) {
        /* Shared: this sequence gets its own copy, the others keep the original. */
        int copy = block_take(kv);
        if (copy < 0) return false;
        memcpy(kv->blocks[copy], kv->blocks[id], kv_block_bytes(kv));
        block_release(kv, id);
        s->table[bi] = copy;
        kv->n_cow++;
    }
    if (pos + 1 > s->n_tokens) s->n_tokens = pos + 1;
    return true;
}

int kv_blocks_used(const struct kv_cache *kv) { return kv->n_allocated - kv->n_free; }
int kv_blocks_available(const struct kv_cache *kv) { return kv->max_blocks - kv_blocks_used(kv); }

int kv_blocks_shared(const struct kv_cache *kv)
{
    int n = 0;
    for (int i = 0; i < kv->n_allocated; i++) n += kv->refcount[i] > 1;
    return n;
}
