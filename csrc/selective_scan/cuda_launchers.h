// Launchers of the selective-scan CUDA kernels: plain C (see
// csrc/cuda/launchers.h), included by the kernels (cuda.cu) and their
// tensor wrappers (cuda_wrappers.cpp).
#pragma once

#include "../cuda/launchers.h"

#ifdef __cplusplus
extern "C" {
#endif

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

#ifdef __cplusplus
}
#endif
