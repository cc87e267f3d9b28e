/*
 * testutil.h — helpers shared by the cmocka test programs: where the shared
 * test data lives, whole-file reads, golden JSON, and running ./infer as a
 * user would (capturing stdout, stderr and the exit status).
 */
#ifndef INFER_TESTUTIL_H
#define INFER_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include <cJSON.h>

#include "utf8_valid.h"

/* Path under the shared test data ($INFER_TEST_DATA, default ../shared). */
static inline const char *test_data(const char *rel)
{
    static char buf[8][4096];
    static int slot;
    const char *root = getenv("INFER_TEST_DATA");
    if (!root || !*root) root = "../shared";
    char *out = buf[slot++ % 8];
    snprintf(out, sizeof buf[0], "%s/%s", root, rel);
    return out;
}

/* Whole file into a NUL-terminated malloc'd buffer; NULL on error. */
static inline char *read_whole(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *b = malloc(cap + 1);
    size_t r;
    while (b && (r = fread(b + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) { cap *= 2; b = realloc(b, cap + 1); }
    }
    fclose(f);
    if (!b) return NULL;
    b[n] = 0;
    if (len) *len = n;
    return b;
}

static inline cJSON *read_json(const char *path)
{
    char *s = read_whole(path, NULL);
    if (!s) return NULL;
    cJSON *j = cJSON_Parse(s);
    free(s);
    return j;
}

/* Result of running a command line through /bin/sh. */
struct run_result {
    int status;        /* exit code, or 128+signal */
    char *out, *err;   /* captured stdout / stderr, NUL-terminated */
    size_t out_len, err_len;
};

static inline void run_free(struct run_result *r)
{
    free(r->out);
    free(r->err);
}

/* Run `fmt` (printf-style) with sh -c; stdin from /dev/null unless the command
 * redirects it. Output goes through temporary files, so large outputs are fine. */
static inline struct run_result run_cmd(const char *fmt, ...)
{
    char cmd[16384], full[20000];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    char outp[] = "/tmp/infer-test-outXXXXXX", errp[] = "/tmp/infer-test-errXXXXXX";
    int fo = mkstemp(outp), fe = mkstemp(errp);
    close(fo);
    close(fe);
    /* The command may redirect stdin itself; the outer /dev/null only keeps it
     * from inheriting the test runner's stdin. */
    snprintf(full, sizeof full, "( %s ) </dev/null >%s 2>%s", cmd, outp, errp);
    int st = system(full);
    struct run_result r = {0};
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    r.out = read_whole(outp, &r.out_len);
    r.err = read_whole(errp, &r.err_len);
    unlink(outp);
    unlink(errp);
    return r;
}

/* Number of lines in s (a final line without newline counts). */
static inline int count_lines(const char *s)
{
    int n = 0;
    for (const char *p = s; *p; p++) n += *p == '\n';
    if (*s && s[strlen(s) - 1] != '\n') n++;
    return n;
}

#endif
