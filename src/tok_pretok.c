/*
 * tok_pretok.c — the byte-level BPE pre-tokenizers: the regex sets llama.cpp
 * (llama-vocab.cpp) selects by tokenizer.ggml.pre, run with PCRE2.
 *
 * How llama.cpp's unicode_regex_split() behaves, and how it is reproduced:
 *   - The regexes of one pre type run in sequence; each one splits every piece
 *     left by the previous one (the first sees the whole fragment). Within a
 *     piece, every match is a piece and so is every run of unmatched text
 *     between matches. Each piece is matched as a subject of its own (its ends
 *     are the subject's ends for $, lookahead and lookbehind).
 *   - Text is decoded to code points; invalid UTF-8 bytes count as U+FFFD (but
 *     their raw bytes are kept in the words: see pretok_split).
 *   - Non-ASCII whitespace is replaced by \x0B before matching and \s means
 *     exactly [\t\n\x0B\f\r ] (llama.cpp does the same for std::regex), so a
 *     class like deepseek's [　-。] never sees U+3000.
 *   - llama.cpp's hand-written splitters for the GPT-2 and Llama-3 regexes
 *     give the same pieces as the regexes themselves, so those run as regexes.
 * Patterns are compiled once per tokenizer (UTF, UCP, $ only at the very end),
 * with JIT when available.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"

#define MAX_REGEX 8

/* The regexes, as llama.cpp writes them. Two deviations, both equivalent:
 * deepseek-llm's "\s+$" gets a (?<!\s) so that long whitespace runs are not
 * quadratic, and tekken / gpt-4o's "((?=[\p{L}])([^a-z]))" becomes the single
 * class [^\P{L}a-z] (a letter other than a-z). */
#define RE_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"
#define RE_CONTRACT "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"
#define RE_LLAMA3                                                                               \
    RE_CONTRACT "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|" \
                "\\s+(?!\\S)|\\s+"
#define RE_QWEN2                                                                             \
    RE_CONTRACT "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|" \
                "\\s+(?!\\S)|\\s+"
#define RE_QWEN35                                                                              \
    RE_CONTRACT "|[^\\r\\n\\p{L}\\p{N}]?[\\p{L}\\p{M}]+|\\p{N}| ?[^\\s\\p{L}\\p{M}\\p{N}]+[\\r\\n]*|" \
                "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_SEED_CODER                                                                             \
    RE_CONTRACT "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1}| ?[^\\s\\p{L}\\p{N}\\r\\n]+|\\s*[\\r\\n]+|" \
                "\\s+(?!\\S)|\\s+"
#define RE_BAILING                                                                          \
    "'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}" \
    "\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+"
#define RE_TEKKEN                                                                                   \
    "[^\\r\\n\\p{L}\\p{N}]?[^\\P{L}a-z]*[^\\P{L}A-Z]+|[^\\r\\n\\p{L}\\p{N}]?[^\\P{L}a-z]+[^\\P{L}A-Z]*|" \
    "\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_GPT4O                                                                                  \
    "[^\\r\\n\\p{L}\\p{N}]?[^\\P{L}a-z]*[^\\P{L}A-Z]+" RE_CONTRACT "?|[^\\r\\n\\p{L}\\p{N}]?[^\\P{L}a-z]+" \
    "[^\\P{L}A-Z]*" RE_CONTRACT "?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define RE_PORO " ?[^(\\s|.,!?\\x{2026}\\x{3002}\\x{FF0C}\\x{3001}\\x{964}\\x{6D4}\\x{60C})]+"
#define RE_CJK "[\\x{4E00}-\\x{9FA5}\\x{800}-\\x{4E00}\\x{AC00}-\\x{D7FF}]+"

enum pre_set {
    SET_DEFAULT, SET_GPT2, SET_LLAMA3, SET_QWEN2, SET_QWEN35, SET_DEEPSEEK_LLM, SET_DEEPSEEK_CODER,
    SET_FALCON, SET_STARCODER, SET_PORO, SET_VIKING, SET_TEKKEN, SET_GPT4O, SET_SEED_CODER,
    SET_BAILING, SET_COUNT
};

