/*
 * test_chat.c — chat mode: template detection (llama.cpp's substring rules)
 * on real and representative chat templates, the exact text of each supported
 * format for llama.cpp's test conversation (tests/test-chat-template.cpp), the
 * incremental per-turn text and its token ids on a tiny ChatML model, and
 * ./infer -cnv end to end (KV cache reuse, fallbacks, errors, a full context).
 * The tiny models are made at test time with gen_model.
 */
#include "testutil.h"

#include <libgen.h>
#include <sys/stat.h>

#include "chat_template.h"
#include "gguf_write.h"
#include "tokenizer.h"

static const char *infer_bin(void)
{
    const char *b = getenv("INFER_BIN");
    return b && *b ? b : "./infer";
}

static char g_gen_model[4096]; /* BUILD/tools/gen_model beside BUILD/tests/test_chat */
static char g_dir[64];         /* temporary directory with the models */

static const char *path_in(const char *name)
{
    static char buf[4][4200];
    static int slot;
    char *p = buf[slot++ % 4];
    snprintf(p, sizeof buf[0], "%s/%s", g_dir, name);
    return p;
}

/* ---- detection ---- */

static enum chat_tmpl detect(const char *s)
{
    return chat_tmpl_detect(s, strlen(s));
}

static void test_detect_names(void **state)
{
    (void)state;
    assert_int_equal(detect("chatml"), CHAT_TMPL_CHATML);
    assert_int_equal(detect("llama3"), CHAT_TMPL_LLAMA3);
    assert_int_equal(detect("llama2-sys-bos"), CHAT_TMPL_LLAMA2_SYS_BOS);
    assert_int_equal(detect("mistral-v7-tekken"), CHAT_TMPL_MISTRAL_V7_TEKKEN);
    assert_int_equal(detect("phi3"), CHAT_TMPL_PHI3);
    assert_int_equal(detect("zephyr"), CHAT_TMPL_ZEPHYR);
    assert_int_equal(detect("gemma"), CHAT_TMPL_GEMMA);
    /* llama.cpp: a string starting with "mistral" is in the [INST] family */
    assert_int_equal(detect("mistral"), CHAT_TMPL_LLAMA2);
    assert_int_equal(detect("deepseek3"), CHAT_TMPL_DEEPSEEK3);
    assert_false(chat_tmpl_supported(CHAT_TMPL_DEEPSEEK3));
    assert_int_equal(detect("no-such-template"), CHAT_TMPL_UNKNOWN);
    assert_int_equal(detect(""), CHAT_TMPL_UNKNOWN);
    for (int t = 1; t < CHAT_TMPL_COUNT; t++) {
        assert_int_equal(chat_tmpl_from_name(chat_tmpl_name((enum chat_tmpl)t)), t);
        if (chat_tmpl_supported((enum chat_tmpl)t)) assert_non_null(strstr(chat_tmpl_supported_list(), chat_tmpl_name((enum chat_tmpl)t)));
    }
    /* the sizes ask for len, not NUL: a name followed by more text is a template */
    assert_int_equal(chat_tmpl_detect("llama3xyz", 6), CHAT_TMPL_LLAMA3);
}

