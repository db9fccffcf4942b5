// Launchers of the mmmamba CUDA kernels: plain C, no torch and no CUDA
// headers, so the extension's C++ (built against the CPU torch) can call
// them with raw pointers and a stream handle passed from Python.
#pragma once

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct CUstream_st* mm_stream_t;  // == cudaStream_t

// dtype of the T-typed tensors: fp32 / fp16 / bf16 / fp64. The tensors
// called "acc" below are in the accumulation type: fp32, fp64 when T is.
enum MMDtype { MM_FLOAT32 = 0, MM_FLOAT16 = 1, MM_BFLOAT16 = 2, MM_FLOAT64 = 3 };

// Every launcher returns 0, a cudaError of its own launch (> 0) or minus a
// CUDA error that was already pending before it (< 0).

// The name of a cudaError code, and whether this build has a kernel image
// for the current device (0, else the cudaError of the query, e.g.
// cudaErrorNoKernelImageForDevice).
const char* mm_cuda_error_string(int code);
int mm_cuda_kernel_image_status(void);

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

// Selective scan (states only): u, delta: T, batch × D × L; A: acc D × N;
// B: T, batch × N × L; bias: acc D or NULL; h: acc batch × D × N × L;
// summary: acc workspace of batch × D × N × mm_selective_scan_chunks(L) × 2.
typedef struct {
  int64_t batch, channels, state, length;
  int softplus;
} MMScanParams;

int64_t mm_selective_scan_chunks(int64_t length);
int mm_selective_scan_forward(const MMScanParams* p, int dtype, const void* u,
                              const void* delta, const void* A, const void* B,
                              const void* bias, void* h, void* summary,
                              mm_stream_t stream);
// dh, h, du, ddelta: acc. Partial sums, written whole (no atomics):
// dA_part batch × D × N × chunks (dA = sum over batch and chunks), dB_part
// batch × D × N × L (dB = sum over D); d bias = ddelta summed over batch
// and L. summary: the forward's workspace size.
int mm_selective_scan_backward(const MMScanParams* p, int dtype,
                               const void* dh, const void* h, const void* u,
                               const void* delta, const void* A, const void* B,
                               const void* bias, void* du, void* ddelta,
                               void* dA_part, void* dB_part, void* summary,
                               mm_stream_t stream);

// Fused A2SSM aggregation (docs/design.md § Fused A2SSM aggregation). states, out, dstates, grad: T,
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