static const char *const set_regex[SET_COUNT][MAX_REGEX] = {
    [SET_DEFAULT] = {"[\\p{P}\\$\\+<=>\\^~\\|]+", RE_GPT2, "\\p{N}+", "[0-9][0-9][0-9]"},
    [SET_GPT2] = {RE_GPT2},
    [SET_LLAMA3] = {RE_LLAMA3},
    [SET_QWEN2] = {RE_QWEN2},
    [SET_QWEN35] = {RE_QWEN35},
    [SET_DEEPSEEK_LLM] =
        {
            "[\r\n]",
            "\\s?["
            "A-Za-z\\x{B5}\\x{C0}-\\x{D6}\\x{D8}-\\x{F6}\\x{F8}-\\x{1BA}\\x{1BC}-\\x{1BF}"
            "\\x{1C4}-\\x{293}\\x{295}-\\x{2AF}\\x{370}-\\x{373}\\x{376}\\x{377}\\x{37B}-\\x{37D}"
            "\\x{37F}\\x{386}\\x{388}-\\x{38A}\\x{38C}\\x{38E}-\\x{3A1}\\x{3A3}-\\x{3F5}"
            "\\x{3F7}-\\x{481}\\x{48A}-\\x{52F}\\x{531}-\\x{556}\\x{10A0}-\\x{10C5}"
            "\\x{13A0}-\\x{13F5}\\x{13F8}-\\x{13FD}\\x{1C90}-\\x{1CBA}\\x{1CBD}-\\x{1CBF}"
            "\\x{1D00}-\\x{1D2B}\\x{1D6B}-\\x{1D77}\\x{1D79}-\\x{1D9A}\\x{1E00}-\\x{1F15}"
            "\\x{1F18}-\\x{1F1D}\\x{1F20}-\\x{1F45}\\x{1F48}-\\x{1F4D}\\x{1F50}-\\x{1F57}\\x{1F59}"
            "\\x{1F5B}\\x{1F5D}\\x{1F5F}-\\x{1F7D}\\x{1F80}-\\x{1FB4}\\x{1FB6}-\\x{1FBC}\\x{1FBE}"
            "\\x{1FC2}-\\x{1FC4}\\x{1FC6}-\\x{1FCC}\\x{1FD0}-\\x{1FD3}\\x{1FD6}-\\x{1FDB}"
            "\\x{1FE0}-\\x{1FEC}\\x{1FF2}-\\x{1FF4}\\x{1FF6}-\\x{1FFC}\\x{2102}\\x{2107}"
            "\\x{210A}-\\x{2113}\\x{2115}\\x{2119}-\\x{211D}\\x{2124}\\x{2126}\\x{2128}"
            "\\x{212A}-\\x{212D}\\x{212F}-\\x{2134}\\x{2139}\\x{213C}-\\x{213F}\\x{2145}-\\x{2149}"
            "\\x{214E}\\x{2183}\\x{2184}\\x{2C00}-\\x{2C7B}\\x{2C7E}-\\x{2CE4}\\x{2CEB}-\\x{2CEE}"
            "\\x{2CF2}\\x{2CF3}\\x{A640}-\\x{A66D}\\x{A680}-\\x{A69B}\\x{A722}-\\x{A76F}"
            "\\x{A771}-\\x{A787}\\x{A78B}-\\x{A78E}\\x{AB70}-\\x{ABBF}\\x{FB00}-\\x{FB06}"
            "\\x{FB13}-\\x{FB17}\\x{FF21}-\\x{FF3A}\\x{FF41}-\\x{FF5A}\\x{10400}-\\x{1044F}"
            "\\x{104B0}-\\x{104D3}\\x{104D8}-\\x{104FB}\\x{10C80}-\\x{10CB2}\\x{10CC0}-\\x{10CF2}"
            "\\x{118A0}-\\x{118DF}\\x{1E900}-\\x{1E943}"
            "]+",
            "\\s?[!-/:-~\\x{FF01}-\\x{FF0F}\\x{FF1A}-\\x{FF5E}\\x{2018}-\\x{201F}\\x{3000}-\\x{3002}]+",
            "(?<!\\s)\\s+$",
            RE_CJK,
            "\\p{N}+",
        },
    [SET_DEEPSEEK_CODER] = {"[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", RE_CJK, "\\p{N}"},
    [SET_FALCON] = {"[\\p{P}\\$\\+<=>\\^~\\|`]+", RE_GPT2, "[0-9][0-9][0-9]"},
    [SET_STARCODER] = {"\\p{N}", RE_GPT2},
    [SET_PORO] = {RE_PORO},
    [SET_VIKING] = {RE_PORO, "\\p{N}"},
    [SET_TEKKEN] = {RE_TEKKEN},
    [SET_GPT4O] = {RE_GPT4O},
    [SET_SEED_CODER] = {RE_SEED_CODER},
    [SET_BAILING] = {RE_BAILING},
};

