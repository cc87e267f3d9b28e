/*
 * hugemem.c — anonymous memory in transparent huge pages (see hugemem.h).
 */
#include "hugemem.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#define HUGE_PAGE ((size_t)2 << 20)

void *huge_alloc(struct huge_region *r, size_t bytes)
{
    r->map = NULL;
    r->map_bytes = 0;
    const size_t span = (bytes + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
    if (bytes == 0 || span < bytes || span > SIZE_MAX - HUGE_PAGE) {
        errno = ENOMEM;
        return NULL;
    }
    /* one huge page more than needed, to start on a boundary */
    void *p = mmap(NULL, span + HUGE_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
    r->map = p;
    r->map_bytes = span + HUGE_PAGE;
    uint8_t *buf = (uint8_t *)(((uintptr_t)p + HUGE_PAGE - 1) & ~(uintptr_t)(HUGE_PAGE - 1));
#ifdef MADV_HUGEPAGE
    madvise(buf, span, MADV_HUGEPAGE); /* before the first touch, when the kernel picks the page size */
#endif
    return buf;
}

void huge_free(struct huge_region *r)
{
    if (r->map) munmap(r->map, r->map_bytes);
    r->map = NULL;
    r->map_bytes = 0;
}

bool huge_pages_on(void)
{
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    char line[128] = "";
    if (f) {
        if (!fgets(line, sizeof line, f)) line[0] = 0;
        fclose(f);
    }
    return strstr(line, "[always]") || strstr(line, "[madvise]");
}
