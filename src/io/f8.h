/* f8.h -- float32 -> the two 8-bit float formats safetensors stores.
 *
 * Rounds to nearest, ties to even, like torch's casts: F8_E5M2 overflows to inf;
 * F8_E4M3 (the "fn" variant: no inf, largest 448, S.1111.111 is NaN) turns values
 * that round past 448 into NaN. Widening lives with the other conversions in
 * tensor/half.h. Only synthetic checkpoints need these (nothing else writes f8).
 */
#ifndef CI_IO_F8_H
#define CI_IO_F8_H

#include <stdint.h>

uint8_t f8_from_f32_e4m3(float f);
uint8_t f8_from_f32_e5m2(float f);

#endif
