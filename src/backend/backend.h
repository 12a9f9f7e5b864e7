/* backend.h -- compute engines, device discovery and the settings that shape kernels.
 *
 * The cpu engine always exists; the xpu engine is oneDNN's GPU engine and is only
 * offered when Level Zero reports an Intel GPU and oneDNN can create a GPU engine.
 * Ops never ask which engine runs them; they take it from here.
 */
#ifndef CI_BACKEND_H
#define CI_BACKEND_H

#include <stddef.h>
#include <stdint.h>

typedef enum { ACCEL_AUTO, ACCEL_CPU, ACCEL_XPU } accel_mode;
typedef enum { OPT_O0, OPT_O1, OPT_O2, OPT_O3 } opt_level;
typedef enum { PREC_FP32, PREC_FP16, PREC_BF16, PREC_INT8 } precision;

typedef struct backend_config {
    accel_mode accel;
    opt_level opt;
    precision prec;
    int threads;          /* 0: one per core */
    int jit;              /* create primitives for the target shapes before the first step */
} backend_config;

typedef struct backend_device {
    char name[256];
    char type[16];        /* "cpu" or "xpu" */
    int index;
    uint64_t vram_total;  /* bytes; RAM for the cpu device */
    uint64_t vram_free;
} backend_device;

/* Enumerate Level Zero GPUs (logged once); returns how many were found. */
int backend_discover(backend_device *out, int max);
/* Pick and create the engine. Returns 0, or -1 with a message in err (e.g. xpu asked for
 * and not available). */
int backend_init(const backend_config *cfg, char *err, size_t errlen);
void backend_shutdown(void);
const backend_config *backend_settings(void);
const char *backend_engine_name(void);      /* "cpu" or "xpu" */
const char *backend_isa(void);              /* oneDNN's CPU ISA, e.g. "avx512_core_amx" */
const char *backend_onednn_version(void);
/* Our allocator's figures, reported as torch_vram_* in /system_stats. */
uint64_t backend_bytes_reserved(void);
uint64_t backend_bytes_in_use(void);
/* The host as a device ("cpu", RAM total and available), for /system_stats. */
void backend_cpu_device(backend_device *d);
/* The device ops run on: the Level Zero GPU behind the xpu engine, else the host. */
void backend_current_device(backend_device *d);

#endif
