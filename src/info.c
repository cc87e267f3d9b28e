/*
 * info.c — `infer --info`: a GGUF file's metadata and tensor table, like
 * gguf-dump, as text or (--json) as one JSON object built with cJSON.
 * Works on vocab-only files too: it needs nothing but the parsed header.
 */
#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

/* Arrays longer than this are shown by their first elements only. */
#define SHOW_ELEMS 16

static cJSON *json_scalar(const struct gguf_kv *kv)
{
    switch (kv->type) {
    case GGUF_STRING: {
        char *s = strndup(kv->val.str.ptr, kv->val.str.len);
        cJSON *j = cJSON_CreateString(s ? s : "");
        free(s);
        return j;
    }
    case GGUF_BOOL: return cJSON_CreateBool(kv->val.u != 0);
    case GGUF_F32: case GGUF_F64: return cJSON_CreateNumber(kv->val.f);
    case GGUF_I8: case GGUF_I16: case GGUF_I32: case GGUF_I64: return cJSON_CreateNumber((double)kv->val.i);
    default: return cJSON_CreateNumber((double)kv->val.u);
    }
}

static cJSON *json_value(const struct gguf_kv *kv, bool *truncated)
{
    *truncated = false;
    if (kv->type != GGUF_ARRAY) return json_scalar(kv);
    cJSON *arr = cJSON_CreateArray();
    uint64_t n = kv->arr_n;
    if (n > 1024) { n = SHOW_ELEMS; *truncated = true; }
    for (uint64_t i = 0; i < n; i++) {
        cJSON *e;
        if (kv->arr_type == GGUF_STRING) {
            char *s = strndup(kv->strs[i].ptr, kv->strs[i].len);
            e = cJSON_CreateString(s ? s : "");
            free(s);
        } else if (kv->arr_type == GGUF_ARRAY) {
            *truncated = true;
            break;
        } else if (kv->arr_type == GGUF_F32 || kv->arr_type == GGUF_F64) {
            e = cJSON_CreateNumber(gguf_arr_float(kv, i));
        } else if (kv->arr_type == GGUF_BOOL) {
            e = cJSON_CreateBool(gguf_arr_int(kv, i) != 0);
        } else {
            e = cJSON_CreateNumber((double)gguf_arr_int(kv, i));
        }
        cJSON_AddItemToArray(arr, e);
    }
    return arr;
}

static void print_value(FILE *f, const struct gguf_kv *kv)
{
    if (kv->type == GGUF_STRING) {
        fprintf(f, "'%.*s'", (int)(kv->val.str.len > 200 ? 200 : kv->val.str.len), kv->val.str.ptr);
        return;
    }
    if (kv->type != GGUF_ARRAY) {
        cJSON *j = json_scalar(kv);
        char *s = cJSON_PrintUnformatted(j);
        fputs(s ? s : "?", f);
        free(s);
        cJSON_Delete(j);
        return;
    }
    fprintf(f, "[%s × %llu]", gguf_type_name(kv->arr_type), (unsigned long long)kv->arr_n);
    if (kv->arr_type == GGUF_ARRAY) return;
    fputs(" [", f);
    for (uint64_t i = 0; i < kv->arr_n && i < 8; i++) {
        if (i) fputs(", ", f);
        if (kv->arr_type == GGUF_STRING)
            fprintf(f, "'%.*s'", (int)(kv->strs[i].len > 40 ? 40 : kv->strs[i].len), kv->strs[i].ptr);
        else if (kv->arr_type == GGUF_F32 || kv->arr_type == GGUF_F64)
            fprintf(f, "%g", gguf_arr_float(kv, i));
        else
            fprintf(f, "%lld", (long long)gguf_arr_int(kv, i));
    }
    fputs(kv->arr_n > 8 ? ", ...]" : "]", f);
}