/* Templates as models ship them (most are the ones llama.cpp tests with). */
static const struct {
    const char *what, *src;
    enum chat_tmpl want;
} templates[] = {
    {"OpenHermes-2.5 (ChatML)",
     "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + "
     "'\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}",
     CHAT_TMPL_CHATML},
    {"Qwen2 (ChatML with a default system prompt)",
     "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ "
     "'<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}{{'<|im_start|>' + "
     "message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt "
     "%}{{ '<|im_start|>assistant\\n' }}{% endif %}",
     CHAT_TMPL_CHATML},
    {"phi-4",
     "{% for message in messages %}{% if (message['role'] == 'system') %}{{'<|im_start|>system<|im_sep|>' + "
     "message['content'] + '<|im_end|>'}}{% elif (message['role'] == 'user') %}{{'<|im_start|>user<|im_sep|>' + "
     "message['content'] + '<|im_end|><|im_start|>assistant<|im_sep|>'}}{% elif (message['role'] == 'assistant') "
     "%}{{message['content'] + '<|im_end|>'}}{% endif %}{% endfor %}",
     CHAT_TMPL_PHI4},
    {"Mistral-7B-Instruct-v0.2 (llama2)",
     "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ "
     "raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if "
     "message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == "
     "'assistant' %}{{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and assistant roles "
     "are supported!') }}{% endif %}{% endfor %}",
     CHAT_TMPL_LLAMA2},
    {"llama2 with <<SYS>>",
     "{% for message in messages %}{% if message['role'] == 'system' %}{{ '[INST] <<SYS>>\\n' + message['content'] + "
     "'\\n<</SYS>>\\n\\n' }}{% elif message['role'] == 'user' %}{{ message['content'] + ' [/INST]' }}{% else %}{{ "
     "message['content'] + eos_token }}{% endif %}{% endfor %}",
     CHAT_TMPL_LLAMA2_SYS},
    {"FusionNet_34Bx2_MoE (llama2-sys-bos)",
     "{%- for idx in range(0, messages|length) -%}\n{%- if messages[idx]['role'] == 'user' -%}\n{%- if idx > 1 "
     "-%}\n{{- bos_token + '[INST] ' + messages[idx]['content'] + ' [/INST]' -}}\n{%- else -%}\n{{- "
     "messages[idx]['content'] + ' [/INST]' -}}\n{%- endif -%}\n{% elif messages[idx]['role'] == 'system' %}\n{{- "
     "'[INST] <<SYS>>\\n' + messages[idx]['content'] + '\\n<</SYS>>\\n\\n' -}}\n{%- elif messages[idx]['role'] == "
     "'assistant' -%}\n{{- ' '  + messages[idx]['content'] + ' ' + eos_token -}}\n{% endif %}\n{% endfor %}",
     CHAT_TMPL_LLAMA2_SYS_BOS},
    {"Llama-2-chat (llama2-sys-strip)",
     "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = "
     "messages[0]['content'] %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif "
     "%}{% for message in loop_messages %}{% if loop.index0 == 0 and system_message != false %}{% set content = "
     "'<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}{% else %}{% set content = "
     "message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() "
     "+ ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif "
     "%}{% endfor %}",
     CHAT_TMPL_LLAMA2_SYS_STRIP},
    {"Mistral v1 (official, with a system prompt)",
     "{%- if messages[0]['role'] == 'system' %}\n    {%- set system_message = messages[0]['content'] %}\n    {%- set "
     "loop_messages = messages[1:] %}\n{%- else %}\n    {%- set loop_messages = messages %}\n{%- endif %}\n\n{{- "
     "bos_token }}\n{%- for message in loop_messages %}\n    {%- if message['role'] == 'user' %}\n        {%- if "
     "loop.first and system_message is defined %}\n            {{- ' [INST] ' + system_message + '\\n\\n' + "
     "message['content'] + ' [/INST]' }}\n        {%- else %}\n            {{- ' [INST] ' + message['content'] + ' "
     "[/INST]' }}\n        {%- endif %}\n    {%- elif message['role'] == 'assistant' %}\n        {{- ' ' + "
     "message['content'] + eos_token}}\n    {%- endif %}\n{%- endfor %}\n",
     CHAT_TMPL_MISTRAL_V1},
    {"Mistral-Large-2407 (v3)",
     "{{- bos_token }}{%- for message in loop_messages %}{%- if message[\"role\"] == \"user\" %}{%- if tools is not "
     "none and (message == user_messages[-1]) %}{{- \"[AVAILABLE_TOOLS] [\" }}{%- endif %}{{- \"[INST] \" + "
     "message[\"content\"] + \"[/INST]\" }}{%- elif message[\"role\"] == \"assistant\" %}{{- \" \" + "
     "message[\"content\"]|trim + eos_token}}{%- endif %}{%- endfor %}",
     CHAT_TMPL_MISTRAL_V3},
    {"Mistral-Nemo-2407 (v3-tekken)",
     "{{- bos_token }}{%- for message in loop_messages %}{%- if message[\"role\"] == \"user\" %}{%- if tools is not "
     "none and (message == user_messages[-1]) %}{{- \"[AVAILABLE_TOOLS][\" }}{%- endif %}{{- \"[INST]\" + "
     "message[\"content\"] + \"[/INST]\" }}{%- elif message[\"role\"] == \"assistant\" %}{{- message[\"content\"] + "
     "eos_token}}{%- endif %}{%- endfor %}",
     CHAT_TMPL_MISTRAL_V3_TEKKEN},
    {"Mistral-Large-2411 (v7)",
     "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}{{ '[INST] ' + "
     "message['content'] + '[/INST]' }}{% elif message['role'] == 'system' %}{{ '[SYSTEM_PROMPT] ' + "
     "message['content'] + '[/SYSTEM_PROMPT]' }}{% elif message['role'] == 'assistant' %}{{ ' ' + message['content'] "
     "+ eos_token }}{% endif %}{% endfor %}",
     CHAT_TMPL_MISTRAL_V7},
    {"Phi-3-mini",
     "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') %}{{'<|user|>' + '\n' + "
     "message['content'] + '<|end|>' + '\n' + '<|assistant|>' + '\n'}}{% elif (message['role'] == 'assistant') "
     "%}{{message['content'] + '<|end|>' + '\n'}}{% endif %}{% endfor %}",
     CHAT_TMPL_PHI3},
    {"Phi-3-small",
     "{{ bos_token }}{% for message in messages %}{{'<|' + message['role'] + '|>' + '\n' + message['content'] + "
     "'<|end|>\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% "
     "endif %}",
     CHAT_TMPL_PHI3},
    {"zephyr-7b-beta",
     "{% for message in messages %}\n{% if message['role'] == 'user' %}\n{{ '<|user|>\n' + message['content'] + "
     "eos_token }}\n{% elif message['role'] == 'system' %}\n{{ '<|system|>\n' + message['content'] + eos_token "
     "}}\n{% elif message['role'] == 'assistant' %}\n{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n{% "
     "endif %}\n{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}",
     CHAT_TMPL_ZEPHYR},
    {"zephyr with <|endoftext|>",
     "{% for message in messages %}{% if message['role'] == 'user' %}{{ '<|user|>\n' + message['content'] + "
     "'<|endoftext|>\n' }}{% else %}{{ '<|' + message['role'] + '|>\n' + message['content'] + '<|endoftext|>\n' "
     "}}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}",
     CHAT_TMPL_ZEPHYR},
    {"gemma-7b-it",
     "{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}{% for "
     "message in messages %}{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = "
     "message['role'] %}{% endif %}{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + "
     "'<end_of_turn>\\n' }}{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\\n'}}{% endif %}",
     CHAT_TMPL_GEMMA},
    {"Llama-3-Instruct",
     "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + "
     "message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 "
     "%}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{{ "
     "'<|start_header_id|>assistant<|end_header_id|>\n\n' }}",
     CHAT_TMPL_LLAMA3},
    {"c4ai-command-r-plus",
     "{{ bos_token }}{% if system_message != false %}{{ '<|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>' + system_message + "
     "'<|END_OF_TURN_TOKEN|>' }}{% endif %}{% for message in loop_messages %}{% if message['role'] == 'user' %}{{ "
     "'<|START_OF_TURN_TOKEN|><|USER_TOKEN|>' + content.strip() + '<|END_OF_TURN_TOKEN|>' }}{% endif %}{% endfor %}",
     CHAT_TMPL_COMMAND_R},
    /* recognised but not formatted */
    {"deepseek-coder-33b-instruct",
     "{%- for message in messages %}{%- if message['role'] == 'user' %}{{'### Instruction:\\n' + message['content'] + "
     "'\\n'}}{%- else %}{{'### Response:\\n' + message['content'] + '\\n<|EOT|>\\n'}}{%- endif %}{%- endfor %}",
     CHAT_TMPL_DEEPSEEK},
    {"vicuna",
     "{%- for message in messages %}{%- if message['role'] == 'user' -%}{{-'USER: ' + message['content'] + "
     "'\\n'-}}{%- else -%}{{-'ASSISTANT: ' + message['content'] + '</s>\\n' -}}{%- endif -%}{%- endfor -%}",
     CHAT_TMPL_VICUNA},
    {"DeepSeek-R1-Distill (deepseek3)",
     "{% for message in messages %}{% if message['role'] == 'user' %}{{'<｜User｜>' + message['content']}}{% endif "
     "%}{% if message['role'] == 'assistant' %}{{'<｜Assistant｜>' + message['content'] + '<｜end▁of▁sentence｜>'}}{% "
     "endif %}{% endfor %}{% if add_generation_prompt %}{{'<｜Assistant｜>'}}{% endif %}",
     CHAT_TMPL_DEEPSEEK3},
    {"no known markers", "{% for message in messages %}{{ message['role'] }}: {{ message['content'] }}\n{% endfor %}",
     CHAT_TMPL_UNKNOWN},
};