enum { F_IGNORE_MERGES = 1, F_ADD_BOS = 2, F_NO_BOS = 4 };

static const struct {
    const char *name;
    enum pre_set set;
    int flags;
} pre_names[] = {
    {"default", SET_DEFAULT, 0},
    {"llama3", SET_LLAMA3, F_IGNORE_MERGES | F_ADD_BOS},
    {"llama-v3", SET_LLAMA3, F_IGNORE_MERGES | F_ADD_BOS},
    {"llama-bpe", SET_LLAMA3, F_IGNORE_MERGES | F_ADD_BOS},
    {"falcon3", SET_LLAMA3, F_IGNORE_MERGES | F_ADD_BOS},
    {"falcon-h1", SET_LLAMA3, F_IGNORE_MERGES | F_ADD_BOS},
    {"pixtral", SET_LLAMA3, F_IGNORE_MERGES | F_ADD_BOS},
    {"midm-2.0", SET_LLAMA3, F_IGNORE_MERGES | F_ADD_BOS},
    {"lfm2", SET_LLAMA3, F_IGNORE_MERGES | F_ADD_BOS},
    {"dbrx", SET_LLAMA3, 0},
    {"smaug-bpe", SET_LLAMA3, 0},
    {"glm4", SET_LLAMA3, F_NO_BOS},
    {"chatglm-bpe", SET_LLAMA3, F_NO_BOS},
    {"deepseek-llm", SET_DEEPSEEK_LLM, 0},
    {"deepseek-coder", SET_DEEPSEEK_CODER, 0},
    {"falcon", SET_FALCON, 0},
    {"mpt", SET_GPT2, 0},
    {"olmo", SET_GPT2, 0},
    {"jais", SET_GPT2, 0},
    {"trillion", SET_GPT2, 0},
    {"granite-docling", SET_GPT2, 0},
    {"gpt-2", SET_GPT2, 0},
    {"phi-2", SET_GPT2, 0},
    {"jina-es", SET_GPT2, 0},
    {"jina-de", SET_GPT2, 0},
    {"gigachat", SET_GPT2, 0},
    {"jina-v2-es", SET_GPT2, 0},
    {"jina-v2-de", SET_GPT2, 0},
    {"jina-v1-en", SET_GPT2, 0},
    {"jina-v2-code", SET_GPT2, 0},
    {"roberta-bpe", SET_GPT2, 0},
    {"a.x-4.0", SET_GPT2, 0},
    {"mellum", SET_GPT2, 0},
    {"exaone4", SET_GPT2, 0},
    {"modern-bert", SET_GPT2, 0},
    {"starcoder", SET_STARCODER, 0},
    {"refact", SET_STARCODER, 0},
    {"command-r", SET_STARCODER, 0},
    {"smollm", SET_STARCODER, 0},
    {"codeshell", SET_STARCODER, 0},
    {"exaone", SET_STARCODER, 0},
    {"minerva-7b", SET_STARCODER, 0},
    {"qwen2", SET_QWEN2, 0},
    {"deepseek-r1-qwen", SET_QWEN2, 0},
    {"stablelm2", SET_QWEN2, 0},
    {"megrez", SET_QWEN2, 0},
    {"hunyuan", SET_QWEN2, 0},
    {"grok-2", SET_QWEN2, 0},
    {"qwen35", SET_QWEN35, 0},
    {"poro-chat", SET_PORO, 0},
    {"bloom", SET_PORO, 0},
    {"gpt3-finnish", SET_PORO, 0},
    {"viking", SET_VIKING, 0},
    {"tekken", SET_TEKKEN, F_IGNORE_MERGES | F_ADD_BOS},
    {"gpt-4o", SET_GPT4O, 0},
    {"llama4", SET_GPT4O, 0},
    {"seed-coder", SET_SEED_CODER, 0},
    {"bailingmoe", SET_BAILING, 0},
    {"bailingmoe2", SET_BAILING, 0},
    {"llada-moe", SET_BAILING, 0},
};

