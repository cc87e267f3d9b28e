/*
 * kvinfo.c — `infer --kv-info`: what the KV cache costs for this model and
 * context, before running anything.
 *
 * Per token, every layer stores one K row (n_kv_head × head_dim values) and
 * one V row (n_kv_head × head_dim_v), in F16 by default (F32 with --kv-f32).
 * Grouped-query attention shares each K/V head among n_head / n_kv_head query
 * heads, which is the saving shown against an equal-size multi-head model.
 * The block numbers are those of the paged cache itself (kv_init is asked
 * for its layout, so they cannot drift from what a run would allocate).
 */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void human(double b, char *buf, size_t cap)
{
    if (b >= (double)(1u << 30)) snprintf(buf, cap, "%.2f GiB", b / (1u << 30));
    else if (b >= (double)(1u << 20)) snprintf(buf, cap, "%.2f MiB", b / (1u << 20));
    else snprintf(buf, cap, "%.2f KiB", b / 1024);
}

int run_kv_info(const struct options *o, struct session *s)
{
    const struct model *m = s->model;
    const struct hparams *hp = &m->hp;
    const int n_ctx = o->n_ctx > 0 ? o->n_ctx : default_ctx(m);
    const int n_seq = o->n_parallel > 0 ? o->n_parallel : 1;
    const size_t elem = o->kv_f32 ? 4 : 2;
    const int block = o->kv_block;
    const int blocks = (n_ctx + block - 1) / block;

    /* The cache's own layout for this model (nothing is allocated for blocks). */
    struct kv_cache kv;
    if (kv_init(&kv, o->kv_f32 ? TYPE_F32 : TYPE_F16, hp->n_layer, hp->n_kv_head * hp->head_dim,
                hp->n_kv_head * hp->head_dim_v, block, blocks * n_seq, n_seq)) {
        fprintf(stderr, "infer: cannot set up a KV cache for this model (out of memory?)\n");
        return 1;
    }
    const size_t block_bytes = kv_block_bytes(&kv);
    kv_free(&kv);

    const size_t k_tok = (size_t)hp->n_layer * hp->n_kv_head * hp->head_dim * elem;
    const size_t v_tok = (size_t)hp->n_layer * hp->n_kv_head * hp->head_dim_v * elem;
    const size_t per_tok = k_tok + v_tok;
    const size_t mha_tok = (size_t)hp->n_layer * hp->n_head * (hp->head_dim + hp->head_dim_v) * elem;
    const double ctx_bytes = (double)per_tok * n_ctx, mha_ctx = (double)mha_tok * n_ctx;
    const double pool_bytes = (double)block_bytes * blocks * n_seq;
    const double ratio = (double)mha_tok / (double)per_tok;
    const char *type = o->kv_f32 ? "f32" : "f16";

    if (o->json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "model", o->model_path);
        cJSON_AddNumberToObject(j, "n_layer", hp->n_layer);
        cJSON_AddNumberToObject(j, "n_head", hp->n_head);
        cJSON_AddNumberToObject(j, "n_kv_head", hp->n_kv_head);
        cJSON_AddNumberToObject(j, "head_dim_k", hp->head_dim);
        cJSON_AddNumberToObject(j, "head_dim_v", hp->head_dim_v);
        cJSON_AddStringToObject(j, "type", type);
        cJSON_AddNumberToObject(j, "bytes_per_value", (double)elem);
        cJSON_AddNumberToObject(j, "n_ctx", n_ctx);
        cJSON_AddNumberToObject(j, "k_bytes_per_token", (double)k_tok);
        cJSON_AddNumberToObject(j, "v_bytes_per_token", (double)v_tok);
        cJSON_AddNumberToObject(j, "bytes_per_token", (double)per_tok);
        cJSON_AddNumberToObject(j, "context_bytes", ctx_bytes);
        cJSON_AddNumberToObject(j, "mha_bytes_per_token", (double)mha_tok);
        cJSON_AddNumberToObject(j, "mha_context_bytes", mha_ctx);
        cJSON_AddNumberToObject(j, "gqa_ratio", ratio);
        cJSON_AddNumberToObject(j, "block_size", block);
        cJSON_AddNumberToObject(j, "blocks_per_sequence", blocks);
        cJSON_AddNumberToObject(j, "block_bytes", (double)block_bytes);
        cJSON_AddNumberToObject(j, "n_seq", n_seq);
        cJSON_AddNumberToObject(j, "pool_blocks", (double)blocks * n_seq);
        cJSON_AddNumberToObject(j, "pool_bytes", pool_bytes);
        char *str = cJSON_Print(j);
        cJSON_Delete(j);
        bool ok = str && out_write(str, strlen(str)) && out_write("\n", 1);
        free(str);
        return ok ? 0 : 1;
    }

    char a[32], b[32], c[32], d[32];
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return 1;
    fprintf(f, "model:          %s (%s, %d layers, %d heads, %d kv heads, head dim %d/%d)\n", o->model_path,
            m->arch->name, hp->n_layer, hp->n_head, hp->n_kv_head, hp->head_dim, hp->head_dim_v);
    fprintf(f, "cache type:     %s (%zu bytes per value)\n", type, elem);
    human((double)per_tok, a, sizeof a);
    fprintf(f, "per token:      %zu bytes (K %zu + V %zu) = %s\n", per_tok, k_tok, v_tok, a);
    human(ctx_bytes, a, sizeof a);
    fprintf(f, "context:        %d tokens, %.0f bytes = %s\n", n_ctx, ctx_bytes, a);
    human((double)mha_tok, a, sizeof a);
    human(mha_ctx, b, sizeof b);
    fprintf(f, "same as MHA:    %zu bytes per token (%s), %s for the context\n", mha_tok, a, b);
    fprintf(f, "GQA saving:     %.2fx (%d query heads share %d kv heads)\n", ratio, hp->n_head, hp->n_kv_head);
    human((double)block_bytes, c, sizeof c);
    fprintf(f, "blocks:         %d tokens each, %zu bytes (%s); %d for the context\n", block, block_bytes, c, blocks);
    human(pool_bytes, d, sizeof d);
    fprintf(f, "pool:           %d blocks, %.0f bytes = %s (%d sequence%s)\n", blocks * n_seq, pool_bytes, d, n_seq,
            n_seq == 1 ? "" : "s");
    fclose(f);
    bool ok = out_write(buf, len);
    free(buf);
    return ok ? 0 : 1;
}