static void test_detect_templates(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof templates / sizeof *templates; i++) {
        enum chat_tmpl got = detect(templates[i].src);
        if (got != templates[i].want)
            fail_msg("%s: detected %s, expected %s", templates[i].what, chat_tmpl_name(got),
                     chat_tmpl_name(templates[i].want));
    }
}

/* ---- formatting: llama.cpp's tests/test-chat-template.cpp conversation ---- */

static const struct chat_msg conversation[] = {
    {"system", "You are a helpful assistant"},
    {"user", "Hello"},
    {"assistant", "Hi there"},
    {"user", "Who are you"},
    {"assistant", "   I am an assistant   "},
    {"user", "Another question"},
};
#define N_CONV (sizeof conversation / sizeof *conversation)

/* llama.cpp's expected_output strings (llama2-sys, zephyr and mistral-v7-tekken
 * have none there: theirs follow llm_chat_apply_template's code). */
static const struct {
    enum chat_tmpl t;
    const char *want;
} formatted[] = {
    {CHAT_TMPL_CHATML,
     "<|im_start|>system\nYou are a helpful assistant<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n<|im_start|>"
     "assistant\nHi there<|im_end|>\n<|im_start|>user\nWho are you<|im_end|>\n<|im_start|>assistant\n   I am an "
     "assistant   <|im_end|>\n<|im_start|>user\nAnother question<|im_end|>\n<|im_start|>assistant\n"},
    {CHAT_TMPL_LLAMA2,
     "[INST] You are a helpful assistant\nHello [/INST]Hi there</s>[INST] Who are you [/INST]   I am an assistant   "
     "</s>[INST] Another question [/INST]"},
    {CHAT_TMPL_LLAMA2_SYS,
     "[INST] <<SYS>>\nYou are a helpful assistant\n<</SYS>>\n\nHello [/INST]Hi there</s>[INST] Who are you [/INST]"
     "   I am an assistant   </s>[INST] Another question [/INST]"},
    {CHAT_TMPL_LLAMA2_SYS_BOS,
     "[INST] <<SYS>>\nYou are a helpful assistant\n<</SYS>>\n\nHello [/INST]Hi there</s><s>[INST] Who are you "
     "[/INST]   I am an assistant   </s><s>[INST] Another question [/INST]"},
    {CHAT_TMPL_LLAMA2_SYS_STRIP,
     "[INST] <<SYS>>\nYou are a helpful assistant\n<</SYS>>\n\nHello [/INST]Hi there</s>[INST] Who are you [/INST]I "
     "am an assistant</s>[INST] Another question [/INST]"},
    {CHAT_TMPL_MISTRAL_V1,
     " [INST] You are a helpful assistant\n\nHello [/INST] Hi there</s> [INST] Who are you [/INST]    I am an "
     "assistant   </s> [INST] Another question [/INST]"},
    {CHAT_TMPL_MISTRAL_V3,
     "[INST] You are a helpful assistant\n\nHello[/INST] Hi there</s>[INST] Who are you[/INST] I am an "
     "assistant</s>[INST] Another question[/INST]"},
    {CHAT_TMPL_MISTRAL_V3_TEKKEN,
     "[INST]You are a helpful assistant\n\nHello[/INST]Hi there</s>[INST]Who are you[/INST]   I am an assistant   "
     "</s>[INST]Another question[/INST]"},
    {CHAT_TMPL_MISTRAL_V7,
     "[SYSTEM_PROMPT] You are a helpful assistant[/SYSTEM_PROMPT][INST] Hello[/INST] Hi there</s>[INST] Who are "
     "you[/INST]    I am an assistant   </s>[INST] Another question[/INST]"},
    {CHAT_TMPL_MISTRAL_V7_TEKKEN,
     "[SYSTEM_PROMPT]You are a helpful assistant[/SYSTEM_PROMPT][INST]Hello[/INST]Hi there</s>[INST]Who are "
     "you[/INST]   I am an assistant   </s>[INST]Another question[/INST]"},
    {CHAT_TMPL_PHI3,
     "<|system|>\nYou are a helpful assistant<|end|>\n<|user|>\nHello<|end|>\n<|assistant|>\nHi there<|end|>\n"
     "<|user|>\nWho are you<|end|>\n<|assistant|>\n   I am an assistant   <|end|>\n<|user|>\nAnother "
     "question<|end|>\n<|assistant|>\n"},
    {CHAT_TMPL_PHI4,
     "<|im_start|>system<|im_sep|>You are a helpful assistant<|im_end|><|im_start|>user<|im_sep|>Hello<|im_end|>"
     "<|im_start|>assistant<|im_sep|>Hi there<|im_end|><|im_start|>user<|im_sep|>Who are you<|im_end|><|im_start|>"
     "assistant<|im_sep|>   I am an assistant   <|im_end|><|im_start|>user<|im_sep|>Another question<|im_end|>"
     "<|im_start|>assistant<|im_sep|>"},
    {CHAT_TMPL_ZEPHYR,
     "<|system|>\nYou are a helpful assistant<|endoftext|>\n<|user|>\nHello<|endoftext|>\n<|assistant|>\nHi "
     "there<|endoftext|>\n<|user|>\nWho are you<|endoftext|>\n<|assistant|>\n   I am an assistant   "
     "<|endoftext|>\n<|user|>\nAnother question<|endoftext|>\n<|assistant|>\n"},
    {CHAT_TMPL_GEMMA,
     "<start_of_turn>user\nYou are a helpful assistant\n\nHello<end_of_turn>\n<start_of_turn>model\nHi "
     "there<end_of_turn>\n<start_of_turn>user\nWho are you<end_of_turn>\n<start_of_turn>model\nI am an "
     "assistant<end_of_turn>\n<start_of_turn>user\nAnother question<end_of_turn>\n<start_of_turn>model\n"},
    {CHAT_TMPL_LLAMA3,
     "<|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant<|eot_id|><|start_header_id|>user"
     "<|end_header_id|>\n\nHello<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHi "
     "there<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWho are you<|eot_id|><|start_header_id|>assistant"
     "<|end_header_id|>\n\nI am an assistant<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nAnother "
     "question<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"},
    {CHAT_TMPL_COMMAND_R,
     "<|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>You are a helpful assistant<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|>"
     "<|USER_TOKEN|>Hello<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>Hi "
     "there<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|USER_TOKEN|>Who are you<|END_OF_TURN_TOKEN|>"
     "<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>I am an assistant<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|>"
     "<|USER_TOKEN|>Another question<|END_OF_TURN_TOKEN|><|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>"},
};

