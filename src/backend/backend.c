/* backend.c -- engine selection, settings, thread count, oneDNN identity.
 *
 * `auto` picks xpu only when Level Zero reports an Intel GPU AND oneDNN can create a
 * GPU engine (the OpenCL runtime must see it too); each step's outcome is logged so a
 * user can tell why the CPU was chosen. `xpu` asked for and not usable is an error at
 * start, never a silent fallback. Settings are process-wide: one worker thread runs
 * prompts, and oneDNN's OpenMP pool is shared by everything.
 */
#include "backend/backend.h"
#include "backend/engine.h"
#include "base/log.h"
#include "tensor/pcache.h"

#include <omp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

static backend_config be_cfg = {ACCEL_CPU, OPT_O1, PREC_FP32, 0, 0};
static dnnl_engine_t be_cpu, be_gpu, be_engine;
static dnnl_stream_t be_stream;
static dtype be_cdt = DT_F32;
static int be_int8;
/* OpenMP's thread count is per calling thread: backend_init runs on the main thread but
 * ops on the worker, so each thread applies the setting on its first op (and after a
 * new backend_init). */
static _Atomic int be_threads;
static _Thread_local int be_threads_here;
static pthread_mutex_t be_lock = PTHREAD_MUTEX_INITIALIZER;

static int backend_make_cpu(char *err, size_t errlen) {
    if (be_cpu) return 0;
    if (dnnl_engine_create(&be_cpu, dnnl_cpu, 0) != dnnl_success) {
        snprintf(err, errlen, "oneDNN could not create its cpu engine");
        return -1;
    }
    return 0;
}

/* A GPU engine, or NULL with the reason in why. */
static dnnl_engine_t backend_make_gpu(char *why, size_t whylen) {
    backend_device dev[4];
    if (backend_discover(dev, 4) == 0) {
        snprintf(why, whylen, "Level Zero reports no Intel GPU");
        return NULL;
    }
    if (dnnl_engine_get_count(dnnl_gpu) == 0) {
        snprintf(why, whylen, "Level Zero sees %s but oneDNN's OpenCL GPU runtime finds no "
                 "device (is the Intel compute runtime, intel-opencl-icd, installed?)", dev[0].name);
        return NULL;
    }
    dnnl_engine_t e = NULL;
    if (dnnl_engine_create(&e, dnnl_gpu, 0) != dnnl_success) {
        snprintf(why, whylen, "oneDNN could not create a GPU engine on %s", dev[0].name);
        return NULL;
    }
    return e;
}

/* Can this engine run a matmul with inputs in dt (output dt, or f32 for s8)? */
static int backend_probe(dnnl_data_type_t dt) {
    dnnl_memory_desc_t md, od;
    dnnl_dims_t dims = {16, 16};
    dnnl_memory_desc_init_by_tag(&md, 2, dims, dt, dnnl_ab);
    dnnl_memory_desc_init_by_tag(&od, 2, dims, dt == dnnl_s8 ? dnnl_f32 : dt, dnnl_ab);
    dnnl_matmul_desc_t d;
    dnnl_primitive_desc_t pd = NULL;
    if (dnnl_matmul_desc_init(&d, &md, &md, NULL, &od) != dnnl_success) return 0;
    if (dnnl_primitive_desc_create(&pd, &d, NULL, be_engine, NULL) != dnnl_success) return 0;
    dnnl_primitive_desc_destroy(pd);
    return 1;
}

/* The precision setting as a dtype this engine implements: the nearest one down. */
static dtype backend_resolve_precision(precision prec) {
    static const char *names[] = {"fp32", "fp16", "bf16", "int8"};
    dtype want = prec == PREC_FP16 ? DT_F16 : prec == PREC_BF16 ? DT_BF16 : DT_F32;
    dtype got = want;
    if (got == DT_F16 && !backend_probe(dnnl_f16)) got = DT_BF16;
    if (got == DT_BF16 && !backend_probe(dnnl_bf16)) got = DT_F32;
    be_int8 = prec == PREC_INT8 && backend_probe(dnnl_s8);
    if (prec == PREC_INT8 && !be_int8)
        log_warn("precision int8: not implemented by oneDNN %s on this %s; using fp32",
                 backend_onednn_version(), backend_engine_name());
    if (got != want)
        log_warn("precision %s: not implemented by oneDNN %s on this %s (isa %s); using %s",
                 names[prec], backend_onednn_version(), backend_engine_name(), backend_isa(),
                 got == DT_BF16 ? "bf16" : "fp32");
    return got;
}

