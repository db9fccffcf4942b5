// Launchers of the mmmamba CUDA kernels: plain C, no torch and no CUDA
// headers, so the extension's C++ (built against the CPU torch) can call
// them with raw pointers and a stream handle passed from Python.
#pragma once

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct CUstream_st* mm_stream_t;  // == cudaStream_t

// dtype of the T-typed tensors: fp32 / fp16 / bf16.
enum MMDtype { MM_FLOAT32 = 0, MM_FLOAT16 = 1, MM_BFLOAT16 = 2 };

// Neighborhood attention; tensors contiguous B × heads × H × W × C.
typedef struct {
  int64_t batch, heads, height, width, dim;
  int kernel_h, kernel_w, dilation_h, dilation_w;
} MMNAParams;

// attn (T) = q (T) · k (T) + rpb (fp32, may be NULL)
int mm_na2d_qk_forward(const MMNAParams* p, int dtype, const void* q,
                       const void* k, const float* rpb, void* attn,
                       mm_stream_t stream);
// dq, dk: T; drpb: fp32, zero-filled by the caller, may be NULL
int mm_na2d_qk_backward(const MMNAParams* p, int dtype, const void* grad,
                        const void* q, const void* k, void* dq, void* dk,
                        float* drpb, mm_stream_t stream);
int mm_na2d_av_forward(const MMNAParams* p, int dtype, const void* attn,
                       const void* v, void* out, mm_stream_t stream);
int mm_na2d_av_backward(const MMNAParams* p, int dtype, const void* grad,
                        const void* attn, const void* v, void* dattn,
                        void* dv, mm_stream_t stream);

// Selective scan (states only): u, delta: T, batch × D × L; A: fp32 D × N;
// B: T, batch × N × L; bias: fp32 D or NULL; h: fp32 batch × D × N × L.
typedef struct {
  int64_t batch, channels, state, length;
  int softplus;
} MMScanParams;

int mm_selective_scan_forward(const MMScanParams* p, int dtype, const void* u,
                              const void* delta, const float* A,
                              const void* B, const float* bias, float* h,
                              mm_stream_t stream);
// grads in fp32; dA, dB, dbias zero-filled by the caller (atomics)
int mm_selective_scan_backward(const MMScanParams* p, int dtype,
                               const float* dh, const float* h, const void* u,
                               const void* delta, const float* A,
                               const void* B, const float* bias, float* du,
                               float* ddelta, float* dA, float* dB,
                               float* dbias, mm_stream_t stream);

// Fused A2SSM aggregation (DESIGN §5). states, out, dstates, grad: T,
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
