/* f8.c -- see f8.h. One generic routine in double arithmetic: find the value's
 * binade (clamped to the subnormal one), round to that binade's quantum with
 * nearbyint (ties to even), then encode exponent and mantissa fields.
 */
#include "io/f8.h"

#include <math.h>

static uint8_t f8_encode(float f, int mbits, int bias, double max, uint8_t overflow,
                         uint8_t nan_code) {
    uint8_t sign = signbit(f) ? 0x80 : 0;
    if (isnan(f)) return sign | nan_code;
    if (isinf(f)) return sign | overflow;
    double a = fabs((double)f);
    if (a == 0) return sign;
    int e, emin = 1 - bias;
    frexp(a, &e);
    e = e - 1 < emin ? emin : e - 1;                 /* a in [2^e, 2^(e+1)) */
    double v = nearbyint(ldexp(a, mbits - e));       /* quanta of 2^(e - mbits) */
    v = ldexp(v, e - mbits);
    if (v > max) return sign | overflow;
    if (v < ldexp(1.0, emin)) return sign | (uint8_t)ldexp(v, mbits - emin);   /* subnormal */
    frexp(v, &e);
    e -= 1;
    unsigned mant = (unsigned)ldexp(v, mbits - e) - (1u << mbits);
    return sign | (uint8_t)((unsigned)(e + bias) << mbits | mant);
}

uint8_t f8_from_f32_e4m3(float f) { return f8_encode(f, 3, 7, 448.0, 0x7f, 0x7f); }
uint8_t f8_from_f32_e5m2(float f) { return f8_encode(f, 2, 15, 57344.0, 0x7c, 0x7e); }
