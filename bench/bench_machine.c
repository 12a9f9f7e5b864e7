/* bench_machine.c -- what the machine can do and what it burned: ISA peak, RAPL energy.
 *
 * Peak GFLOPS is cores x clock x FLOPs per cycle per core of the best unit oneDNN
 * dispatches to for the dtype: two 512-bit FMA ports (64 fp32 FLOPs/cycle) on AVX-512,
 * twice that for bf16 dot products (avx512_bf16), AMX tiles for bf16 (1024/cycle) and
 * two 256-bit ports on AVX2. The clock is the highest the kernel reports (cpufreq max,
 * else /proc/cpuinfo's MHz), so the figure is an upper bound, not a promise.
 *
 * Energy is the sum of the package domains under /sys/class/powercap (intel-rapl:N);
 * -1 when none is readable (VMs, no permission). Callers take differences and treat a
 * negative one (a counter wrapped in between) as unreadable too.
 */
#include "bench.h"
#include "backend/backend.h"

#include <glob.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

double bench_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double bench_cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int bench_cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double read_number(const char *path) {
    FILE *f = fopen(path, "r");
    double v = -1;
    if (f && fscanf(f, "%lf", &v) != 1) v = -1;
    if (f) fclose(f);
    return v;
}

static double clock_ghz(void) {
    double khz = read_number("/sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq");
    if (khz > 0) return khz / 1e6;
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[256];
    double mhz = 0;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "cpu MHz", 7) == 0 && sscanf(strchr(line, ':') + 1, "%lf", &mhz) == 1) break;
    if (f) fclose(f);
    return mhz / 1e3;
}

static double flops_per_cycle(const char *isa, const char *dt) {
    int bf16 = strcmp(dt, "bf16") == 0;
    if (strstr(isa, "amx")) return bf16 ? 1024 : 64;
    if (strstr(isa, "bf16")) return bf16 ? 128 : 64;
    if (strstr(isa, "avx512")) return 64;
    if (strstr(isa, "avx2")) return 32;
    return 16;
}

double bench_peak_gflops(const char *dt) {
    return omp_get_max_threads() * clock_ghz() * flops_per_cycle(backend_isa(), dt);
}

double bench_energy_j(void) {
    glob_t g;
    double total = -1;
    if (glob("/sys/class/powercap/intel-rapl:[0-9]*", 0, NULL, &g) != 0) return -1;
    for (size_t i = 0; i < g.gl_pathc; i++) {
        if (strchr(strrchr(g.gl_pathv[i], '/') + strlen("/intel-rapl:"), ':')) continue;   /* sub-domain */
        char path[512];
        snprintf(path, sizeof path, "%s/energy_uj", g.gl_pathv[i]);
        double uj = read_number(path);
        if (uj < 0) continue;
        total = (total < 0 ? 0 : total) + uj * 1e-6;
    }
    globfree(&g);
    return total;
}