struct pretok {
    int n;
    pcre2_code *re[MAX_REGEX];
    bool jit[MAX_REGEX];
};

#define WS_CHARS "\\t\\n\\x0B\\f\\r "

/* Rewrite \s and \S to llama.cpp's whitespace set (see the top of the file). */
static char *rewrite_ws(const char *re)
{
    size_t n = strlen(re);
    char *out = malloc(n * 24 + 1);
    if (!out) return NULL;
    size_t o = 0;
    bool in_class = false;
    size_t class_start = 0;
    for (size_t i = 0; i < n; i++) {
        char c = re[i];
        if (c == '\\' && i + 1 < n) {
            char d = re[i + 1];
            if (d == 's' || (d == 'S' && !in_class)) {
                const char *rep = d == 's' ? (in_class ? WS_CHARS : "[" WS_CHARS "]") : "[^" WS_CHARS "]";
                size_t rl = strlen(rep);
                memcpy(out + o, rep, rl);
                o += rl;
            } else {
                out[o++] = c;
                out[o++] = d;
            }
            i++;
            continue;
        }
        if (!in_class && c == '[') {
            in_class = true;
            class_start = i + 1;
            if (i + 1 < n && re[i + 1] == '^') class_start++;
        } else if (in_class && c == ']' && i != class_start) {
            in_class = false;
        }
        out[o++] = c;
    }
    out[o] = 0;
    return out;
}

void pretok_free(struct pretok *p)
{
    if (!p) return;
    for (int i = 0; i < p->n; i++) pcre2_code_free(p->re[i]);
    free(p);
}

struct pretok *pretok_create(const char *name, struct pretok_info *info, char *err, size_t errlen)
{
    memset(info, 0, sizeof *info);
    enum pre_set set = SET_DEFAULT;
    int flags = 0;
    for (size_t i = 0; name && i < sizeof pre_names / sizeof pre_names[0]; i++) {
        if (strcmp(name, pre_names[i].name) == 0) {
            set = pre_names[i].set;
            flags = pre_names[i].flags;
            info->known = true;
            break;
        }
    }
    info->ignore_merges = flags & F_IGNORE_MERGES;
    info->add_bos = flags & F_ADD_BOS;
    info->no_bos = flags & F_NO_BOS;

