/* fpconv.c -- see fpconv.h.
 *
 * F16 and BF16, the hot paths (billions of elements when a checkpoint is built or
 * widened), work on the bit pattern. The two F8 formats go through one generic
 * routine in double arithmetic: it finds the value's binade, rounds to that binade's
 * quantum with nearbyint (ties to even), then encodes.
 */
#include "base/fpconv.h"

#include <math.h>
#include <string.h>

static uint32_t fp_bits(float f) { uint32_t x; memcpy(&x, &f, 4); return x; }
static float fp_float(uint32_t x) { float f; memcpy(&f, &x, 4); return f; }

uint16_t fp_f32_to_f16(float f) {
    uint32_t x = fp_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    uint32_t ax = x & 0x7fffffff;
    if (ax > 0x7f800000) return sign | 0x7e00 | (uint16_t)((ax >> 13) & 0x3ff);  /* NaN */
    if (ax >= 0x477ff000) return sign | 0x7c00;        /* rounds to >= 65536: inf */
    if (ax < 0x38800000)                               /* below 2^-14: subnormal or 0 */
        return sign | (uint16_t)lrintf(fp_float(ax) * 16777216.0f);   /* units of 2^-24 */
    /* Normal: rebias the exponent, round the 13 dropped mantissa bits to even. A carry
     * out of the mantissa correctly bumps the exponent. */
    uint32_t r = ax - (112u << 23);
    r += 0xfff + ((r >> 13) & 1);
    return sign | (uint16_t)(r >> 13);
}

uint16_t fp_f32_to_bf16(float f) {
    uint32_t x = fp_bits(f);
    if ((x & 0x7fffffff) > 0x7f800000) return (uint16_t)((x >> 16) | 0x40);   /* quiet NaN */
    x += 0x7fff + ((x >> 16) & 1);
    return (uint16_t)(x >> 16);
}

/* Generic narrow float: `mbits` mantissa bits, exponent bias `bias`, largest finite
 * value `max`; `inf_code` is the magnitude code for overflow (inf or NaN). */
static uint8_t fp_to_small(float f, int mbits, int bias, double max, uint8_t inf_code,
                           uint8_t nan_code) {
    uint8_t sign = signbit(f) ? 0x80 : 0;
    if (isnan(f)) return sign | nan_code;
    double a = fabs((double)f);
    if (isinf(f)) return sign | inf_code;
    if (a == 0) return sign;
    int e;
    frexp(a, &e);
    e -= 1;                                   /* a in [2^e, 2^(e+1)) */
    int emin = 1 - bias;
    if (e < emin) e = emin;                   /* subnormal binade */
    double q = ldexp(1.0, e - mbits);
    double v = nearbyint(a / q) * q;
    if (v > max) return sign | inf_code;
    if (v < ldexp(1.0, emin)) return sign | (uint8_t)(v / ldexp(1.0, emin - mbits));
    frexp(v, &e);
    e -= 1;
    unsigned mant = (unsigned)(v / ldexp(1.0, e - mbits)) - (1u << mbits);
    return sign | (uint8_t)((unsigned)(e + bias) << mbits | mant);
}

uint8_t fp_f32_to_e4m3(float f) { return fp_to_small(f, 3, 7, 448.0, 0x7f, 0x7f); }
uint8_t fp_f32_to_e5m2(float f) { return fp_to_small(f, 2, 15, 57344.0, 0x7c, 0x7e); }

float fp_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ff;
    if (e == 0) {                                          /* zero or subnormal: m * 2^-24 */
        float v = (float)m * 5.9604644775390625e-08f;
        return sign ? -v : v;
    }
    if (e == 31) return fp_float(sign | 0x7f800000 | m << 13);   /* inf, NaN */
    return fp_float(sign | (e + 112) << 23 | m << 13);
}

float fp_bf16_to_f32(uint16_t h) { return fp_float((uint32_t)h << 16); }

static float fp_from_small(uint8_t v, int mbits, int bias, int has_inf) {
    int ebits = 7 - mbits;
    unsigned e = (v >> mbits) & ((1u << ebits) - 1), m = v & ((1u << mbits) - 1);
    float s = (v & 0x80) ? -1.0f : 1.0f;
    if (e == (1u << ebits) - 1) {
        if (has_inf) return m ? NAN : s * INFINITY;
        if (m == (1u << mbits) - 1) return NAN;               /* e4m3fn: only S.1111.111 */
    }
    if (e == 0) return s * (float)ldexp((double)m, 1 - bias - mbits);
    return s * (float)ldexp((double)(m | 1u << mbits), (int)e - bias - mbits);
}

float fp_e4m3_to_f32(uint8_t v) { return fp_from_small(v, 3, 7, 0); }
float fp_e5m2_to_f32(uint8_t v) { return fp_from_small(v, 2, 15, 1); }
