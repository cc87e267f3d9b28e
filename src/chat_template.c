/*
 * chat_template.c — chat prompt formats: detection of a model's template by
 * llama.cpp's substring rules, formatting as llama.cpp's built-in templates,
 * and the incremental (per user message) text chat mode evaluates.
 * See chat_template.h.
 */
#define _GNU_SOURCE /* memmem */
#include "chat_template.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    bool supported;
    const char *marker; /* a special token the format relies on */
} tmpls[CHAT_TMPL_COUNT] = {
    [CHAT_TMPL_UNKNOWN] = {"unknown", false, NULL},
    [CHAT_TMPL_CHATML] = {"chatml", true, "<|im_start|>"},
    [CHAT_TMPL_LLAMA2] = {"llama2", true, NULL},
    [CHAT_TMPL_LLAMA2_SYS] = {"llama2-sys", true, NULL},
    [CHAT_TMPL_LLAMA2_SYS_BOS] = {"llama2-sys-bos", true, NULL},
    [CHAT_TMPL_LLAMA2_SYS_STRIP] = {"llama2-sys-strip", true, NULL},
    [CHAT_TMPL_MISTRAL_V1] = {"mistral-v1", true, NULL},
    [CHAT_TMPL_MISTRAL_V3] = {"mistral-v3", true, "[INST]"},
    [CHAT_TMPL_MISTRAL_V3_TEKKEN] = {"mistral-v3-tekken", true, "[INST]"},
    [CHAT_TMPL_MISTRAL_V7] = {"mistral-v7", true, "[INST]"},
    [CHAT_TMPL_MISTRAL_V7_TEKKEN] = {"mistral-v7-tekken", true, "[INST]"},
    [CHAT_TMPL_PHI3] = {"phi3", true, "<|end|>"},
    [CHAT_TMPL_PHI4] = {"phi4", true, "<|im_sep|>"},
    [CHAT_TMPL_ZEPHYR] = {"zephyr", true, "<|endoftext|>"},
    [CHAT_TMPL_GEMMA] = {"gemma", true, "<start_of_turn>"},
    [CHAT_TMPL_LLAMA3] = {"llama3", true, "<|start_header_id|>"},
    [CHAT_TMPL_COMMAND_R] = {"command-r", true, "<|START_OF_TURN_TOKEN|>"},
    [CHAT_TMPL_SMOLVLM] = {"smolvlm", false, NULL},
    [CHAT_TMPL_FALCON3] = {"falcon3", false, NULL},
    [CHAT_TMPL_CHATGLM3] = {"chatglm3", false, NULL},
    [CHAT_TMPL_CHATGLM4] = {"chatglm4", false, NULL},
    [CHAT_TMPL_GLMEDGE] = {"glmedge", false, NULL},
    [CHAT_TMPL_MONARCH] = {"monarch", false, NULL},
    [CHAT_TMPL_ORION] = {"orion", false, NULL},
    [CHAT_TMPL_OPENCHAT] = {"openchat", false, NULL},
    [CHAT_TMPL_VICUNA] = {"vicuna", false, NULL},
    [CHAT_TMPL_VICUNA_ORCA] = {"vicuna-orca", false, NULL},
    [CHAT_TMPL_DEEPSEEK] = {"deepseek", false, NULL},
    [CHAT_TMPL_DEEPSEEK2] = {"deepseek2", false, NULL},
    [CHAT_TMPL_DEEPSEEK3] = {"deepseek3", false, NULL},
    [CHAT_TMPL_MINICPM] = {"minicpm", false, NULL},
    [CHAT_TMPL_EXAONE3] = {"exaone3", false, NULL},
    [CHAT_TMPL_EXAONE4] = {"exaone4", false, NULL},
    [CHAT_TMPL_RWKV_WORLD] = {"rwkv-world", false, NULL},
    [CHAT_TMPL_GRANITE] = {"granite", false, NULL},
    [CHAT_TMPL_GIGACHAT] = {"gigachat", false, NULL},
    [CHAT_TMPL_MEGREZ] = {"megrez", false, NULL},
    [CHAT_TMPL_YANDEX] = {"yandex", false, NULL},
    [CHAT_TMPL_BAILING] = {"bailing", false, NULL},
    [CHAT_TMPL_LLAMA4] = {"llama4", false, NULL},
    [CHAT_TMPL_DOTS1] = {"dots1", false, NULL},
    [CHAT_TMPL_HUNYUAN_MOE] = {"hunyuan-moe", false, NULL},
    [CHAT_TMPL_HUNYUAN_DENSE] = {"hunyuan-dense", false, NULL},
    [CHAT_TMPL_KIMI_K2] = {"kimi-k2", false, NULL},
};

