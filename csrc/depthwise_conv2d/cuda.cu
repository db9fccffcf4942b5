// CUDA kernels of the depthwise convolution (docs/design.md § Depthwise
// convolution), the GPU twin of depthwise_conv2d/cpu.cpp, on the
// channels-last map B × H × W × C. Index math is math.h's (shared with the
// CPU kernels); acc_t<T> accumulation, fp32 / fp16 / bf16 / fp64 tensors.
//
// Thread mapping:
//   forward / dx  one thread per output element (pixel, channel), channel
//                 fastest, so warps read and write along C (coalesced); dx
//                 is the forward of the output gradient with flipped taps.
//   dweight       one block per (tile of kTile channels, tap or bias):
//                 threadIdx.x the channel, threadIdx.y strides over the
//                 pixels; the kRows partial sums are reduced in shared
//                 memory (deterministic, no atomics).
// No torch headers: raw pointers, MMDwParams, launchers taking a stream.
#include <climits>

#include "../cuda/dtype.cuh"
#include "cuda_launchers.h"
#include "math.h"

namespace mmmamba {
namespace {

constexpr int kThreads = 256;  // forward / dx block
constexpr int kTile = 32;      // channels per dweight block (threadIdx.x)
constexpr int kRows = 8;       // pixel strides per dweight block (threadIdx.y)

struct Dw {
  int64_t B, H, W, C;
  int K, residual;
};

__host__ bool valid(const MMDwParams* p) {
  return p->batch >= 0 && p->height >= 0 && p->width >= 0 &&
         p->channels >= 0 && p->kernel > 0 && p->kernel % 2 == 1 &&
         p->height <= INT_MAX && p->width <= INT_MAX;
}

// out[e] = bias + (residual ? x[e] : 0) + Σ taps · x, e = ((b·H + i)·W + j)·C
// + c; flipped: the taps of the input gradient (dw_flipped_tap).
template <typename T>
__global__ void __launch_bounds__(kThreads)
    dw_conv_kernel(Dw s, const T* x, const T* weight, const T* bias,
                   bool flipped, T* out) {
  const int64_t e = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;
  if (e >= s.B * s.H * s.W * s.C) return;
  const int64_t c = e % s.C, pixel = e / s.C;
  const int j = (int)(pixel % s.W), i = (int)((pixel / s.W) % s.H);
  const int64_t b = pixel / (s.W * s.H);
  acc_t<T> acc = bias ? (acc_t<T>)to_f(bias[c]) : acc_t<T>(0);
  if (s.residual) acc += to_f(x[e]);
  int ki0, ki1, kj0, kj1;
  dw_tap_range(i, (int)s.H, s.K, &ki0, &ki1);
  dw_tap_range(j, (int)s.W, s.K, &kj0, &kj1);
  const T* w = weight + c * s.K * s.K;
  for (int ki = ki0; ki < ki1; ++ki) {
    const int64_t row = (b * s.H + dw_source(i, ki, s.K)) * s.W;
    for (int kj = kj0; kj < kj1; ++kj) {
      const int tap = flipped ? dw_flipped_tap(ki, kj, s.K) : ki * s.K + kj;
      acc += (acc_t<T>)to_f(w[tap]) *
             to_f(x[(row + dw_source(j, kj, s.K)) * s.C + c]);
    }
  }
  out[e] = from_f<T>(acc);
}

// dweight[c, tap] = Σ_pixels grad[pixel, c] · x[pixel + tap offset, c];
// blockIdx.y == K² gives dbias[c] = Σ grad[pixel, c].
template <typename T>
__global__ void __launch_bounds__(kTile * kRows)
    dw_wgrad_kernel(Dw s, const T* grad, const T* x, T* dweight, T* dbias) {
  __shared__ acc_t<T> partial[kRows][kTile];
  const int KK = s.K * s.K, tap = blockIdx.y;
  const int64_t c = (int64_t)blockIdx.x * kTile + threadIdx.x;
  const int ki = tap / s.K, kj = tap % s.K;
  acc_t<T> acc = 0;
  if (c < s.C) {
    for (int64_t pixel = threadIdx.y; pixel < s.B * s.H * s.W;
         pixel += kRows) {
      const acc_t<T> g = to_f(grad[pixel * s.C + c]);
      if (tap == KK) {
        acc += g;
        continue;
      }
      const int j = (int)(pixel % s.W), i = (int)((pixel / s.W) % s.H);
      const int si = dw_source(i, ki, s.K), sj = dw_source(j, kj, s.K);
      if (si < 0 || si >= s.H || sj < 0 || sj >= s.W) continue;
      const int64_t source = pixel + (int64_t)(si - i) * s.W + (sj - j);
      acc += g * to_f(x[source * s.C + c]);
    }
  }
  partial[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y != 0 || c >= s.C) return;
  for (int r = 1; r < kRows; ++r) acc += partial[r][threadIdx.x];
  if (tap == KK)
    dbias[c] = from_f<T>(acc);
  else
    dweight[c * KK + tap] = from_f<T>(acc);
}

__host__ Dw dw_of(const MMDwParams* p) {
  return Dw{p->batch, p->height, p->width, p->channels, p->kernel,
            p->residual};
}

// The grid of the one-thread-per-element kernels.
__host__ bool element_grid(const Dw& s, dim3* grid) {
  const int64_t blocks = (s.B * s.H * s.W * s.C + kThreads - 1) / kThreads;
  if (blocks > INT_MAX) return false;
  *grid = dim3((unsigned)blocks);
  return true;
}

}  // namespace
}  // namespace mmmamba

