/* synthetic.c -- the synthetic SD1.5 checkpoint a first start writes (--synthetic-default).
 *
 * So that ComfyUI's default txt2img graph runs on a fresh machine with no model at all
 * (`make run`), the daemon writes the synthetic SD1.5 checkpoint (real layout,
 * deterministic pseudo-random weights: io/synth.h, models/sd15_keys.h) into
 * <base>/models/checkpoints when no checkpoint is found in any checkpoints folder. It is
 * the file the reference fixtures were computed on, byte for byte. It runs before the
 * daemon announces READY, so the UI's first model list already has it; the file is
 * written under a name no model list shows and renamed into place when complete, so an
 * interrupted start leaves no half checkpoint behind, and a later start finds the file
 * and does nothing. Its pictures are noise by design, and the log says so here as the
 * checkpoint loader and the UI do when it is used.
 */
#include "app/synthetic.h"

#include <stdio.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "base/folders.h"
#include "base/log.h"
#include "io/synth.h"
#include "models/sd15_keys.h"

#define SYNTH_NAME "sd15-synth.safetensors"

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int has_checkpoint(void) {
    str_list l = {0};
    int n = folders_list("checkpoints", &l) == 0 ? l.n : 0;
    str_list_free(&l);
    return n > 0;
}

void synthetic_default_ensure(void) {
    if (has_checkpoint()) return;
    char dir[4200], path[4300], part[4300], err[4400];
    snprintf(dir, sizeof dir, "%s/checkpoints", folders_models_dir());
    snprintf(path, sizeof path, "%s/%s", dir, SYNTH_NAME);
    snprintf(part, sizeof part, "%s/%s.part", dir, SYNTH_NAME);
    if (folders_mkdirs(dir)) {
        log_error("models: cannot create %s", dir);
        return;
    }
    log_warn("models: no checkpoint in %s: writing the synthetic SD1.5 checkpoint %s "
             "(2.1 GB of pseudo-random weights: its pictures are noise by design; put a real "
             "SD1.x .safetensors or .ckpt there for real pictures)", dir, SYNTH_NAME);
    sd_notify(0, "STATUS=Writing the synthetic SD1.5 checkpoint");
    double t0 = now_s();
    synth_keys k;
    int rc = sd15_keys(&k, err, sizeof err);
    if (!rc) {
        rc = synth_write(&k, SD15_SYNTH_SEED, part, NULL, err, sizeof err);
        synth_keys_free(&k);
    }
    if (!rc && rename(part, path) != 0) {
        snprintf(err, sizeof err, "%s: cannot rename into place", path);
        rc = -1;
    }
    if (rc) {
        unlink(part);
        log_error("models: synthetic checkpoint not written: %s", err);
        return;
    }
    log_warn("models: wrote %s in %.1f s (synthetic: pictures are noise by design)", path,
             now_s() - t0);
}