const char *chat_tmpl_name(enum chat_tmpl t)
{
    return (unsigned)t < CHAT_TMPL_COUNT ? tmpls[t].name : "unknown";
}

enum chat_tmpl chat_tmpl_from_name(const char *name)
{
    for (int t = 1; t < CHAT_TMPL_COUNT; t++)
        if (!strcmp(name, tmpls[t].name)) return (enum chat_tmpl)t;
    return CHAT_TMPL_UNKNOWN;
}

bool chat_tmpl_supported(enum chat_tmpl t)
{
    return (unsigned)t < CHAT_TMPL_COUNT && tmpls[t].supported;
}

const char *chat_tmpl_marker(enum chat_tmpl t)
{
    return (unsigned)t < CHAT_TMPL_COUNT ? tmpls[t].marker : NULL;
}

const char *chat_tmpl_supported_list(void)
{
    static char list[512];
    if (!list[0]) {
        size_t n = 0;
        for (int t = 1; t < CHAT_TMPL_COUNT; t++) {
            if (!tmpls[t].supported) continue;
            n += (size_t)snprintf(list + n, sizeof list - n, "%s%s", n ? ", " : "", tmpls[t].name);
        }
    }
    return list;
}

/* The order and the substrings are llama.cpp's (llm_chat_detect_template),
 * with one deliberate difference: a template with <|user|> (and neither the
 * Phi-3 <|end|> nor the Falcon 3 / GLM markers) is Zephyr, as in earlier
 * llama.cpp; current llama.cpp also wants a literal <|endoftext|> and calls
 * the rest glmedge, which would take zephyr-7b-beta's own template (it writes
 * eos_token) for GLM. */
enum chat_tmpl chat_tmpl_detect(const char *src, size_t len)
{
    char name[32];
    if (len < sizeof name) {
        memcpy(name, src, len);
        name[len] = 0;
        enum chat_tmpl t = chat_tmpl_from_name(name);
        if (t != CHAT_TMPL_UNKNOWN) return t;
    }
#define HAS(s) (memmem(src, len, s, strlen(s)) != NULL)
    if (HAS("<|im_start|>"))
        return HAS("<|im_sep|>") ? CHAT_TMPL_PHI4 : HAS("<end_of_utterance>") ? CHAT_TMPL_SMOLVLM : CHAT_TMPL_CHATML;
    if ((len >= 7 && !memcmp(src, "mistral", 7)) || HAS("[INST]")) {
        if (HAS("[SYSTEM_PROMPT]")) return CHAT_TMPL_MISTRAL_V7;
        /* the official v1 template, and v3 / v3-tekken */
        if (HAS("' [INST] ' + system_message") || HAS("[AVAILABLE_TOOLS]")) {
            if (HAS(" [INST]")) return CHAT_TMPL_MISTRAL_V1;
            if (HAS("\"[INST]\"")) return CHAT_TMPL_MISTRAL_V3_TEKKEN;
            return CHAT_TMPL_MISTRAL_V3;
        }
        if (HAS("content.strip()")) return CHAT_TMPL_LLAMA2_SYS_STRIP;
        if (HAS("bos_token + '[INST]")) return CHAT_TMPL_LLAMA2_SYS_BOS;
        if (HAS("<<SYS>>")) return CHAT_TMPL_LLAMA2_SYS;
        return CHAT_TMPL_LLAMA2;
    }
    if (HAS("<|end|>") && (HAS("<|assistant|>") || HAS("<|user|>"))) return CHAT_TMPL_PHI3;
    if (HAS("[gMASK]<sop>")) return CHAT_TMPL_CHATGLM4;
    if (HAS("<|assistant|>") && HAS("<|user|>") && HAS("</s>")) return CHAT_TMPL_FALCON3;
    if (HAS("<|{{ item['role'] }}|>") && HAS("<|begin_of_image|>")) return CHAT_TMPL_GLMEDGE;
    if (HAS("<|user|>")) return CHAT_TMPL_ZEPHYR;
    if (HAS("bos_token + message['role']")) return CHAT_TMPL_MONARCH;
    if (HAS("<start_of_turn>")) return CHAT_TMPL_GEMMA;
    if (HAS("'\\n\\nAssistant: ' + eos_token")) return CHAT_TMPL_ORION;
    if (HAS("GPT4 Correct ")) return CHAT_TMPL_OPENCHAT;
    if (HAS("USER: ") && HAS("ASSISTANT: ")) return HAS("SYSTEM: ") ? CHAT_TMPL_VICUNA_ORCA : CHAT_TMPL_VICUNA;
    if (HAS("### Instruction:") && HAS("<|EOT|>")) return CHAT_TMPL_DEEPSEEK;
    if (HAS("<|START_OF_TURN_TOKEN|>") && HAS("<|USER_TOKEN|>")) return CHAT_TMPL_COMMAND_R;
    if (HAS("<|start_header_id|>") && HAS("<|end_header_id|>")) return CHAT_TMPL_LLAMA3;
    if (HAS("[gMASK]sop")) return CHAT_TMPL_CHATGLM3;
    if (HAS("<用户>")) return CHAT_TMPL_MINICPM;
    if (HAS("'Assistant: ' + message['content'] + eos_token")) return CHAT_TMPL_DEEPSEEK2;
    if (HAS("<｜Assistant｜>") && HAS("<｜User｜>") && HAS("<｜end▁of▁sentence｜>")) return CHAT_TMPL_DEEPSEEK3;
    if (HAS("[|system|]") && HAS("[|assistant|]") && HAS("[|endofturn|]"))
        return HAS("[|tool|]") ? CHAT_TMPL_EXAONE4 : CHAT_TMPL_EXAONE3;
    if (HAS("rwkv-world") || HAS("{{- 'User: ' + message['content']|trim + '\\n\\n' -}}")) return CHAT_TMPL_RWKV_WORLD;
    if (HAS("<|start_of_role|>")) return CHAT_TMPL_GRANITE;
    if (HAS("message['role'] + additional_special_tokens[0] + message['content'] + additional_special_tokens[1]"))
        return CHAT_TMPL_GIGACHAT;
    if (HAS("<|role_start|>")) return CHAT_TMPL_MEGREZ;
    if (HAS(" Ассистент:")) return CHAT_TMPL_YANDEX;
    if (HAS("<role>ASSISTANT</role>") && HAS("'HUMAN'")) return CHAT_TMPL_BAILING;
    if (HAS("<|header_start|>") && HAS("<|header_end|>")) return CHAT_TMPL_LLAMA4;
    if (HAS("<|endofuserprompt|>")) return CHAT_TMPL_DOTS1;
    if (HAS("<|startoftext|>") && HAS("<|extra_4|>")) return CHAT_TMPL_HUNYUAN_MOE;
    if (HAS("<｜hy_place▁holder▁no▁2｜>") && HAS("<｜hy_place▁holder▁no▁3｜>")) return CHAT_TMPL_HUNYUAN_DENSE;
    if (HAS("<|im_assistant|>assistant<|im_middle|>")) return CHAT_TMPL_KIMI_K2;
#undef HAS
    return CHAT_TMPL_UNKNOWN;
}

