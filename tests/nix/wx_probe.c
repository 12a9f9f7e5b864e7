/* wx_probe.c -- shows why MemoryDenyWriteExecute= must stay off while oneDNN JITs.
 *
 * systemd's MemoryDenyWriteExecute=yes forbids memory that becomes executable after it
 * was writable; the kernel's PR_SET_MDWE (Linux 6.3+) enforces the same rule on this
 * process, so the probe turns it on and then builds and runs a small f32 matmul with
 * every implementation oneDNN offers, best first. oneDNN's optimized CPU kernels are
 * generated at run time (JIT) and fail; its reference ("ref:") kernels are plain C and
 * run. So a daemon under W^X needs a --no-jit that means "reference kernels only".
 * Exit: 0 when that is what happened, 1 otherwise, 77 when the kernel lacks PR_SET_MDWE.
 */
#include <dnnl.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>

#define PR_SET_MDWE_ 65
#define PR_MDWE_REFUSE_EXEC_GAIN_ 1

/* Creates and runs one implementation; dnnl_success only if both work. */
static dnnl_status_t try_impl(const_dnnl_primitive_desc_t pd, dnnl_engine_t eng,
                              const dnnl_memory_desc_t *md) {
    dnnl_primitive_t p;
    dnnl_status_t s = dnnl_primitive_create(&p, pd);
    if (s != dnnl_success) return s;
    dnnl_stream_t st;
    dnnl_memory_t m[3];
    dnnl_stream_create(&st, eng, dnnl_stream_default_flags);
    for (int i = 0; i < 3; i++) dnnl_memory_create(&m[i], md, eng, DNNL_MEMORY_ALLOCATE);
    dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, m[0]}, {DNNL_ARG_WEIGHTS, m[1]}, {DNNL_ARG_DST, m[2]}};
    s = dnnl_primitive_execute(p, st, 3, args);
    if (s == dnnl_success) s = dnnl_stream_wait(st);
    for (int i = 0; i < 3; i++) dnnl_memory_destroy(m[i]);
    dnnl_stream_destroy(st);
    dnnl_primitive_destroy(p);
    return s;
}

int main(void) {
    if (prctl(PR_SET_MDWE_, PR_MDWE_REFUSE_EXEC_GAIN_, 0, 0, 0) != 0) {
        puts("PR_SET_MDWE unsupported here");
        return 77;
    }
    dnnl_engine_t eng;
    dnnl_memory_desc_t md;
    dnnl_matmul_desc_t d;
    dnnl_primitive_desc_iterator_t it;
    dnnl_dims_t dims = {64, 64};
    if (dnnl_engine_create(&eng, dnnl_cpu, 0) != dnnl_success ||
        dnnl_memory_desc_init_by_tag(&md, 2, dims, dnnl_f32, dnnl_ab) != dnnl_success ||
        dnnl_matmul_desc_init(&d, &md, &md, NULL, &md) != dnnl_success ||
        dnnl_primitive_desc_iterator_create(&it, &d, NULL, eng, NULL) != dnnl_success) {
        puts("oneDNN setup failed");
        return 1;
    }
    int first = 1, best_failed = 0, ref_ran = 0;
    do {
        dnnl_primitive_desc_t pd = dnnl_primitive_desc_iterator_fetch(it);
        const char *impl = "?";
        dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
        dnnl_status_t s = try_impl(pd, eng, &md);
        printf("%-24s %s\n", impl, s == dnnl_success ? "runs" : "fails");
        if (first) best_failed = s != dnnl_success;
        if (!strncmp(impl, "ref", 3) && s == dnnl_success) ref_ran = 1;
        first = 0;
        dnnl_primitive_desc_destroy(pd);
    } while (dnnl_primitive_desc_iterator_next(it) == dnnl_success);
    dnnl_primitive_desc_iterator_destroy(it);
    dnnl_engine_destroy(eng);
    return best_failed && ref_ran ? 0 : 1;
}