    struct pretok *p = calloc(1, sizeof *p);
    if (!p) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    uint32_t jit_ok = 0;
    pcre2_config(PCRE2_CONFIG_JIT, &jit_ok);
    for (int i = 0; i < MAX_REGEX && set_regex[set][i]; i++) {
        char *pat = rewrite_ws(set_regex[set][i]);
        if (!pat) {
            snprintf(err, errlen, "out of memory");
            pretok_free(p);
            return NULL;
        }
        int ec = 0;
        PCRE2_SIZE eo = 0;
        pcre2_code *re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED,
                                       PCRE2_UTF | PCRE2_UCP | PCRE2_DOLLAR_ENDONLY, &ec, &eo, NULL);
        free(pat);
        if (!re) {
            PCRE2_UCHAR msg[160];
            pcre2_get_error_message(ec, msg, sizeof msg);
            snprintf(err, errlen, "pre-tokenizer regex %d of '%s' does not compile: %s", i,
                     name ? name : "default", (const char *)msg);
            pretok_free(p);
            return NULL;
        }
        p->re[p->n] = re;
        p->jit[p->n] = jit_ok && pcre2_jit_compile(re, PCRE2_JIT_COMPLETE) == 0;
        p->n++;
    }
    return p;
}

int tok_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    int len;
    uint32_t v, min;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2, v = c & 0x1F, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3, v = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if ((size_t)len > n) return 0;
    for (int i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    *cp = v;
    return len;
}

/* Unicode White_Space, as llama.cpp's unicode_set_whitespace (non-ASCII part). */
static bool is_wide_space(uint32_t cp)
{
    return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
           cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

struct piece_list {
    uint32_t *v; /* pairs (first code point, end code point) */
    size_t n, cap;
};

static bool pl_push(struct piece_list *l, uint32_t a, uint32_t b)
{
    if (a >= b) return true;
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 64;
        uint32_t *nv = realloc(l->v, nc * 2 * sizeof *nv);
        if (!nv) return false;
        l->v = nv;
        l->cap = nc;
    }
    l->v[2 * l->n] = a;
    l->v[2 * l->n + 1] = b;
    l->n++;
    return true;
}

