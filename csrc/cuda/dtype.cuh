// fp32 / fp16 / bf16 loads and stores with fp32 arithmetic.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>

namespace mmmamba {

__device__ __forceinline__ float to_f(float x) { return x; }
__device__ __forceinline__ float to_f(__half x) { return __half2float(x); }
__device__ __forceinline__ float to_f(__nv_bfloat16 x) {
  return __bfloat162float(x);
}
template <typename T> __device__ __forceinline__ T from_f(float x);
template <> __device__ __forceinline__ float from_f<float>(float x) { return x; }
template <> __device__ __forceinline__ __half from_f<__half>(float x) {
  return __float2half(x);
}
template <> __device__ __forceinline__ __nv_bfloat16 from_f<__nv_bfloat16>(
    float x) {
  return __float2bfloat16(x);
}

#define MM_DISPATCH_DTYPE(dtype, ...)                      \
  switch (dtype) {                                         \
    case MM_FLOAT32: { using T = float; __VA_ARGS__; break; } \
    case MM_FLOAT16: { using T = __half; __VA_ARGS__; break; } \
    case MM_BFLOAT16: {                                    \
      using T = __nv_bfloat16; __VA_ARGS__; break;         \
    }                                                      \
    default: return (int)cudaErrorInvalidValue;            \
  }

}  // namespace mmmamba