static void test_format_llama_cpp_conversation(void **state)
{
    (void)state;
    bool covered[CHAT_TMPL_COUNT] = {0};
    for (size_t i = 0; i < sizeof formatted / sizeof *formatted; i++) {
        size_t len;
        char *got = chat_format(formatted[i].t, conversation, N_CONV, true, &len);
        assert_non_null(got);
        if (strcmp(got, formatted[i].want))
            fail_msg("%s:\n[%s]\nexpected:\n[%s]", chat_tmpl_name(formatted[i].t), got, formatted[i].want);
        assert_int_equal(len, strlen(got));
        free(got);
        covered[formatted[i].t] = true;
    }
    /* every supported format has its expected text above */
    for (int t = 1; t < CHAT_TMPL_COUNT; t++)
        if (chat_tmpl_supported((enum chat_tmpl)t) && !covered[t]) fail_msg("%s untested", chat_tmpl_name((enum chat_tmpl)t));
    assert_null(chat_format(CHAT_TMPL_UNKNOWN, conversation, N_CONV, true, NULL));
    assert_null(chat_format(CHAT_TMPL_DEEPSEEK3, conversation, N_CONV, true, NULL));
    char *empty = chat_format(CHAT_TMPL_CHATML, NULL, 0, false, NULL);
    assert_string_equal(empty, "");
    free(empty);
}

/* ---- incremental text ---- */

static void test_chatml_turns(void **state)
{
    (void)state;
    struct chat_conv c;
    size_t len;
    assert_int_equal(chat_conv_init(&c, CHAT_TMPL_CHATML, "be nice"), 0);
    char *t1 = chat_conv_user(&c, "hi", false, &len);
    assert_string_equal(t1, "<|im_start|>system\nbe nice<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n"
                            "<|im_start|>assistant\n");
    assert_int_equal(len, strlen(t1));
    assert_int_equal(chat_conv_reply(&c), 0);
    /* a reply cut short (-n): its <|im_end|> comes first */
    char *t2 = chat_conv_user(&c, "how are you", false, &len);
    assert_string_equal(t2, "<|im_end|>\n<|im_start|>user\nhow are you<|im_end|>\n<|im_start|>assistant\n");
    assert_int_equal(chat_conv_reply(&c), 0);
    /* the model wrote <|im_end|> itself: only the newline after it */
    char *t3 = chat_conv_user(&c, "bye", true, &len);
    assert_string_equal(t3, "\n<|im_start|>user\nbye<|im_end|>\n<|im_start|>assistant\n");
    free(t1), free(t2), free(t3);
    chat_conv_free(&c);

    /* no system prompt ("" is none) */
    assert_int_equal(chat_conv_init(&c, CHAT_TMPL_CHATML, ""), 0);
    t1 = chat_conv_user(&c, "hi", false, NULL);
    assert_string_equal(t1, "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n");
    free(t1);
    chat_conv_free(&c);
}

/* For every format: the turn texts with the replies in between are exactly
 * the whole conversation formatted at once; with eot_in_cache a turn starts
 * after the format's end-of-turn marker. */
