/*
 * chat_template.h — chat prompt formats, as llama.cpp's built-in (non-Jinja)
 * templates: recognising a model's tokenizer.chat_template by the substrings
 * llama.cpp looks for (llm_chat_detect_template), and writing a conversation
 * out exactly as llm_chat_apply_template does for the supported families.
 *
 * Chat mode evaluates a conversation incrementally (the KV cache keeps what is
 * already evaluated), so struct chat_conv hands out, per user message, only
 * the text that is new: for the first message the whole prompt, later the end
 * of the previous assistant turn, the user turn and the assistant header.
 */
#ifndef INFER_CHAT_TEMPLATE_H
#define INFER_CHAT_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>

/* Every family llama.cpp detects. Only those chat_tmpl_supported() says yes
 * to can be formatted; the others are known by name for clear messages. */
enum chat_tmpl {
    CHAT_TMPL_UNKNOWN = 0,
    /* supported */
    CHAT_TMPL_CHATML,
    CHAT_TMPL_LLAMA2,            /* [INST] ... [/INST], system folded into the first message */
    CHAT_TMPL_LLAMA2_SYS,        /* with <<SYS>> */
    CHAT_TMPL_LLAMA2_SYS_BOS,    /* and <s> before every later [INST] */
    CHAT_TMPL_LLAMA2_SYS_STRIP,  /* and message contents trimmed */
    CHAT_TMPL_MISTRAL_V1,
    CHAT_TMPL_MISTRAL_V3,
    CHAT_TMPL_MISTRAL_V3_TEKKEN,
    CHAT_TMPL_MISTRAL_V7,
    CHAT_TMPL_MISTRAL_V7_TEKKEN,
    CHAT_TMPL_PHI3,
    CHAT_TMPL_PHI4,
    CHAT_TMPL_ZEPHYR,
    CHAT_TMPL_GEMMA,
    CHAT_TMPL_LLAMA3,
    CHAT_TMPL_COMMAND_R,
    /* recognised, not formatted */
    CHAT_TMPL_SMOLVLM,
    CHAT_TMPL_FALCON3,
    CHAT_TMPL_CHATGLM3,
    CHAT_TMPL_CHATGLM4,
    CHAT_TMPL_GLMEDGE,
    CHAT_TMPL_MONARCH,
    CHAT_TMPL_ORION,
    CHAT_TMPL_OPENCHAT,
    CHAT_TMPL_VICUNA,
    CHAT_TMPL_VICUNA_ORCA,
    CHAT_TMPL_DEEPSEEK,
    CHAT_TMPL_DEEPSEEK2,
    CHAT_TMPL_DEEPSEEK3,
    CHAT_TMPL_MINICPM,
    CHAT_TMPL_EXAONE3,
    CHAT_TMPL_EXAONE4,
    CHAT_TMPL_RWKV_WORLD,
    CHAT_TMPL_GRANITE,
    CHAT_TMPL_GIGACHAT,
    CHAT_TMPL_MEGREZ,
    CHAT_TMPL_YANDEX,
    CHAT_TMPL_BAILING,
    CHAT_TMPL_LLAMA4,
    CHAT_TMPL_DOTS1,
    CHAT_TMPL_HUNYUAN_MOE,
    CHAT_TMPL_HUNYUAN_DENSE,
    CHAT_TMPL_KIMI_K2,
    CHAT_TMPL_COUNT
};

struct chat_msg {
    const char *role;     /* "system", "user" or "assistant" */
    const char *content;
};

/* llama.cpp's name for a template ("chatml", "llama3", "mistral-v7", ...);
 * "unknown" for CHAT_TMPL_UNKNOWN. */
const char *chat_tmpl_name(enum chat_tmpl t);
/* The template a name stands for, or CHAT_TMPL_UNKNOWN. */
enum chat_tmpl chat_tmpl_from_name(const char *name);
/* llm_chat_detect_template: `src` (len bytes, need not be NUL-terminated) is
 * either a template name or a Jinja template's source. */
enum chat_tmpl chat_tmpl_detect(const char *src, size_t len);
bool chat_tmpl_supported(enum chat_tmpl t);
/* The supported names, comma-separated (for messages and --help). */
const char *chat_tmpl_supported_list(void);
/* A special-token text the format relies on ("<|im_start|>" for ChatML), to
 * check the vocabulary has it; NULL for formats written in plain text. */
const char *chat_tmpl_marker(enum chat_tmpl t);

/* llm_chat_apply_template: the n messages in the format t, followed by the
 * assistant header when add_ass (for formats that have one). Returns a
 * malloc'd NUL-terminated string (length in *len when len is not NULL), or
 * NULL when t is not supported or memory runs out. */
char *chat_format(enum chat_tmpl t, const struct chat_msg *msgs, size_t n, bool add_ass, size_t *len);

/* A conversation being evaluated turn by turn. The assistant's replies are
 * not stored (they are in the KV cache already as generated tokens): only
 * their place in the conversation, which is all the formats depend on. */
struct chat_conv {
    enum chat_tmpl tmpl;
    struct chat_msg *msgs;   /* contents are owned copies */
    size_t n, cap;
    bool replied;            /* the last message is an assistant reply */
};

/* system may be NULL or "" (no system message). 0, or -1 when out of memory. */
int chat_conv_init(struct chat_conv *c, enum chat_tmpl t, const char *system);
void chat_conv_free(struct chat_conv *c);
/* Add a user message and return the text to evaluate for it (malloc'd,
 * NUL-terminated, length in *len), or NULL when out of memory:
 *  - first message: the whole prompt — system, user turn, assistant header;
 *  - later: what closes the previous reply (its end-of-turn marker, e.g.
 *    "<|im_end|>", is left out when eot_in_cache: the model generated its own
 *    end-of-generation token, which is already evaluated; the whitespace after
 *    the marker stays), then the user turn and the assistant header.
 * Concatenated with the replies, the pieces are exactly chat_format() of the
 * whole conversation. */
char *chat_conv_user(struct chat_conv *c, const char *user, bool eot_in_cache, size_t *len);
/* The model answered the last user message. 0, or -1 when out of memory. */
int chat_conv_reply(struct chat_conv *c);

#endif
