/* fuzz_ckpt.c -- libFuzzer target: any bytes as a checkpoint file.
 *
 * ckpt_open_memory() dispatches on content, so this reaches the safetensors header
 * parser and, for inputs starting with "PK", the zip reader and the pickle VM. A
 * successful open must hand out tensors whose bytes can all be read.
 */
#include <stdint.h>
#include <stdlib.h>

#include "io/ckpt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *err = NULL;
    ckpt *c = ckpt_open_memory(data, size, "fuzz", &err);
    if (!c) {
        if (!err || !err[0]) abort();       /* every failure must say why */
        free(err);
        return 0;
    }
    volatile uint8_t sink = 0;
    for (size_t i = 0; i < ckpt_count(c); i++) {
        const tensor *t = ckpt_at(c, i);
        for (size_t b = 0; b < t->nbytes; b++) sink ^= ((const uint8_t *)t->data)[b];
    }
    ckpt_close(c);
    return 0;
}
