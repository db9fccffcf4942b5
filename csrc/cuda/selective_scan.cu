// CUDA kernels for the selective scan returning every state (A2SSM): one
// thread per (batch, channel) walks the sequence with the recurrence step
// and softplus of mmmamba_math.h (the same code the CPU kernels run), fp32
// state and accumulation, fp32 / fp16 / bf16 u, delta and B.
// No torch headers: raw pointers, MMScanParams, launchers taking a stream.
#include <cuda_runtime.h>

#include "../mmmamba_math.h"
#include "dtype.cuh"
#include "mmmamba_cuda.h"

namespace mmmamba {
namespace {

constexpr int kThreads = 128;

template <typename T>
__global__ void scan_forward_kernel(MMScanParams p, const T* u,
                                    const T* delta, const float* A,
                                    const T* B, const float* bias, float* h) {
  const int64_t task = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  if (task >= p.batch * p.channels) return;
  const int64_t b = task / p.channels, d = task % p.channels;
  const int64_t L = p.length, N = p.state;
  const float bd = bias ? bias[d] : 0.f;
  for (int64_t n = 0; n < N; ++n) {  // states are independent given dt
    const float a = A[d * N + n];
    const T* Bn = B + (b * N + n) * L;
    float* hn = h + (task * N + n) * L;
    float state = 0.f;
    for (int64_t t = 0; t < L; ++t) {
      float dt = to_f(delta[task * L + t]) + bd;
      if (p.softplus) dt = mm_softplus(dt);
      float decay;
      state = mm_scan_step(state, dt, a, to_f(Bn[t]), to_f(u[task * L + t]),
                           &decay);
      hn[t] = state;
    }
  }
}

// Reverse pass with the shared reverse step (mm_scan_step_backward); see
// csrc/cpu/selective_scan.cpp for the formulas. du and ddelta are owned by
// the thread (it zeroes them); dA, dB and dbias are summed with atomics.
template <typename T>
__global__ void scan_backward_kernel(MMScanParams p, const float* dh,
                                     const float* h, const T* u,
                                     const T* delta, const float* A,
                                     const T* B, const float* bias, float* du,
                                     float* ddelta, float* dA, float* dB,
                                     float* dbias) {
  const int64_t task = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  if (task >= p.batch * p.channels) return;
  const int64_t b = task / p.channels, d = task % p.channels;
  const int64_t L = p.length, N = p.state;
  const float bd = bias ? bias[d] : 0.f;
  float dbias_acc = 0.f;
  for (int64_t t = 0; t < L; ++t) du[task * L + t] = ddelta[task * L + t] = 0;
  for (int64_t n = 0; n < N; ++n) {
    const float a_n = A[d * N + n];
    const T* Bn = B + (b * N + n) * L;
    const float* hn = h + (task * N + n) * L;
    const float* gn = dh + (task * N + n) * L;
    float carry = 0.f, dA_acc = 0.f;
    for (int64_t t = L - 1; t >= 0; --t) {
      const float z = to_f(delta[task * L + t]) + bd;
      const float dt = p.softplus ? mm_softplus(z) : z;
      const float uu = to_f(u[task * L + t]), bn = to_f(Bn[t]);
      float dlog;
      const float g = mm_scan_step_backward(gn[t], carry, dt, a_n,
                                            t > 0 ? hn[t - 1] : 0.f, &dlog,
                                            &carry);
      const float ddt = dlog * a_n + g * bn * uu;
      const float dz = p.softplus ? ddt * mm_softplus_grad(z) : ddt;
      ddelta[task * L + t] += dz;
      du[task * L + t] += g * dt * bn;
      atomicAdd(dB + (b * N + n) * L + t, g * dt * uu);
      dA_acc += dlog * dt;
      dbias_acc += dz;
    }
    atomicAdd(dA + d * N + n, dA_acc);
  }
  if (dbias) atomicAdd(dbias + d, dbias_acc);
}

int blocks_for(int64_t tasks) {  // >= 1: an empty launch is an error
  return tasks > 0 ? (int)((tasks + kThreads - 1) / kThreads) : 1;
}

}  // namespace
}  // namespace mmmamba

using namespace mmmamba;

extern "C" int mm_selective_scan_forward(const MMScanParams* p, int dtype,
                                         const void* u, const void* delta,
                                         const float* A, const void* B,
                                         const float* bias, float* h,
                                         mm_stream_t stream) {
  const int blocks = blocks_for(p->batch * p->channels);
  MM_DISPATCH_DTYPE(dtype,
                    scan_forward_kernel<T><<<blocks, kThreads, 0, stream>>>(
                        *p, (const T*)u, (const T*)delta, A, (const T*)B,
                        bias, h));
  return (int)cudaGetLastError();
}

extern "C" int mm_selective_scan_backward(
    const MMScanParams* p, int dtype, const float* dh, const float* h,
    const void* u, const void* delta, const float* A, const void* B,
    const float* bias, float* du, float* ddelta, float* dA, float* dB,
    float* dbias, mm_stream_t stream) {
  const int blocks = blocks_for(p->batch * p->channels);
  MM_DISPATCH_DTYPE(dtype,
                    scan_backward_kernel<T><<<blocks, kThreads, 0, stream>>>(
                        *p, dh, h, (const T*)u, (const T*)delta, A,
                        (const T*)B, bias, du, ddelta, dA, dB, dbias));
  return (int)cudaGetLastError();
}
