/* zip.h -- the central directory of a zip archive held in memory (PyTorch checkpoints).
 *
 * Only what torch.save writes is needed: stored (uncompressed) entries, possibly
 * zip64. Every offset and size is checked against the buffer, so an entry's data is
 * a plain pointer into it. Compressed or encrypted entries are listed but flagged;
 * zip_data() refuses them with a message naming the entry.
 */
#ifndef CI_IO_ZIP_H
#define CI_IO_ZIP_H

#include <stddef.h>
#include <stdint.h>

typedef struct zip_entry {
    char *name;
    uint64_t data;       /* offset of the entry's bytes in the buffer */
    uint64_t size;       /* compressed size (== size when stored) */
    uint16_t method;     /* 0 = stored */
    uint16_t flags;
} zip_entry;

typedef struct zip_archive {
    const uint8_t *buf;
    size_t len;
    zip_entry *e;
    size_t n;
} zip_archive;

/* 0, or -1 with a message in err (IO_ERR_LEN bytes). */
int zip_open(zip_archive *z, const uint8_t *buf, size_t len, char *err);
void zip_close(zip_archive *z);
const zip_entry *zip_find(const zip_archive *z, const char *name);
/* The bytes of a stored entry, or NULL with err set (compressed, encrypted). */
const uint8_t *zip_data(const zip_archive *z, const zip_entry *e, char *err);

#endif