/* Index of the code point starting at subject byte offset off. */
static uint32_t cp_at(const size_t *sub_off, uint32_t ncp, size_t off)
{
    uint32_t lo = 0, hi = ncp;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (sub_off[mid] < off) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

struct pretok_ws {
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    pcre2_jit_stack *jstack;
    size_t *orig_off, *sub_off; /* per code point, cap + 1 entries */
    char *subject;              /* 3 * cap + 1 bytes */
    size_t cap;
    struct piece_list a, b;
    size_t *out;
    size_t out_cap;
};

void pretok_ws_free(struct pretok_ws *w)
{
    if (!w) return;
    if (w->md) pcre2_match_data_free(w->md);
    if (w->mctx) pcre2_match_context_free(w->mctx);
    if (w->jstack) pcre2_jit_stack_free(w->jstack);
    free(w->orig_off);
    free(w->sub_off);
    free(w->subject);
    free(w->a.v);
    free(w->b.v);
    free(w->out);
    free(w);
}

static struct pretok_ws *ws_new(void)
{
    struct pretok_ws *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    w->md = pcre2_match_data_create(1, NULL);
    w->mctx = pcre2_match_context_create(NULL);
    if (!w->md || !w->mctx) {
        pretok_ws_free(w);
        return NULL;
    }
    /* a bigger JIT stack than the default 32 KiB; without one JIT falls back
     * to the interpreter (see pretok_split) */
    w->jstack = pcre2_jit_stack_create(32 * 1024, 8 * 1024 * 1024, NULL);
    if (w->jstack) pcre2_jit_stack_assign(w->mctx, NULL, w->jstack);
    return w;
}

static bool ws_reserve(struct pretok_ws *w, size_t len)
{
    if (len <= w->cap) return true;
    size_t cap = w->cap ? w->cap : 256;
    while (cap < len) cap *= 2;
    size_t *o = realloc(w->orig_off, (cap + 1) * sizeof *o);
    if (!o) return false;
    w->orig_off = o;
    size_t *so = realloc(w->sub_off, (cap + 1) * sizeof *so);
    if (!so) return false;
    w->sub_off = so;
    char *sub = realloc(w->subject, cap * 3 + 1);
    if (!sub) return false;
    w->subject = sub;
    w->cap = cap;
    return true;
}

bool pretok_split(const struct pretok *p, struct pretok_ws **wsp, const char *text, size_t len,
                  const size_t **pieces, size_t *n_out)
{
    *pieces = NULL;
    *n_out = 0;
    if (len == 0) return true;
    if (len > UINT32_MAX / 4) return false;
    if (!*wsp && !(*wsp = ws_new())) return false;
    struct pretok_ws *w = *wsp;
    if (!ws_reserve(w, len)) return false;

    const unsigned char *s = (const unsigned char *)text;
    /* code point i covers text[orig_off[i], orig_off[i+1]) and subject[sub_off[i], sub_off[i+1]) */
    size_t *orig_off = w->orig_off, *sub_off = w->sub_off;
    char *subject = w->subject;
    uint32_t ncp = 0;
    size_t sl = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        int l = tok_utf8_decode(s + i, len - i, &cp);
        orig_off[ncp] = i;
        sub_off[ncp] = sl;
        ncp++;
        if (l == 0) {
            memcpy(subject + sl, "\xEF\xBF\xBD", 3);
            sl += 3;
            i += 1;
        } else if (cp >= 0x80 && is_wide_space(cp)) {
            subject[sl++] = 0x0B;
            i += (size_t)l;
        } else {
            memcpy(subject + sl, s + i, (size_t)l);
            sl += (size_t)l;
            i += (size_t)l;
        }
    }
    orig_off[ncp] = len;
    sub_off[ncp] = sl;
    subject[sl] = 0;

    struct piece_list *a = &w->a, *b = &w->b;
    a->n = 0;
    if (!pl_push(a, 0, ncp)) return false;
    for (int r = 0; r < p->n; r++) {
        b->n = 0;
        for (size_t k = 0; k < a->n; k++) {
            uint32_t c0 = a->v[2 * k], c1 = a->v[2 * k + 1];
            size_t S = sub_off[c0], E = sub_off[c1];
            PCRE2_SPTR subj = (PCRE2_SPTR)(subject + S);
            size_t plen = E - S, pos = 0;
            uint32_t prev = c0; /* end of the last match, as a code point index */
            while (pos < plen) {
                uint32_t opts = PCRE2_NO_UTF_CHECK;
                int rc = pcre2_match(p->re[r], subj, plen, pos, opts, w->md, w->mctx);
                if (rc < 0 && rc != PCRE2_ERROR_NOMATCH && p->jit[r]) /* e.g. JIT stack limit */
                    rc = pcre2_match(p->re[r], subj, plen, pos, opts | PCRE2_NO_JIT, w->md, w->mctx);
                if (rc < 0) break; /* no match (or a resource limit): the rest is one piece */
                PCRE2_SIZE *ov = pcre2_get_ovector_pointer(w->md);
                size_t ms = ov[0], me = ov[1];
                if (ms > me || me > plen) break;
                if (me == ms) {
                    /* empty match: no piece; move one code point on */
                    uint32_t ci = cp_at(sub_off, ncp, S + ms);
                    if (ci >= c1) break;
                    pos = sub_off[ci + 1] - S;
                    continue;
                }
                uint32_t cs = cp_at(sub_off, ncp, S + ms), ce = cp_at(sub_off, ncp, S + me);
                if (!pl_push(b, prev, cs) || !pl_push(b, cs, ce)) return false;
                prev = ce;
                pos = me;
            }
            if (!pl_push(b, prev, c1)) return false;
        }
        struct piece_list tmp = *a;
        *a = *b;
        *b = tmp;
    }

    if (a->n * 2 > w->out_cap) {
        size_t cap = a->n * 2;
        size_t *o = realloc(w->out, cap * sizeof *o);
        if (!o) return false;
        w->out = o;
        w->out_cap = cap;
    }
    for (size_t k = 0; k < a->n; k++) {
        w->out[2 * k] = orig_off[a->v[2 * k]];
        w->out[2 * k + 1] = orig_off[a->v[2 * k + 1]] - orig_off[a->v[2 * k]];
    }
    *pieces = w->out;
    *n_out = a->n;
    return true;
}
