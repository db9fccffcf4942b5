// What the CUDA kernels (csrc/**/*.cu) see of CUDA, for both of their
// compilers:
// nvcc (the GPU build) gets the CUDA runtime and 16-bit float headers;
// the host compiler with MMMAMBA_CUDA_HOST (the `cuda_host` backend, see
// csrc/cuda_host/cuda_emulation.h) gets the emulation of the same names.
//
// Every kernel launch goes through mmmamba::launch, so both builds run the
// launchers' grid / block arithmetic, and every launch is checked right
// after it:
//   0        the launch succeeded;
//   > 0      this launch failed with that cudaError;
//   < 0      a CUDA error (-value) was already pending from earlier work on
//            the device; it is reported as such, not as this op's failure.
// Dynamic shared memory is declared with MM_DYNAMIC_SHARED(type, name)
// (`extern __shared__` bytes under nvcc).
#pragma once

#ifdef MMMAMBA_CUDA_HOST
#include "../cuda_host/cuda_emulation.h"
#define MM_DYNAMIC_SHARED(type, name) \
  type* name = reinterpret_cast<type*>(::mm_host::tls.launch->dynamic_smem.data())
#else
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
// one untyped declaration: kernels of different element types share it
#define MM_DYNAMIC_SHARED(type, name)                                \
  extern __shared__ __align__(16) unsigned char mm_dynamic_smem_[]; \
  type* name = reinterpret_cast<type*>(mm_dynamic_smem_)
#endif

namespace mmmamba {

template <typename... Params, typename... Args>
__host__ int launch(void (*kernel)(Params...), dim3 grid, dim3 block,
                    size_t smem, cudaStream_t stream, Args... args) {
  const cudaError_t pending = cudaGetLastError();
  if (pending != cudaSuccess) return -(int)pending;
#ifdef MMMAMBA_CUDA_HOST
  return (int)mm_host::launch(kernel, grid, block, smem, stream, args...);
#else
  kernel<<<grid, block, smem, stream>>>(args...);
  return (int)cudaGetLastError();
#endif
}

}  // namespace mmmamba

// Return the status of a launch (or any int status) when it is not 0.
#define MM_RETURN_IF_ERROR(expr)        \
  do {                                  \
    const int mm_status_ = (expr);      \
    if (mm_status_ != 0) return mm_status_; \
  } while (0)
