/* discover.c -- Intel GPUs through Level Zero, and the host as the cpu device.
 *
 * Level Zero answers "is there an Intel GPU, what is it called, how much memory does
 * it have" without creating a compute context. The loader is always linked; with no
 * GPU driver installed zeInit simply fails, which is the normal CPU-only case and is
 * logged once. Results are computed once and cached: drivers do not appear at runtime.
 */
#include "backend/backend.h"
#include "base/log.h"

#include <level_zero/ze_api.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/sysinfo.h>

#define DISCOVER_MAX 16

static backend_device found[DISCOVER_MAX];
static int nfound;
static pthread_once_t discover_once = PTHREAD_ONCE_INIT;

static void discover_device(ze_device_handle_t dev) {
    ze_device_properties_t props = {.stype = ZE_STRUCTURE_TYPE_DEVICE_PROPERTIES};
    if (zeDeviceGetProperties(dev, &props) != ZE_RESULT_SUCCESS) return;
    if (props.type != ZE_DEVICE_TYPE_GPU || props.vendorId != 0x8086) return;
    backend_device *d = &found[nfound];
    memset(d, 0, sizeof *d);
    snprintf(d->name, sizeof d->name, "%s", props.name);
    snprintf(d->type, sizeof d->type, "xpu");
    d->index = nfound;
    uint32_t nmem = 0;
    zeDeviceGetMemoryProperties(dev, &nmem, NULL);
    ze_device_memory_properties_t mem[8];
    if (nmem > 8) nmem = 8;
    for (uint32_t i = 0; i < nmem; i++)
        mem[i] = (ze_device_memory_properties_t){.stype = ZE_STRUCTURE_TYPE_DEVICE_MEMORY_PROPERTIES};
    if (nmem && zeDeviceGetMemoryProperties(dev, &nmem, mem) == ZE_RESULT_SUCCESS)
        for (uint32_t i = 0; i < nmem; i++) d->vram_total += mem[i].totalSize;
    /* Level Zero core has no "free" figure; ours is total minus what we hold. */
    uint64_t used = backend_bytes_reserved();
    d->vram_free = d->vram_total > used ? d->vram_total - used : 0;
    nfound++;
}

static void discover_run(void) {
    if (zeInit(ZE_INIT_FLAG_GPU_ONLY) != ZE_RESULT_SUCCESS) {
        log_info("no Intel GPU found, using CPU (no Level Zero GPU driver)");
        return;
    }
    uint32_t ndrv = 0;
    zeDriverGet(&ndrv, NULL);
    ze_driver_handle_t drv[8];
    if (ndrv > 8) ndrv = 8;
    if (ndrv) zeDriverGet(&ndrv, drv);
    for (uint32_t i = 0; i < ndrv; i++) {
        uint32_t ndev = 0;
        zeDeviceGet(drv[i], &ndev, NULL);
        ze_device_handle_t devs[DISCOVER_MAX];
        if (ndev > DISCOVER_MAX) ndev = DISCOVER_MAX;
        if (ndev) zeDeviceGet(drv[i], &ndev, devs);
        for (uint32_t j = 0; j < ndev && nfound < DISCOVER_MAX; j++) discover_device(devs[j]);
    }
    if (!nfound) log_info("no Intel GPU found, using CPU");
    for (int i = 0; i < nfound; i++)
        log_info("Intel GPU %d: %s, %llu MiB", i, found[i].name,
                 (unsigned long long)(found[i].vram_total >> 20));
}

int backend_discover(backend_device *out, int max) {
    pthread_once(&discover_once, discover_run);
    int n = nfound < max ? nfound : max;
    if (out && n > 0) memcpy(out, found, (size_t)n * sizeof *out);
    return nfound;
}

/* The host as a device: RAM total and available (MemAvailable, as psutil reports it). */
void backend_cpu_device(backend_device *d) {
    memset(d, 0, sizeof *d);
    snprintf(d->type, sizeof d->type, "cpu");
    snprintf(d->name, sizeof d->name, "cpu");
    struct sysinfo si;
    if (sysinfo(&si) == 0) d->vram_total = (uint64_t)si.totalram * si.mem_unit;
    FILE *f = fopen("/proc/meminfo", "r");
    char line[256];
    unsigned long long kb;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) d->vram_free = kb * 1024;
    if (f) fclose(f);
}