static void test_turns_rebuild_conversation(void **state)
{
    (void)state;
    static const char *const eot[CHAT_TMPL_COUNT] = {
        [CHAT_TMPL_CHATML] = "<|im_end|>", [CHAT_TMPL_LLAMA2] = "</s>", [CHAT_TMPL_LLAMA2_SYS] = "</s>",
        [CHAT_TMPL_LLAMA2_SYS_BOS] = "</s>", [CHAT_TMPL_LLAMA2_SYS_STRIP] = "</s>", [CHAT_TMPL_MISTRAL_V1] = "</s>",
        [CHAT_TMPL_MISTRAL_V3] = "</s>", [CHAT_TMPL_MISTRAL_V3_TEKKEN] = "</s>", [CHAT_TMPL_MISTRAL_V7] = "</s>",
        [CHAT_TMPL_MISTRAL_V7_TEKKEN] = "</s>", [CHAT_TMPL_PHI3] = "<|end|>", [CHAT_TMPL_PHI4] = "<|im_end|>",
        [CHAT_TMPL_ZEPHYR] = "<|endoftext|>", [CHAT_TMPL_GEMMA] = "<end_of_turn>", [CHAT_TMPL_LLAMA3] = "<|eot_id|>",
        [CHAT_TMPL_COMMAND_R] = "<|END_OF_TURN_TOKEN|>",
    };
    /* replies without surrounding whitespace, as the formats that trim keep them */
    static const struct chat_msg conv[] = {
        {"system", "You are a helpful assistant"}, {"user", "Hello"}, {"assistant", "Hi there"},
        {"user", "Who are you"}, {"assistant", "I am an assistant"}, {"user", "Another question"},
    };
    for (int t = 1; t < CHAT_TMPL_COUNT; t++) {
        if (!chat_tmpl_supported((enum chat_tmpl)t)) continue;
        assert_non_null(eot[t]);
        /* what a format writes before a reply's content (Mistral's space) */
        const char *pre = t == CHAT_TMPL_MISTRAL_V1 || t == CHAT_TMPL_MISTRAL_V3 || t == CHAT_TMPL_MISTRAL_V7 ? " " : "";
        char *want = chat_format((enum chat_tmpl)t, conv, 6, true, NULL);
        char got[4096] = "";
        struct chat_conv c, c2;
        assert_int_equal(chat_conv_init(&c, (enum chat_tmpl)t, conv[0].content), 0);
        assert_int_equal(chat_conv_init(&c2, (enum chat_tmpl)t, conv[0].content), 0);
        for (int i = 1; i < 6; i += 2) {
            char *a = chat_conv_user(&c, conv[i].content, false, NULL);
            char *b = chat_conv_user(&c2, conv[i].content, true, NULL);
            assert_non_null(a);
            assert_non_null(b);
            if (i == 1) {
                assert_string_equal(a, b);
            } else {
                /* the marker, then the same text */
                size_t k = strlen(eot[t]);
                if (strncmp(a, eot[t], k) || strcmp(a + k, b))
                    fail_msg("%s: turn [%s] vs. after the model's end of turn [%s]", chat_tmpl_name((enum chat_tmpl)t), a, b);
            }
            strcat(got, a);
            free(a);
            free(b);
            if (i + 1 < 6) {
                strcat(got, pre);
                strcat(got, conv[i + 1].content);
                assert_int_equal(chat_conv_reply(&c), 0);
                assert_int_equal(chat_conv_reply(&c2), 0);
            }
        }
        if (strcmp(got, want)) fail_msg("%s:\n[%s]\nexpected:\n[%s]", chat_tmpl_name((enum chat_tmpl)t), got, want);
        free(want);
        chat_conv_free(&c);
        chat_conv_free(&c2);
    }
}

/* ---- token ids on the tiny ChatML model ---- */

/* Its vocabulary: <unk> <s> </s>, bytes <0x00>.. at 3 + byte, <|im_start|> 259,
 * <|im_end|> 260, then "▁a".."▁z" at 261.. and a few two-letter pieces. As in
 * llama.cpp, SentencePiece text after a special token gets the "▁" prefix;
 * "▁" alone is no piece, so it falls back to its three bytes. */
#define B(c) (3 + (c))
#define SP(c) (261 + ((c) - 'a'))     /* "▁c" */
#define SPACE_BYTES 229, 153, 132       /* "▁" = E2 96 81 */
#define IM_START 259
#define IM_END 260

static struct tokenizer *tiny_tokenizer(struct gguf_file **f)
{
    char err[256];
    *f = gguf_open(path_in("tiny.gguf"), err, sizeof err);
    if (!*f) fail_msg("%s", err);
    struct tokenizer *t = tokenizer_load_gguf(*f, err, sizeof err);
    if (!t) fail_msg("%s", err);
    return t;
}

static int32_t *encode(const struct tokenizer *t, const char *text, bool bos, size_t *n)
{
    int32_t *ids = tokenizer_encode(t, text, strlen(text), bos, true, n);
    assert_non_null(ids);
    return ids;
}

static void assert_ids(const int32_t *got, size_t n, const int32_t *want, size_t n_want)
{
    char a[2048] = "", b[2048] = "";
    for (size_t i = 0; i < n; i++) snprintf(a + strlen(a), sizeof a - strlen(a), " %d", got[i]);
    for (size_t i = 0; i < n_want; i++) snprintf(b + strlen(b), sizeof b - strlen(b), " %d", want[i]);
    if (strcmp(a, b)) fail_msg("ids:%s\nexpected:%s", a, b);
}

static const int32_t turn1_ids[] = {
    1,                                                                        /* BOS */
    IM_START, SP('s'), B('y'), B('s'), B('t'), B('e'), B('m'), B('\n'),       /* ▁system\n */
    B('b'), B('e'), SP('n'), B('i'), B('c'), B('e'), IM_END, SPACE_BYTES, B('\n'), /* be nice */
    IM_START, SP('u'), B('s'), B('e'), B('r'), B('\n'), B('h'), B('i'), IM_END, SPACE_BYTES, B('\n'),
    IM_START, SP('a'), B('s'), B('s'), B('i'), B('s'), B('t'), B('a'), B('n'), B('t'), B('\n'),
};
/* "how are you" after a reply cut short: <|im_end|> first */
static const int32_t turn2_ids[] = {
    IM_END, SPACE_BYTES, B('\n'),
    IM_START, SP('u'), B('s'), B('e'), B('r'), B('\n'), B('h'), B('o'), B('w'), SP('a'), B('r'), B('e'), SP('y'),
    B('o'), B('u'), IM_END, SPACE_BYTES, B('\n'),
    IM_START, SP('a'), B('s'), B('s'), B('i'), B('s'), B('t'), B('a'), B('n'), B('t'), B('\n'),
};

