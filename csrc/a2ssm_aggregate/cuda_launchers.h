// Launchers of the A2SSM aggregation CUDA kernels: plain C (see
// csrc/cuda/launchers.h), included by the kernels (cuda.cu) and their
// tensor wrappers (cuda_wrappers.cpp).
#pragma once

#include "../cuda/launchers.h"

#ifdef __cplusplus
extern "C" {
#endif

// Fused A2SSM aggregation (docs/design.md § Fused A2SSM aggregation).
// states, out, dstates, grad: T,
// batch × heads × dim × height × width (the scan's layout, G = heads);
// attn_local / attn_dilated and their grads: T, batch × heads/2 × padded_h ×
// padded_w × kernel², heads [0, G/2) aggregated with dilation 1 by
// attn_local, heads [G/2, G) with (dilation_h, dilation_w) by attn_dilated.
// The padded map is zero past height × width; outputs need no zero-fill.
typedef struct {
  int64_t batch, heads, dim, height, width, padded_h, padded_w;
  int kernel, dilation_h, dilation_w;
} MMAggParams;

int mm_a2ssm_aggregate_forward(const MMAggParams* p, int dtype,
                               const void* attn_local,
                               const void* attn_dilated, const void* states,
                               void* out, mm_stream_t stream);
int mm_a2ssm_aggregate_backward(const MMAggParams* p, int dtype,
                                const void* grad, const void* attn_local,
                                const void* attn_dilated, const void* states,
                                void* dattn_local, void* dattn_dilated,
                                void* dstates, mm_stream_t stream);

#ifdef __cplusplus
}
#endif