/* ---- formatting ---- */

struct sbuf {
    char *p;
    size_t n, cap;
    bool oom;
};

static void put_n(struct sbuf *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->n + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = 0;
}

static void put(struct sbuf *b, const char *s)
{
    put_n(b, s, strlen(s));
}

/* s without leading and trailing whitespace (llama.cpp's trim: isspace) */
static void put_trim(struct sbuf *b, const char *s)
{
    size_t n = strlen(s);
    while (n && isspace((unsigned char)*s)) s++, n--;
    while (n && isspace((unsigned char)s[n - 1])) n--;
    put_n(b, s, n);
}

static bool is(const char *role, const char *r)
{
    return !strcmp(role, r);
}

static void fmt_llama2(struct sbuf *b, enum chat_tmpl t, const struct chat_msg *m, size_t n)
{
    const bool sys = t != CHAT_TMPL_LLAMA2, bos_inside = t == CHAT_TMPL_LLAMA2_SYS_BOS,
               strip = t == CHAT_TMPL_LLAMA2_SYS_STRIP;
    bool inside_turn = true; /* the first [INST] comes before everything (BOS is the tokenizer's) */
    put(b, "[INST] ");
    for (size_t i = 0; i < n; i++) {
        if (!inside_turn) {
            inside_turn = true;
            put(b, bos_inside ? "<s>[INST] " : "[INST] ");
        }
        void (*content)(struct sbuf *, const char *) = strip ? put_trim : put;
        if (is(m[i].role, "system")) {
            if (sys) put(b, "<<SYS>>\n");
            content(b, m[i].content);
            put(b, sys ? "\n<</SYS>>\n\n" : "\n");
        } else if (is(m[i].role, "user")) {
            content(b, m[i].content);
            put(b, " [/INST]");
        } else {
            content(b, m[i].content);
            put(b, "</s>");
            inside_turn = false;
        }
    }
}

