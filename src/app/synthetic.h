/* synthetic.h -- a first start's synthetic SD1.5 checkpoint (see synthetic.c). */
#ifndef CI_APP_SYNTHETIC_H
#define CI_APP_SYNTHETIC_H

/* Writes <base>/models/checkpoints/sd15-synth.safetensors when no checkpoints folder has
 * a model file; nothing otherwise. Call after folders_init. A failure is logged and the
 * daemon goes on without it (the UI then lists no checkpoint, as ComfyUI would). */
void synthetic_default_ensure(void);

#endif
