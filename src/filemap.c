/*
 * filemap.c — a model file's bytes in memory (see filemap.h for why there
 * are two ways).
 */
#include "filemap.h"

#include "hugemem.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Below this a file gains nothing measurable from huge pages: map it. */
#define AUTO_READ_MIN ((size_t)64 << 20)

uint64_t available_memory(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    unsigned long long kib = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %llu kB", &kib) == 1) break;
    if (f) fclose(f);
    return (uint64_t)kib * 1024;
}

static int map_file(struct filemap *fm, int fd, char *err, size_t errlen)
{
    void *p = mmap(NULL, fm->size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
        snprintf(err, errlen, "mmap failed: %s", strerror(errno));
        return -1;
    }
    fm->data = p;
    fm->region = p;
    fm->region_size = fm->size;
    return 0;
}

/* Read the file into anonymous memory aligned to huge pages (asked for
 * before the first touch, when the kernel decides the page size), then make
 * it read-only like a mapping: a stray write faults instead of corrupting
 * weights. */
static int read_file(struct filemap *fm, int fd, char *err, size_t errlen)
{
    struct huge_region region;
    uint8_t *buf = huge_alloc(&region, fm->size);
    if (!buf) {
        snprintf(err, errlen, "cannot allocate %zu MiB to read the model into: %s (try --mmap)", fm->size >> 20,
                 strerror(errno));
        return -1;
    }
    fm->region = region.map;
    fm->region_size = region.map_bytes;
    for (size_t got = 0; got < fm->size;) {
        ssize_t r = pread(fd, buf + got, fm->size - got, (off_t)got);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            snprintf(err, errlen, "read failed at byte %zu: %s", got, r < 0 ? strerror(errno) : "file shrank");
            return -1;
        }
        got += (size_t)r;
    }
    mprotect(buf, fm->size, PROT_READ);
    fm->data = buf;
    fm->copied = true;
    return 0;
}

int filemap_open(struct filemap *fm, const char *path, enum load_mode mode, char *err, size_t errlen)
{
    memset(fm, 0, sizeof *fm);
    int fd = open(path, O_RDONLY);
    if (fd < 0) {
        snprintf(err, errlen, "%s", strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        snprintf(err, errlen, "not a regular file");
        close(fd);
        return -1;
    }
    fm->size = (size_t)st.st_size;
    int rc = 0;
    if (fm->size == 0) {
        fm->data = (const uint8_t *)"";
    } else {
        const uint64_t avail = available_memory();
        if (mode == LOAD_AUTO)
            mode = fm->size >= AUTO_READ_MIN && avail / 2 >= fm->size && huge_pages_on() ? LOAD_READ : LOAD_MMAP;
        else if (mode == LOAD_READ && avail && fm->size > avail) {
            snprintf(err, errlen, "reading the model in needs %zu MiB but only %llu MiB are available (try --mmap)",
                     fm->size >> 20, (unsigned long long)(avail >> 20));
            close(fd);
            return -1;
        }
        rc = mode == LOAD_READ ? read_file(fm, fd, err, errlen) : map_file(fm, fd, err, errlen);
    }
    close(fd);
    if (rc) filemap_close(fm);
    return rc;
}

void filemap_close(struct filemap *fm)
{
    if (fm->region) munmap(fm->region, fm->region_size);
    memset(fm, 0, sizeof *fm);
}
