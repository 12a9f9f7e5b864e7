/* fpconv.h -- float32 <-> the narrow float formats checkpoints store.
 *
 * Every narrowing rounds to nearest, ties to even, as PyTorch and NumPy casts do:
 * F16 overflows to inf, BF16 keeps the f32 exponent, F8_E5M2 overflows to inf and
 * F8_E4M3 (the "fn" variant: no inf, 0x7f/0xff are NaN, largest 448) turns values
 * that round past 448 into NaN, as torch's float8_e4m3fn cast does. Widening is exact.
 */
#ifndef CI_BASE_FPCONV_H
#define CI_BASE_FPCONV_H

#include <stdint.h>

uint16_t fp_f32_to_f16(float f);
uint16_t fp_f32_to_bf16(float f);
uint8_t fp_f32_to_e4m3(float f);
uint8_t fp_f32_to_e5m2(float f);

float fp_f16_to_f32(uint16_t h);
float fp_bf16_to_f32(uint16_t h);
float fp_e4m3_to_f32(uint8_t v);
float fp_e5m2_to_f32(uint8_t v);

#endif