using namespace mmmamba;

extern "C" int mm_depthwise_conv2d_forward(const MMDwParams* p, int dtype,
                                           const void* x, const void* weight,
                                           const void* bias, void* out,
                                           mm_stream_t stream) {
  if (!valid(p)) return (int)cudaErrorInvalidValue;
  const Dw s = dw_of(p);
  if (s.B * s.H * s.W * s.C == 0) return (int)cudaSuccess;
  dim3 grid;
  if (!element_grid(s, &grid)) return (int)cudaErrorInvalidConfiguration;
  MM_DISPATCH_DTYPE(dtype, {
    MM_RETURN_IF_ERROR(launch(dw_conv_kernel<T>, grid, dim3(kThreads), 0,
                              stream, s, (const T*)x, (const T*)weight,
                              (const T*)bias, false, (T*)out));
  });
  return 0;
}

extern "C" int mm_depthwise_conv2d_backward(const MMDwParams* p, int dtype,
                                            const void* grad, const void* x,
                                            const void* weight, void* dx,
                                            void* dweight, void* dbias,
                                            mm_stream_t stream) {
  if (!valid(p)) return (int)cudaErrorInvalidValue;
  const Dw s = dw_of(p);
  dim3 grid;
  if (!element_grid(s, &grid)) return (int)cudaErrorInvalidConfiguration;
  const int64_t tiles = (s.C + kTile - 1) / kTile;
  if (tiles > INT_MAX || s.K * s.K + 1 > 65535)
    return (int)cudaErrorInvalidConfiguration;
  MM_DISPATCH_DTYPE(dtype, {
    if (s.B * s.H * s.W * s.C > 0)
      MM_RETURN_IF_ERROR(launch(dw_conv_kernel<T>, grid, dim3(kThreads), 0,
                                stream, s, (const T*)grad, (const T*)weight,
                                (const T*)nullptr, true, (T*)dx));
    if (s.C > 0)  // every weight gets a gradient, even for an empty map
      MM_RETURN_IF_ERROR(launch(dw_wgrad_kernel<T>,
                                dim3((unsigned)tiles, s.K * s.K + 1),
                                dim3(kTile, kRows), 0, stream, s,
                                (const T*)grad, (const T*)x, (T*)dweight,
                                (T*)dbias));
  });
  return 0;
}
