/* fuzz_pickle.c -- libFuzzer target: any bytes as the pickle program of a torch
 * checkpoint (data.pkl), run by the safe VM. Every tensor it reports must have a
 * sane description; every failure must come with a message. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/pickle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int check(void *ctx, const char *name, const pk_tensor *t, char *err) {
    (void)ctx;
    (void)err;
    if (!name || !t->storage_key || t->ndim < 0 || t->ndim > PK_MAX_DIMS) abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[512] = "";
    if (pk_load_state_dict(data, size, check, NULL, err) != 0 && !err[0]) abort();
    return 0;
}
