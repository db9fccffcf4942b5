// The kernels' element types T (fp32 / fp16 / bf16 / fp64) and their
// accumulation type acc_t<T>: float, and double for double inputs (so a
// float64 call is computed in float64, never silently in float32).
#pragma once

#include "cuda_compat.cuh"

namespace mmmamba {

template <typename T> struct Accum { using type = float; };
template <> struct Accum<double> { using type = double; };
template <typename T> using acc_t = typename Accum<T>::type;

__device__ __forceinline__ float to_f(float x) { return x; }
__device__ __forceinline__ double to_f(double x) { return x; }
__device__ __forceinline__ float to_f(__half x) { return __half2float(x); }
__device__ __forceinline__ float to_f(__nv_bfloat16 x) {
  return __bfloat162float(x);
}
template <typename T> __device__ __forceinline__ T from_f(acc_t<T> x);
template <> __device__ __forceinline__ float from_f<float>(float x) { return x; }
template <> __device__ __forceinline__ double from_f<double>(double x) {
  return x;
}
template <> __device__ __forceinline__ __half from_f<__half>(float x) {
  return __float2half(x);
}
template <> __device__ __forceinline__ __nv_bfloat16 from_f<__nv_bfloat16>(
    float x) {
  return __float2bfloat16(x);
}

// Runs the statement with T bound to the element type of `dtype` (MMDtype).
#define MM_DISPATCH_DTYPE(dtype, ...)                         \
  switch (dtype) {                                            \
    case MM_FLOAT32: { using T = float; __VA_ARGS__; break; }  \
    case MM_FLOAT16: { using T = __half; __VA_ARGS__; break; } \
    case MM_BFLOAT16: {                                       \
      using T = __nv_bfloat16; __VA_ARGS__; break;            \
    }                                                         \
    case MM_FLOAT64: { using T = double; __VA_ARGS__; break; } \
    default: return (int)cudaErrorInvalidValue;               \
  }

}  // namespace mmmamba
