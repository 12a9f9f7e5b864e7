/* torchzip.c -- PyTorch zip checkpoints (not implemented yet: refuses them clearly). */
#include "io/ckpt_internal.h"

int torchzip_read(ckpt *c, const uint8_t *buf, size_t len, char *err) {
    (void)c; (void)buf; (void)len;
    return io_fail(err, "PyTorch zip checkpoints are not supported yet");
}
