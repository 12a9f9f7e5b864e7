/* half.h -- exact bit conversions between f32 and the 16- and 8-bit float formats.
 *
 * Widening is exact; narrowing rounds to nearest even as torch does, so casts done
 * here agree bit for bit with .to(torch.float16) / .to(torch.bfloat16).
 */
#ifndef CI_HALF_H
#define CI_HALF_H

#include <stdint.h>
#include <string.h>

static inline float f32_from_bits(uint32_t u) { float f; memcpy(&f, &u, 4); return f; }
static inline uint32_t f32_bits(float f) { uint32_t u; memcpy(&u, &f, 4); return u; }

static inline float bf16_to_f32(uint16_t h) { return f32_from_bits((uint32_t)h << 16); }

static inline uint16_t f32_to_bf16(float f) {
    uint32_t u = f32_bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);  /* quiet NaN */
    u += 0x7fffu + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}

static inline float half_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    if (exp == 0x1f) return f32_from_bits(sign | 0x7f800000u | (man << 13));
    if (exp == 0) {
        if (!man) return f32_from_bits(sign);
        float v = (float)man * (1.0f / 16777216.0f);   /* man * 2^-24 */
        return sign ? -v : v;
    }
    return f32_from_bits(sign | ((exp + 112) << 23) | (man << 13));
}

static inline uint16_t f32_to_half(float f) {
    uint32_t u = f32_bits(f), sign = (u >> 16) & 0x8000, a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00);           /* NaN */
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00);          /* overflow -> inf */
    if (a < 0x38800000u) {                                           /* subnormal or zero */
        /* Adding 0.5 (2^-1) aligns the mantissa so the FPU rounds to the 2^-24 grid. */
        float v = f32_from_bits(a) + 0.5f;
        return (uint16_t)(sign | (f32_bits(v) - 0x3f000000u));
    }
    uint32_t r = a + 0xc8000fffu + ((a >> 13) & 1);                  /* rebias, RNE */
    return (uint16_t)(sign | (r >> 13));
}

/* float8 e4m3fn: bias 7, no infinities, S.1111.111 is NaN. */
static inline float f8e4m3_to_f32(uint8_t b) {
    uint32_t sign = (uint32_t)(b & 0x80) << 24, exp = (b >> 3) & 0xf, man = b & 7;
    if (exp == 0xf && man == 7) return f32_from_bits(sign | 0x7fc00000u);
    if (exp == 0) {
        float v = (float)man * (1.0f / 512.0f);                     /* man * 2^-9 */
        return sign ? -v : v;
    }
    return f32_from_bits(sign | ((exp + 120) << 23) | (man << 20));
}

/* float8 e5m2: the top byte of an f16. */
static inline float f8e5m2_to_f32(uint8_t b) { return half_to_f32((uint16_t)(b << 8)); }

#endif