static void test_chatml_token_ids(void **state)
{
    (void)state;
    struct gguf_file *f;
    struct tokenizer *t = tiny_tokenizer(&f);
    assert_int_equal(tokenizer_find(t, "<|im_start|>"), IM_START);
    assert_int_equal(tokenizer_find(t, "<|im_end|>"), IM_END);
    assert_true(tokenizer_is_eog(t, IM_END));
    assert_true(tokenizer_add_bos(t));
    struct chat_conv c;
    size_t n;
    assert_int_equal(chat_conv_init(&c, CHAT_TMPL_CHATML, "be nice"), 0);
    char *text = chat_conv_user(&c, "hi", false, NULL);
    int32_t *ids = encode(t, text, true, &n);
    assert_ids(ids, n, turn1_ids, sizeof turn1_ids / sizeof *turn1_ids);
    free(ids), free(text);
    assert_int_equal(chat_conv_reply(&c), 0);
    text = chat_conv_user(&c, "how are you", false, NULL);
    ids = encode(t, text, false, &n);
    assert_ids(ids, n, turn2_ids, sizeof turn2_ids / sizeof *turn2_ids);
    free(ids), free(text);
    chat_conv_free(&c);
    tokenizer_free(t);
    gguf_close(f);
}

/* ---- ./infer -cnv ---- */

/* "turn K: prompt N tokens ... | generated G tokens ... | stop: S | context P/C" */
struct turn_stats {
    int prompt, generated, pos, n_ctx;
    char stop[32];
};

static int parse_turns(const char *err, struct turn_stats *ts, int max)
{
    int n = 0;
    for (const char *p = err; (p = strstr(p, "infer: turn ")) && n < max; p++) {
        int k;
        const char *g = strstr(p, "| generated "), *s = strstr(p, "| stop: "), *c = strstr(p, "| context ");
        assert_non_null(g), assert_non_null(s), assert_non_null(c);
        assert_int_equal(sscanf(p, "infer: turn %d: prompt %d tokens", &k, &ts[n].prompt), 2);
        assert_int_equal(k, n + 1);
        assert_int_equal(sscanf(g, "| generated %d tokens", &ts[n].generated), 1);
        assert_int_equal(sscanf(s, "| stop: %31[a-z ]", ts[n].stop), 1);
        for (size_t e = strlen(ts[n].stop); e > 0 && ts[n].stop[e - 1] == ' ';) ts[n].stop[--e] = 0;
        assert_int_equal(sscanf(c, "| context %d/%d", &ts[n].pos, &ts[n].n_ctx), 2);
        n++;
    }
    return n;
}

static size_t n_ids_of(const char *text, bool bos)
{
    struct gguf_file *f;
    struct tokenizer *t = tiny_tokenizer(&f);
    size_t n;
    free(encode(t, text, bos, &n));
    tokenizer_free(t);
    gguf_close(f);
    return n;
}

static void test_cli_two_turns(void **state)
{
    (void)state;
    struct run_result r = run_cmd("printf 'hi\\nhow are you\\n' | %s -m %s -cnv -sys 'be nice' -n 5 --temp 0",
                                  infer_bin(), path_in("tiny.gguf"));
    if (r.status) fail_msg("exit %d: %s", r.status, r.err);
    assert_non_null(strstr(r.err, "chat template: chatml (detected from the model)"));
    struct turn_stats ts[4];
    assert_int_equal(parse_turns(r.err, ts, 4), 2);
    /* turn 1: the whole prompt, exactly the ids above */
    assert_int_equal(ts[0].prompt, (int)(sizeof turn1_ids / sizeof *turn1_ids));
    assert_int_equal(ts[0].n_ctx, 256); /* the model's context */
    assert_true(ts[0].generated >= 1 && ts[0].generated <= 5);
    assert_int_equal(ts[0].pos, ts[0].prompt + ts[0].generated); /* every reply token is in the cache */
    /* turn 2: only the new tokens, evaluated after the first turn's */
    const bool eos = !strcmp(ts[0].stop, "eos");
    if (!eos) assert_string_equal(ts[0].stop, "limit");
    const char *t2 = eos ? "\n<|im_start|>user\nhow are you<|im_end|>\n<|im_start|>assistant\n"
                         : "<|im_end|>\n<|im_start|>user\nhow are you<|im_end|>\n<|im_start|>assistant\n";
    assert_int_equal(ts[1].prompt, (int)n_ids_of(t2, false));
    if (!eos) assert_int_equal(ts[1].prompt, (int)(sizeof turn2_ids / sizeof *turn2_ids));
    assert_int_equal(ts[1].pos, ts[0].pos + ts[1].prompt + ts[1].generated);

    /* stdout: the first reply (the same as in a one-turn chat), then the second, each ending a line */
    struct run_result one = run_cmd("printf 'hi\\n' | %s -m %s -cnv -sys 'be nice' -n 5 --temp 0", infer_bin(),
                                    path_in("tiny.gguf"));
    assert_int_equal(one.status, 0);
    assert_true(one.out_len > 1 && one.out[one.out_len - 1] == '\n');
    assert_true(r.out_len > one.out_len && r.out[r.out_len - 1] == '\n');
    assert_memory_equal(r.out, one.out, one.out_len);
    assert_null(strstr(r.out, "infer:")); /* nothing but replies on stdout */
    run_free(&one);
    /* -p is the first message (as in llama.cpp), stdin the rest */
    one = run_cmd("printf 'how are you\\n' | %s -m %s -cnv -sys 'be nice' -p hi -n 5 --temp 0", infer_bin(),
                  path_in("tiny.gguf"));
    assert_int_equal(one.status, 0);
    assert_string_equal(one.out, r.out);
    run_free(&one);
    run_free(&r);

    /* empty lines are no messages; no -sys is no system turn */
    r = run_cmd("printf '\\nhi\\n\\n' | %s -m %s -cnv -n 2 --temp 0", infer_bin(), path_in("tiny.gguf"));
    assert_int_equal(r.status, 0);
    assert_int_equal(parse_turns(r.err, ts, 4), 1);
    assert_int_equal(ts[0].prompt,
                     (int)n_ids_of("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n", true));
    run_free(&r);
    /* no input at all: no turns, a clean exit */
    r = run_cmd("%s -m %s -cnv", infer_bin(), path_in("tiny.gguf"));
    assert_int_equal(r.status, 0);
    assert_string_equal(r.out, "");
    run_free(&r);
}

