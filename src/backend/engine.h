/* engine.h -- the oneDNN engine and stream behind backend.h, for tensor/ only.
 *
 * Layers above tensor/ never see oneDNN types; they call ops. Ops take the engine
 * from here (creating the default cpu engine on first use, so tests and tools need
 * no explicit backend_init).
 */
#ifndef CI_ENGINE_H
#define CI_ENGINE_H

#include <oneapi/dnnl/dnnl.h>

#include "tensor/tensor.h"

dnnl_engine_t backend_engine(void);      /* the engine ops run on */
dnnl_stream_t backend_stream(void);
int backend_on_gpu(void);
/* The dtype conv/linear/matmul/attention compute in: the precision setting, resolved at
 * init to what this engine implements (fp16 -> bf16 -> fp32, logged). DT_F32 for int8,
 * whose int8 part is the weights of conv and linear (see ops_conv.c). */
dtype backend_compute_dt(void);
/* Whether conv/linear run in int8 (precision int8 and the engine implements it). */
int backend_int8(void);

#endif
