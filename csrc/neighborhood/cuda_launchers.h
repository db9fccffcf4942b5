// Launchers of the na2d CUDA kernels: plain C (see
// csrc/cuda/launchers.h), included by the kernels (cuda.cu) and their
// tensor wrappers (cuda_wrappers.cpp).
#pragma once

#include "../cuda/launchers.h"

#ifdef __cplusplus
extern "C" {
#endif

// Neighborhood attention; tensors contiguous B × heads × H × W × C.
typedef struct {
  int64_t batch, heads, height, width, dim;
  int kernel_h, kernel_w, dilation_h, dilation_w;
} MMNAParams;

// attn (T) = q (T) · k (T) + rpb (acc, may be NULL)
int mm_na2d_qk_forward(const MMNAParams* p, int dtype, const void* q,
                       const void* k, const void* rpb, void* attn,
                       mm_stream_t stream);
// dq, dk: T. drpb_part (acc, may be NULL): batch × heads ×
// mm_na2d_rpb_tiles(p) × (2Kh-1) × (2Kw-1) partial sums, written whole;
// drpb is their sum over the batch and tile axes (no atomics).
int64_t mm_na2d_rpb_tiles(const MMNAParams* p);
int mm_na2d_qk_backward(const MMNAParams* p, int dtype, const void* grad,
                        const void* q, const void* k, void* dq, void* dk,
                        void* drpb_part, mm_stream_t stream);
int mm_na2d_av_forward(const MMNAParams* p, int dtype, const void* attn,
                       const void* v, void* out, mm_stream_t stream);
int mm_na2d_av_backward(const MMNAParams* p, int dtype, const void* grad,
                        const void* attn, const void* v, void* dattn,
                        void* dv, mm_stream_t stream);

#ifdef __cplusplus
}
#endif