/* A copy of tiny.gguf with another tokenizer.chat_template (NULL: none). */
static void write_with_template(const char *dst, const char *tmpl)
{
    char err[256];
    struct gguf_file *f = gguf_open(path_in("tiny.gguf"), err, sizeof err);
    assert_non_null(f);
    struct gguf_writer *w = gguf_writer_new();
    for (uint64_t i = 0; i < f->n_kv; i++)
        if (!gguf_str_eq(f->kv[i].key, "tokenizer.chat_template")) gw_copy_kv(w, &f->kv[i]);
    if (tmpl) gw_str(w, "tokenizer.chat_template", tmpl);
    for (uint64_t i = 0; i < f->n_tensors; i++) {
        const struct gguf_tensor *t = &f->tensors[i];
        char name[256];
        snprintf(name, sizeof name, "%.*s", (int)t->name.len, t->name.ptr);
        gw_tensor(w, name, (int)t->n_dims, t->ne, t->type, t->data, t->nbytes);
    }
    if (gw_write(w, dst, err, sizeof err)) fail_msg("%s", err);
    gguf_writer_free(w);
    gguf_close(f);
}

static void test_cli_fallback_to_chatml(void **state)
{
    (void)state;
    struct turn_stats ts[2];
    write_with_template(path_in("unknown.gguf"), "{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}");
    struct run_result r = run_cmd("printf 'hi\\n' | %s -m %s -cnv -sys 'be nice' -n 3 --temp 0", infer_bin(),
                                  path_in("unknown.gguf"));
    if (r.status) fail_msg("exit %d: %s", r.status, r.err);
    assert_non_null(strstr(r.err, "the model's chat template is not one infer recognizes; using ChatML"));
    assert_int_equal(parse_turns(r.err, ts, 2), 1);
    assert_int_equal(ts[0].prompt, (int)(sizeof turn1_ids / sizeof *turn1_ids));
    run_free(&r);

    /* no template at all, but the vocabulary has <|im_start|> */
    write_with_template(path_in("notemplate.gguf"), NULL);
    r = run_cmd("printf 'hi\\n' | %s -m %s -cnv -sys 'be nice' -n 3 --temp 0", infer_bin(), path_in("notemplate.gguf"));
    if (r.status) fail_msg("exit %d: %s", r.status, r.err);
    assert_non_null(strstr(r.err, "the model has no chat template; using ChatML"));
    assert_int_equal(parse_turns(r.err, ts, 2), 1);
    assert_int_equal(ts[0].prompt, (int)(sizeof turn1_ids / sizeof *turn1_ids));
    run_free(&r);

    /* a recognised format infer does not write is the same case */
    const char *vicuna = NULL;
    for (size_t i = 0; i < sizeof templates / sizeof *templates; i++)
        if (!strcmp(templates[i].what, "vicuna")) vicuna = templates[i].src;
    assert_non_null(vicuna);
    write_with_template(path_in("vicuna.gguf"), vicuna);
    r = run_cmd("printf 'hi\\n' | %s -m %s -cnv -n 1", infer_bin(), path_in("vicuna.gguf"));
    if (r.status) fail_msg("exit %d: %s", r.status, r.err);
    assert_non_null(strstr(r.err, "the 'vicuna' format, which infer does not support; using ChatML"));
    run_free(&r);
}

static void test_cli_no_template_no_chatml(void **state)
{
    (void)state;
    struct run_result r = run_cmd("printf 'hi\\n' | %s -m %s -cnv -n 3", infer_bin(), path_in("plain.gguf"));
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "the model has no chat template"));
    assert_non_null(strstr(r.err, "--chat-template"));
    assert_null(strstr(r.err, "infer: turn"));
    assert_string_equal(r.out, "");
    run_free(&r);
    /* --chat-template makes it work */
    r = run_cmd("printf 'hi\\n' | %s -m %s -cnv -n 3 --chat-template llama2", infer_bin(), path_in("plain.gguf"));
    if (r.status) fail_msg("exit %d: %s", r.status, r.err);
    assert_non_null(strstr(r.err, "chat template: llama2 (--chat-template)"));
    run_free(&r);
}

static void test_cli_forced_template(void **state)
{
    (void)state;
    struct turn_stats ts[3];
    struct run_result r = run_cmd("printf 'hi\\nyo\\n' | %s -m %s -cnv -sys 'be nice' -n 3 --temp 0 -c 512 --chat-template llama3",
                                  infer_bin(), path_in("tiny.gguf"));
    if (r.status) fail_msg("exit %d: %s", r.status, r.err);
    assert_non_null(strstr(r.err, "chat template: llama3 (--chat-template)"));
    assert_non_null(strstr(r.err, "no <|start_header_id|> token")); /* plain text in this vocabulary */
    assert_int_equal(parse_turns(r.err, ts, 3), 2);
    assert_int_equal(ts[0].prompt,
                     (int)n_ids_of("<|start_header_id|>system<|end_header_id|>\n\nbe nice<|eot_id|>"
                                   "<|start_header_id|>user<|end_header_id|>\n\nhi<|eot_id|>"
                                   "<|start_header_id|>assistant<|end_header_id|>\n\n",
                                   true));
    /* <|eot_id|> is not this model's end of generation: the reply is cut by -n and the marker is fed */
    assert_string_equal(ts[0].stop, "limit");
    assert_int_equal(ts[1].prompt,
                     (int)n_ids_of("<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nyo<|eot_id|>"
                                   "<|start_header_id|>assistant<|end_header_id|>\n\n",
                                   false));
    run_free(&r);

    /* unknown names and unsupported formats are errors, not fallbacks */
    r = run_cmd("printf 'hi\\n' | %s -m %s -cnv --chat-template nonesuch", infer_bin(), path_in("tiny.gguf"));
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "unknown template 'nonesuch'"));
    assert_non_null(strstr(r.err, "llama3"));
    run_free(&r);
    r = run_cmd("printf 'hi\\n' | %s -m %s -cnv --chat-template deepseek3", infer_bin(), path_in("tiny.gguf"));
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "not supported"));
    run_free(&r);
}