static void fmt_mistral(struct sbuf *b, enum chat_tmpl t, const struct chat_msg *m, size_t n)
{
    if (t == CHAT_TMPL_MISTRAL_V7 || t == CHAT_TMPL_MISTRAL_V7_TEKKEN) {
        const char *sp = t == CHAT_TMPL_MISTRAL_V7 ? " " : "";
        for (size_t i = 0; i < n; i++) {
            if (is(m[i].role, "system")) {
                put(b, "[SYSTEM_PROMPT]"), put(b, sp), put(b, m[i].content), put(b, "[/SYSTEM_PROMPT]");
            } else if (is(m[i].role, "user")) {
                put(b, "[INST]"), put(b, sp), put(b, m[i].content), put(b, "[/INST]");
            } else {
                put(b, sp), put(b, m[i].content), put(b, "</s>");
            }
        }
        return;
    }
    const char *lead = t == CHAT_TMPL_MISTRAL_V1 ? " " : "";
    const char *trail = t == CHAT_TMPL_MISTRAL_V3_TEKKEN ? "" : " ";
    const bool trim_reply = t == CHAT_TMPL_MISTRAL_V3;
    bool inside_turn = false;
    for (size_t i = 0; i < n; i++) {
        if (!inside_turn) {
            put(b, lead), put(b, "[INST]"), put(b, trail);
            inside_turn = true;
        }
        if (is(m[i].role, "system")) {
            put(b, m[i].content), put(b, "\n\n");
        } else if (is(m[i].role, "user")) {
            put(b, m[i].content), put(b, lead), put(b, "[/INST]");
        } else {
            put(b, trail);
            if (trim_reply) put_trim(b, m[i].content);
            else put(b, m[i].content);
            put(b, "</s>");
            inside_turn = false;
        }
    }
}

static void fmt_gemma(struct sbuf *b, const struct chat_msg *m, size_t n, bool add_ass)
{
    /* No system role: it goes (trimmed) at the top of the next user turn. */
    struct sbuf sys = {0};
    for (size_t i = 0; i < n; i++) {
        if (is(m[i].role, "system")) {
            put_trim(&sys, m[i].content);
            continue;
        }
        const char *role = is(m[i].role, "assistant") ? "model" : m[i].role;
        put(b, "<start_of_turn>"), put(b, role), put(b, "\n");
        if (sys.n && !is(role, "model")) {
            put_n(b, sys.p, sys.n), put(b, "\n\n");
            sys.n = 0;
        }
        put_trim(b, m[i].content), put(b, "<end_of_turn>\n");
    }
    if (sys.oom) b->oom = true;
    free(sys.p);
    if (add_ass) put(b, "<start_of_turn>model\n");
}

char *chat_format(enum chat_tmpl t, const struct chat_msg *m, size_t n, bool add_ass, size_t *len)
{
    struct sbuf b = {0};
    put(&b, ""); /* an empty conversation is "", not NULL */
    switch (t) {
    case CHAT_TMPL_CHATML:
        for (size_t i = 0; i < n; i++)
            put(&b, "<|im_start|>"), put(&b, m[i].role), put(&b, "\n"), put(&b, m[i].content), put(&b, "<|im_end|>\n");
        if (add_ass) put(&b, "<|im_start|>assistant\n");
        break;
    case CHAT_TMPL_LLAMA2:
    case CHAT_TMPL_LLAMA2_SYS:
    case CHAT_TMPL_LLAMA2_SYS_BOS:
    case CHAT_TMPL_LLAMA2_SYS_STRIP:
        fmt_llama2(&b, t, m, n);
        break;
    case CHAT_TMPL_MISTRAL_V1:
    case CHAT_TMPL_MISTRAL_V3:
    case CHAT_TMPL_MISTRAL_V3_TEKKEN:
    case CHAT_TMPL_MISTRAL_V7:
    case CHAT_TMPL_MISTRAL_V7_TEKKEN:
        fmt_mistral(&b, t, m, n);
        break;
    case CHAT_TMPL_PHI3:
    case CHAT_TMPL_ZEPHYR:
        for (size_t i = 0; i < n; i++)
            put(&b, "<|"), put(&b, m[i].role), put(&b, "|>\n"), put(&b, m[i].content),
                put(&b, t == CHAT_TMPL_PHI3 ? "<|end|>\n" : "<|endoftext|>\n");
        if (add_ass) put(&b, "<|assistant|>\n");
        break;
    case CHAT_TMPL_PHI4:
        for (size_t i = 0; i < n; i++)
            put(&b, "<|im_start|>"), put(&b, m[i].role), put(&b, "<|im_sep|>"), put(&b, m[i].content),
                put(&b, "<|im_end|>");
        if (add_ass) put(&b, "<|im_start|>assistant<|im_sep|>");
        break;
    case CHAT_TMPL_GEMMA:
        fmt_gemma(&b, m, n, add_ass);
        break;
    case CHAT_TMPL_LLAMA3:
        for (size_t i = 0; i < n; i++)
            put(&b, "<|start_header_id|>"), put(&b, m[i].role), put(&b, "<|end_header_id|>\n\n"),
                put_trim(&b, m[i].content), put(&b, "<|eot_id|>");
        if (add_ass) put(&b, "<|start_header_id|>assistant<|end_header_id|>\n\n");
        break;
    case CHAT_TMPL_COMMAND_R:
        for (size_t i = 0; i < n; i++) {
            const char *tag = is(m[i].role, "system") ? "<|SYSTEM_TOKEN|>"
                              : is(m[i].role, "user") ? "<|USER_TOKEN|>"
                              : is(m[i].role, "assistant") ? "<|CHATBOT_TOKEN|>" : NULL;
            if (!tag) continue;
            put(&b, "<|START_OF_TURN_TOKEN|>"), put(&b, tag), put_trim(&b, m[i].content), put(&b, "<|END_OF_TURN_TOKEN|>");
        }
        if (add_ass) put(&b, "<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>");
        break;
    default:
        free(b.p);
        return NULL;
    }
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    if (len) *len = b.n;
    return b.p;
}

