/* flash_attn.c -- which fused attention implementation runs, and the final y = o / l.
 *
 * The choice is made once per process: AMX needs the CPU's AMX-TILE and AMX-BF16 bits,
 * the OS saving tile state (XCR0 bits 17-18), and Linux's per-process permission for
 * the tile data (arch_prctl ARCH_REQ_XCOMP_PERM), which we ask for ourselves rather than
 * count on oneDNN having done it; AVX-512 needs AVX512F and AVX512DQ (vreduceps) with OS
 * support (GCC's __builtin_cpu_supports checks XCR0 too). Tests may force a lesser implementation.
 */
#include "tensor/flash_internal.h"
#include "tensor/half.h"

#include <cpuid.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18

static flash_isa isa_best = FLASH_C, isa_now = FLASH_C;
static pthread_once_t isa_once = PTHREAD_ONCE_INIT;

static int os_tile_state(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_OSXSAVE)) return 0;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (lo & (3u << 17)) == (3u << 17);
}

/* AMX-TILE and AMX-BF16 for the products, AVX512-BF16 for rounding p to bf16. */
static int cpu_has_amx(void) {
    unsigned a, b, c, d, a1, b1, c1, d1;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d) || !__get_cpuid_count(7, 1, &a1, &b1, &c1, &d1))
        return 0;
    const unsigned amx_bf16 = 1u << 22, amx_tile = 1u << 24, avx512_bf16 = 1u << 5;
    return (d & amx_bf16) && (d & amx_tile) && (a1 & avx512_bf16) && os_tile_state() &&
           syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0;
}

static void isa_detect(void) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq")) isa_best = cpu_has_amx() ? FLASH_AMX : FLASH_AVX512;
    isa_now = isa_best;
}

flash_isa flash_isa_best(void) {
    pthread_once(&isa_once, isa_detect);
    return isa_best;
}

int flash_force_isa(flash_isa isa) {
    if (isa > flash_isa_best()) return -1;
    isa_now = isa;
    return 0;
}

int flash_supported(dtype dt, int64_t D) {
    return (dt == DT_F32 || dt == DT_BF16) && D >= 1 && D <= FLASH_MAX_D;
}

int flash_attention(const flash_args *a, scratch *s) {
    flash_isa_best();
    if (a->dt == DT_BF16 && isa_now == FLASH_AMX) return flash_run_amx(a, s);
    return flash_run_f32(a, s, isa_now >= FLASH_AVX512);
}

void flash_store_rows(const float *o, int64_t dv, const float *l, int rows, int64_t D,
                      void *y, int64_t ldy, dtype dt) {
    for (int r = 0; r < rows; r++) {
        /* A row whose keys were all masked out has l = 0: it gets zeros, not NaN. */
        float inv = l[r] > 0 ? 1.0f / l[r] : 0.0f;
        const float *src = o + r * dv;
        if (dt == DT_BF16) {
            uint16_t *dst = (uint16_t *)y + r * ldy;
            for (int64_t d = 0; d < D; d++) dst[d] = f32_to_bf16(src[d] * inv);
        } else {
            float *dst = (float *)y + r * ldy;
            for (int64_t d = 0; d < D; d++) dst[d] = src[d] * inv;
        }
    }
}
