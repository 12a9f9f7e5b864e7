/* dtype.c -- element sizes and the safetensors spelling of each dtype.
 *
 * The names are the ones safetensors headers use, so the checkpoint reader and writer
 * map between files and the dtype enum through this one table.
 */
#include "tensor/tensor.h"

#include <string.h>

static const struct { const char *name; size_t size; } dtype_table[DT_COUNT] = {
    [DT_F32] = {"F32", 4},   [DT_F16] = {"F16", 2},   [DT_BF16] = {"BF16", 2},
    [DT_F64] = {"F64", 8},   [DT_I8] = {"I8", 1},     [DT_U8] = {"U8", 1},
    [DT_I16] = {"I16", 2},   [DT_I32] = {"I32", 4},   [DT_I64] = {"I64", 8},
    [DT_BOOL] = {"BOOL", 1}, [DT_F8_E4M3] = {"F8_E4M3", 1}, [DT_F8_E5M2] = {"F8_E5M2", 1},
};

size_t dtype_size(dtype dt) { return (unsigned)dt < DT_COUNT ? dtype_table[dt].size : 0; }

const char *dtype_name(dtype dt) { return (unsigned)dt < DT_COUNT ? dtype_table[dt].name : "?"; }

int dtype_from_name(const char *name, dtype *out) {
    for (int i = 0; i < DT_COUNT; i++)
        if (strcmp(name, dtype_table[i].name) == 0) { *out = (dtype)i; return 0; }
    return -1;
}
