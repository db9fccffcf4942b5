// Launchers of the depthwise convolution CUDA kernels: plain C (see
// csrc/cuda/launchers.h), included by the kernels (cuda.cu) and their
// tensor wrappers (cuda_wrappers.cpp).
#pragma once

#include "../cuda/launchers.h"

#ifdef __cplusplus
extern "C" {
#endif

// Depthwise convolution (docs/design.md § Depthwise convolution), stride 1,
// padding kernel/2: x, out, grad, dx: T, batch × height × width × channels
// in memory (channels-last maps); weight and dweight: T, channels × kernel × kernel;
// bias and dbias: T, channels (bias may be null). residual: out = x +
// conv(x) (and dx = grad + its convolution).
typedef struct {
  int64_t batch, height, width, channels;
  int kernel, residual;
} MMDwParams;

int mm_depthwise_conv2d_forward(const MMDwParams* p, int dtype,
                                const void* x, const void* weight,
                                const void* bias, void* out,
                                mm_stream_t stream);
int mm_depthwise_conv2d_backward(const MMDwParams* p, int dtype,
                                 const void* grad, const void* x,
                                 const void* weight, void* dx, void* dweight,
                                 void* dbias, mm_stream_t stream);

#ifdef __cplusplus
}
#endif
