/*
 * filemap.h — a model file's bytes in memory: mapped from the file, or read
 * into anonymous memory backed by transparent huge pages.
 *
 * Decode reads every weight once per token, so the pages the weights live in
 * matter: file pages are 4 KiB, and streaming through them reached ~15 %
 * fewer tokens/s than the same bytes in 2 MiB pages (TLB misses, and hardware
 * prefetchers that stop at each 4 KiB page). Reading the file costs about
 * what faulting its pages in does; it costs memory the page cache could
 * otherwise share, so it is only chosen by itself when the model fits easily.
 */
#ifndef INFER_FILEMAP_H
#define INFER_FILEMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum load_mode {
    LOAD_AUTO, /* read in when huge pages are on and the file takes <= half the available memory */
    LOAD_MMAP, /* --mmap: map the file (shared page cache, nothing copied) */
    LOAD_READ, /* --no-mmap: read it in, or fail if the memory is not there */
};

struct filemap {
    const uint8_t *data; /* the file's bytes, read-only */
    size_t size;
    void *region;        /* what to unmap (NULL: nothing) */
    size_t region_size;
    bool copied;         /* read into anonymous memory, not mapped */
};

/* Open path (a regular file) and bring its bytes in per mode. On failure
 * returns -1 and writes the reason, without the path, to err. An empty file
 * gives size 0 and no mapping. */
int filemap_open(struct filemap *fm, const char *path, enum load_mode mode, char *err, size_t errlen);
void filemap_close(struct filemap *fm);

/* MemAvailable of /proc/meminfo in bytes (0 if unknown). */
uint64_t available_memory(void);

#endif