/* ---- incremental ---- */

/* Stands for a reply's content: no whitespace at its ends (formats that trim
 * leave it alone) and nothing a template writes. */
static const char REPLY[] = "\x1f" "reply" "\x1f";

static int push_msg(struct chat_conv *c, const char *role, const char *content)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 8;
        struct chat_msg *m = realloc(c->msgs, cap * sizeof *m);
        if (!m) return -1;
        c->msgs = m;
        c->cap = cap;
    }
    char *copy = strdup(content);
    if (!copy) return -1;
    c->msgs[c->n].role = role;
    c->msgs[c->n].content = copy;
    c->n++;
    return 0;
}

int chat_conv_init(struct chat_conv *c, enum chat_tmpl t, const char *system)
{
    memset(c, 0, sizeof *c);
    c->tmpl = t;
    if (system && *system && push_msg(c, "system", system)) return -1;
    return 0;
}

void chat_conv_free(struct chat_conv *c)
{
    for (size_t i = 0; i < c->n; i++) free((char *)c->msgs[i].content);
    free(c->msgs);
    memset(c, 0, sizeof *c);
}

int chat_conv_reply(struct chat_conv *c)
{
    if (push_msg(c, "assistant", REPLY)) return -1;
    c->replied = true;
    return 0;
}

static const char *last_occurrence(const char *s, size_t n, const char *needle, size_t k)
{
    for (size_t i = n >= k ? n - k + 1 : 0; i-- > 0;)
        if (!memcmp(s + i, needle, k)) return s + i;
    return NULL;
}

char *chat_conv_user(struct chat_conv *c, const char *user, bool eot_in_cache, size_t *len)
{
    /* What the conversation so far formats to (ending with a reply, no header). */
    size_t n_past = 0, n_new;
    char *past = NULL;
    if (c->replied && !(past = chat_format(c->tmpl, c->msgs, c->n, false, &n_past))) return NULL;
    if (push_msg(c, "user", user)) {
        free(past);
        return NULL;
    }
    c->replied = false;
    char *full = chat_format(c->tmpl, c->msgs, c->n, true, &n_new);
    if (!full || !past) {
        if (full && len) *len = n_new;
        free(past);
        return full;
    }
    /* Everything up to the end of the last reply's content is in the KV cache:
     * the reply's tokens were generated there. What follows it in the past
     * text closes the reply: its end-of-turn marker, then maybe whitespace.
     * The supported formats never rewrite earlier turns, so past is a prefix
     * of full; were it not, the turn text would be wrong: fail loudly. */
    const char *r = last_occurrence(past, n_past, REPLY, sizeof REPLY - 1);
    if (!r || n_new < n_past || memcmp(full, past, n_past)) {
        free(past);
        free(full);
        return NULL;
    }
    size_t start = (size_t)(r - past) + sizeof REPLY - 1;
    if (eot_in_cache) {
        size_t end = n_past;
        while (end > start && isspace((unsigned char)past[end - 1])) end--;
        start = end;
    }
    free(past);
    memmove(full, full + start, n_new - start + 1);
    if (len) *len = n_new - start;
    return full;
}
