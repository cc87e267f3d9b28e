/*
 * kvcache.h — the paged KV cache.
 *
 * Keys and values live in fixed-size blocks of `block_size` tokens taken from
 * a pool that grows on demand (memory follows the tokens actually used). Each
 * sequence owns a block table mapping its positions to blocks. Blocks are
 * reference-counted: forking a sequence shares all of its blocks, and the
 * first write into a shared block copies it (copy-on-write).
 *
 * A block holds every layer: for layer l, block_size K rows of k_dim values
 * followed by block_size V rows of v_dim values. Values are F16 (the default,
 * as in llama.cpp: half the memory) or F32.
 */
#ifndef INFER_KVCACHE_H
#define INFER_KVCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hugemem.h"
#include "quant/quant.h"

struct kv_seq {
    int *table;        /* block ids, one per block_size positions */
    int n_blocks, cap;
    int n_tokens;      /* positions 0..n_tokens-1 hold valid K/V */
    bool live;
};

struct kv_cache {
    int n_layer, k_dim, v_dim, block_size;
    enum ggml_type type;   /* TYPE_F16 or TYPE_F32 */
    size_t elem;           /* bytes per value */
    size_t block_bytes;
    int max_blocks;        /* pool limit */
    uint8_t **blocks;      /* [max_blocks], allocated on first use */
    uint8_t *pool;         /* room for max_blocks blocks in huge pages (NULL: malloc each) */
    struct huge_region pool_region;
    int *refcount;         /* [max_blocks]; 0 = free */
    int *free_ids;         /* stack of allocated blocks with refcount 0 */
    int n_free, n_allocated;
    struct kv_seq *seqs;
    int n_seqs;
    int64_t n_cow;         /* copies made by copy-on-write */
};

/* max_blocks bounds the pool; nothing is allocated until tokens arrive. */
int kv_init(struct kv_cache *kv, enum ggml_type type, int n_layer, int k_dim, int v_dim, int block_size,
            int max_blocks, int max_seqs);
void kv_free(struct kv_cache *kv);

size_t kv_block_bytes(const struct kv_cache *kv);
/* A new empty sequence id, or -1 when all sequence slots are used. */
int kv_seq_new(struct kv_cache *kv);
/* A new sequence sharing the first n_tokens positions of src (n_tokens ≤ src's). */
int kv_seq_fork(struct kv_cache *kv, int src, int n_tokens);
void kv_seq_free(struct kv_cache *kv, int seq);
/* Drop positions ≥ n (blocks wholly past n are released). */
void kv_seq_truncate(struct kv_cache *kv, int seq, int n);

/* Make position pos of seq writable: allocate its block, or copy it when
 * shared. Returns false when the pool is exhausted. */
bool kv_prepare_write(struct kv_cache *kv, int seq, int pos);
/* K and V rows of layer l at position pos (the block must exist). */
static inline void *kv_k(const struct kv_cache *kv, int seq, int layer, int pos)
{
    const uint8_t *b = kv->blocks[kv->seqs[seq].table[pos / kv->block_size]];
    size_t row = (size_t)layer * kv->block_size * (kv->k_dim + kv->v_dim) + (size_t)(pos % kv->block_size) * kv->k_dim;
    return (void *)(b + row * kv->elem);
}
static inline void *kv_v(const struct kv_cache *kv, int seq, int layer, int pos)
{
    const uint8_t *b = kv->blocks[kv->seqs[seq].table[pos / kv->block_size]];
    size_t row = (size_t)layer * kv->block_size * (kv->k_dim + kv->v_dim) + (size_t)kv->block_size * kv->k_dim +
                 (size_t)(pos % kv->block_size) * kv->v_dim;
    return (void *)(b + row * kv->elem);
}
/* Store n floats as the cache's type. */
void kv_store(const struct kv_cache *kv, void *dst, const float *src, int n);

/* Blocks referenced by more than one sequence, and blocks in use. */
int kv_blocks_shared(const struct kv_cache *kv);
int kv_blocks_used(const struct kv_cache *kv);
/* Free blocks that could still be handed out (pool limit minus used). */
int kv_blocks_available(const struct kv_cache *kv);

#endif