static void backend_release(void) {
    pcache_clear();
    if (be_stream) dnnl_stream_destroy(be_stream);
    if (be_gpu) dnnl_engine_destroy(be_gpu);
    if (be_cpu) dnnl_engine_destroy(be_cpu);
    be_stream = NULL;
    be_gpu = be_cpu = be_engine = NULL;
}

int backend_init(const backend_config *cfg, char *err, size_t errlen) {
    char why[512] = "";
    pthread_mutex_lock(&be_lock);
    backend_release();
    be_cfg = *cfg;
    int rc = backend_make_cpu(err, errlen);
    if (rc == 0 && cfg->accel != ACCEL_CPU) {
        be_gpu = backend_make_gpu(why, sizeof why);
        if (!be_gpu && cfg->accel == ACCEL_XPU) {
            snprintf(err, errlen, "--acceleration xpu: %s", why);
            rc = -1;
        } else if (!be_gpu) {
            log_info("acceleration auto: using cpu (%s)", why);
        }
    }
    if (rc == 0) {
        be_engine = be_gpu ? be_gpu : be_cpu;
        if (dnnl_stream_create(&be_stream, be_engine, dnnl_stream_default_flags) != dnnl_success) {
            snprintf(err, errlen, "oneDNN could not create a stream");
            rc = -1;
        }
    }
    if (rc == 0) {
        be_cdt = backend_resolve_precision(cfg->prec);
        be_threads = cfg->threads > 0 ? cfg->threads : omp_get_num_procs();
        be_threads_here = be_threads;
        omp_set_num_threads(be_threads);
        log_info("tensor engine %s, oneDNN %s, isa %s, %d threads, O%d", backend_engine_name(),
                 backend_onednn_version(), backend_isa(), omp_get_max_threads(), (int)cfg->opt);
    } else {
        backend_release();
    }
    pthread_mutex_unlock(&be_lock);
    return rc;
}

void backend_shutdown(void) {
    pthread_mutex_lock(&be_lock);
    backend_release();
    pthread_mutex_unlock(&be_lock);
}

/* Lazy cpu engine with the current settings, for callers that never ran backend_init. */
static void backend_ensure(void) {
    if (be_engine) return;
    char err[256];
    backend_config cfg = be_cfg;
    cfg.accel = ACCEL_CPU;
    if (backend_init(&cfg, err, sizeof err) != 0) log_error("%s", err);
}

dnnl_engine_t backend_engine(void) {
    backend_ensure();
    if (be_threads_here != be_threads) {
        be_threads_here = be_threads;
        omp_set_num_threads(be_threads);
    }
    return be_engine;
}
dnnl_stream_t backend_stream(void) { backend_ensure(); return be_stream; }
int backend_on_gpu(void) { return be_engine && be_engine == be_gpu; }
dtype backend_compute_dt(void) { backend_ensure(); return be_cdt; }
int backend_int8(void) { backend_ensure(); return be_int8; }
const backend_config *backend_settings(void) { return &be_cfg; }
const char *backend_engine_name(void) { return backend_on_gpu() ? "xpu" : "cpu"; }

void backend_current_device(backend_device *d) {
    if (!backend_on_gpu() || backend_discover(d, 1) < 1) backend_cpu_device(d);
}

const char *backend_isa(void) {
    switch (dnnl_get_effective_cpu_isa()) {
    case dnnl_cpu_isa_sse41: return "sse41";
    case dnnl_cpu_isa_avx: return "avx";
    case dnnl_cpu_isa_avx2: return "avx2";
    case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
    case dnnl_cpu_isa_avx512_mic: return "avx512_mic";
    case dnnl_cpu_isa_avx512_mic_4ops: return "avx512_mic_4ops";
    case dnnl_cpu_isa_avx512_core: return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
    default: return "all";
    }
}

const char *backend_onednn_version(void) {
    static char buf[64];
    if (!buf[0]) {
        const dnnl_version_t *v = dnnl_version();
        snprintf(buf, sizeof buf, "%d.%d.%d", v->major, v->minor, v->patch);
    }
    return buf;
}