static int info_json(const struct gguf_file *g)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "file", g->path);
    cJSON_AddNumberToObject(root, "version", g->version);
    cJSON_AddNumberToObject(root, "alignment", (double)g->alignment);
    cJSON_AddNumberToObject(root, "size", (double)g->size);
    cJSON *md = cJSON_AddObjectToObject(root, "metadata");
    for (uint64_t i = 0; i < g->n_kv; i++) {
        const struct gguf_kv *kv = &g->kv[i];
        char *key = strndup(kv->key.ptr, kv->key.len);
        bool trunc;
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "type", gguf_type_name(kv->type));
        if (kv->type == GGUF_ARRAY) {
            cJSON_AddStringToObject(e, "element_type", gguf_type_name(kv->arr_type));
            cJSON_AddNumberToObject(e, "count", (double)kv->arr_n);
        }
        cJSON_AddItemToObject(e, "value", json_value(kv, &trunc));
        if (trunc) cJSON_AddBoolToObject(e, "truncated", true);
        cJSON_AddItemToObject(md, key ? key : "", e);
        free(key);
    }
    cJSON *ts = cJSON_AddArrayToObject(root, "tensors");
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const struct gguf_tensor *t = &g->tensors[i];
        cJSON *e = cJSON_CreateObject();
        char *name = strndup(t->name.ptr, t->name.len);
        cJSON_AddStringToObject(e, "name", name ? name : "");
        free(name);
        cJSON_AddStringToObject(e, "type", type_traits(t->type)->name);
        cJSON *shape = cJSON_AddArrayToObject(e, "shape");
        for (uint32_t d = 0; d < t->n_dims; d++) cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t->ne[d]));
        cJSON_AddNumberToObject(e, "offset", (double)(g->data_offset + t->offset));
        cJSON_AddNumberToObject(e, "bytes", (double)t->nbytes);
        cJSON_AddItemToArray(ts, e);
    }
    char *s = cJSON_Print(root);
    cJSON_Delete(root);
    if (!s) return 1;
    bool ok = out_write(s, strlen(s)) && out_write("\n", 1);
    free(s);
    return ok ? 0 : 1;
}

static int info_text(const struct gguf_file *g)
{
    /* Through a memory stream so that a closed stdout is one error, not many. */
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f) return 1;
    fprintf(f, "%s: GGUF v%u, %llu metadata entries, %llu tensors, alignment %llu\n", g->path, g->version,
            (unsigned long long)g->n_kv, (unsigned long long)g->n_tensors, (unsigned long long)g->alignment);
    for (uint64_t i = 0; i < g->n_kv; i++) {
        const struct gguf_kv *kv = &g->kv[i];
        fprintf(f, "%5llu: %-10s %.*s = ", (unsigned long long)i + 1,
                kv->type == GGUF_ARRAY ? "array" : gguf_type_name(kv->type),
                (int)(kv->key.len > 200 ? 200 : kv->key.len), kv->key.ptr);
        print_value(f, kv);
        fputc('\n', f);
    }
    fprintf(f, "tensors:\n");
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const struct gguf_tensor *t = &g->tensors[i];
        char shape[128];
        int n = 0;
        for (uint32_t d = 0; d < t->n_dims; d++)
            n += snprintf(shape + n, sizeof shape - (size_t)n, d ? ", %lld" : "%lld", (long long)t->ne[d]);
        fprintf(f, "%5llu: %-8s %-36.*s [%s] %zu bytes\n", (unsigned long long)i + 1,
                type_traits(t->type)->name, (int)(t->name.len > 200 ? 200 : t->name.len), t->name.ptr, shape,
                t->nbytes);
    }
    fclose(f);
    bool ok = out_write(buf, len);
    free(buf);
    return ok ? 0 : 1;
}

int run_info(const struct options *o, const char *path)
{
    char err[1024];
    struct gguf_file *g = gguf_open(path, err, sizeof err);
    if (!g) {
        fprintf(stderr, "infer: %s\n", err);
        return 1;
    }
    int rc = o->json ? info_json(g) : info_text(g);
    gguf_close(g);
    return rc;
}