static void test_cli_context_full(void **state)
{
    (void)state;
    const int n1 = (int)(sizeof turn1_ids / sizeof *turn1_ids);
    struct turn_stats ts[3];
    /* the first turn fits with its reply, the second does not */
    struct run_result r = run_cmd("printf 'hi\\nhow are you\\n' | %s -m %s -cnv -sys 'be nice' -n 5 --temp 0 -c %d",
                                  infer_bin(), path_in("tiny.gguf"), n1 + 10);
    assert_int_equal(r.status, 1);
    assert_int_equal(parse_turns(r.err, ts, 3), 1);
    assert_non_null(strstr(r.err, "infer: context full"));
    assert_true(r.out_len > 0);
    run_free(&r);
    /* the reply runs into the end of the context: it stops there */
    r = run_cmd("printf 'hi\\n' | %s -m %s -cnv -sys 'be nice' --ignore-eos --temp 0 -c %d", infer_bin(),
                path_in("tiny.gguf"), n1 + 3);
    if (r.status) fail_msg("exit %d: %s", r.status, r.err);
    assert_int_equal(parse_turns(r.err, ts, 3), 1);
    assert_string_equal(ts[0].stop, "context full");
    assert_int_equal(ts[0].pos, n1 + 3);
    run_free(&r);
    /* the first message alone is too long */
    r = run_cmd("printf 'hi\\n' | %s -m %s -cnv -sys 'be nice' -c 16", infer_bin(), path_in("tiny.gguf"));
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "context full"));
    assert_non_null(strstr(r.err, "-c for a larger context or --context-shift"));
    run_free(&r);
}

/* --context-shift drops old tokens instead of ending the chat; --json gives a JSON line per turn */
static void test_cli_context_shift_json(void **state)
{
    (void)state;
    const int n1 = (int)(sizeof turn1_ids / sizeof *turn1_ids), n_ctx = n1 + 16;
    struct run_result r = run_cmd("printf 'hi\\nhow are you\\nbye\\n' | %s -m %s -cnv -sys 'be nice' -n 5 --temp 0 "
                                  "-c %d --context-shift --json",
                                  infer_bin(), path_in("tiny.gguf"), n_ctx);
    if (r.status) fail_msg("exit %d: %s", r.status, r.err);
    assert_null(strstr(r.err, "infer: turn")); /* JSON instead of the text line */
    int turns = 0, shifts = 0;
    for (char *p = r.err; (p = strstr(p, "{\"turn\":")); p++) {
        char *end = strchr(p, '\n');
        assert_non_null(end);
        *end = 0;
        cJSON *j = cJSON_Parse(p);
        assert_non_null(j);
        assert_int_equal(cJSON_GetObjectItem(j, "turn")->valueint, ++turns);
        assert_true(cJSON_GetObjectItem(j, "n_past")->valueint <= n_ctx);
        assert_int_equal(cJSON_GetObjectItem(j, "n_ctx")->valueint, n_ctx);
        assert_true(cJSON_GetObjectItem(j, "generated_tokens")->valueint >= 1);
        assert_non_null(cJSON_GetObjectItem(j, "stop_reason"));
        if (turns == 1) assert_int_equal(cJSON_GetObjectItem(j, "prompt_tokens")->valueint, n1);
        shifts = cJSON_GetObjectItem(j, "context_shifts")->valueint;
        cJSON_Delete(j);
        p = end;
    }
    assert_int_equal(turns, 3);
    assert_true(shifts >= 1);
    run_free(&r);
}

static int setup(void **state)
{
    (void)state;
    strcpy(g_dir, "/tmp/infer-test-chatXXXXXX");
    if (!mkdtemp(g_dir)) return -1;
    struct run_result r = run_cmd("%s %s --preset tiny --chatml && %s %s --preset tiny", g_gen_model,
                                  path_in("tiny.gguf"), g_gen_model, path_in("plain.gguf"));
    int ok = r.status == 0;
    if (!ok) fprintf(stderr, "gen_model failed (%d): %s\n", r.status, r.err);
    run_free(&r);
    return ok ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    struct run_result r = run_cmd("rm -rf %s", g_dir);
    run_free(&r);
    return 0;
}

int main(int argc, char **argv)
{
    (void)argc;
    /* BUILD/tests/test_chat → BUILD/tools/gen_model */
    char self[4096];
    snprintf(self, sizeof self, "%s", argv[0]);
    snprintf(g_gen_model, sizeof g_gen_model, "%s/../tools/gen_model", dirname(self));
    struct stat st;
    if (stat(g_gen_model, &st)) snprintf(g_gen_model, sizeof g_gen_model, "build/tools/gen_model");
    const struct CMUnitTest unit[] = {
        cmocka_unit_test(test_detect_names),
        cmocka_unit_test(test_detect_templates),
        cmocka_unit_test(test_format_llama_cpp_conversation),
        cmocka_unit_test(test_chatml_turns),
        cmocka_unit_test(test_turns_rebuild_conversation),
    };
    const struct CMUnitTest e2e[] = {
        cmocka_unit_test(test_chatml_token_ids),
        cmocka_unit_test(test_cli_two_turns),
        cmocka_unit_test(test_cli_fallback_to_chatml),
        cmocka_unit_test(test_cli_no_template_no_chatml),
        cmocka_unit_test(test_cli_forced_template),
        cmocka_unit_test(test_cli_context_full),
        cmocka_unit_test(test_cli_context_shift_json),
    };
    int failed = cmocka_run_group_tests_name("chat templates", unit, NULL, NULL);
    failed += cmocka_run_group_tests_name("chat mode", e2e, setup, teardown);
    return failed ? 1 : 0;
}
